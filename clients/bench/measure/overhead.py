"""Overhead scenarios: bytes on the wire, counted by a recording ``Relay`` and split up by
``bytesplit.split_stream`` into HTTP headers and bodies, frame headers and payloads.

All byte figures are TCP payload (what HTTP or WebSocket put on the connection);
the IP and TCP headers of each segment come on top for every transport alike.
The clients are the lab's (``clients.lab.listeners``), except where a client library
is what is measured: three libraries' WebSocket handshakes, side by side.
"""

import contextlib
import io
import json
import threading
import time

import simple_websocket
import websocket
import websockets.sync.client

from clients import wire
from clients.lab.bytesplit import BYTE_BUCKETS, EventBytes, FrameBytes
from clients.lab.listeners import EventStream, Poller, WebSocketListener
from clients.lab.protocol import HTTP_HEADERS
from clients.lab.relay import Relay
from servers import polling_server, websocket_server
from servers.serving import RunningServer

from . import latency
from .progress import silent


def delivery_bytes(twins, transport: str, count: int, rate: float, interval: float | None = None,
                   progress=silent) -> dict:
    """Bytes per delivered message: ``count`` server events pushed (WebSocket) or polled to one client.

    ``transport``: "websocket", "sse" (Server-Sent Events), or "polling" with ``interval`` (None = long
    polling). The WebSocket's opening and closing handshakes, and the event stream's request, response head
    and retry hint, are reported apart, as ``setup``: they are paid once, not per message.
    """
    pushed = transport in ("websocket", "sse")  # one connection that the server writes to
    port = twins.websocket.port if transport == "websocket" else twins.polling.port
    with Relay(port, twins.polling.host, record=True) as relay:
        scheme = "ws" if transport == "websocket" else "http"
        result = latency.push_latency(twins.chat, transport, f"{scheme}://127.0.0.1:{relay.port}", count,
                                      rate=rate, interval=interval, warmup=0, progress=progress)
        relay.wait_closed()
        split = relay.split()
    up, down = ({key: split[side][key] for key in BYTE_BUCKETS} for side in ("up", "down"))
    delivered = result["delivered"]
    if pushed:  # frame headers, or an event's "id: 7" and "data: " and line ends
        headers = up["frame_headers"] + down["frame_headers"]
        payload = up["payloads"] + down["payloads"]
        setup = up["http_headers"] + down["http_headers"] + up["control_frames"] + down["control_frames"]
    else:
        headers = up["http_headers"] + down["http_headers"]
        empty = empty_poll_bodies(relay)  # "nothing new": protocol, not payload
        payload = up["http_bodies"] + down["http_bodies"] - empty
        setup = 0
    requests_made = split["up"]["http_messages"] if not pushed else 0
    return {
        "transport": transport, "interval": interval, "delivered": delivered, "events": count,
        "duplicates": result["duplicates"], "requests": requests_made, "connections": len(relay.connections),
        "data_frames_down": split["down"]["data_frames"], "up": up, "down": down, "setup_bytes": setup,
        "empty_polls": empty_polls(relay) if not pushed else 0,
        "per_message": {"headers": headers / delivered, "payload": payload / delivered,
                        "total": (headers + payload + (empty if not pushed else 0)) / delivered,
                        # short polling: the bodies of polls that brought nothing ({"messages": [], ...})
                        "empty_bodies": (empty if not pushed else 0) / delivered,
                        # the headers, by kind (WebSocket and SSE: frame headers only; their set-up is setup_bytes)
                        "request_headers": (up["http_headers"] if not pushed else 0) / delivered,
                        "response_headers": (down["http_headers"] if not pushed else 0) / delivered,
                        "frame_headers": (up["frame_headers"] + down["frame_headers"]) / delivered},
        # what one poll costs (short and long polling): request + response headers, mean
        "headers_per_request": headers / requests_made if requests_made else None,
        # what the server adds to each pushed message (WebSocket, SSE): the frame header or event framing it sends
        "server_frame_header": down["frame_headers"] / split["down"]["data_frames"] if pushed else None,
    }


