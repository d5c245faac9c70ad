"""``python -m clients.bench.load.reference``: the reference for fan-out, in a process of its own.

What a user might write instead of our Flask servers: the ``websockets`` library's
asyncio server, sending every server event to every subscriber with
``websockets.broadcast`` (one encoding, written to each connection without
waiting for it). It speaks our protocol's push half so that one crowd of clients
measures both: subscribers connect to ``/ws`` and receive
``{"type": "message", "message": {"id", "author", "text", "time", "reply_to"}}``,
the same JSON, stamped the same way; ``/control`` takes ``{"ticker": seconds}``
(``null`` stops it) and answers every message with ``{"ticker", "last_id", "cpu_seconds"}``
(its CPU time so far, read as our servers read theirs for ``/api/status``).

It prints ``ws://HOST:PORT/ws`` when it listens and stops on SIGTERM or Ctrl-C.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

import websockets
from websockets.asyncio.server import serve

from servers.chat import NOTIFICATION  # our ticker's words, so the frames are as long

from .crowd import open_file_limit


class WebsocketsBroadcast:
    """Our protocol's push half on the ``websockets`` library: subscribers on ``/ws``, the ticker on ``/control``."""

    def __init__(self) -> None:
        self.subscribers: set = set()
        self.last_id = 0
        self.interval: float | None = None
        self._ticker: asyncio.Task | None = None

    async def handle(self, connection) -> None:
        if connection.request.path.startswith("/control"):
            async for request in connection:
                if "ticker" in (request := json.loads(request)):
                    self.set_ticker(request["ticker"])
                await connection.send(json.dumps({"ticker": self.interval, "last_id": self.last_id,
                                                  "cpu_seconds": time.process_time()}))
            return
        self.subscribers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self.subscribers.discard(connection)

    def set_ticker(self, interval: float | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.interval, self._ticker = interval, asyncio.create_task(self.tick(interval)) if interval else None

    async def tick(self, interval: float) -> None:
        count = 0
        while True:
            await asyncio.sleep(interval)  # wait, then post: as our ticker does
            count += 1
            self.last_id += 1
            message = {"id": self.last_id, "author": "server", "text": NOTIFICATION.format(count=count),
                       "time": time.time(), "reply_to": None}
            websockets.broadcast(self.subscribers, json.dumps({"type": "message", "message": message}))


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
        port = server.sockets[0].getsockname()[1]
        print(f"ws://{host}:{port}/ws", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench.load.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port, printed")
    args = parser.parse_args(argv)
    open_file_limit()
    asyncio.run(serve_until_stopped(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
