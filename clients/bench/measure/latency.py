"""Latency scenarios. Each returns plain data: raw samples in seconds plus counts.

Every function talks to servers by URL or port only, so the same measurement
runs directly against a server or through a ``Relay`` with an added delay. The
clients are the lab's (``clients.lab.listeners``), read step by step for round
trips, so that no hand-off between threads enters the timing.
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

import random
import socket
import time

import requests

from clients import wire
from clients.lab.listeners import Connection, EventStream, Poller, WebSocketListener, deadline_in
from clients.lab.protocol import PAST_EVERY_ID, address
from servers.chat import NOTIFICATION, SERVER

from .progress import silent

DELIVERY_TIMEOUT = 30.0  # seconds every posted event may take to reach a pushed client after the last post


def origin_of(url: str) -> str:
    """The ``Origin`` a browser (and websocket-client) sends to a WebSocket at ``url``: its http:// twin."""
    host, port, _ = address(url)
    return f"http://{host}:{port}"


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
        self.ws = WebSocketListener(url, origin=origin_of(url)).connect()

    def __call__(self) -> None:
        self.ws.send(self.text)
        if self.ws.receive(timeout=10) != self.text:
            raise RuntimeError("the echo server changed the message")

    def close(self) -> None:
        self.ws.close()


class WebSocketReply:
    """One chat exchange per call over our /ws: send a message, wait for the server's reply frame."""

    def __init__(self, ws_url: str) -> None:
        self.ws = WebSocketListener(f"{ws_url}/ws", origin=origin_of(ws_url)).connect()
        self.sent = self.frames = 0

    def __call__(self) -> None:
        self.sent += 1
        self.ws.send_event({"type": "send", "text": f"How are you? #{self.sent}"})
        sent_id, replies = None, set()
        while sent_id is None or sent_id not in replies:  # "sent" and the pushed reply, in either order
            event = self.ws.next_event(timeout=10)
            self.frames += 1
            if event["type"] == "sent":
                sent_id = event["message"]["id"]
            elif event["type"] == "message" and event["message"]["reply_to"] is not None:
                replies.add(event["message"]["reply_to"])

    def close(self) -> None:
        self.ws.close()


class SseReply:
    """One chat exchange per call over Server-Sent Events: POST a message, read the stream up to its reply."""

    def __init__(self, url: str) -> None:
        self.url, self.session, self.stream = url, requests.Session(), EventStream(url).connect()
        self.sent = 0

    def __call__(self) -> None:
        self.sent += 1
        sent = self.session.post(f"{self.url}/api/messages", json={"text": f"How are you? #{self.sent}"}, timeout=10)
        sent_id = sent.json()["message"]["id"]
        deadline = deadline_in(10)
        try:
            while self.stream.next_message(deadline - time.monotonic())["reply_to"] != sent_id:
                pass  # the reply may come before the POST's answer
        except TimeoutError:
            raise TimeoutError(f"no reply to message {sent_id} on the event stream") from None

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
        _reply_of(poller, i) is not None for i in sent), after=after).start()
    for i in range(total):
        time.sleep(rng.uniform(0, 2 / rate))
        started = time.perf_counter()
        response = session.post(f"{url}/api/messages", json={"text": f"How are you? #{i}"}, timeout=10)
        sent[response.json()["message"]["id"]] = started
        progress(f"{label}: reply round trip", i + 1, total)
    _end(poller, lambda: session.post(f"{url}/api/messages", json={"text": "end of the run"}, timeout=10))
    session.close()
    replies = [_reply_of(poller, i) for i in sorted(sent)]
    samples = [poller.arrived[reply].at - sent[i] for i, reply in zip(sorted(sent), replies) if reply]
    return {"samples": samples[warmup:], "messages": total, "replies_received": len(samples),
            "polls": len(poller.polls), "duration": poller.stopped - poller.started,
            "poll_round_trips": poller.polls, "duplicates": poller.duplicates, "interval": interval}


def _reply_of(poller: Poller, message_id: int) -> int | None:
    """The id of the server's reply to ``message_id``, once the poller has it (it is always the next id
    unless two sends interleave, so look it up by ``reply_to``)."""
    reply = poller.arrived.get(message_id + 1)
    if reply is not None and reply.message["reply_to"] == message_id:
        return message_id + 1
    return next((arrival.message["id"] for arrival in list(poller.arrived.values())
                 if arrival.message["reply_to"] == message_id), None)


