"""A crowd of clients in one asyncio process: a thousand WebSockets or pollers for the price of one thread.

Why asyncio, and why a process of its own: a thousand clients as threads in the
server's process would share its interpreter (one GIL) and bill their work to it,
so the server's figures would be the clients' too. Here one event loop holds every
socket, and the server's CPU, threads and memory are its own.

The bytes are ``clients.wire``'s: the same request bytes, opening handshake and
frames as the notebooks' teaching client, read from asyncio streams instead of a
socket file. Each crowd counts the bytes its clients read and write (TCP payload),
to set beside the server's own meter. Every client notes each message it receives
as (id, delay), the delay running from the server's stamp (``time``) to the client
holding the message; ``tally`` turns those notes into lost, duplicated and
out-of-order deliveries.
"""

import asyncio
import json
import math
import os
import random
import statistics
import time

import requests

from clients import wire
from clients.polling_client import LONG_POLL_WAIT
from servers.serving import allow_open_files

# The headers `requests` sends (what the command-line client and the rest of the bench send),
# so one poll here costs the bytes it costs there.
HTTP_HEADERS = dict(requests.utils.default_headers())
CONNECTING_AT_ONCE = 50  # handshakes in flight at once: a burst beyond the server's listen backlog would
# be dropped by the kernel and retried a second later, and we would measure the retry
CLOSE_TIMEOUT = 3.0  # seconds a WebSocket waits for the server's Close before cutting TCP
RETRY_AFTER = 0.5  # seconds a poller waits after a failed request
SPARE_FILES = 64  # open files a client process needs besides its sockets (Python, pipes, the control connection)


class Counts:
    """Bytes read and written by every client of one crowd (TCP payload)."""

    def __init__(self) -> None:
        self.read = self.written = 0


class Connection:
    """An asyncio TCP connection that counts its bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: Counts) -> None:
        self.reader, self.writer, self.counts = reader, writer, counts

    @classmethod
    async def open(cls, host: str, port: int, counts: Counts) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, counts)

    async def exactly(self, size: int) -> bytes:
        data = await self.reader.readexactly(size)
        self.counts.read += size
        return data

    async def until(self, separator: bytes) -> bytes:
        data = await self.reader.readuntil(separator)
        self.counts.read += len(data)
        return data

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.counts.written += len(data)

    async def response(self) -> wire.Response:
        """One HTTP response: the head up to the blank line, then ``wire.body_size`` bytes of body."""
        response = wire.response_from_head(await self.until(b"\r\n\r\n"))
        response.body = await self.exactly(wire.body_size(response))
        return response

    async def exchange(self, method: str, path: str, host: str, body: bytes = b"",
                       headers: dict | None = None) -> wire.Response:
        self.write(wire.request_bytes(method, path, host, {**HTTP_HEADERS, **(headers or {})}, body))
        return await self.response()

    async def frame(self) -> wire.Frame:
        """One frame, read as ``wire.read_frame`` reads it: two bytes say how long the rest is."""
        data = await self.exactly(2)
        data += await self.exactly(wire.header_size_of(data) - 2)
        data += await self.exactly(wire.payload_size_of(data))
        return wire.parse_frame(data)[0]

    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        self.write(wire.build_frame(opcode, payload, mask=os.urandom(4)))  # clients mask (RFC 6455 5.3)

    def close(self) -> None:
        self.writer.close()


class Listener:
    """What every client of a crowd has: its deliveries, an error if it stopped early, and a task."""

    def __init__(self) -> None:
        self.received: list[tuple[int, float]] = []  # (message id, seconds from the server's stamp to us)
        self.error: str | None = None
        self.task: asyncio.Task | None = None

    def note(self, message: dict) -> None:
        self.received.append((message["id"], time.time() - message["time"]))

    @property
    def last_id(self) -> int:
        return self.received[-1][0] if self.received else 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._listen_noting_errors())

    async def _listen_noting_errors(self) -> None:
        try:
            await self.listen()
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError) as error:
            self.error = f"{type(error).__name__}: {error}"

    async def listen(self) -> None:
        raise NotImplementedError


class WebSocketListener(Listener):
    """A WebSocket client that reads pushed messages until it closes."""

    def __init__(self, host: str, port: int, path: str, counts: Counts) -> None:
        super().__init__()
        self.host, self.port, self.path, self.counts = host, port, path, counts
        self.connection: Connection | None = None
        self.closed_by_server: int | None = None

    async def connect(self) -> None:
        self.connection = await Connection.open(self.host, self.port, self.counts)
        key = wire.new_key()
        self.connection.write(wire.upgrade_request(f"{self.host}:{self.port}", self.path, key))
        try:
            response = await self.connection.response()
            wire.check_upgrade(response, key)
        except (wire.HandshakeError, OSError, asyncio.IncompleteReadError):
            self.connection.close()
            raise

    async def listen(self) -> None:
        while True:
            frame = await self.connection.frame()
            if frame.opcode == wire.TEXT:
                event = json.loads(frame.payload)
                if event.get("type") == "message":
                    self.note(event["message"])
            elif frame.opcode == wire.PING:
                self.connection.send_frame(wire.PONG, frame.payload)
            elif frame.opcode == wire.CLOSE:
                self.closed_by_server = wire.parse_close(frame.payload)[0]
                return

    async def close(self) -> None:
        """The closing handshake: our Close, the server's Close (read by ``listen``), then TCP."""
        try:
            if self.task and not self.task.done():
                self.connection.send_frame(wire.CLOSE, wire.close_payload(1000))
                await asyncio.wait_for(asyncio.shield(self.task), CLOSE_TIMEOUT)
                self.closed_by_server = None  # that Close answered ours
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            if self.task:
                self.task.cancel()
            self.connection.close()


