"""What each measuring client sends and how it reads the answers, with no I/O: one home per transport's protocol.

The measuring clients run on threads (``listeners.py``) or, a thousand in one process, on asyncio
(``async_listeners.py``). Both are thin: they open a connection, write what a class here says to write,
and hand it what they read. So a change of the protocol (a new notice from the server, a query
parameter) is made here, once, for every measurement, the load run, the diagrams and the exercises.

* ``PollingProtocol``: ``GET /api/messages?after=N`` (long polling with ``&wait=S``), its answer, the schedule;
* ``WebSocketProtocol``: the opening handshake of ``/ws``, what each frame from the server means, ours;
* ``EventStreamProtocol``: ``GET /api/events`` and the events of its never-ending answer.

Each is ``Deliveries`` too: every message a client is handed is noted with the moment it arrived, on this
machine's monotonic clock (for round trips) and on its wall clock (the one the server stamps messages with).
A client that starts after an id (``after``) may name the board that id belongs to (``board``; servers/README.md,
"The board's identity"): a server whose board is another one (it restarted with a new one) says so, ``board``
becomes its board, and the messages come from that board's first. Without it, the id is taken as it is.
The bytes are ``clients.wire``'s, the ones notebooks 1 and 2 write by hand.
"""

import json
import math
import os
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import requests

from clients import wire
from clients.polling_client import LONG_POLL_WAIT

# The headers `requests` sends, so a poll measured here costs the bytes it costs the command-line client.
HTTP_HEADERS = dict(requests.utils.default_headers())
PAST_EVERY_ID = 1 << 62  # a cursor no board reaches: a poll after it brings no message, only the newest id
CLOSE_TIMEOUT = 3.0  # seconds a WebSocket client waits for the server's Close, then for its FIN, before cutting TCP


