"""The closing handshake, byte for byte: after the server's Close frame, nothing but TCP's FIN.

The headline bug this project fixes: Werkzeug's server, once a WebSocket view
returns, writes "HTTP/1.1 200 OK ..." onto the connection, after the Close
frame, and browsers report a corrupt frame instead of a clean close. The fix
lives in the WebSocket layer (websocket_connection.Connection.finish shuts
TCP down before the view returns), so every test here runs twice: on our server
(RunningServer) and on plain Werkzeug, which is what ``flask run`` uses.
"""

import json
import threading
import time

import pytest
from werkzeug.serving import make_server

from servers import websocket_connection, websocket_server
from servers.serving import RunningServer

PROMPT = 0.5  # seconds: a clean close is quick, far under websocket_connection.CLOSE_TIMEOUT


class PlainWerkzeug:
    """The app on Werkzeug's own threaded server, as ``flask run`` would serve it."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(params=["RunningServer", "plain Werkzeug"])
def server(request, chat):
    app = websocket_server.create_app(chat)
    running = RunningServer(app) if request.param == "RunningServer" else PlainWerkzeug(app)
    yield running
    running.stop()


def eof_after(ws) -> tuple[bytes, float]:
    """What follows on the wire until the server closes TCP, and how long that took."""
    started = time.monotonic()
    rest = ws.read_to_eof()
    return rest, time.monotonic() - started


@pytest.mark.parametrize("path", ["/ws", "/echo"])
def test_client_initiated_close(server, raw_websocket, path):
    ws = raw_websocket(server.port, path)
    assert ws.status == 101
    ws.send_close(1000)
    assert ws.read_frame() == (ws.CLOSE, (1000).to_bytes(2, "big"))  # the server echoes the code
    rest, took = eof_after(ws)
    assert rest == b"", f"bytes after the Close frame: {rest[:80]!r}"
    assert took < PROMPT


@pytest.mark.parametrize("messages", [1, 40])
def test_client_close_after_some_traffic(server, raw_websocket, chat, messages):
    """Every message sent before the Close is handled (40: more than the server reads in one go)."""
    ws = raw_websocket(server.port)
    for n in range(messages):
        ws.send_frame(ws.TEXT, json.dumps({"type": "send", "text": f"bye {n}"}).encode())
    ws.send_close(1001)  # at once: the server may still be pushing "sent" and the messages
    frames = []
    while (frame := ws.read_frame())[0] != ws.CLOSE:
        frames.append(frame)
    assert all(opcode == ws.TEXT for opcode, _ in frames)  # whole frames only, never cut off
    assert frame == (ws.CLOSE, (1001).to_bytes(2, "big"))
    rest, took = eof_after(ws)
    assert rest == b"" and took < PROMPT
    assert chat.board.last_id == 2 * messages  # what was sent before the close was handled


@pytest.mark.parametrize("opcode, payload, code", [
    ("BINARY", b"\x00", 1003),
    ("TEXT", b"x" * (websocket_server.MAX_BODY + 1), 1009),
    ("TEXT", b"\xc3\x28", 1007),
], ids=["1003", "1009", "1007"])
def test_server_initiated_close(server, raw_websocket, opcode, payload, code):
    ws = raw_websocket(server.port)
    ws.send_frame(getattr(ws, opcode), payload)
    assert ws.read_close() == code
    ws.send_close(code)  # the client's half of the closing handshake
    rest, took = eof_after(ws)
    assert rest == b"", f"bytes after the Close frame: {rest[:80]!r}"
    assert took < PROMPT


def test_a_peer_that_never_answers_the_close_is_cut_off(server, raw_websocket, monkeypatch):
    monkeypatch.setattr(websocket_connection, "CLOSE_TIMEOUT", 0.3)
    ws = raw_websocket(server.port)
    ws.send_frame(ws.BINARY, b"\x00")
    assert ws.read_close() == 1003
    rest, took = eof_after(ws)  # no Close from us: the server waits CLOSE_TIMEOUT, then closes TCP
    assert rest == b""
    assert 0.25 <= took < 2


def test_a_peer_that_closes_tcp_without_a_close_frame(server, raw_websocket):
    ws = raw_websocket(server.port, "/echo")
    ws.send_frame(ws.TEXT, b"hello")
    assert ws.read_frame() == (ws.TEXT, b"hello")
    ws.close()  # abrupt: the server must simply clean up; the next client is served as usual
    again = raw_websocket(server.port, "/echo")
    again.send_close()
    assert again.read_close() == 1000 and again.read_to_eof() == b""


def test_a_client_trickling_bytes_after_a_clean_close_does_not_keep_its_connection(server, raw_websocket,
                                                                                  monkeypatch):
    """After the Close frames the server sends its FIN and reads until the client's, for CLOSE_TIMEOUT
    seconds in all: a byte every 0.1 s, never a FIN, does not keep the connection open."""
    monkeypatch.setattr(websocket_connection, "CLOSE_TIMEOUT", 0.5)
    ws = raw_websocket(server.port, "/echo")
    ws.send_close(1000)
    assert ws.read_close() == 1000 and ws.read_to_eof() == b""  # the server's FIN: it has closed its side
    started = time.monotonic()
    try:
        while time.monotonic() - started < 5:
            ws.sock.send(b"x")
            time.sleep(0.1)
    except OSError:  # the server closed the connection: its reset
        pass
    assert time.monotonic() - started < 0.5 + 0.5