def _poll_responses(relay) -> list:
    """Every HTTP response the relay saw come down, parsed (our servers always send Content-Length)."""
    responses = []
    for connection in relay.connections:
        stream = io.BytesIO(bytes(connection.recorded["down"]))
        while stream.tell() < len(stream.getbuffer()):
            try:
                responses.append(wire.read_response(stream))
            except (ConnectionError, ValueError, IndexError):  # a cut-off tail
                break
    return responses


def _is_empty_poll(response) -> bool:
    try:
        return json.loads(response.body).get("messages") == []
    except (ValueError, AttributeError):
        return False


def empty_polls(relay) -> int:
    """How many poll answers brought no message."""
    return sum(_is_empty_poll(response) for response in _poll_responses(relay))


def empty_poll_bodies(relay) -> int:
    """Bytes of the bodies of poll answers that brought no message: ``{"messages": [], "last_id": N}``
    tells the client "nothing new", which is protocol, not payload."""
    return sum(len(response.body) for response in _poll_responses(relay) if _is_empty_poll(response))


def reply_bytes(twins, count: int, progress=silent) -> dict:
    """Bytes for one chat exchange (send a message, receive the server's reply), per transport.

    WebSocket: the client's masked frame up; "sent", the message itself and the reply pushed down.
    Long polling: the POST and its 201 up and down, plus the polls that bring the two messages back.
    """
    rows = {}
    with Relay(twins.websocket.port, twins.websocket.host, record=True) as relay:
        latency.websocket_reply(f"ws://127.0.0.1:{relay.port}", count, warmup=0, progress=progress)
        relay.wait_closed()
        ws = relay.split()
    rows["websocket"] = {"exchanges": count, "handshake_and_close": sum(
        ws[side]["http_headers"] + ws[side]["control_frames"] for side in ("up", "down")),
        "up": {key: ws["up"][key] for key in BYTE_BUCKETS}, "down": {key: ws["down"][key] for key in BYTE_BUCKETS},
        "client_frame_header": ws["up"]["frame_headers"] / ws["up"]["data_frames"],
        "server_frame_header": ws["down"]["frame_headers"] / ws["down"]["data_frames"],
        "per_exchange": sum(ws[side]["frame_headers"] + ws[side]["payloads"] for side in ("up", "down")) / count}
    with Relay(twins.polling.port, twins.polling.host, record=True) as relay:
        result = latency.polling_reply(f"http://127.0.0.1:{relay.port}", count, None, warmup=0,
                                       after=twins.chat.board.last_id, progress=progress)
        relay.wait_closed()
        http = relay.split()
    rows["long polling"] = {"exchanges": count, "requests": http["up"]["http_messages"], "polls": result["polls"],
                            "up": {key: http["up"][key] for key in BYTE_BUCKETS},
                            "down": {key: http["down"][key] for key in BYTE_BUCKETS},
                            "per_exchange": sum(http[side]["http_headers"] + http[side]["http_bodies"]
                                                for side in ("up", "down")) / count}
    return rows


def handshake_bytes(twins) -> list[dict]:
    """The WebSocket opening handshake (and closing handshake) as three client libraries send it."""
    rows = []
    for name in HANDSHAKE_CLIENTS:
        with Relay(twins.websocket.port, twins.websocket.host, record=True) as relay:
            _open_and_close(name, f"ws://127.0.0.1:{relay.port}/ws")
            relay.wait_closed()
            split = relay.split()
        rows.append({"client": name, "request_bytes": split["up"]["http_headers"],
                     "response_bytes": split["down"]["http_headers"],
                     "close_bytes": split["up"]["control_frames"] + split["down"]["control_frames"]})
    return rows


HANDSHAKE_CLIENTS = ("websocket-client", "simple-websocket", "websockets")


