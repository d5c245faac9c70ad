"""Latency scenarios. Each returns plain data: raw samples in seconds plus counts.

Every function talks to servers by URL or port only, so the same measurement
runs directly against a server or through a ``Relay`` with an added delay.
Timing uses ``time.perf_counter`` (monotonic, high resolution); the first
``warmup`` samples are dropped (connection set-up, caches, the first thread).

Reply round trip: from the moment the client starts sending a chat message to
the moment it holds the server's reply. Over a WebSocket both travel on one
connection. Over polling the message goes up with a POST while a separate
poller (its own keep-alive connection, as in a browser tab) fetches the board,
on a fixed schedule (short polling) or by long polling. Messages are sent at
random moments, so each one lands at a random point of the poll cycle, which is
what the "half the interval plus one round trip" model assumes. Over Server-Sent
Events the message goes up with a POST and the reply comes down the event stream.
"""

import json
import random
import socket
import threading
import time
from urllib.parse import urlsplit

import requests
import websocket  # websocket-client: synchronous, so no thread hand-off inside the timing

from clients import wire
from servers.chat import NOTIFICATION, SERVER

from .progress import silent

LONG_POLL_WAIT = 10  # seconds; the scenarios end a long poll by delivering, never by timing out


class TcpEcho:
    """One round trip of ``size`` bytes per call through a raw TCP echo server: the floor for any protocol."""

    def __init__(self, port: int, size: int = 32) -> None:
        self.payload = b"x" * size
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __call__(self) -> None:
        self.sock.sendall(self.payload)
        received = 0
        while received < len(self.payload):
            received += len(self.sock.recv(65536))

    def close(self) -> None:
        self.sock.close()


class WebSocketEcho:
    """One round trip of a ``size``-byte text message per call through a WebSocket echo endpoint."""

    def __init__(self, url: str, size: int = 32) -> None:
        self.text = "x" * size
        self.ws = websocket.create_connection(url, timeout=10)

    def __call__(self) -> None:
        self.ws.send(self.text)
        if self.ws.recv() != self.text:
            raise RuntimeError("the echo server changed the message")

    def close(self) -> None:
        self.ws.close()


class WebSocketReply:
    """One chat exchange per call over our /ws: send a message, wait for the server's reply frame."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(f"{ws_url}/ws", timeout=10)
        self.sent = self.frames = 0

    def __call__(self) -> None:
        self.sent += 1
        self.ws.send(json.dumps({"type": "send", "text": f"How are you? #{self.sent}"}))
        sent_id, replies = None, set()
        while sent_id is None or sent_id not in replies:  # "sent" and the pushed reply, in either order
            event = json.loads(self.ws.recv())
            self.frames += 1
            if event["type"] == "sent":
                sent_id = event["message"]["id"]
            elif event["type"] == "message" and event["message"]["reply_to"] is not None:
                replies.add(event["message"]["reply_to"])

    def close(self) -> None:
        self.ws.close()


class EventStream:
    """GET /api/events on a plain socket: the server's messages as events, read the moment they arrive.

    Lines are cut from our own buffer, not a socket file's, so that a read that times out loses nothing.
    """

    def __init__(self, url: str, after: int | None = None) -> None:
        parts = urlsplit(url)
        self.sock = _connect(parts.port, parts.hostname)
        self.pending = b""
        query = "" if after is None else f"?after={after}"
        self.sock.sendall(wire.request_bytes("GET", f"/api/events{query}", parts.netloc))
        status = self._line(10)
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the event stream was refused: {status!r}")
        while self._line(10) != b"":  # the rest of the response head, up to its empty line
            pass
        self.parser = wire.EventParser()

    def next_message(self, timeout: float = 10) -> dict | None:
        """The next message the stream carries (heartbeats and notices are read past); None if nothing
        came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline - time.monotonic())
            if line is None:
                return None
            event = self.parser.feed(line.decode())
            if event is not None and event.type == "message":
                return json.loads(event.data)

    def _line(self, timeout: float) -> bytes | None:
        """One line without its end; None if it did not come whole within ``timeout`` seconds."""
        while b"\n" not in self.pending:
            self.sock.settimeout(max(timeout, 0.001))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("the event stream ended")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.rstrip(b"\r")

    def close(self) -> None:
        self.sock.close()


