"""Fixtures: real servers on ephemeral loopback ports, started and stopped by each test."""

import base64
import hashlib
import os
import shutil
import socket
import threading

import pytest

from servers import polling_server, websocket_server
from servers.board import MessageBoard
from servers.chat import Chat
from servers.serving import RunningServer


def require_tool(name: str) -> str:
    """The path of a system tool; skip without it, but fail in CI, where it must be installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (tests/install-tools.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class WatchedBoard(MessageBoard):
    """A board that counts who has started waiting on it, so a test can post at the right moment, sleep-free.

    ``board.waiters.acquire(timeout=5)`` returns once a long poll (or a WebSocket pusher) is waiting.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiters = threading.Semaphore(0)

    def wait_after(self, last_id, timeout, limit=None):
        self.waiters.release()
        return super().wait_after(last_id, timeout, limit)


@pytest.fixture
def watched_chat():
    """A Chat on a ``WatchedBoard``."""
    return Chat(WatchedBoard())


@pytest.fixture
def chat():
    chat = Chat()
    yield chat
    chat.stop_ticker()


@pytest.fixture
def polling(chat):
    """The polling server, sharing ``chat`` with the ``websocket`` fixture."""
    with RunningServer(polling_server.create_app(chat)) as server:
        yield server


@pytest.fixture
def websocket(chat):
    """The WebSocket server; ``websocket.ws_url`` is its ws:// base URL."""
    with RunningServer(websocket_server.create_app(chat)) as server:
        server.ws_url = server.url.replace("http://", "ws://", 1)
        yield server


class RawWebSocket:
    """A WebSocket client written out by hand on a plain TCP socket, so a test sees every byte.

    Libraries hide exactly what some tests must check (a stray byte after the
    Close frame, an invalid UTF-8 payload), so this one does the RFC 6455
    handshake and framing itself: client frames masked, server frames not.
    """

    TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA  # frame opcodes

    def __init__(self, port: int, path: str = "/ws", headers: tuple[str, ...] = (), timeout: float = 5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        self.head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(self.head.split()[1])
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert self.status != 101 or b"Sec-WebSocket-Accept: " + accept in self.head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unread: {self.buffer!r}")
        self.buffer += chunk

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        """One final frame, masked as every client frame must be (RFC 6455 section 5.2)."""
        size = len(payload)
        if size < 126:
            length = bytes([0x80 | size])
        elif size < 1 << 16:
            length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
        else:
            length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
        mask = os.urandom(4)
        key = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
        self.sock.sendall(bytes([0x80 | opcode]) + length + mask + masked)

    def send_close(self, code: int = 1000) -> None:
        self.send_frame(self.CLOSE, code.to_bytes(2, "big"))

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server."""
        first, second = self._read(2)
        assert not second & 0x80, "a server must not mask its frames"
        size = second & 0x7F
        if size >= 126:
            size = int.from_bytes(self._read(2 if size == 126 else 8), "big")
        return first & 0x0F, self._read(size)

    def read_close(self) -> int:
        """Skip data frames up to the server's Close frame; return its close code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == self.CLOSE:
                return int.from_bytes(payload[:2], "big")

    def read_to_eof(self) -> bytes:
        """Everything the server sends until it closes TCP (raises TimeoutError if it never does)."""
        rest, self.buffer = self.buffer, b""
        while chunk := self.sock.recv(65536):
            rest += chunk
        return rest

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_websocket():
    """Open ``RawWebSocket``s with ``raw_websocket(port, path, headers)``; all closed afterwards."""
    opened: list[RawWebSocket] = []

    def connect(port: int, path: str = "/ws", headers: tuple[str, ...] = ()) -> RawWebSocket:
        opened.append(RawWebSocket(port, path, headers))
        return opened[-1]

    yield connect
    for client in opened:
        client.close()