def _open_and_close(client: str, url: str) -> None:
    if client == "websocket-client":
        websocket.create_connection(url, timeout=5).close()
    elif client == "simple-websocket":
        simple_websocket.Client.connect(url).close()
    else:
        with websockets.sync.client.connect(url, compression=None):  # no permessage-deflate offer
            pass


def idle_cost(twins, duration: float, short_interval: float, long_wait: int,
              ping_interval: float | None) -> list[dict]:
    """Requests and bytes per second per client when nothing happens, five clients side by side.

    Short polling every ``short_interval`` s; long polling with wait=``long_wait`` s;
    a WebSocket with no pings; one whose server pings every ``ping_interval`` s (a server
    started here for it, on ``twins.chat``); an event stream whose server writes a heartbeat
    every ``ping_interval`` s (a polling server started here for it, on ``twins.chat``, its
    heartbeat set to that). The last two are left out when ``ping_interval`` is None, as against
    a server elsewhere.

    Why not simply bytes in a window divided by its length: a short window holds
    2 or 3 pings, or 4 or 5 polls, depending on where it starts, so the figure
    would jump by a whole event. Instead each client's cost is its *cost per
    event* (one poll: request and response; one ping and its pong), measured over
    every event of the run, times the *rate* its schedule sets (1 / interval,
    1 / wait, 1 / ping_interval). The events seen are reported too. The clients
    idle for ``duration`` s, and longer if needed until each has had one whole event.
    """
    with contextlib.ExitStack() as cleanup:  # undone last to first: clients, relays, servers
        servers = {"short polling": twins.polling, "long polling": twins.polling, "websocket": twins.websocket}
        if ping_interval is not None:  # servers of our own, so the shared ones keep their settings
            servers["websocket + pings"] = cleanup.enter_context(RunningServer(websocket_server.create_app(
                twins.chat, ping_interval=ping_interval)))
            servers["server-sent events"] = cleanup.enter_context(RunningServer(polling_server.create_app(twins.chat)))
            servers["server-sent events"].server.app.config["SSE_HEARTBEAT"] = ping_interval
        relays = {name: cleanup.enter_context(Relay(server.port, server.host, record=True))
                  for name, server in servers.items()}
        cleanup.enter_context(_idle_clients(twins.chat, relays, short_interval, long_wait))
        time.sleep(duration)
        splits = _whole_events(relays, time.monotonic() + 2 * max(short_interval, long_wait, ping_interval or 0))
    rates = {"short polling": (f"interval {short_interval:g} s", 1 / short_interval),
             "long polling": (f"wait={long_wait} s", 1 / long_wait), "websocket": ("no pings", 0.0)}
    if ping_interval is not None:
        rates["websocket + pings"] = (f"ping every {ping_interval:g} s", 1 / ping_interval)
        rates["server-sent events"] = (f"heartbeat every {ping_interval:g} s", 1 / ping_interval)
    return [_idle_row(name, split, *rates[name]) for name, split in splits.items()]


@contextlib.contextmanager
def _idle_clients(chat, relays: dict, short_interval: float, long_wait: int):
    """One client per relay, following the board through it while the block runs; the pollers stop after
    their poll in flight (a message wakes a waiting long poll), then every client leaves."""
    after, idle_over = chat.board.last_id, threading.Event()
    urls = {name: f"127.0.0.1:{relay.port}" for name, relay in relays.items()}
    pollers = [Poller(f"http://{urls['short polling']}", short_interval, until=idle_over.is_set, after=after),
               Poller(f"http://{urls['long polling']}", until=idle_over.is_set, after=after, wait=long_wait)]
    others = [WebSocketListener(f"ws://{urls[name]}/ws") for name in urls if name.startswith("websocket")]
    others += [EventStream(f"http://{urls[name]}") for name in urls if name == "server-sent events"]
    clients = [client.start() for client in pollers + others]  # a WebSocket client answers its server's pings
    try:
        yield clients
    finally:
        idle_over.set()
        chat.board.post("idle-check", "end of the idle window")  # wakes a waiting long poll
        for client in clients:
            client.close()