class SseReply:
    """One chat exchange per call over Server-Sent Events: POST a message, read the stream up to its reply."""

    def __init__(self, url: str) -> None:
        self.url, self.session, self.stream = url, requests.Session(), EventStream(url)
        self.sent = 0

    def __call__(self) -> None:
        self.sent += 1
        sent = self.session.post(f"{self.url}/api/messages", json={"text": f"How are you? #{self.sent}"}, timeout=10)
        sent_id = sent.json()["message"]["id"]
        while True:  # the reply may come before the POST's answer
            message = self.stream.next_message()
            if message is None:
                raise TimeoutError(f"no reply to message {sent_id} on the event stream")
            if message["reply_to"] == sent_id:
                return

    def close(self) -> None:
        self.stream.close()
        self.session.close()


def round_trips(clients: dict, count: int, warmup: int = 20, label: str | None = None,
                progress=silent) -> dict[str, list[float]]:
    """Time ``count`` calls of each client (TcpEcho, WebSocketEcho, WebSocketReply...), taken in turn.

    One round trip each, over and over, rather than one client after the
    other: whatever else the machine does meanwhile falls on all of them alike,
    so their ratios are fair even when the absolute figures are noisy.
    Closes the clients afterwards.
    """
    samples = {name: [] for name in clients}
    try:
        for i in range(warmup + count):
            for name, client in clients.items():
                started = time.perf_counter()
                client()
                samples[name].append(time.perf_counter() - started)
            progress(label or " / ".join(clients), i + 1, warmup + count)
    finally:
        for client in clients.values():
            client.close()
    return {name: values[warmup:] for name, values in samples.items()}


def tcp_echo(port: int, count: int, size: int = 32, warmup: int = 20, progress=silent) -> list[float]:
    """Round trips of ``size`` bytes through a raw TCP echo server."""
    return round_trips({"raw TCP echo": TcpEcho(port, size)}, count, warmup, progress=progress)["raw TCP echo"]


def websocket_echo(url: str, count: int, size: int = 32, warmup: int = 20, label: str = "WebSocket echo",
                   progress=silent) -> list[float]:
    """Round trips of a ``size``-byte text message through a WebSocket echo endpoint."""
    return round_trips({label: WebSocketEcho(url, size)}, count, warmup, progress=progress)[label]


def sse_reply(url: str, count: int, warmup: int = 20, progress=silent) -> dict:
    """Reply round trips over Server-Sent Events: a POST up, the reply down the event stream."""
    samples = round_trips({"SSE reply round trip": SseReply(url)}, count, warmup, progress=progress)
    return {"samples": samples["SSE reply round trip"], "messages": warmup + count}


def websocket_reply(ws_url: str, count: int, warmup: int = 20, progress=silent) -> dict:
    """Reply round trips over our /ws: send a chat message, wait for the server's reply frame."""
    client = WebSocketReply(ws_url)
    samples = round_trips({"WebSocket reply round trip": client}, count, warmup, progress=progress)
    return {"samples": samples["WebSocket reply round trip"], "messages": warmup + count,
            "frames_received": client.frames}


