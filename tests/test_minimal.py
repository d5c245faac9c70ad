"""The minimal pair (servers/minimal/), and where it stops.

First, that it works: the seed's question over the Python clients and in Chromium, the broadcast between two
clients of one transport, one command that starts and stops both, twins whose ``diff`` is only the transport.
Then each difference servers/minimal/README.md walks through, run on the minimal server and on the measured
one with the same client: what the minimal pair gets wrong, the measured servers get right.
"""

import ast
import difflib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from clients import minimal, websocket_client, wire
from servers.minimal import polling_chat, websocket_chat
from servers.minimal.__main__ import Running

from conftest import RawWebSocket

ROOT = Path(__file__).resolve().parent.parent
REPLY = "Client:How are you?\nServer:I am fine, thanks!"
MIB = 1 << 20
MORE_THAN_TCP_HOLDS = 8 * MIB  # bytes: well over what the kernel buffers for one loopback connection (~4 MiB)


@pytest.fixture
def minimal_polling():
    server = Running(polling_chat.create_app())
    yield server
    server.stop()


@pytest.fixture
def minimal_websocket():
    server = Running(websocket_chat.create_app())
    server.ws_url = server.url.replace("http://", "ws://", 1)  # as the measured server's fixture has it
    yield server
    server.stop()


# --- the minimal pair works ---------------------------------------------------------------------

def test_both_answer_the_seeds_question_over_the_python_clients(minimal_polling, minimal_websocket):
    assert minimal.ask_over_polling(url=minimal_polling.url) == REPLY
    assert minimal.ask_over_websocket(url=f"{minimal_websocket.ws_url}/ws") == REPLY


