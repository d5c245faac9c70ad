"""The terminal clients, run as a user runs them, against a real server in this process."""

import ast
import base64
import hashlib
import itertools
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from clients import polling_client, sse_client, terminal, websocket_client
from conftest import eventually
from servers.chat import Chat
from servers.cluster.processes import free_port
from servers.twins import Twins

ROOT = Path(__file__).resolve().parent.parent
REPLY = "Client:How are you?\nServer:I am fine, thanks!"


def run_client(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_polling_client_once_prints_exactly_the_reply(polling, chat):
    done = run_client("clients.polling_client", "--once", "How are you?", "--url", polling.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == REPLY + "\n"
    assert [(m.author, m.text) for m in chat.board.after(0)] == [("polling-client", "How are you?"),
                                                                ("server", REPLY)]


def test_sse_client_once_prints_exactly_the_reply(polling, chat):
    done = run_client("clients.sse_client", "--once", "How are you?", "--url", polling.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == REPLY + "\n"
    assert [(m.author, m.text) for m in chat.board.after(0)] == [("sse-client", "How are you?"), ("server", REPLY)]


def test_websocket_client_once_prints_exactly_the_reply(websocket, chat):
    done = run_client("clients.websocket_client", "--once", "How are you?", "--url", f"{websocket.ws_url}/ws")
    assert done.returncode == 0, done.stderr
    assert done.stdout == REPLY + "\n"
    assert [(m.author, m.text) for m in chat.board.after(0)] == [("websocket-client", "How are you?"),
                                                                ("server", REPLY)]


def test_polling_ask_returns_the_reply_to_its_own_message(polling, chat):
    chat.send("ana", "noise before")
    with requests.Session() as session:
        assert polling_client.ask(session, polling.url, "pat", "How are you?") == REPLY


def test_websocket_ask_ignores_other_clients_replies(websocket, chat):
    ws = websocket_client.connect(f"{websocket.ws_url}/ws")
    try:
        chat.send("ana", "noise")  # pushed to us before our own exchange
        assert websocket_client.ask(ws, "wes", "How are you?") == REPLY
    finally:
        ws.close()


def test_websocket_ask_reports_a_refusal(websocket):
    ws = websocket_client.connect(f"{websocket.ws_url}/ws")
    try:
        with pytest.raises(RuntimeError, match="author"):
            websocket_client.ask(ws, "server", "How are you?")  # nobody may pose as the server
    finally:
        ws.close()


def test_websocket_client_gets_frames_that_came_with_the_handshake_answer():
    """A server may send frames right behind its 101, in the same TCP segment (ours does, with history)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(4096)
                key = re.search(rb"sec-websocket-key: *(\S+)", request, re.IGNORECASE).group(1)
                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                                   b"\x81\x05hello")  # one write: the answer and a text frame
                connection.recv(4096)  # until the client closes

        server = threading.Thread(target=serve)
        server.start()
        ws = websocket_client.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/")
        try:
            assert ws.recv(timeout=2) == "hello"
        finally:
            ws.close()
            server.join(5)


class Interactive:
    """A client in interactive mode: lines typed on stdin, printed lines collected from stdout."""

    def __init__(self, module: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def type(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float = 10) -> None:
        seen = []
        while text not in seen:
            try:
                seen.append(self.lines.get(timeout=timeout).rstrip("\n"))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"{text!r} not printed; printed {seen}; stderr: {self.process.stderr.read()}")

    def quit(self) -> int:
        self.process.stdin.close()  # Ctrl-D
        return self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.mark.parametrize("module, extra", [
    ("clients.polling_client", ["--interval", "0.1"]), ("clients.polling_client", []),
    ("clients.websocket_client", []), ("clients.sse_client", [])],
    ids=["short polling", "long polling", "websocket", "server-sent events"])
def test_interactive_chat_shows_history_own_messages_and_replies(polling, websocket, chat, module, extra):
    chat.send("ana", "said before you came")
    url = f"{websocket.ws_url}/ws" if module == "clients.websocket_client" else polling.url
    client = Interactive(module, "--url", url, "--name", "me", *extra)
    try:
        client.wait_for("ana: said before you came")  # the history comes first
        client.type("How are you?")
        client.wait_for("me: How are you?")
        client.wait_for("server: Client:How are you?")
        client.wait_for("Server:I am fine, thanks!")
        requests.post(f"{polling.url}/api/messages", json={"text": "hi all", "author": "bob"}, timeout=5)
        client.wait_for("bob: hi all")  # others' messages show up without typing anything
        assert client.quit() == 0
    finally:
        client.kill()
    assert [m.text for m in chat.board.after(2)][:1] == ["How are you?"]


def test_polling_client_reports_a_refusal(polling):
    done = run_client("clients.polling_client", "--once", "x" * 1001, "--url", polling.url)
    assert done.returncode != 0
    assert "1001" in done.stderr and "limit is 1000" in done.stderr


@pytest.mark.parametrize("module, url", [("clients.polling_client", "http://127.0.0.1:{port}"),
                                         ("clients.websocket_client", "ws://127.0.0.1:{port}/ws"),
                                         ("clients.sse_client", "http://127.0.0.1:{port}")])
def test_no_server_is_one_line_of_error_not_a_traceback(module, url):
    done = run_client(module, "--once", "How are you?", "--url", url.format(port=free_port()))
    assert done.returncode == 1
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr


def follow_from_the_start(transport: str, twins: Twins, stop: threading.Event, shown: list) -> threading.Thread:
    """A command-line client's follower from the board's first message on, naming no board yet (board ""), as
    the clients' own chat does; ``shown`` gets the text of every message it shows."""
    show = {"on_message": lambda message: shown.append(message["text"]), "board": ""}
    if transport == "WebSocket":
        url = f"{twins.ws_url}/ws"
        return threading.Thread(target=websocket_client.follow, args=(websocket_client.connect(url, 0, ""), url, stop),
                                kwargs=show)
    if transport == "Server-Sent Events":
        return threading.Thread(target=sse_client.follow, args=(twins.polling.url, stop), kwargs=show)
    return threading.Thread(target=polling_client.follow, args=(requests.Session(), twins.polling.url, None, stop),
                            kwargs=show)


@pytest.mark.parametrize("transport", ["long polling", "WebSocket", "Server-Sent Events"])
@pytest.mark.parametrize("waiting", [0, 4], ids=["new-board-below-the-cursor", "new-board-past-the-cursor"])
def test_a_follower_starts_again_when_the_server_restarts_with_an_empty_board(transport, waiting):
    """A restarted demo has a new board whose ids start at 1 again. The follower comes back at id 6 of the old one;
    the new board holds ``waiting`` messages (and their replies) before it serves anyone: below the cursor, or
    already past it (ids 1-8), where only the board's identity can tell that "after 6" means nothing there.
    Either way: every message shown once, in order, nothing lost."""
    first = Twins()
    for n in range(3):
        first.chat.send("ana", f"before #{n}")  # ids 1-6: the follower's cursor moves to 6
    polling_port, websocket_port = first.polling.port, first.websocket.port
    shown: list[str] = []
    stop = threading.Event()
    follower = follow_from_the_start(transport, first, stop, shown)
    follower.start()
    second = None
    try:
        assert eventually(lambda: len(shown) == 6, 15), "timed out"
        first.stop()
        new_board = Chat()
        for n in range(waiting):
            new_board.send("bob", f"while you were away #{n}")
        second = Twins(new_board, polling_port=polling_port, websocket_port=websocket_port)
        second.chat.board.post("ana", "after the restart")
        assert eventually(lambda: "after the restart" in shown, 15), "timed out"
    finally:
        stop.set()
        follower.join(5)
        (second or first).stop()
    old = [text for n in range(3) for text in (f"before #{n}", f"Client:before #{n}\nServer:I am fine, thanks!")]
    assert shown == old + [message.text for message in second.chat.board.after(0)]


def test_a_websocket_follower_ends_quietly_when_its_socket_is_already_gone(websocket):
    """A follower told to stop closes its connection; a socket closed under it (the server went away at that
    moment) must end it quietly, not with an exception in its thread (EBADF from the Close it tries to send)."""
    url = f"{websocket.ws_url}/ws"
    ws = websocket_client.connect(url)
    ws.socket.close()  # the library's reader has not noticed yet: it still counts the connection as open
    stop = threading.Event()
    stop.set()
    websocket_client.follow(ws, url, stop)  # returns, raises nothing


def test_the_three_clients_are_twins_whose_diff_is_the_transport():
    """Read side by side, the clients differ in their transport only: the functions two of them have come in the
    same order, and what is no transport (showing a message, the server's notices, a new board; sending what is
    typed) has one home, terminal.py, which each client uses rather than a copy of its own."""
    clients = (polling_client, websocket_client, sse_client)
    functions = {client: [node.name for node in ast.parse(Path(client.__file__).read_text()).body
                          if isinstance(node, ast.FunctionDef)] for client in clients}
    for one, other in itertools.combinations(clients, 2):
        shared = [name for name in functions[one] if name in functions[other]]
        assert shared == [name for name in functions[other] if name in functions[one]], (one, other)
        assert {"main", "ask", "follow", "chat"} <= set(shared)
    shared_home = {"show", "new_board", "missed", "send_typed_lines"}
    for client in clients:
        assert not shared_home & set(functions[client]), client
        assert client.show is terminal.show and client.new_board is terminal.new_board
