"""The measuring clients of ``listeners.py`` on asyncio: a thousand WebSockets, event streams or pollers in one
process, for the price of one thread.

Why: the load run measures what a crowd costs a server; a thousand threads would cost this process more
than the server, and clients in the server's own process would bill their work to it. One event loop here,
in a process of its own (``clients/bench/load/client_process.py``), holds every socket.

The clients mirror ``listeners.py``'s method for method (``connect``, ``start``, ``step``, ``close``, and
``poll``, ``receive``, ``next_event``, ``next_message``), awaiting where those block, and say and read what
``protocol.py`` says, like them. What only a crowd needs: each connection counts the bytes it reads and
writes (``Counts``, the TCP payload, to set beside the server's own meter), and a poller keeps going after a
failed request, counting it (``failures``), for the run to report rather than stop at.
"""

import asyncio
import random
import time

from clients import wire
from clients.polling_client import LONG_POLL_WAIT

from .protocol import (CLOSE_TIMEOUT, HTTP_HEADERS, EventStreamProtocol, PollingProtocol, ServerClosed,
                       WebSocketProtocol)

RETRY_AFTER = 0.5  # seconds a poller waits after a failed request


class Counts:
    """Bytes read and written by every client of one crowd (TCP payload)."""

    def __init__(self) -> None:
        self.read = self.written = 0


class AsyncConnection:
    """An asyncio TCP connection that counts its bytes; its reads are ``listeners.Connection``'s."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: Counts) -> None:
        self.reader, self.writer, self.counts = reader, writer, counts

    @classmethod
    async def open(cls, host: str, port: int, counts: Counts) -> "AsyncConnection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, counts)

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.counts.written += len(data)

    async def _exactly(self, size: int) -> bytes:
        data = await self.reader.readexactly(size)
        self.counts.read += size
        return data

    async def _until(self, separator: bytes) -> bytes:
        data = await self.reader.readuntil(separator)
        self.counts.read += len(data)
        return data

    async def line(self) -> bytes:
        return await self._until(b"\n")

    async def response(self) -> wire.Response:
        response = wire.response_from_head(await self._until(b"\r\n\r\n"))
        response.body = await self._exactly(wire.body_size(response))
        return response

    async def frame(self) -> wire.Frame:
        """One frame, read as ``wire.read_frame`` reads it: two bytes say how long the rest is."""
        data = await self._exactly(2)
        data += await self._exactly(wire.header_size_of(data) - 2)
        data += await self._exactly(wire.payload_size_of(data))
        return wire.parse_frame(data)[0]

    def close(self) -> None:
        self.writer.close()


class AsyncListener:
    """What the three clients share: the task each follows the board on once started. A client that stops
    early keeps why in ``error``; a server's Close ends a WebSocket without one."""

    connection: AsyncConnection | None = None

    def __init__(self, counts: Counts | None) -> None:
        self.counts = counts or Counts()
        self.error: Exception | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        try:
            while True:
                await self.step()
        except ServerClosed:
            pass
        except (OSError, EOFError, ValueError) as error:  # EOFError: asyncio's IncompleteReadError
            self.error = error

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.connection:
            self.connection.close()


class Poller(AsyncListener, PollingProtocol):
    """``listeners.Poller`` on asyncio. A short poller's first poll comes at a random point of its first
    interval: real pollers are not in step."""

    def __init__(self, url: str, interval: float | None = None, *, after: int | None = None,
                 board: str | None = None, wait: float | None = LONG_POLL_WAIT, headers: dict = HTTP_HEADERS,
                 client: str | None = None, counts: Counts | None = None) -> None:
        PollingProtocol.__init__(self, url, interval, after=after, board=board, wait=wait, headers=headers,
                                 client=client)
        AsyncListener.__init__(self, counts)
        self.due = 0.0
        self.requests = self.failures = 0

    async def connect(self) -> "Poller":
        self.connection = await AsyncConnection.open(self.host, self.port, self.counts)
        if self.after is None:
            self.connection.write(self.newest_request())
            self.read_newest(await self.connection.response())
        return self

    async def poll(self) -> None:
        self.requests += 1
        sent = time.perf_counter()
        if self.connection is None:
            self.connection = await AsyncConnection.open(self.host, self.port, self.counts)
        self.connection.write(self.request())
        if self.read(await self.connection.response(), sent):
            self.connection.close()
            self.connection = None

    async def step(self) -> None:
        if self.interval:
            now = time.perf_counter()
            self.due = self.next_poll(self.due, now) if self.due else now + random.uniform(0, self.interval)
            await asyncio.sleep(max(0.0, self.due - time.perf_counter()))
        try:
            await self.poll()
        except (OSError, EOFError, ValueError) as error:
            self.failures += 1
            self.error = error
            if self.connection is not None:
                self.connection.close()
            await asyncio.sleep(RETRY_AFTER)  # then a new connection; a server that is gone ends the poller here
            self.connection = await AsyncConnection.open(self.host, self.port, self.counts)


class WebSocketListener(AsyncListener, WebSocketProtocol):
    """``listeners.WebSocketListener`` on asyncio."""

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, origin: str | None = None,
                 client: str | None = None, counts: Counts | None = None) -> None:
        WebSocketProtocol.__init__(self, url, after=after, board=board, origin=origin, client=client)
        AsyncListener.__init__(self, counts)

    async def connect(self) -> "WebSocketListener":
        self.connection = await AsyncConnection.open(self.host, self.port, self.counts)
        request = self.handshake()
        self.connection.write(request)
        try:
            self.accept(request, await self.connection.response())
        except (wire.HandshakeError, OSError, EOFError):
            self.connection.close()
            raise
        return self

    async def receive(self) -> str:
        while True:
            text, answer = self.read(await self.connection.frame())
            if answer is not None:
                self.connection.write(answer)
            if text is not None:
                return text

    async def next_event(self) -> dict:
        return self.read_event(await self.receive())

    def send(self, text: str) -> bytes:
        frame = self.text_frame(text)
        self.connection.write(frame)
        return frame

    async def step(self) -> None:
        await self.next_event()

    async def close(self) -> None:
        """The closing handshake: our Close, the server's Close (read by the client's task), then TCP."""
        try:
            if self.task and not self.task.done():
                self.connection.write(self.close_frame())
                await asyncio.wait_for(asyncio.shield(self.task), CLOSE_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            await super().close()


class EventStream(AsyncListener, EventStreamProtocol):
    """``listeners.EventStream`` on asyncio."""

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, headers: dict | None = None,
                 client: str | None = None, counts: Counts | None = None) -> None:
        EventStreamProtocol.__init__(self, url, after=after, board=board, headers=headers, client=client)
        AsyncListener.__init__(self, counts)

    async def connect(self) -> "EventStream":
        self.connection = await AsyncConnection.open(self.host, self.port, self.counts)
        self.connection.write(self.request())
        try:
            self.accept(await self.connection.response())
            while not self.opened:
                self.read_line(await self.connection.line())
        except (ValueError, OSError, EOFError):
            self.connection.close()
            raise
        return self

    async def next_message(self) -> dict:
        while (message := self.read_line(await self.connection.line())) is None:
            pass
        return message

    async def step(self) -> None:
        self.read_line(await self.connection.line())