def _whole_events(relays: dict, deadline: float) -> dict:
    """Each relay's bytes split up, once every client with a schedule has had at least one whole event each
    way (the event stream's go one way only), or at ``deadline`` (``time.monotonic()``)."""
    while True:
        splits = {name: relay.split() for name, relay in relays.items()}  # before anyone says goodbye
        if time.monotonic() > deadline or all(
                _per_event(name, split[side])[1] for name, split in splits.items() if name != "websocket"
                for side in (("down",) if name == "server-sent events" else ("up", "down"))):
            return splits
        time.sleep(0.05)


def _idle_row(name: str, split: dict, setting: str, rate: float) -> dict:
    """One client's idle cost: its cost per event each way, times the rate its schedule sets."""
    up, down = _per_event(name, split["up"]), _per_event(name, split["down"])
    one_way = name == "server-sent events"  # heartbeats go down only
    return {"client": name, "setting": setting, "events": down[1] if one_way else min(up[1], down[1]),
            "bytes_up_per_event": up[0], "bytes_down_per_event": down[0],
            "requests_per_s": rate if name.endswith("polling") else 0.0,
            "bytes_up_per_s": up[0] * rate, "bytes_down_per_s": down[0] * rate}


def _per_event(client: str, side: dict) -> tuple[float, int]:
    """(mean bytes per event, events) on one direction: HTTP messages for pollers, pings and pongs
    for WebSockets, heartbeats for an event stream (the handshake, or the stream's request, head and
    retry hint, are left out: they are paid once, not per idle second)."""
    if client in ("short polling", "long polling"):
        count = side["http_messages"]
        return ((side["http_headers"] + side["http_bodies"]) / count if count else 0.0), count
    if client == "server-sent events":
        beats = [event for event in side["frame_list"] if isinstance(event, EventBytes) and event.type == "comment"]
        return (sum(beat.framing for beat in beats) / len(beats) if beats else 0.0), len(beats)
    frames = [frame for frame in side["frame_list"]
              if isinstance(frame, FrameBytes) and frame.opcode in ("ping", "pong")]
    return (sum(f.header + f.payload for f in frames) / len(frames) if frames else 0.0), len(frames)


def keep_alive_vs_new_connection(twins, count: int, progress=silent, client_closes: bool = False) -> list[dict]:
    """The same empty poll ``count`` times over one keep-alive connection, and with a new TCP connection
    for every poll (the server answers ``Connection: close``, as ``flask run`` does: a second server
    started here for it, or, with ``client_closes``, as against a server elsewhere, the client asks
    for it with ``Connection: close``)."""
    after, rows = twins.chat.board.last_id, []
    with contextlib.ExitStack() as cleanup:
        closing = twins.polling if client_closes else cleanup.enter_context(RunningServer(
            polling_server.create_app(twins.chat), keep_alive=False))
        for name, server in (("keep-alive", twins.polling), ("new connection per poll", closing)):
            headers = {**HTTP_HEADERS, "Connection": "close"} if server is twins.polling and name != "keep-alive" \
                else HTTP_HEADERS
            with Relay(server.port, server.host, record=True) as relay:
                poller = Poller(f"http://127.0.0.1:{relay.port}", after=after, wait=None, headers=headers)
                for i in range(count):  # each poll timed from its request (or its connection) to its answer
                    poller.poll()
                    progress(f"polls, {name}", i + 1, count)
                poller.close()
                relay.wait_closed()
                split = relay.split()
            rows.append({"mode": name, "polls": count, "connections": len(relay.connections),
                         "request_bytes": (split["up"]["http_headers"] + split["up"]["http_bodies"]) / count,
                         "response_bytes": (split["down"]["http_headers"] + split["down"]["http_bodies"]) / count,
                         "poll_times": poller.polls})
    return rows