def test_the_few_lines_of_requests_in_the_readme_print_the_reply(minimal_polling):
    """The polling client servers/minimal/README.md shows, run as a student pastes it (on this test's port)."""
    readme = (ROOT / "servers" / "minimal" / "README.md").read_text()
    lines = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert lines.count("http://127.0.0.1:7001") == 2
    done = subprocess.run([sys.executable, "-c", lines.replace("http://127.0.0.1:7001", minimal_polling.url)],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout == REPLY + "\n", done.stderr


def test_a_short_poll_answers_at_once_and_a_long_poll_when_news_comes(minimal_polling):
    url = f"{minimal_polling.url}/messages"
    assert requests.get(url, params={"after": 0}, timeout=5).json() == {"messages": []}  # short: nothing yet
    held: list[dict] = []
    poll = threading.Thread(target=lambda: held.append(requests.get(url, params={"after": 0, "wait": 20},
                                                                    timeout=30).json()))
    poll.start()
    poll.join(0.5)
    assert poll.is_alive() and not held  # the server holds the long poll: there is no news
    requests.post(url, data="hi", timeout=5)
    poll.join(10)
    assert held == [{"messages": ["hi", "Client:hi\nServer:I am fine, thanks!"]}]


def test_polling_broadcasts_between_two_clients(minimal_polling):
    url = f"{minimal_polling.url}/messages"
    with requests.Session() as ana, requests.Session() as bob:
        ana.post(url, data="hi from ana", timeout=5)
        said = bob.get(url, params={"after": 0, "wait": 5}, timeout=10).json()["messages"]
        assert said == ["hi from ana", "Client:hi from ana\nServer:I am fine, thanks!"]
        bob.post(url, data="hi from bob", timeout=5)
        assert ana.get(url, params={"after": 2, "wait": 5}, timeout=10).json()["messages"][0] == "hi from bob"


def joined(ws, name: str) -> None:
    """Say hello and wait to hear it back: the server has added this client to those it pushes to (it does that
    in its view, after the 101 has gone out, so a message sent in between would pass it by)."""
    ws.send(f"{name} is here")
    while ws.recv(timeout=5) != f"{name} is here":
        pass
    ws.recv(timeout=5)  # the reply to it


def test_a_websocket_broadcasts_between_two_clients(minimal_websocket):
    url = f"{minimal_websocket.ws_url}/ws"
    with connect(url) as ana, connect(url) as bob:
        joined(ana, "ana")
        joined(bob, "bob")
        assert ana.recv(timeout=5) == "bob is here"  # ana hears bob join...
        ana.recv(timeout=5)  # ...and the reply to it
        ana.send("hi from ana")
        expected = ["hi from ana", "Client:hi from ana\nServer:I am fine, thanks!"]
        assert [bob.recv(timeout=5) for _ in range(2)] == expected  # pushed: bob asked for nothing
        assert [ana.recv(timeout=5) for _ in range(2)] == expected  # the sender too
        bob.send("hi from bob")
        assert ana.recv(timeout=5) == "hi from bob"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_the_button_in_chromium_and_a_second_page_sees_it(request, transport, open_page):  # noqa: F811
    server = request.getfixturevalue(f"minimal_{transport}")
    pages = [open_page(server.url + "/") for _ in range(2)]
    for n, page in enumerate(pages):  # each page hears its own message: the server pushes (or answers) to it
        if transport == "websocket":
            expect(page.locator("#messages li", has_text="[connected]")).to_have_count(1)
        page.fill("#text", f"<b>page {n}</b>")
        page.press("#text", "Enter")
        expect(page.locator("#messages li", has_text=f"<b>page {n}</b>").first).to_be_visible()
    expect(pages[0].locator("#messages li", has_text="<b>page 1</b>").first).to_be_visible()
    expect(pages[0].locator("#messages b")).to_have_count(0)  # text, never HTML
    pages[0].click("#ask")
    for page in pages:
        reply = page.locator("#messages li", has_text="Server:I am fine, thanks!").filter(has_text="How are you?")
        expect(reply).to_have_count(1)
        assert reply.inner_text() == REPLY  # two lines, exactly as the seed's server says it


class Launched:
    """``python -m servers.minimal`` on free ports, as a user starts it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "servers.minimal", "--polling-port", "0",
                                         "--websocket-port", "0"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.printed = ""
        while "Press Ctrl-C" not in self.printed:
            line = self.process.stdout.readline()
            assert line, f"it ended before starting: {self.printed}"
            self.printed += line
        self.polling_url, self.websocket_url = re.findall(r"http://127\.0\.0\.1:\d+", self.printed)[:2]

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        rest, _ = self.process.communicate(timeout=5)
        return self.process.returncode, rest


@pytest.mark.timeout(30)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "kill"])
def test_one_command_runs_both_and_stops_them_with_clients_connected(signum):
    launched = Launched()
    try:
        assert "polling" in launched.printed and "/ws" in launched.printed
        assert minimal.ask_over_polling(url=launched.polling_url) == REPLY
        ws_url = launched.websocket_url.replace("http://", "ws://") + "/ws"
        assert minimal.ask_over_websocket(url=ws_url) == REPLY
        listener = websocket_client.connect(ws_url)
        poll_result: list = []

        def long_poll() -> None:
            try:
                poll_result.append(requests.get(f"{launched.polling_url}/messages", params={"after": 99, "wait": 20},
                                                timeout=25))
            except requests.RequestException as error:
                poll_result.append(error)

        poll = threading.Thread(target=long_poll)
        poll.start()
        poll.join(0.3)  # held by the server
        returncode, rest = launched.stop(signum)
        assert returncode == 0 and "Stopped." in rest
        poll.join(5)
        assert isinstance(poll_result[0], requests.ConnectionError)  # cut, not left hanging
        with pytest.raises(ConnectionClosed):
            listener.recv(timeout=5)
        listener.close()
        for url in (launched.polling_url, launched.websocket_url):
            with pytest.raises(requests.ConnectionError):
                requests.get(url, timeout=5)  # both ports are free again
    finally:
        if launched.process.poll() is None:
            launched.process.kill()
            launched.process.wait(5)


# --- the twins differ only in their transport ----------------------------------------------------

TWINS = ROOT / "servers" / "minimal" / "polling_chat.py", ROOT / "servers" / "minimal" / "websocket_chat.py"


def routes(node: ast.AST) -> list[str]:
    """The paths a piece of a twin registers: ``add_url_rule("/x", ...)``, ``@app.get("/x")``, ``.route("/x")``."""
    return [call.args[0].value for call in ast.walk(node) if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute) and call.func.attr in ("add_url_rule", "get", "post", "route")
            and call.args and isinstance(call.args[0], ast.Constant) and str(call.args[0].value).startswith("/")]


def transport_lines(source: str) -> tuple[set[int], list[str], int]:
    """What belongs to the transport in one twin: (its line numbers, the paths it serves, its calls of answer).

    The transport is the module docstring, the imports of libraries (not the feature's, ``from .seed``), and
    create_app's statements between the page route (``add_url_rule("/", ...)``) and ``return app``; everything
    else is the feature and the scaffolding the two twins share.
    """
    tree = ast.parse(source)
    docstring = tree.body[0]
    imports = [node for node in tree.body if isinstance(node, ast.Import)
               or isinstance(node, ast.ImportFrom) and node.level == 0]
    factory = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "create_app")
    page = next(n for n, statement in enumerate(factory.body) if "/" in routes(statement))
    assert isinstance(factory.body[-1], ast.Return), "create_app ends with return app"
    section = factory.body[page + 1:-1]
    lines = set()
    for node in [docstring, *imports, *section]:
        first = min([node.lineno] + [decorator.lineno for decorator in getattr(node, "decorator_list", [])])
        lines.update(range(first, node.end_lineno + 1))
    paths = sorted({path for statement in section for path in routes(statement)})
    answers = sum(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "answer"
                  for statement in section for node in ast.walk(statement))
    return lines, paths, answers


def differences_beyond_the_transport(polling: str, websocket: str) -> list[str]:
    """What makes two twins differ in more than their transport; empty when they are true twins.

    Transport-only means: (1) outside each file's transport (``transport_lines``), the two files are the same
    line for line, blank lines aside, so the feature (``answer``), the page route and the factory are one
    text; (2) each transport serves one path of its own; (3) each transport takes the feature from
    ``answer()``, called once, and never restates it.
    """
    files = polling.splitlines(), websocket.splitlines()
    (polling_lines, polling_paths, polling_answers), (websocket_lines, websocket_paths, websocket_answers) = (
        transport_lines(polling), transport_lines(websocket))
    found = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, *files, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for number in range(i1 + 1, i2 + 1):
            if number not in polling_lines and files[0][number - 1].strip():
                found.append(f"polling_chat.py line {number}, outside the transport: {files[0][number - 1]!r}")
        for number in range(j1 + 1, j2 + 1):
            if number not in websocket_lines and files[1][number - 1].strip():
                found.append(f"websocket_chat.py line {number}, outside the transport: {files[1][number - 1]!r}")
    for name, paths, answers in (("polling_chat.py", polling_paths, polling_answers),
                                 ("websocket_chat.py", websocket_paths, websocket_answers)):
        if len(paths) != 1:
            found.append(f"{name}: its transport serves {paths}, not one path")
        if answers != 1:
            found.append(f"{name}: its transport calls answer() {answers} times, not once")
    return found


def test_the_twins_diff_to_their_transport_only():
    polling, websocket = (path.read_text() for path in TWINS)
    assert differences_beyond_the_transport(polling, websocket) == []
    assert [transport_lines(polling)[1], transport_lines(websocket)[1]] == [["/messages"], ["/ws"]]
    for source in (polling, websocket):
        assert 35 <= len(source.splitlines()) <= 50  # about forty lines each: read in a minute


def test_the_twin_pages_differ_in_their_title_and_their_transport_only():
    """Above the script's transport (from its first comment on), the two pages are one text but for the title."""
    shared = []
    for path in (path.with_suffix(".html") for path in TWINS):
        lines = path.read_text().splitlines()
        transport = next(n for n, line in enumerate(lines) if line.lstrip().startswith("//"))
        shared.append([line for line in lines[:transport] if not re.match(r"<(title|h1)>", line)])
    assert shared[0] == shared[1]
    assert any("How are you?" in line for line in shared[0])  # the seed's button, on both


@pytest.mark.parametrize("twin, old, new, complaint", [
    (1, "from .seed import answer", 'def answer(text):\n    return [text, "I am great!"]', "outside the transport"),
    (0, 'app = Flask(__name__)', 'app = Flask(__name__, static_folder="pages")', "outside the transport"),
    (1, '    return app\n', '    app.add_url_rule("/status", "status", lambda: "ok")\n    return app\n',
     "serves ['/status', '/ws']"),
    (1, "messages = answer(ws.receive())", 'messages = [text := ws.receive(), f"Client:{text}\\nServer:fine"]',
     "calls answer() 0 times"),
    (0, "            lock.notify_all()\n", "            lock.notify_all()\n            print(answer('x'))\n",
     "calls answer() 2 times"),
], ids=["another reply", "a change to the scaffolding", "a feature in one twin only", "the feature restated",
        "the feature called twice"])
def test_the_twin_check_catches_what_is_not_transport(twin, old, new, complaint):
    sources = [path.read_text() for path in TWINS]
    assert old in sources[twin]
    sources[twin] = sources[twin].replace(old, new)
    found = differences_beyond_the_transport(*sources)
    assert any(complaint in line for line in found), found


# --- where the minimal pair stops: the same client on the minimal server and on the measured one ------

@pytest.fixture(params=["minimal", "measured"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def polling_under_test(kind, request):
    """(server, path of its messages): the minimal polling server or the measured one."""
    if kind == "minimal":
        return request.getfixturevalue("minimal_polling"), "/messages"
    return request.getfixturevalue("polling"), "/api/messages"


@pytest.fixture
def websocket_under_test(kind, request):
    return request.getfixturevalue("minimal_websocket" if kind == "minimal" else "websocket")


def test_keep_alive_two_polls_on_one_connection(kind, polling_under_test):
    """Werkzeug's development server closes the connection after every response: each poll opens a new one."""
    server, path = polling_under_test
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock, sock.makefile("rb") as rfile:
        host = f"127.0.0.1:{server.port}"
        _, first = wire.http_exchange(sock, rfile, "GET", f"{path}?after=0", host)
        assert first.status == 200
        closed = bool(select.select([sock], [], [], 1)[0]) and rfile.read() == b""  # the server's FIN, at once
        if not closed:
            _, second = wire.http_exchange(sock, rfile, "GET", f"{path}?after=0", host)
            assert second.status == 200  # the second poll on the same connection
    assert first.header("Connection") == ("close" if kind == "minimal" else None)
    assert closed is (kind == "minimal")


def test_the_clean_close_nothing_after_the_close_frame(kind, websocket_under_test):
    """flask-sock on Werkzeug: once the view returns, Werkzeug writes a 200 response on the connection, before
    or after the Close frame (simple-websocket's reader thread writes that one: a race, see the next test)."""
    ws = RawWebSocket(websocket_under_test.port)
    try:
        ws.send_close(1000)
        after_the_handshake = ws.read_to_eof()
    finally:
        ws.close()
    close_frame = wire.build_frame(wire.CLOSE, wire.close_payload(1000))
    if kind == "minimal":
        assert b"HTTP/1.1 200 OK\r\n" in after_the_handshake, after_the_handshake  # a browser: a corrupt frame
    else:
        assert after_the_handshake == close_frame  # the Close, then TCP's FIN


def test_the_clean_close_as_chromium_sees_it(kind, websocket_under_test, open_page):  # noqa: F811
    """The same close, from a page: Chromium reads the 200 as a corrupt frame and reports an abnormal close."""
    page = open_page(websocket_under_test.url + "/")
    closed = page.evaluate("""() => new Promise(done => {
        const socket = new WebSocket(`ws://${location.host}/ws`);
        socket.onopen = () => socket.close(1000);
        socket.onclose = event => done([event.code, event.wasClean]);
    })""")
    assert closed == ([1006, False] if kind == "minimal" else [1000, True])


class SlowPeer:
    """A WebSocket client with a small receive buffer that makes the server write it more than TCP can hold,
    and reads none of it: the server's write to it is stuck, in the middle of a frame, until it reads.

    On the minimal server it sends one 8 MiB message, which comes back to it (and would go to everyone);
    the measured server takes 16 KiB on /ws, so there it sends eight 1 MiB messages to /echo.
    """

    def __init__(self, kind: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: sets the window
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        key = wire.new_key()
        self.sock.sendall(wire.upgrade_request(f"127.0.0.1:{port}", "/ws" if kind == "minimal" else "/echo", key))
        self.rfile = self.sock.makefile("rb")
        wire.check_upgrade(wire.read_response(self.rfile), key)
        self.sender = None
        if kind == "minimal":
            wire.send_frame(self.sock, wire.TEXT, b"x" * MORE_THAN_TCP_HOLDS)
        else:  # the measured server reads no more while its answer waits: our sending waits too, in a thread
            self.sender = threading.Thread(target=self._send_echoes, daemon=True)
            self.sender.start()
        readable, _, _ = select.select([self.sock], [], [], 10)
        assert readable, "the server never started writing"

    def _send_echoes(self) -> None:
        try:
            for _ in range(MORE_THAN_TCP_HOLDS // MIB):
                wire.send_frame(self.sock, wire.BINARY, b"y" * MIB)
        except OSError:  # the test closed the socket first (it does not wait for the echoes)
            pass

    def close_and_read_everything(self) -> bytes:
        """Send a Close while the server is stuck writing, then read all it sends until it closes TCP."""
        if self.sender is None:
            wire.send_frame(self.sock, wire.CLOSE, wire.close_payload(1000))
        else:  # the Close follows the messages still being sent, while this thread reads
            threading.Thread(target=self._close_after_sending, daemon=True).start()
        return self.rfile.read()

    def _close_after_sending(self) -> None:
        self.sender.join()
        wire.send_frame(self.sock, wire.CLOSE, wire.close_payload(1000))

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def frames_on_the_wire(data: bytes) -> list[str]:
    """The frames in ``data``, in order, as "text 8388608 B"; "not a frame: ..." where the bytes stop being
    whole frames."""
    found, at = [], 0
    while at < len(data):
        if wire.frame_sizes(data[at:]) is None:
            return found + [f"not a frame: {data[at:at + 20]!r}"]
        frame, used = wire.parse_frame(data[at:])
        found.append(f"{frame.name} {len(frame.payload)} B")
        at += used
    return found


@pytest.mark.timeout(60)
def test_one_writer_the_close_never_lands_inside_a_frame(kind, websocket_under_test):
    """simple-websocket answers the client's Close from its reader thread while the view's thread writes:
    with no lock between them, the Close frame lands in the middle of the frame being written."""
    peer = SlowPeer(kind, websocket_under_test.port)
    try:
        data = peer.close_and_read_everything()
    finally:
        peer.close()
    close_frame = wire.build_frame(wire.CLOSE, wire.close_payload(1000))
    frames = frames_on_the_wire(data)
    if kind == "minimal":
        print(f"\nthe Close frame landed at byte {data.find(close_frame):,} of a frame of {MORE_THAN_TCP_HOLDS:,}")
        assert 0 < data.find(close_frame) < MORE_THAN_TCP_HOLDS  # inside the 8 MiB text frame...
        assert frames[0] == f"text {MORE_THAN_TCP_HOLDS} B" and frames[-1].startswith("not a frame")  # ...so after
        # it the reader is lost: the Close's 4 bytes were read as text, and what follows is no longer frames
    else:
        assert data.endswith(close_frame) and data.find(close_frame) == len(data) - len(close_frame)
        assert frames[-1] == "close 2 B" and all(frame == f"binary {MIB} B" for frame in frames[:-1]), frames


@pytest.mark.timeout(60)
def test_a_mailbox_per_client_one_that_does_not_read_delays_no_one(kind, websocket_under_test):
    """The minimal server writes to every client from the sender's thread, under one lock: while a write to
    a client that does not read is stuck, nobody else is answered, not even let in."""
    peer = SlowPeer(kind, websocket_under_test.port)
    ws = websocket_client.connect(f"{websocket_under_test.ws_url}/ws")
    try:
        if kind == "minimal":
            ws.send("How are you?")
            with pytest.raises(TimeoutError):
                ws.recv(timeout=3)  # not even its own message comes back
        else:
            assert websocket_client.ask(ws, "ana", "How are you?", timeout=5) == REPLY
    finally:
        peer.close()  # on the minimal server, this unblocks the stuck write (it fails: the peer is gone)
        ws.close()


def test_limits_and_errors_bad_input_gets_a_clear_answer(kind, polling_under_test):
    """The minimal server takes anything: a cursor that is not a number is its bug (500), and a body of any
    size goes onto the board, for every client to download."""
    server, path = polling_under_test
    bad_cursor = requests.get(f"{server.url}{path}", params={"after": "last"}, timeout=5)
    huge = requests.post(f"{server.url}{path}", data=json.dumps({"text": "x" * MIB}), timeout=10,
                         headers={"Content-Type": "application/json"})
    if kind == "minimal":
        assert bad_cursor.status_code == 500 and huge.status_code == 200
    else:
        assert (bad_cursor.status_code, bad_cursor.json()["error"]) == (400, "invalid_after")
        assert (huge.status_code, huge.json()["error"]) == (413, "body_too_large")
