"""One script of events, played over each transport through a delaying, recording relay: what the
sequence diagrams (``draw.py``) are drawn from.

The script: the client connects; at ``send_at`` it sends "How are you?"; the server posts a
notification at each moment of ``notify_at``; at ``close_at`` the client leaves. The same script over
every transport, so that the diagrams differ only by what the transport does.

Adding a transport is one entry in ``TRANSPORTS``: a class with ``server`` (which of the twin servers
it talks to: "polling" or "websocket"), ``__init__(host, port, after)`` that connects and starts
listening for messages after id ``after``, ``send(text)``, ``close()`` (leave, and stop every thread
and socket it started), and ``received``, the messages it got.

The clients speak through ``clients.wire`` on plain sockets, as notebooks 1 and 2 do by hand, and not
through ``requests``: a client that leaves must be able to cut a long poll the server still holds, as
a closing browser tab does, and a ``requests`` call cannot be cut.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass

from clients import wire
from servers.chat import NOTIFICATION, SERVER
from servers.twins import Twins

from . import sequence
from clients.lab.relay import Relay

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


class Polling:
    """Asks GET /api/messages again and again on one keep-alive connection: every ``interval`` seconds
    (short polling), or, with ``interval`` None, each GET held by the server until there is news (long
    polling). Sending is a POST on a second connection, as a browser does while a long poll is held."""
    server, interval = "polling", None

    def __init__(self, host: str, port: int, after: int) -> None:
        self.address, self.host, self.after = (host, port), f"{host}:{port}", after
        self.received: list[dict] = []
        self.poll_socket = socket.create_connection(self.address, timeout=LONG_WAIT + 5)
        self.send_socket: socket.socket | None = None
        self.stop = threading.Event()
        self.poller = threading.Thread(target=self._poll, name="scenario poller", daemon=True)
        self.poller.start()

    def _poll(self) -> None:
        wait = "" if self.interval else f"&wait={LONG_WAIT}"
        next_poll = time.perf_counter()
        with self.poll_socket.makefile("rb") as rfile:
            while not self.stop.is_set():
                try:
                    _, answer = wire.http_exchange(self.poll_socket, rfile, "GET",
                                                   f"/api/messages?after={self.after}{wait}", self.host)
                    messages = json.loads(answer.body)["messages"]
                except (OSError, ValueError):  # close() cut the connection under this poll
                    return
                self.received += messages
                self.after = messages[-1]["id"] if messages else self.after
                if self.interval:
                    next_poll += self.interval
                    self.stop.wait(max(0.0, next_poll - time.perf_counter()))

    def send(self, text: str) -> None:
        if self.send_socket is None:
            self.send_socket = socket.create_connection(self.address, timeout=10)
        with self.send_socket.makefile("rb") as rfile:
            _, answer = wire.http_exchange(self.send_socket, rfile, "POST", "/api/messages", self.host,
                                           {"Content-Type": "application/json"}, json.dumps({"text": text}).encode())
        if answer.status != 201:
            raise RuntimeError(f"the polling server refused the message: {answer.status} {answer.body[:80]!r}")

    def close(self) -> None:
        """Leave: stop polling and close both connections, cutting a long poll the server still holds."""
        self.stop.set()
        if self.interval:  # a short poll on its way is answered within a round trip: let it finish
            self.poller.join(5)
        for sock in (self.poll_socket, self.send_socket):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the poller blocked on a held poll
                except OSError:
                    pass
        self.poller.join(5)
        for sock in (self.poll_socket, self.send_socket):
            if sock is not None:
                sock.close()


class ShortPolling(Polling):
    interval = SHORT_INTERVAL


class LongPolling(Polling):
    interval = None


class WebSocket:
    """One connection, opened by the Upgrade handshake; the server pushes every message as it is stored;
    the client leaves with the closing handshake (RFC 6455 section 7)."""
    server = "websocket"

    def __init__(self, host: str, port: int, after: int) -> None:
        self.sock, self.rfile, _, _ = wire.open_websocket(host, port, "/ws")  # no ?after=: only what is new
        self.received: list[dict] = []
        self.listener = threading.Thread(target=self._listen, name="scenario listener", daemon=True)
        self.listener.start()

    def _listen(self) -> None:
        try:
            while (frame := wire.read_frame(self.rfile)).opcode != wire.CLOSE:
                event = json.loads(frame.payload)
                if event["type"] == "message":
                    self.received.append(event["message"])
            self.rfile.read()  # after its Close the server closes TCP first: read up to its FIN
        except OSError:
            pass

    def send(self, text: str) -> None:
        wire.send_frame(self.sock, wire.TEXT, json.dumps({"type": "send", "text": text}).encode())

    def close(self) -> None:
        wire.send_frame(self.sock, wire.CLOSE, wire.close_payload(1000))
        self.listener.join(5)
        self.rfile.close()
        self.sock.close()


class ServerSentEvents:
    """One GET /api/events that never ends: the server writes each message into it as an event. Sending
    is a POST on a second connection, as over polling; leaving closes the stream's connection."""
    server = "polling"
    send = Polling.send

    def __init__(self, host: str, port: int, after: int) -> None:
        self.address, self.host, self.send_socket = (host, port), f"{host}:{port}", None
        self.received: list[dict] = []
        self.sock = socket.create_connection(self.address, timeout=10)
        self.sock.sendall(wire.request_bytes("GET", "/api/events", self.host))  # no ?after=: only what is new
        self.listener = threading.Thread(target=self._listen, name="scenario listener", daemon=True)
        self.listener.start()

    def _listen(self) -> None:
        parser = wire.EventParser()
        try:
            with self.sock.makefile("rb") as rfile:
                while rfile.readline() not in (b"\r\n", b""):  # the response head
                    pass
                for line in rfile:
                    event = parser.feed(line.decode().rstrip("\n"))
                    if event is not None and event.type == "message":
                        self.received.append(json.loads(event.data))
        except (OSError, ValueError):  # close() cut the stream
            pass

    def close(self) -> None:
        """Leave, as a browser closing its EventSource does: close both connections."""
        for sock in (self.sock, self.send_socket):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.listener.join(5)
        for sock in (self.sock, self.send_socket):
            if sock is not None:
                sock.close()


TRANSPORTS = {"short polling": ShortPolling, "long polling": LongPolling, "WebSocket": WebSocket,
              "Server-Sent Events": ServerSentEvents}


def run(transport: str, stack: Twins, script: Script = Script(), delay: float = DELAY) -> Run:
    """Play ``script`` over one transport against ``stack``'s servers, through a relay holding data
    ``delay`` s each way; returns the relay's record as arrows (seconds since the client started)."""
    client_class = TRANSPORTS[transport]
    began = time.perf_counter()
    server = stack.polling if client_class.server == "polling" else stack.websocket
    with Relay(server.port, delay=delay, record=True) as relay:
        origin = time.perf_counter()
        client = client_class("127.0.0.1", relay.port, stack.chat.board.last_id)
        try:
            for at, event in script.events():
                time.sleep(max(0.0, origin + at - time.perf_counter()))
                if event == "send":
                    client.send(script.text)
                elif event.startswith("notify"):
                    stack.chat.board.post(SERVER, NOTIFICATION.format(count=event.split()[1]))
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
        with Twins() as stack:
            runs.append(run(name, stack, script, delay))
    return runs