class EventStreamListener(Listener):
    """A Server-Sent Events client: one GET /api/events, then events read as the server writes them."""

    def __init__(self, host: str, port: int, client_id: str, counts: Counts) -> None:
        super().__init__()
        self.host, self.port, self.client_id, self.counts = host, port, client_id, counts
        self.connection: Connection | None = None

    async def connect(self) -> None:
        self.connection = await Connection.open(self.host, self.port, self.counts)
        self.connection.write(wire.request_bytes("GET", f"/api/events?client={self.client_id}",
                                                 f"{self.host}:{self.port}", HTTP_HEADERS))
        response = wire.response_from_head(await self.connection.until(b"\r\n\r\n"))
        if response.status != 200:
            self.connection.close()
            raise ValueError(f"the event stream was refused: {response.status}")

    async def listen(self) -> None:
        parser = wire.EventParser()
        while True:
            line = (await self.connection.until(b"\n")).decode().rstrip("\r\n")
            event = parser.feed(line)
            if event is not None and event.type == "message":
                self.note(json.loads(event.data))

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.connection:
            self.connection.close()


class Poller(Listener):
    """An HTTP client asking ``GET /api/messages?after=N`` on one keep-alive connection: long polling
    (``interval`` None: the server holds each request up to ``wait`` s) or short polling every ``interval`` s."""

    def __init__(self, host: str, port: int, client_id: str, after: int, counts: Counts,
                 interval: float | None = None, wait: int = LONG_POLL_WAIT) -> None:
        super().__init__()
        self.host, self.port, self.client_id, self.after, self.counts = host, port, client_id, after, counts
        self.interval, self.wait = interval, 0 if interval else wait
        self.connection: Connection | None = None
        self.requests = self.failures = 0

    async def connect(self) -> None:
        self.connection = await Connection.open(self.host, self.port, self.counts)

    async def listen(self) -> None:
        # Real pollers are not in step: each starts at a random point of the interval.
        next_poll = time.monotonic() + random.uniform(0, self.interval or 0)
        while True:
            if self.interval:  # on a fixed schedule, as a page's setInterval; a tick missed is skipped
                await asyncio.sleep(max(0.0, next_poll - time.monotonic()))
                late = time.monotonic() - next_poll
                next_poll += self.interval * (1 + max(0, math.floor(late / self.interval)))
            try:
                await self.poll()
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                self.failures += 1
                self.error = f"{type(error).__name__}: {error}"
                self.connection.close()
                await asyncio.sleep(RETRY_AFTER)
                self.connection = await Connection.open(self.host, self.port, self.counts)

    async def poll(self) -> None:
        self.requests += 1
        response = await self.connection.exchange(
            "GET", f"/api/messages?after={self.after}&wait={self.wait}&client={self.client_id}",
            f"{self.host}:{self.port}")
        if response.status != 200:
            raise ValueError(f"the server answered {response.status}: {response.body[:200]!r}")
        answer = json.loads(response.body)
        if answer["last_id"] < self.after:
            raise ValueError(f"the board's last id {answer['last_id']} is below our cursor {self.after}")
        for message in answer["messages"]:
            self.note(message)
            self.after = message["id"]
        if (response.header("Connection") or "").lower() == "close":
            self.connection.close()
            self.connection = await Connection.open(self.host, self.port, self.counts)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.connection:
            self.connection.close()


