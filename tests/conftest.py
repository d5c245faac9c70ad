"""Fixtures: real servers on ephemeral loopback ports, started and stopped by each test."""

import os
import shutil
import socket
import threading
import time

import psutil
import pytest

from clients import wire
from servers import polling_server, websocket_server
from servers.board import MessageBoard
from servers.chat import Chat
from servers.cluster import missing_tools
from servers.redis_board import RedisBoard
from servers.serving import RunningServer
from servers.twins import Twins


def eventually(condition, timeout: float, step: float = 0.01) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds, asked every ``step`` s: for what a test
    cannot be told of (another process, a socket the server holds); the caller asserts."""
    deadline = time.monotonic() + timeout
    while not (met := condition()) and time.monotonic() < deadline:
        time.sleep(step)
    return bool(met)


def unavailable(message: str) -> None:
    """What a test does when a real part it needs is missing: skip, but fail in CI, where every part must be."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of a system tool; skip without it, but fail in CI, where it must be installed."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (tests/install-tools.sh installs it)")
    return path


def require_cluster_tools() -> None:
    """redis-server and nginx, looked for as ``servers.cluster`` looks for them (nginx lives in /usr/sbin, not on
    every user's PATH, where ``require_tool`` would miss it)."""
    for missing in missing_tools():
        unavailable(missing)


@pytest.fixture
def lan_address() -> str:
    """An IPv4 address of this machine that is not loopback: what a request from another machine looks like to
    a server bound to it (the class view's teacher-only switch). Skipped without one, but failed in CI."""
    addresses = [address.address for addresses in psutil.net_if_addrs().values() for address in addresses
                 if address.family == socket.AF_INET and not address.address.startswith("127.")]
    if not addresses:
        unavailable("this machine has no network address besides loopback")
    return addresses[0]


class Watched:
    """Counts who has started waiting on the board, so a test can post at the right moment, sleep-free:
    ``board.waiters.acquire(timeout=5)`` returns once a waiter (a long poll, a broadcaster) is in ``wait_after``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiters = threading.Semaphore(0)

    def wait_after(self, last_id, timeout, limit=None):
        self.waiters.release()
        return super().wait_after(last_id, timeout, limit)


class WatchedBoard(Watched, MessageBoard):
    """The in-memory board, watched."""


class WatchedRedisBoard(Watched, RedisBoard):
    """The board in Redis, watched."""


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
def twins(chat):
    """Both servers on ``chat``, as ``python -m servers`` runs them."""
    with Twins(chat) as both:
        yield both


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
    """``clients.wire``'s hand-made WebSocket, kept open for a test that must see every byte.

    Libraries hide exactly what some tests must check (a stray byte after the
    Close frame, an invalid UTF-8 payload), so this one goes through the
    teaching client's handshake and framing: client frames masked, server frames not.
    """

    TEXT, BINARY, CLOSE, PING, PONG = wire.TEXT, wire.BINARY, wire.CLOSE, wire.PING, wire.PONG

    def __init__(self, port: int, path: str = "/ws", origin: str | None = None, timeout: float = 5):
        self.sock, self.rfile, _, response = wire.open_websocket("127.0.0.1", port, path, origin)
        self.sock.settimeout(timeout)
        self.status = response.status  # open_websocket has checked the 101 and its Sec-WebSocket-Accept

    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        """One final frame, masked as every client frame must be (RFC 6455 section 5.2)."""
        wire.send_frame(self.sock, opcode, payload)

    def send_close(self, code: int = 1000) -> None:
        self.send_frame(self.CLOSE, wire.close_payload(code))

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server."""
        frame = wire.read_frame(self.rfile)
        assert frame.mask is None, "a server must not mask its frames"
        return frame.opcode, frame.payload

    def read_close(self) -> int:
        """Skip data frames up to the server's Close frame; return its close code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == self.CLOSE:
                return wire.parse_close(payload)[0]

    def read_to_eof(self) -> bytes:
        """Everything the server sends until it closes TCP (raises TimeoutError if it never does)."""
        return self.rfile.read()

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


class RawEventStream:
    """A raw GET /api/events on a socket: the response head, then events (or raw bytes) as they come."""

    def __init__(self, port: int, query: str = "", headers: dict | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.rfile = self.sock.makefile("rb")
        self.sock.sendall(wire.request_bytes("GET", f"/api/events{query}", f"127.0.0.1:{port}", headers))
        self.head = b""
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            self.head += line
        self.parser = wire.EventParser()

    def events(self, count: int) -> list[wire.Event]:
        got = []
        while len(got) < count:
            line = self.rfile.readline()
            assert line, f"the stream ended after {got}"
            if event := self.parser.feed(line.decode().rstrip("\n")):
                got.append(event)
        return got

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def _opened(kind):
    """A fixture's body: open ``kind(...)`` as often as the test asks; every one is closed afterwards."""
    opened = []

    def open_(*args, **kwargs):
        opened.append(kind(*args, **kwargs))
        return opened[-1]

    yield open_
    for thing in opened:
        thing.close()


@pytest.fixture
def raw_websocket():
    """Open ``RawWebSocket``s with ``raw_websocket(port, path, origin)``; all closed afterwards."""
    yield from _opened(RawWebSocket)


@pytest.fixture
def streams():
    """Open ``RawEventStream``s with ``streams(port, query, headers)``; all closed afterwards."""
    yield from _opened(RawEventStream)


# --- a real browser: Debian's Chromium, headless, driven by Playwright ------------------------------

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1050}


class Site:
    """Both servers as ``python -m servers`` starts them, and restarts of them on the same ports."""

    def __init__(self, chat) -> None:
        self._start(chat, 0, 0)

    def _start(self, chat, polling_port: int, websocket_port: int) -> None:
        self.chat = chat
        self.twins = Twins(chat, polling_port=polling_port, websocket_port=websocket_port)
        self.polling, self.websocket = self.twins.polling, self.twins.websocket

    def stop(self) -> None:
        self.twins.stop()

    def restart(self, chat=None) -> None:
        """New servers on the same ports, with the same Chat (a board kept elsewhere) or a new one (``chat``).

        ``python -m servers`` keeps its board in memory: restarting it is ``restart(Chat())``.
        """
        ports = self.polling.port, self.websocket.port
        self.stop()
        chat = chat or self.chat
        chat.send("student", "said while the servers were down")
        self._start(chat, *ports)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (tests/install-tools.sh), for the module's tests; Playwright never downloads one."""
    from playwright.sync_api import sync_playwright  # only the browser tests need Playwright

    chromium = require_tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(chat):
    """Both servers, restartable on the same ports."""
    site = Site(chat)
    yield site
    site.stop()


@pytest.fixture
def open_page(browser):
    """open_page(url) -> a new tab; any script error or alert() fails the test."""
    context = browser.new_context(viewport=VIEWPORT)
    problems = []

    def open_(url):
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.goto(url)
        return page

    yield open_
    context.close()
    assert not problems