def address(url: str) -> tuple[str, int, str]:
    """(host, port, path with its query) of an http:// or ws:// URL."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or 80, parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(path: str, **params) -> str:
    """``path`` with the parameters that are not None, in order: ("/api/events", after=3, client=None) gives
    "/api/events?after=3"."""
    given = "&".join(f"{name}={value}" for name, value in params.items() if value is not None)
    return f"{path}{'&' if '?' in path else '?'}{given}" if given else path


class Arrival(NamedTuple):
    """One message as a client got it."""
    at: float  # time.perf_counter() when it arrived: for round trips
    wall: float  # time.time() when it arrived: the clock the server stamps ``message["time"]`` with
    message: dict

    @property
    def delay(self) -> float:
        """Seconds from the server's stamp to the client holding the message (both clocks this machine's)."""
        return self.wall - self.message["time"]


class Deliveries:
    """What a listening client was handed: every message in the order it came, repeats included
    (``received``), the first arrival of each id (``arrived``) and how many came again (``duplicates``)."""

    def __init__(self) -> None:
        self.received: list[Arrival] = []
        self.arrived: dict[int, Arrival] = {}
        self.duplicates = 0

    def note(self, message: dict) -> None:
        arrival = Arrival(time.perf_counter(), time.time(), message)
        self.received.append(arrival)
        if message["id"] in self.arrived:
            self.duplicates += 1
        else:
            self.arrived[message["id"]] = arrival

    @property
    def last_id(self) -> int:
        """The id of the last message that came, 0 before the first."""
        return self.received[-1].message["id"] if self.received else 0


class PollingProtocol(Deliveries):
    """One poller: the ``GET /api/messages?after=N`` it sends next, what it reads from each answer, when it asks
    again. Long polling (``interval`` None) adds ``&wait=S``: the server holds the request up to ``wait`` s
    (the command-line client's ``LONG_POLL_WAIT`` by default; None: it answers at once) until there is news;
    short polling asks every ``interval`` s and the server answers at once. ``after`` None: start from what
    is new (``newest_request``); ``board``: the board ``after`` belongs to. ``polls`` holds each poll's round
    trip, ``answers`` when each answer came and how many messages it brought.
    """

    def __init__(self, url: str, interval: float | None = None, *, after: int | None = None,
                 board: str | None = None, wait: float | None = LONG_POLL_WAIT, headers: dict = HTTP_HEADERS,
                 client: str | None = None) -> None:
        super().__init__()
        self.host, self.port, _ = address(url)
        self.interval, self.after, self.board, self.headers, self.client = interval, after, board, headers, client
        self.wait = None if interval else wait
        self.polls: list[float] = []
        self.answers: list[tuple[float, int]] = []

    def request(self) -> bytes:
        path = with_query("/api/messages", after=self.after, board=self.board, wait=self.wait, client=self.client)
        return wire.request_bytes("GET", path, f"{self.host}:{self.port}", self.headers)

    def newest_request(self) -> bytes:
        """A poll past any id there can be: its answer says the board's newest id (``read_newest``)."""
        return wire.request_bytes("GET", f"/api/messages?after={PAST_EVERY_ID}", f"{self.host}:{self.port}",
                                  self.headers)

    def read_newest(self, response: wire.Response) -> None:
        self.after = json.loads(response.body)["last_id"]

    def read(self, response: wire.Response, sent: float) -> bool:
        """Note one answer's messages (``sent``: the request's ``perf_counter``) and move the cursor past them.
        Returns whether the connection ends after it (``Connection: close``, from the server or in our own
        request); ValueError for a refusal, or for a board whose newest id is below our cursor (a server
        that restarted empty, when we name no board). An answer that names another board than ours starts
        from that board's first message: it becomes our board, and our cursor starts again there."""
        now = time.perf_counter()
        if response.status != 200:
            raise ValueError(f"the server answered {response.status}: {response.body[:200]!r}")
        answer = json.loads(response.body)
        if "board" in answer:
            self.board, self.after = answer["board"], 0
        elif answer["last_id"] < self.after:
            raise ValueError(f"the board's last id {answer['last_id']} is below our cursor {self.after}")
        self.polls.append(now - sent)
        self.answers.append((now, len(answer["messages"])))
        for message in answer["messages"]:
            self.note(message)
            self.after = message["id"]
        return "close" in ((response.header("Connection") or "").lower(), self.headers.get("Connection", "").lower())

    def next_poll(self, due: float, now: float) -> float:
        """When a short poller asks next, after the poll that was due at ``due``: one interval later, on a
        fixed schedule like a page's ``setInterval``, where a tick already missed at ``now`` is skipped."""
        due += self.interval
        return due + self.interval * math.ceil((now - due) / self.interval) if now > due else due


class ServerClosed(ConnectionError):
    """The server sent a Close frame: the connection is over."""


class WebSocketProtocol(Deliveries):
    """One WebSocket client of ``/ws``: its opening handshake, what each frame from the server means, its frames.

    A text frame holds one JSON event: "message" events are noted, the others ("sent", "missed",
    "error") kept in order in ``events``, each with the ``perf_counter`` of its arrival. A ping is
    answered with a pong; a Close from the server is noted (``closed_by_server``, its code, unless it
    answers ours) and ends the connection. ``after``: ask for the messages after that id first
    (``/ws?after=N``), of ``board`` (``&board=B``; a "board" event names the server's own when it is another);
    ``origin``: send an ``Origin`` header, as a browser does.
    """

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, origin: str | None = None,
                 client: str | None = None) -> None:
        super().__init__()
        self.host, self.port, path = address(url)
        self.board = board
        self.path = with_query(path or "/ws", after=after, board=board, client=client)
        self.origin, self.key = origin, wire.new_key()
        self.events: list[tuple[float, dict]] = []
        self.closing = False  # we sent our Close: the server's next Close answers it
        self.closed_by_server: int | None = None
        self.handshake_bytes = 0  # the Upgrade request and the 101 response, once accepted

    def handshake(self) -> bytes:
        return wire.upgrade_request(f"{self.host}:{self.port}", self.path, self.key, self.origin)

    def accept(self, request: bytes, response: wire.Response) -> None:
        """HandshakeError unless ``response`` is the ``101`` for our key."""
        wire.check_upgrade(response, self.key)
        self.handshake_bytes = len(request) + len(response.head)

    def read(self, frame: wire.Frame) -> tuple[str | None, bytes | None]:
        """(the text of a data frame or None, the frame to send back or None); ServerClosed for a Close."""
        if frame.opcode == wire.CLOSE:
            code = wire.parse_close(frame.payload)[0] or 1005
            if not self.closing:
                self.closed_by_server = code
            raise ServerClosed(f"the server closed the connection ({code})")
        if frame.opcode == wire.PING:
            return None, self.frame(wire.PONG, frame.payload)
        return (frame.text(), None) if frame.opcode == wire.TEXT else (None, None)

    def read_event(self, text: str) -> dict:
        """One JSON event from a text frame; a message is noted, any other event kept in ``events``."""
        event = json.loads(text)
        if event.get("type") == "message":
            self.note(event["message"])
        else:
            if event.get("type") == "board":  # the server's board is another one: its messages from its first
                self.board = event["board"]
            self.events.append((time.perf_counter(), event))
        return event

    @staticmethod
    def frame(opcode: int, payload: bytes = b"") -> bytes:
        """A client frame: masked with a fresh key, as RFC 6455 section 5.3 wants of every client frame."""
        return wire.build_frame(opcode, payload, mask=os.urandom(4))

    def text_frame(self, text: str) -> bytes:
        return self.frame(wire.TEXT, text.encode())

    def close_frame(self) -> bytes:
        """Our Close (1000): the closing handshake's first half (RFC 6455 section 7)."""
        self.closing = True
        return self.frame(wire.CLOSE, wire.close_payload(1000))


class EventStreamProtocol(Deliveries):
    """One event-stream client (Server-Sent Events): ``GET /api/events``, whose answer never ends, read line by
    line as EventSource reads it (``wire.EventParser``). "message" events are noted; heartbeats, the retry
    hint and notices ("missed", "restarted") are read past, but "board", which sets ``board``. ``after``: start
    after that id, of ``board``, else with what comes next. The stream is open once the retry hint has come, the
    first thing our server writes."""

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, headers: dict | None = None,
                 client: str | None = None) -> None:
        super().__init__()
        self.host, self.port, _ = address(url)
        self.board = board
        self.path = with_query("/api/events", after=after, board=board, client=client)
        self.headers = headers
        self.parser = wire.EventParser()

    def request(self) -> bytes:
        return wire.request_bytes("GET", self.path, f"{self.host}:{self.port}", self.headers)

    @staticmethod
    def accept(response: wire.Response) -> None:
        if response.status != 200:
            raise ValueError(f"the event stream was refused: {response.status} {response.body[:200]!r}")

    @property
    def opened(self) -> bool:
        """Whether the retry hint has come: from then on the server sends every new message."""
        return self.parser.retry_ms is not None

    def read_line(self, line: bytes) -> dict | None:
        """One line of the stream, its end included; the message it completes (noted), else None."""
        event = self.parser.feed(line.decode().rstrip("\r\n"))
        if event is not None and event.type == "board":  # the server's board is another one: from its first
            self.board = json.loads(event.data)["board"]
        if event is None or event.type != "message":
            return None
        message = json.loads(event.data)
        self.note(message)
        return message