async def connect_all(listeners: list, at_once: int = CONNECTING_AT_ONCE) -> tuple[list, list[str]]:
    """Connect every listener, ``at_once`` at a time; returns (the connected ones, the errors of the others)."""
    gate = asyncio.Semaphore(at_once)

    async def connect(listener) -> None:
        async with gate:
            await listener.connect()

    outcomes = await asyncio.gather(*(connect(listener) for listener in listeners), return_exceptions=True)
    connected = [listener for listener, outcome in zip(listeners, outcomes) if outcome is None]
    for listener, outcome in zip(listeners, outcomes):
        if outcome is not None and listener.connection is not None:
            listener.connection.close()  # a refused handshake or stream leaves its socket open: this process lives on
    errors = [f"{type(outcome).__name__}: {outcome}" for outcome in outcomes if outcome is not None]
    return connected, errors


async def close_all(listeners: list, at_once: int = 200) -> None:
    gate = asyncio.Semaphore(at_once)

    async def close(listener) -> None:
        async with gate:
            await listener.close()

    await asyncio.gather(*(close(listener) for listener in listeners), return_exceptions=True)


def tally(received: list[list[tuple[int, float]]], expected: range) -> dict:
    """Check every client's deliveries against the ids the server stamped (``expected``).

    Per client: a message seen twice is a duplicate; one whose id is below an id seen
    before it is out of order; an expected id never seen is lost; an id outside
    ``expected`` is unexpected. Returns those counts, and per expected message the
    median and the largest delay over the clients that got it (the median client and
    the last client), in seconds.
    """
    lost = duplicated = out_of_order = unexpected = 0
    delays: dict[int, list[float]] = {message_id: [] for message_id in expected}
    for deliveries in received:
        seen, highest = set(), 0
        for message_id, delay in deliveries:
            if message_id in seen:
                duplicated += 1
                continue
            seen.add(message_id)
            if message_id < highest:
                out_of_order += 1
            highest = max(highest, message_id)
            if message_id in delays:
                delays[message_id].append(delay)
            else:
                unexpected += 1
        lost += sum(1 for message_id in expected if message_id not in seen)
    reached = {message_id: got for message_id, got in delays.items() if got}
    return {"expected_per_client": len(expected), "delivered": sum(len(got) for got in delays.values()),
            "lost": lost, "duplicated": duplicated, "out_of_order": out_of_order, "unexpected": unexpected,
            "median_client": [statistics.median(got) for got in reached.values()],
            "last_client": [max(got) for got in reached.values()]}


def open_file_limit() -> tuple[int | None, int | None]:
    """Raise this process's soft limit on open files as far as the system allows (servers.serving does it, for
    the servers too); returns (soft, hard), None where the OS has no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return None, None
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = allow_open_files(hard if hard != resource.RLIM_INFINITY else 1 << 16)
    return soft, hard


def too_few_files(clients: int, soft: int | None, hard: int | None) -> str | None:
    """The sentence to print when ``clients`` sockets will not fit under the open-file limit, else None."""
    if soft is None or soft < 0 or clients + SPARE_FILES <= soft:
        return None
    hard_limit = f"{hard:,}" if hard is not None and hard >= 0 else "unlimited"
    return (f"{clients:,} clients need about {clients + SPARE_FILES:,} open files, but this system lets a process "
            f"open only {soft:,} (hard limit {hard_limit}). Raise it (for example `ulimit -n {clients * 2 + 1024}` "
            "in the shell that runs the benchmark, which may need root for a hard limit) or ask for fewer clients.")
