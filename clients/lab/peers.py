"""The two reference points every figure of ours is compared with, started in-process on loopback and stopped
afterwards (our own two servers on one Chat are ``servers.twins.Twins``):

* ``RawEcho``: a plain TCP echo. No protocol at all: the floor for any round trip here.
* ``WebsocketsEcho``: the ``websockets`` library's own asyncio server echoing every
  message: what a user might pick instead of a Flask app.
"""

import asyncio
import socket
import threading

import websockets
from websockets.asyncio.server import serve


def close_listener(listener: socket.socket) -> None:
    """Close a listening socket that a thread may be blocked on in accept(): shutting it down first wakes it."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


class RawEcho:
    """TCP echo on 127.0.0.1:<port>: every byte straight back, one thread per connection."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connections.append(connection)
            threading.Thread(target=self._echo, args=(connection,), daemon=True).start()

    @staticmethod
    def _echo(connection: socket.socket) -> None:
        with connection:
            try:
                while data := connection.recv(65536):
                    connection.sendall(data)
            except OSError:
                pass

    def stop(self) -> None:
        close_listener(self._listener)
        self._thread.join()
        for connection in self._connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "RawEcho":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class WebsocketsEcho:
    """The ``websockets`` library's asyncio server, echoing, on its own event loop thread."""

    version = websockets.__version__

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"

    async def _start(self):
        async def echo(connection):
            async for message in connection:
                await connection.send(message)
        return await serve(echo, "127.0.0.1", 0, compression=None)  # like our server: no permessage-deflate

    async def _close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> "WebsocketsEcho":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
