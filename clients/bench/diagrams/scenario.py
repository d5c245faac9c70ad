"""One script of events, played over each transport through a delaying, recording relay: what the
sequence diagrams (``draw.py``) are drawn from.

The script: the client connects; at ``send_at`` it sends "How are you?"; the server posts a
notification at each moment of ``notify_at``; at ``close_at`` the client leaves. The same script over
every transport, so that the diagrams differ only by what the transport does.

Adding a transport is one entry in ``TRANSPORTS``: which of the twin servers it talks to ("polling" or
"websocket"), and a function of (host, port, after) that connects and starts listening for messages
after id ``after``, returning a client with ``send(text)``, ``close()`` (leave, and stop every thread and
socket it started) and ``received``, the messages it got.

The clients are the lab's (``clients.lab.listeners``) with no header besides ``Host``: the bytes notebooks
1 and 2 write by hand. A client that leaves cuts a long poll the server still holds, as a closing
browser tab does.
"""

import json
import time
from dataclasses import dataclass

from clients import wire
from clients.lab.listeners import Connection, EventStream, Poller, WebSocketListener, deadline_in
from clients.lab.relay import Relay
from servers.chat import NOTIFICATION, SERVER
from servers.twins import Twins

from . import sequence

DELAY = 0.075  # seconds the relay holds every chunk, each way: the arrows' slope
SHORT_INTERVAL = 0.3  # seconds between short polls
LONG_WAIT = 5  # seconds a long poll may wait on the server; longer than any quiet spell of the script
SETTLE = 0.5  # seconds after the client left for the last bytes (Close frames, FINs) to cross


@dataclass(frozen=True)
class Script:
    text: str = "How are you?"
    send_at: float = 0.45  # seconds after the client starts; off the short polls' beat, so that
    notify_at: tuple[float, ...] = (1.05, 2.25)  # no two arrows leave at once and their labels stay apart
    close_at: float = 2.9

    def events(self) -> list[tuple[float, str]]:
        """(seconds, what) in time order: "send", "notify 1", "notify 2"..., "close"."""
        notes = [(at, f"notify {n}") for n, at in enumerate(self.notify_at, 1)]
        return sorted([(self.send_at, "send"), *notes, (self.close_at, "close")])


@dataclass
class Run:
    transport: str
    arrows: list[sequence.Arrow]
    script: Script
    delay: float
    seconds: float  # how long the run took, set-up and settling included
    received: list[dict]  # the messages the client got


class OverHttp:
    """A client that listens with ``listener`` (a poller, or an event stream) and sends each message as a POST
    on a second connection, opened when it first sends, as a browser does beside a held long poll."""

    def __init__(self, listener, host: str, port: int) -> None:
        self.listener, self.address, self.sender = listener.start(), (host, port), None

    @property
    def received(self) -> list[dict]:
        return [arrival.message for arrival in self.listener.received]

    def send(self, text: str) -> None:
        if self.sender is None:
            self.sender = Connection(*self.address)
        self.sender.write(wire.request_bytes("POST", "/api/messages", self.sender.host, {
            "Content-Type": "application/json"}, json.dumps({"text": text}).encode()))
        answer = self.sender.response(deadline_in(10))
        if answer.status != 201:
            raise RuntimeError(f"the polling server refused the message: {answer.status} {answer.body[:80]!r}")

    def close(self) -> None:
        """Leave: stop listening (a held long poll is cut, a short poll on its way answered) and close both
        connections."""
        self.listener.close()
        if self.sender is not None:
            self.sender.cut()
            self.sender.close()


class OverWebSocket:
    """One connection, opened by the Upgrade handshake; the server pushes every message as it is stored;
    the client leaves with the closing handshake (RFC 6455 section 7)."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = WebSocketListener(f"ws://{host}:{port}/ws").start()  # no ?after=: only what is new

    @property
    def received(self) -> list[dict]:
        return [arrival.message for arrival in self.listener.received]

    def send(self, text: str) -> None:
        self.listener.send_event({"type": "send", "text": text})

    def close(self) -> None:
        self.listener.close()


def short_polling(host: str, port: int, after: int) -> OverHttp:
    """Asks GET /api/messages every ``SHORT_INTERVAL`` seconds on one keep-alive connection."""
    return OverHttp(Poller(f"http://{host}:{port}", SHORT_INTERVAL, after=after, headers={}), host, port)


def long_polling(host: str, port: int, after: int) -> OverHttp:
    """Asks GET /api/messages again and again, each request held by the server until there is news."""
    return OverHttp(Poller(f"http://{host}:{port}", after=after, wait=LONG_WAIT, headers={}), host, port)


def websocket(host: str, port: int, after: int) -> OverWebSocket:
    return OverWebSocket(host, port)


def server_sent_events(host: str, port: int, after: int) -> OverHttp:
    """One GET /api/events that never ends: the server writes each message into it as an event."""
    return OverHttp(EventStream(f"http://{host}:{port}"), host, port)  # no ?after=: only what is new


TRANSPORTS = {"short polling": ("polling", short_polling), "long polling": ("polling", long_polling),
              "WebSocket": ("websocket", websocket), "Server-Sent Events": ("polling", server_sent_events)}


def run(transport: str, twins: Twins, script: Script = Script(), delay: float = DELAY) -> Run:
    """Play ``script`` over one transport against the ``twins``' servers, through a relay holding data
    ``delay`` s each way; returns the relay's record as arrows (seconds since the client started)."""
    side, client_for = TRANSPORTS[transport]
    began = time.perf_counter()
    server = twins.polling if side == "polling" else twins.websocket
    with Relay(server.port, delay=delay, record=True) as relay:
        origin = time.perf_counter()
        client = client_for("127.0.0.1", relay.port, twins.chat.board.last_id)
        try:
            for at, event in script.events():
                time.sleep(max(0.0, origin + at - time.perf_counter()))
                if event == "send":
                    client.send(script.text)
                elif event.startswith("notify"):
                    twins.chat.board.post(SERVER, NOTIFICATION.format(count=event.split()[1]))
        finally:
            client.close()
        relay.wait_closed(SETTLE)  # a long poll the client cut stays held on the server: not waited for
        arrows = sequence.arrows(relay, origin)
    expected = 2 + len(script.notify_at)  # our message, the server's reply, the notifications
    if len(client.received) != expected:
        raise RuntimeError(f"{transport}: the client got {len(client.received)} messages, not {expected}: "
                           f"{[message['text'] for message in client.received]}")
    return Run(transport, arrows, script, delay, time.perf_counter() - began, client.received)


def run_all(transports=None, script: Script = Script(), delay: float = DELAY) -> list[Run]:
    """The script over each transport in turn (all of ``TRANSPORTS`` by default), each on twin servers of
    its own on 127.0.0.1, started and stopped here: every diagram starts from an empty board."""
    unknown = set(transports or ()) - set(TRANSPORTS)
    if unknown:
        raise ValueError(f"unknown transport(s) {sorted(unknown)}: choose from {list(TRANSPORTS)}")
    runs = []
    for name in transports or TRANSPORTS:
        with Twins() as twins:
            runs.append(run(name, twins, script, delay))
    return runs