def _end(poller: Poller, answer_it) -> None:
    """Wait for a poller whose ``until`` now holds; if its last long poll began before that, the server holds
    it until there is news: ``answer_it()`` posts some. RuntimeError if the poller failed."""
    if not poller.join(timeout=1 + (poller.interval or 0)):
        answer_it()
        poller.join()
    if poller.error is not None:
        raise RuntimeError(f"the poller stopped: {poller.error!r}")


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
    total, posted, rng = warmup + count, [], random.Random(seed)
    after = chat.board.last_id  # everything after it, even what lands before the server subscribes the client
    if transport == "websocket":
        client = WebSocketListener(f"{url}/ws", after=after, origin=origin_of(url))
    elif transport == "sse":
        client = EventStream(url, after=after)
    else:  # a poller stops by itself once it holds the last event, rather than begin one more long poll
        client = Poller(url, interval, until=lambda: len(posted) == total and posted[-1] in client.arrived,
                        after=after)
    client.start()
    try:
        for n in range(total):
            time.sleep(rng.uniform(0, 2 / rate))
            posted.append(chat.board.post(SERVER, NOTIFICATION.format(count=n + 1)).id)
            progress(label, n + 1, total)
        if transport == "polling":
            _end(client, lambda: chat.board.post(SERVER, "end of the run"))
        elif not client.wait_until(lambda: all(i in client.arrived for i in posted), DELIVERY_TIMEOUT):
            raise RuntimeError(f"{label}: {sum(i not in client.arrived for i in posted)} of {total} events never "
                               f"came ({client.error!r})")
    finally:
        client.close()
    samples = [client.arrived[i].wall + clock_offset - client.arrived[i].message["time"] for i in posted]
    polls = client.polls if transport == "polling" else None
    return {"samples": samples[warmup:], "events": total, "delivered": len(samples), "duplicates": client.duplicates,
            "polls": len(polls) if polls is not None else None, "poll_round_trips": polls, "interval": interval}


def connection_setup(http_port: int, ws_port: int, count: int, warmup: int = 5, progress=silent,
                     host: str = "127.0.0.1") -> dict:
    """What opening a connection costs, step by step, each request written whole and timed to its answer:

    tcp_connect: ``connect()`` returns (SYN, SYN-ACK, ACK);
    http_request_new: the first GET on that fresh connection, request out to response in;
    http_request_keep_alive: the same GET on a connection that has already served one;
    websocket_handshake: the Upgrade request out to the ``101`` in, on a fresh connection;
    sse_stream_open: GET /api/events out to the stream's first line (``retry:``) in, on a fresh connection.
    """
    steps = {name: [] for name in ("tcp_connect", "http_request_new", "http_request_keep_alive",
                                   "websocket_handshake", "sse_stream_open")}
    get = wire.request_bytes("GET", f"/api/messages?after={PAST_EVERY_ID}", f"{host}:{http_port}")
    upgrade = wire.upgrade_request(f"{host}:{ws_port}", "/ws", "dGhlIHNhbXBsZSBub25jZQ==")
    events = wire.request_bytes("GET", "/api/events", f"{host}:{http_port}")

    def timed(step: str, connection: Connection, request: bytes, read):
        started = time.perf_counter()
        connection.write(request)
        answer = read(deadline_in(10))
        steps[step].append(time.perf_counter() - started)
        return answer

    for i in range(warmup + count):
        started = time.perf_counter()
        connection = Connection(host, http_port)
        steps["tcp_connect"].append(time.perf_counter() - started)
        for step in ("http_request_new", "http_request_keep_alive"):
            timed(step, connection, get, connection.response)
        connection.close()
        connection = Connection(host, ws_port)
        if (switched := timed("websocket_handshake", connection, upgrade, connection.response)).status != 101:
            raise RuntimeError(f"handshake refused: {switched.status} {switched.reason}")
        connection.write(wire.build_frame(wire.CLOSE, wire.close_payload(1000), mask=bytes(4)))
        connection.read_to_end(deadline_in(10))
        connection.close()
        connection = Connection(host, http_port)
        timed("sse_stream_open", connection, events,
              lambda deadline: (connection.response(deadline), connection.line(deadline)))  # the head, "retry:"
        connection.close()
        progress("connection setup", i + 1, warmup + count)
    return {name: samples[warmup:] for name, samples in steps.items()}
