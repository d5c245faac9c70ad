"""A relay's recording turned into the arrows of a sequence diagram: one per HTTP request, response,
WebSocket frame and TCP FIN, with the moments it left one side and reached the other.

Why from a recording: a textbook diagram shows what ought to happen; this one shows what did. The
relay (``Relay(port, record=True)``) notes when each chunk of bytes reached it and when it passed it
on; ``bytesplit.walk`` cuts each direction into messages and frames, with ``clients.wire``'s helpers.
An arrow *leaves* when its first byte reached the relay and *arrives* when its last byte had been
passed on, so the relay's added delay is the arrow's slope. Pieces not yet whole (a cut-off tail)
and bytes not yet passed on are left out.
"""

import bisect
import json
from dataclasses import dataclass, replace

from clients import wire

from clients.lab.bytesplit import EventBytes, walk
from clients.lab.relay import Relay


@dataclass(frozen=True)
class Arrow:
    connection: int  # the relay's index of the TCP connection it travelled on
    direction: str  # "up" (client to server) or "down"
    kind: str  # "request", "response", "frame" or "fin"
    label: str  # "GET /api/messages?after=12", "200, 2 messages, 341 B", "text frame, 58 B", "Close 1000"
    size: int  # bytes on the wire (TCP payload); 0 for a FIN
    sent: float  # seconds since the origin
    arrived: float
    empty: bool = False  # a poll and its answer that carried no message
    held_from: float | None = None  # a response: when the server had the request it answers
    unanswered: bool = False  # a request no response came back for (yet): the server still holds it


def arrows(relay: Relay, origin: float) -> list[Arrow]:
    """Every arrow the relay recorded so far, in the order they left (``origin``: a ``time.perf_counter()``)."""
    found = []
    for connection in list(relay.connections):
        recording = connection.snapshot()
        both = {direction: list(_pieces(connection.index, direction, *recording[direction], origin))
                for direction in ("up", "down")}
        _pair_polls(both["up"], both["down"])
        found += both["up"] + both["down"]
    return sorted(found, key=lambda arrow: arrow.sent)  # stable: pieces of one chunk keep their order


def _pieces(index: int, direction: str, data: bytes, crossings, origin: float):
    ends = [crossing.end for crossing in crossings]
    for start, end, what in walk(data):
        first, last = crossings[bisect.bisect_right(ends, start)], crossings[bisect.bisect_left(ends, end)]
        if last.delivered is None:
            return
        kind, label, empty = _describe(what, data[start:end])
        yield Arrow(index, direction, kind, label, end - start, first.received - origin,
                    last.delivered - origin, empty)
    before_last = crossings[-2].end if len(crossings) > 1 else 0
    eof = crossings[-1] if crossings and crossings[-1].end == before_last else None  # an empty chunk: EOF
    if eof is not None and eof.delivered is not None:
        yield Arrow(index, direction, "fin", "FIN", 0, eof.received - origin, eof.delivered - origin)


def _describe(what, raw: bytes) -> tuple[str, str, bool]:
    """(kind, label, empty) of one HTTP message (``what`` is its header block), frame or event."""
    if isinstance(what, EventBytes):  # one Server-Sent Event
        names = {"comment": "heartbeat", "retry": "retry hint"}
        return "frame", f"{names.get(what.type, 'event' if what.type == 'message' else what.type)}, {len(raw)} B", False
    if not isinstance(what, bytes):  # a bytesplit.FrameBytes
        if what.opcode == "close":
            code, _ = wire.parse_close(wire.parse_frame(raw)[0].payload)
            return "frame", f"Close {code or 1005}", False
        return "frame", f"{what.opcode} frame, {len(raw)} B", False
    start, headers = wire.parse_head(what)
    if not start[0].startswith("HTTP/"):
        upgrade = any(name.lower() == "upgrade" for name, _ in headers)
        return "request", f"{start[0]} {start[1]}" + (" (Upgrade: websocket)" if upgrade else ""), False
    if start[1] == "101":
        return "response", "101 Switching Protocols", False
    if any(name.lower() == "content-type" and value.startswith("text/event-stream") for name, value in headers):
        return "response", f"{start[1]}, event stream, {len(raw)} B", False
    messages = _messages_in(raw[len(what):])
    if messages is None:
        return "response", f"{start[1]}, {len(raw)} B", False
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}" if messages else "no messages"
    return "response", f"{start[1]}, {count}, {len(raw)} B", not messages


def _messages_in(body: bytes) -> list | None:
    """The "messages" list of a poll's JSON answer; None for any other body."""
    try:
        messages = json.loads(body).get("messages")
    except (ValueError, AttributeError):
        return None
    return messages if isinstance(messages, list) else None


def _pair_polls(up: list[Arrow], down: list[Arrow]) -> None:
    """Answers follow requests in order on one connection (no pipelining): an empty answer makes its
    request empty too, each answer learns when its request reached the server, and a request left
    without an answer is marked so."""
    requests = [i for i, arrow in enumerate(up) if arrow.kind == "request"]
    responses = [i for i, arrow in enumerate(down) if arrow.kind == "response"]
    for asked, answered in zip(requests, responses):
        up[asked] = replace(up[asked], empty=down[answered].empty)
        down[answered] = replace(down[answered], held_from=up[asked].arrived)
    for asked in requests[len(responses):]:
        up[asked] = replace(up[asked], unanswered=True)