class Poller:
    """Polls GET /api/messages on its own thread and notes when each message id first arrived.

    ``interval`` None means long polling. Stops by itself once ``until()`` is
    true, or at ``deadline`` seconds. ``arrived`` maps message id to
    (perf_counter, time.time) of arrival; ``duplicates`` counts ids seen twice
    (there should be none: ``after`` moves past everything received).
    """

    def __init__(self, url: str, interval: float | None, until, deadline: float = 120,
                 after: int | None = None, wait: int = LONG_POLL_WAIT) -> None:
        self.url, self.interval, self.until, self.wait = url, interval, until, wait
        self.arrived: dict[int, tuple[float, float]] = {}
        self.messages: dict[int, dict] = {}
        self.polls: list[float] = []  # round trip of each poll request
        self.duplicates = 0
        if after is None:  # start from what is new: ask the server for its last id
            after = requests.get(f"{url}/api/messages", params={"after": 1 << 62}, timeout=10).json()["last_id"]
        self.after = after
        self.deadline = time.perf_counter() + deadline
        self.started = self.stopped = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        params = {"after": self.after} if self.interval else {"after": self.after, "wait": self.wait}
        self.started = next_poll = time.perf_counter()
        while not self.until() and time.perf_counter() < self.deadline:
            sent = time.perf_counter()
            response = session.get(f"{self.url}/api/messages", params=params, timeout=self.wait + 10)
            now, wall = time.perf_counter(), time.time()
            self.polls.append(now - sent)
            for message in response.json()["messages"]:
                if message["id"] in self.arrived:
                    self.duplicates += 1
                self.arrived[message["id"]] = (now, wall)
                self.messages[message["id"]] = message
                params["after"] = message["id"]
            if self.interval:
                next_poll += self.interval
                time.sleep(max(0.0, next_poll - time.perf_counter()))
        self.stopped = time.perf_counter()
        session.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the poller to stop; False if it is still running after ``timeout`` s.

        A long poll that began just before the scenario noted its last message
        waits for the next one: the scenario then posts one to end it.
        """
        self._thread.join(timeout)
        return not self._thread.is_alive()


def polling_reply(url: str, count: int, interval: float | None = None, rate: float = 40, warmup: int = 10,
                  seed: int = 1, label: str | None = None, after: int | None = None, progress=silent) -> dict:
    """Reply round trips over polling (``interval`` in seconds for short polling, None for long polling).

    Messages are POSTed at random moments, ``rate`` per second on average.
    Returns samples, the number of polls, the poller's duration and the poll round trips.
    """
    label = label or (f"short polling {interval * 1000:g} ms" if interval else "long polling")
    rng, session = random.Random(seed), requests.Session()
    sent: dict[int, float] = {}
    total = warmup + count
    poller = Poller(url, interval, until=lambda: len(sent) == total and all(
        _reply_of(poller, i) is not None for i in sent), after=after)
    poller.start()
    for i in range(total):
        time.sleep(rng.uniform(0, 2 / rate))
        started = time.perf_counter()
        response = session.post(f"{url}/api/messages", json={"text": f"How are you? #{i}"}, timeout=10)
        sent[response.json()["message"]["id"]] = started
        progress(f"{label}: reply round trip", i + 1, total)
    if not poller.join(timeout=1 + (interval or 0)):  # its last long poll began before our last POST returned:
        session.post(f"{url}/api/messages", json={"text": "end of the run"}, timeout=10)  # answer it
        poller.join()
    session.close()
    ordered = sorted(sent)
    samples = [poller.arrived[_reply_of(poller, i)][0] - sent[i] for i in ordered if _reply_of(poller, i)]
    return {"samples": samples[warmup:], "messages": total, "replies_received": len(samples),
            "polls": len(poller.polls), "duration": poller.stopped - poller.started,
            "poll_round_trips": poller.polls, "duplicates": poller.duplicates, "interval": interval}


def _reply_of(poller: Poller, message_id: int) -> int | None:
    """The id of the server's reply to ``message_id``, once the poller has it (it is always the next id
    unless two sends interleave, so look it up by ``reply_to``)."""
    reply = poller.messages.get(message_id + 1)
    if reply is not None and reply["reply_to"] == message_id:
        return reply["id"]
    return next((m["id"] for m in list(poller.messages.values()) if m["reply_to"] == message_id), None)


def push_latency(chat, transport: str, url: str, count: int, rate: float = 25, interval: float | None = None,
                 warmup: int = 5, seed: int = 2, progress=silent, clock_offset: float = 0.0) -> dict:
    """Server-originated events: from the server stamping one (Message.time) to the client holding it.

    ``transport`` is "websocket" (``url`` is the ws:// base), "sse" (``url`` is http://: the event
    stream) or "polling" (``url`` is http://; ``interval`` None = long polling). Events are posted on
    ``chat.board`` at random moments, ``rate`` per second on average: in this process, or over HTTP for a
    server elsewhere (``remote.RemoteBoard``). In this process the server's stamp and
    the client's arrival are read from the same wall clock (``time.time``), so no
    clock offset enters the figure; against another machine ``clock_offset`` (its
    clock minus ours, ``remote.clock_offset``) puts the arrival on the server's clock.
    """
    label = {"websocket": "WebSocket push", "sse": "Server-Sent Events push"}.get(transport) or (
        f"short polling {interval * 1000:g} ms push" if interval else "long polling push")
    total, posted = warmup + count, []
    rng = random.Random(seed)

    def post_events() -> None:
        for n in range(total):
            time.sleep(rng.uniform(0, 2 / rate))
            posted.append(chat.board.post(SERVER, NOTIFICATION.format(count=n + 1)).id)
            progress(label, n + 1, total)

    if transport == "sse":
        stream = EventStream(url, after=chat.board.last_id)
        poster = threading.Thread(target=post_events)
        poster.start()
        arrived = {}
        try:  # as below: an event posted over HTTP may come before its POST has returned its id
            while len(posted) < total or not all(i in arrived for i in posted):
                if not poster.is_alive() and len(posted) < total:
                    raise RuntimeError(f"only {len(posted)} of {total} events could be posted")
                if (message := stream.next_message(timeout=0.25)) is not None:
                    arrived.setdefault(message["id"], []).append(time.time() + clock_offset - message["time"])
        finally:
            poster.join()
            stream.close()
        samples, polls = [arrived[i][0] for i in posted], None
        duplicates = sum(len(times) - 1 for times in arrived.values())
    elif transport == "websocket":
        # ?after=: everything after the board's last id, even what lands before the server subscribes this
        # connection to its broadcaster
        ws = websocket.create_connection(f"{url}/ws?after={chat.board.last_id}", timeout=10)
        poster = threading.Thread(target=post_events)
        poster.start()
        arrived = {}
        # Until every event posted has come (a shared board may carry other messages too). An event posted
        # over HTTP may be pushed before its POST has returned its id, so the wait wakes now and then.
        ws.settimeout(0.25)
        try:
            while len(posted) < total or not all(i in arrived for i in posted):
                if not poster.is_alive() and len(posted) < total:
                    raise RuntimeError(f"only {len(posted)} of {total} events could be posted")
                try:
                    message = json.loads(ws.recv())["message"]
                except websocket.WebSocketTimeoutException:
                    continue
                arrived.setdefault(message["id"], []).append(time.time() + clock_offset - message["time"])
        finally:
            poster.join()
            ws.close()
        samples, polls = [arrived[i][0] for i in posted], None
        duplicates = sum(len(times) - 1 for times in arrived.values())
    else:
        poller = Poller(url, interval, until=lambda: len(posted) == total and posted[-1] in poller.arrived,
                        after=chat.board.last_id)
        poller.start()
        post_events()
        if not poller.join(timeout=1 + (interval or 0)):  # its last long poll began before we noted the last id
            chat.board.post(SERVER, "end of the run")
            poller.join()
        samples = [poller.arrived[i][1] + clock_offset - poller.messages[i]["time"] for i in posted]
        polls, duplicates = poller.polls, poller.duplicates
    return {"samples": samples[warmup:], "events": total, "delivered": len(samples), "duplicates": duplicates,
            "polls": len(polls) if polls is not None else None, "poll_round_trips": polls, "interval": interval}


def connection_setup(http_port: int, ws_port: int, count: int, warmup: int = 5, progress=silent,
                     host: str = "127.0.0.1") -> dict:
    """What opening a connection costs, step by step, with raw sockets so each step is exact:

    tcp_connect: ``connect()`` returns (SYN, SYN-ACK, ACK);
    http_request_new: the first GET on that fresh connection, request out to response in;
    http_request_keep_alive: the same GET on a connection that has already served one;
    websocket_handshake: the Upgrade request out to the ``101`` in, on a fresh connection;
    sse_stream_open: GET /api/events out to the stream's first line (``retry:``) in, on a fresh connection.
    """
    steps = {name: [] for name in ("tcp_connect", "http_request_new", "http_request_keep_alive",
                                   "websocket_handshake", "sse_stream_open")}
    events = f"GET /api/events HTTP/1.1\r\nHost: {host}:{http_port}\r\n\r\n".encode()
    get = f"GET /api/messages?after={1 << 62} HTTP/1.1\r\nHost: {host}:{http_port}\r\n\r\n".encode()
    upgrade = (f"GET /ws HTTP/1.1\r\nHost: {host}:{ws_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    for i in range(warmup + count):
        started = time.perf_counter()
        sock = _connect(http_port, host)
        steps["tcp_connect"].append(time.perf_counter() - started)
        with sock:
            for step in ("http_request_new", "http_request_keep_alive"):
                started = time.perf_counter()
                sock.sendall(get)
                _read_response(sock)
                steps[step].append(time.perf_counter() - started)
        with _connect(ws_port, host) as sock:
            started = time.perf_counter()
            sock.sendall(upgrade)
            head = _read_response(sock, body=False)
            steps["websocket_handshake"].append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"handshake refused: {head[:40]!r}")
            sock.sendall(bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]))  # Close 1000, masked with a zero key
            _read_to_eof(sock)
        with _connect(http_port, host) as sock:
            started = time.perf_counter()
            sock.sendall(events)
            read_stream_opening(sock)
            steps["sse_stream_open"].append(time.perf_counter() - started)
        progress("connection setup", i + 1, warmup + count)
    return {name: samples[warmup:] for name, samples in steps.items()}


def _connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_response(sock: socket.socket, body: bool = True) -> bytes:
    """Read one HTTP response (headers, then Content-Length bytes of body if ``body``)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")), 0) if body else 0
    while len(rest) < length:
        rest += sock.recv(65536)
    return head


def read_stream_opening(sock: socket.socket) -> bytes:
    """An event stream's response head and its first line (``retry:``): from then on the stream is open."""
    data = b""
    while b"\r\n\r\nretry:" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the event stream was refused: {data[:60]!r}")
        data += chunk
    return data


def _read_to_eof(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
