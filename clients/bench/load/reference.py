"""``python -m clients.bench.load.reference``: the reference for fan-out, in a process of its own.

What a user might write instead of our Flask servers: the ``websockets`` library's
asyncio server, sending every message to every subscriber with
``websockets.broadcast`` (one encoding, written to each connection without
waiting for it). It speaks our protocol's push half so that one crowd of clients
measures both: subscribers connect to ``/ws`` and receive
``{"type": "message", "message": {"id", "author", "text", "time", "reply_to"}}``,
the same JSON, stamped the same way; ``/echo`` sends every message straight back
(the library's echo, which our ``/ws`` reply round trip is held against).

Beside it, on a port of its own, the few HTTP requests the load run makes of our
polling server, answered the same way, by a plain asyncio server (the ``websockets``
library serves WebSocket handshakes only):

* ``POST /api/messages`` ``{"text": ...}``: store it and its reply, broadcast both, answer
  ``201 {"message": {...}}``, as our servers do;
* ``POST /api/ticker`` ``{"interval": seconds}`` (``null`` stops it): a server event every so often;
* ``GET /api/status``: ``{"last_id", "ticker", "process": {"cpu_seconds"}}`` (its CPU time so far, read
  as our servers read theirs).

It prints ``ws://HOST:PORT/ws`` and ``http://HOST:PORT/`` (the HTTP side) when it listens and
stops on SIGTERM or Ctrl-C.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

import websockets
from websockets.asyncio.server import serve

from clients import wire
from servers.chat import NOTIFICATION, REPLY, SERVER  # our server's words, so the frames are as long

from .crowd import open_file_limit

AUTHOR = "load"  # who posts, when a POST names nobody
REASONS = {200: "OK", 201: "Created", 404: "Not Found"}


class WebsocketsBroadcast:
    """Our protocol's push half on the ``websockets`` library: subscribers on ``/ws``, an echo on ``/echo``,
    messages from the HTTP side or the ticker."""

    def __init__(self) -> None:
        self.subscribers: set = set()
        self.last_id = 0
        self.interval: float | None = None
        self._ticker: asyncio.Task | None = None

    async def handle(self, connection) -> None:
        if connection.request.path.startswith("/echo"):
            async for message in connection:
                await connection.send(message)
            return
        self.subscribers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self.subscribers.discard(connection)

    def post(self, author: str, text: str, reply_to: int | None = None) -> dict:
        """Stamp a message with the next id, as our board does, and send it to every subscriber."""
        self.last_id += 1
        message = {"id": self.last_id, "author": author, "text": text, "time": time.time(), "reply_to": reply_to}
        websockets.broadcast(self.subscribers, json.dumps({"type": "message", "message": message}))
        return message

    def set_ticker(self, interval: float | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.interval, self._ticker = interval, asyncio.create_task(self.tick(interval)) if interval else None

    async def tick(self, interval: float) -> None:
        """Wait, then post, as our ticker does, on a fixed schedule: a broadcast to ten thousand clients takes
        a good part of a second here, and would otherwise push every later event back by as much."""
        loop = asyncio.get_running_loop()
        count, due = 0, loop.time()
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            count += 1
            self.post(SERVER, NOTIFICATION.format(count=count))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        """(status, JSON) for one request of the HTTP side."""
        path = path.partition("?")[0]
        if (method, path) == ("POST", "/api/messages"):
            request = json.loads(body)
            message = self.post(request.get("author") or AUTHOR, request["text"])
            self.post(SERVER, REPLY.format(text=request["text"]), message["id"])  # our servers answer every post
            return 201, {"message": message}
        if (method, path) == ("POST", "/api/ticker"):
            self.set_ticker(json.loads(body)["interval"])
            return 200, {"ticker": self.interval}
        if (method, path) == ("GET", "/api/status"):
            return 200, {"time": time.time(), "last_id": self.last_id, "ticker": self.interval,
                         "process": {"cpu_seconds": time.process_time()}}
        return 404, {"error": "not_found", "message": f"no {method} {path} here"}

    async def serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive HTTP connection: a request at a time, each with ``Content-Length`` if it has a body."""
        try:
            while True:
                start, headers = wire.parse_head(await reader.readuntil(b"\r\n\r\n"))
                length = next((int(value) for name, value in headers if name.lower() == "content-length"), 0)
                status, answer = self.answer(start[0], start[1], await reader.readexactly(length))
                data = json.dumps(answer).encode()
                writer.write(f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serve_until_stopped(host: str, port: int) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        except (NotImplementedError, AttributeError):  # Windows: the parent terminates us instead
            pass
    broadcast = WebsocketsBroadcast()
    # Like our server: no compression, no keepalive pings (ours sends none unless asked).
    async with serve(broadcast.handle, host, port, compression=None, ping_interval=None) as server:
        http = await asyncio.start_server(broadcast.serve_http, host, 0)
        print(f"ws://{host}:{server.sockets[0].getsockname()[1]}/ws", flush=True)
        print(f"http://{host}:{http.sockets[0].getsockname()[1]}/", flush=True)
        async with http:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench.load.reference",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port, printed")
    args = parser.parse_args(argv)
    open_file_limit()
    asyncio.run(serve_until_stopped(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
