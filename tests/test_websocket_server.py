"""The WebSocket server over real sockets: pushes, resumes, refusals, close codes, /echo."""

import base64
import json
import logging
import os
import socket
import struct
import sys
import threading
import time

import pytest
import requests
from websockets.sync.client import ClientConnection

from clients import wire
from clients.websocket_client import connect as open_websocket
from conftest import RawWebSocket as RawWebSocketClient, eventually

from servers import websocket_server
from servers.board import MessageBoard
from servers.chat import MAX_TEXT, Chat
from servers.serving import RunningServer

REPLY = "Client:{}\nServer:I am fine, thanks!"


@pytest.fixture
def connect(websocket):
    """Open the terminal client's WebSockets on the ``websocket`` server; all closed afterwards."""
    opened: list[ClientConnection] = []

    def open_(path: str = "/ws") -> ClientConnection:
        opened.append(open_websocket(websocket.ws_url + path))
        return opened[-1]

    yield open_
    for client in opened:
        client.close()  # nothing to do when the test closed it already


def receive(ws: ClientConnection, timeout: float = 5) -> dict:
    return json.loads(ws.recv(timeout=timeout))  # TimeoutError: nothing received within ``timeout`` s


def receive_all(ws: ClientConnection, count: int) -> list[dict]:
    return [receive(ws) for _ in range(count)]


def nothing_more(ws: ClientConnection, timeout: float = 0.2) -> bool:
    try:
        ws.recv(timeout=timeout)
    except TimeoutError:
        return True
    return False


def send(ws: ClientConnection, text: str, **fields) -> None:
    ws.send(json.dumps({"type": "send", "text": text, **fields}))


# --- the chat ----------------------------------------------------------------------------------------

def test_send_gets_sent_then_the_message_and_the_reply_are_pushed(connect, chat):
    ws = connect()
    send(ws, "How are you?", author="ana")
    events = receive_all(ws, 3)
    sent = next(e for e in events if e["type"] == "sent")["message"]
    assert sent == {"id": 1, "author": "ana", "text": "How are you?", "time": sent["time"], "reply_to": None}
    pushed = [e["message"] for e in events if e["type"] == "message"]
    assert pushed == [sent, chat.board.after(1)[0].to_json()]  # pushed in board order
    assert pushed[1]["text"] == REPLY.format("How are you?") and pushed[1]["reply_to"] == 1
    assert nothing_more(ws)


def test_every_client_gets_every_message(connect):
    ana, bob = connect(), connect()
    send(ana, "hello bob", author="ana")
    for ws, count in ((bob, 2), (ana, 3)):
        messages = [e["message"] for e in receive_all(ws, count) if e["type"] == "message"]
        assert [(m["id"], m["author"], m["text"]) for m in messages] == [
            (1, "ana", "hello bob"), (2, "server", REPLY.format("hello bob"))]
    assert nothing_more(bob)


def test_a_message_posted_right_after_the_handshake_is_not_missed(websocket):
    """The cursor of a client without ?after= is taken before the 101, not after it."""

    class SlowBoard(MessageBoard):  # widens the gap between the handshake and the cursor
        @property
        def last_id(self) -> int:
            time.sleep(0.1)
            return super().last_id

    chat = Chat(SlowBoard())
    with RunningServer(websocket_server.create_app(chat)) as server:
        ws = open_websocket(server.url.replace("http", "ws", 1) + "/ws")
        try:
            chat.board.post("ana", "right after you connected")
            assert receive(ws)["message"]["text"] == "right after you connected"
        finally:
            ws.close()


def test_without_after_there_is_no_history(connect, chat):
    chat.send("ana", "before you came")
    ws = connect()
    assert nothing_more(ws)
    chat.board.post("bob", "after you came")
    assert receive(ws)["message"]["text"] == "after you came"


def test_after_0_is_the_whole_history(connect, chat):
    chat.send("ana", "one")
    chat.send("bob", "two")
    ws = connect("/ws?after=0")
    assert [e["message"]["id"] for e in receive_all(ws, 4)] == [1, 2, 3, 4]
    assert nothing_more(ws)


def test_a_reconnecting_client_gets_exactly_what_it_missed(connect, chat):
    first = connect()
    chat.board.post("ana", "seen")
    last_seen = receive(first)["message"]["id"]
    first.close()
    for n in range(3):
        chat.board.post("bob", f"missed {n}")
    again = connect(f"/ws?after={last_seen}")
    missed = receive_all(again, 3)
    assert [e["message"]["text"] for e in missed] == ["missed 0", "missed 1", "missed 2"]
    assert nothing_more(again)
    chat.board.post("ana", "live again")
    assert receive(again)["message"]["text"] == "live again"


@pytest.mark.parametrize("named", ["", "Xy3_kQ9a"], ids=["none-yet", "a-board-gone"])
def test_a_cursor_naming_another_board_gets_this_board_named_then_its_first_message_on(connect, chat, named):
    """The server restarted with a new board whose ids have passed the client's cursor (6): "after 6" means nothing
    there. The first frame names this board; the history follows from its first message, then live."""
    for n in range(4):
        chat.send("ana", f"on the new board #{n}")  # ids 1-8
    ws = connect(f"/ws?after=6&board={named}")
    assert receive(ws) == {"type": "board", "board": chat.board.identity}
    assert [e["message"]["id"] for e in receive_all(ws, 8)] == list(range(1, 9))
    assert nothing_more(ws)
    chat.board.post("bob", "live")
    assert receive(ws)["message"]["id"] == 9


def test_a_cursor_naming_this_board_resumes_with_nothing_more_said(connect, chat):
    for n in range(2):
        chat.send("ana", f"m{n}")
    ws = connect(f"/ws?after=2&board={chat.board.identity}")
    assert [e["message"]["id"] for e in receive_all(ws, 2)] == [3, 4]
    assert nothing_more(ws)


def test_server_events_are_pushed(connect, chat):
    ws = connect()
    chat.start_ticker(0.02)
    event = receive(ws)["message"]
    assert event["author"] == "server" and event["reply_to"] is None
    assert event["text"].startswith("Notification #1:")


def test_polling_and_websocket_clients_share_one_board(polling, connect):
    ws = connect()
    response = requests.post(f"{polling.url}/api/messages", json={"text": "over HTTP"}, timeout=5)
    assert response.status_code == 201
    assert [e["message"]["text"] for e in receive_all(ws, 2)] == ["over HTTP", REPLY.format("over HTTP")]
    send(ws, "over WebSocket")
    receive_all(ws, 3)
    texts = [m["text"] for m in requests.get(f"{polling.url}/api/messages", timeout=5).json()["messages"]]
    assert texts[2:] == ["over WebSocket", REPLY.format("over WebSocket")]


# --- refusals on an open connection ---------------------------------------------------------------

BAD_FRAMES = {  # name: (frame, error code)
    "malformed JSON": ('{"type": "send", ', "malformed_json"),
    "not an object": ('["send", "hi"]', "invalid_message"),
    "no type": ('{"text": "hi"}', "unknown_type"),
    "unknown type": ('{"type": "shout", "text": "hi"}', "unknown_type"),
    "no text": ('{"type": "send"}', "invalid_text"),
    "text not a string": ('{"type": "send", "text": 42}', "invalid_text"),
    "empty text": ('{"type": "send", "text": ""}', "invalid_text"),
    "text too long": (json.dumps({"type": "send", "text": "x" * (MAX_TEXT + 1)}), "text_too_long"),
    "author posing as the server": ('{"type": "send", "text": "hi", "author": "server"}', "invalid_author"),
}


@pytest.mark.parametrize("frame, code", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_messages_get_an_error_and_the_connection_goes_on(connect, chat, frame, code):
    ws = connect()
    ws.send(frame)
    error = receive(ws)
    assert error["type"] == "error" and error["error"] == code and error["message"]
    assert chat.board.last_id == 0
    send(ws, "still here")
    assert {e["type"] for e in receive_all(ws, 3)} == {"sent", "message"}


@pytest.mark.parametrize("opcode, payload, code", [
    ("BINARY", b'{"type": "send", "text": "hi"}', 1003),
    ("TEXT", b'{"type": "send", "text": "' + b"x" * websocket_server.MAX_BODY + b'"}', 1009),
    ("TEXT", b'{"type": "send", "text": "\xff"}', 1007),
], ids=["binary frame: 1003", "frame over 16 KiB: 1009", "invalid UTF-8: 1007"])
def test_frames_that_end_the_connection(websocket, raw_websocket, chat, opcode, payload, code):
    ws = raw_websocket(websocket.port)
    assert ws.status == 101
    ws.send_frame(getattr(ws, opcode), payload)
    assert ws.read_close() == code
    ws.send_close(code)
    assert ws.read_to_eof() == b""
    assert chat.board.last_id == 0


def test_a_frame_of_exactly_the_limit_is_read(websocket, raw_websocket, chat):
    head, tail = b'{"type": "send", "text": "', b'"}'
    frame = head + b"x" * (websocket_server.MAX_BODY - len(head) - len(tail)) + tail
    assert len(frame) == websocket_server.MAX_BODY
    ws = raw_websocket(websocket.port)
    ws.send_frame(ws.TEXT, frame)
    opcode, payload = ws.read_frame()
    assert opcode == ws.TEXT and json.loads(payload)["error"] == "text_too_long"  # not closed with 1009
    assert chat.board.last_id == 0


def test_ping_gets_a_pong_with_the_same_payload(websocket, raw_websocket):
    ws = raw_websocket(websocket.port)
    ws.send_frame(ws.PING, b"are you there?")
    assert ws.read_frame() == (ws.PONG, b"are you there?")


def test_a_vanished_client_does_not_keep_its_connection(websocket, raw_websocket):
    ws = raw_websocket(websocket.port)
    assert len(websocket.server.connections) == 1
    ws.close()  # no Close frame: the TCP connection just goes away
    eventually(lambda: not websocket.server.connections, 3)  # nothing to wait on: the handler thread just finishes
    assert not websocket.server.connections


# --- handshakes refused before the upgrade ----------------------------------------------------------

def handshake(server, path: str = "/ws", **changes) -> requests.Response:
    """A WebSocket handshake over plain HTTP; ``changes`` replace or (with None) drop headers."""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return requests.get(server.url + path, headers={k: v for k, v in headers.items() if v is not None}, timeout=5)


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == code and response.json()["message"]


@pytest.mark.parametrize("path", ["/ws", "/echo"])
def test_foreign_origin_is_refused_before_the_upgrade(websocket, path):
    refused(handshake(websocket, path, Origin="http://evil.example"), 403, "forbidden_origin")
    refused(handshake(websocket, path, Origin="http://127.0.0.1:1"), 403, "forbidden_origin")


def test_unsupported_version_gets_426_and_the_version_we_speak(websocket):
    response = handshake(websocket, Sec_WebSocket_Version="8")
    refused(response, 426, "unsupported_version")
    assert response.headers["Sec-WebSocket-Version"] == "13"
    refused(handshake(websocket, Sec_WebSocket_Version=None), 426, "unsupported_version")


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"too short").decode(), "", None])
def test_bad_key_gets_400(websocket, key):
    refused(handshake(websocket, Sec_WebSocket_Key=key), 400, "invalid_key")


@pytest.mark.parametrize("path", ["/ws", "/echo"])
def test_plain_get_gets_426_upgrade_required(websocket, path):
    response = requests.get(websocket.url + path, timeout=5)
    refused(response, 426, "upgrade_required")
    assert response.headers["Upgrade"] == "websocket"


@pytest.mark.parametrize("after", ["-1", "abc", "1.5", ""])
def test_bad_after_gets_400(websocket, after):
    refused(handshake(websocket, f"/ws?after={after}"), 400, "invalid_after")


@pytest.mark.parametrize("board", ["a%20b", "x" * 41])
def test_bad_board_gets_400(websocket, chat, board):
    refused(handshake(websocket, f"/ws?after=0&board={board}"), 400, "invalid_board")


def test_unknown_path_gets_404_json(websocket):
    refused(handshake(websocket, "/nope"), 404, "not_found")
    refused(requests.get(f"{websocket.url}/nope", timeout=5), 404, "not_found")


def test_wrong_method_gets_405_json_with_allow(websocket):
    response = requests.post(f"{websocket.url}/ws", json={"type": "send", "text": "hi"}, timeout=5)
    refused(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_no_origin_and_same_origin_are_accepted(websocket, raw_websocket):
    assert raw_websocket(websocket.port).status == 101
    assert raw_websocket(websocket.port, origin=websocket.url).status == 101


def test_the_twins_pages_are_accepted(chat, raw_websocket):
    twin_port = 45678  # never contacted: only compared with the Origin header
    with RunningServer(websocket_server.create_app(chat, twin_port=twin_port)) as server:
        assert raw_websocket(server.port, origin=f"http://127.0.0.1:{twin_port}").status == 101
        refused(handshake(server, Origin=f"http://127.0.0.1:{twin_port + 1}"), 403, "forbidden_origin")


# --- /echo ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", ["", "hi", "ünïcödé ✓", "x" * 70_000, b"", b"\x00\xff" * 3, os.urandom(70_000)],
                         ids=["empty text", "text", "unicode", "text > 65535 B", "empty binary", "binary",
                              "binary > 65535 B"])
def test_echo_returns_every_frame_unchanged(connect, data):
    ws = connect("/echo")
    ws.send(data)
    echoed = ws.recv(timeout=5)
    assert type(echoed) is type(data) and echoed == data


def test_echo_byte_for_byte(websocket, raw_websocket):
    ws = raw_websocket(websocket.port, "/echo")
    for opcode, payload in ((ws.TEXT, "ünï".encode()), (ws.BINARY, bytes(range(256)) * 300)):
        ws.send_frame(opcode, payload)
        assert ws.read_frame() == (opcode, payload)


def test_a_frame_sent_with_the_handshake_is_not_lost(websocket):
    """A client that does not wait for the 101 (RFC 6455 says it should): the HTTP server has read its first
    frame along with the request, and the connection takes it over."""
    sock = socket.create_connection(("127.0.0.1", websocket.port), timeout=5)
    key = wire.new_key()
    sock.sendall(wire.upgrade_request(f"127.0.0.1:{websocket.port}", "/echo", key)
                 + wire.build_frame(wire.TEXT, b"impatient", mask=os.urandom(4)))
    rfile = sock.makefile("rb")
    wire.check_upgrade(wire.read_response(rfile), key)
    assert wire.read_frame(rfile).payload == b"impatient"
    rfile.close()
    sock.close()


def test_echo_refuses_a_message_over_its_limit(websocket, raw_websocket):
    ws = raw_websocket(websocket.port, "/echo")
    ws.send_frame(ws.BINARY, b"x" * (websocket_server.ECHO_MAX + 1))
    assert ws.read_close() == 1009


def test_echo_serves_several_clients_at_once(connect):
    clients = [connect("/echo") for _ in range(4)]
    for n, ws in enumerate(clients):
        ws.send(f"client {n}")
    assert [ws.recv(timeout=5) for ws in clients] == [f"client {n}" for n in range(4)]


def test_a_client_vanishing_mid_push_leaves_no_error_behind(websocket, raw_websocket, chat, monkeypatch):
    """A browser tab closed while the server pushes: its connection must end quietly, not crash."""
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    for _ in range(10):
        ws = raw_websocket(websocket.port)
        chat.board.post("ana", "x" * 1000)
        ws.read_frame()  # the broadcaster is pushing to it
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.close()  # linger 0: the connection is reset, no Close frame, no FIN
        for _ in range(50):  # pushes into the reset connection
            chat.board.post("ana", "x" * 1000)
    broadcaster, watchman = (websocket.server.app.extensions[name] for name in ("broadcaster", "watchman"))
    eventually(lambda: not (websocket.server.connections or broadcaster.listeners or watchman.watching), 5)
    assert not websocket.server.connections and not broadcaster.listeners and not watchman.watching
    assert errors == []


# --- faults: a bug, pings under load, a client that does not read, a short memory -----------------

def test_a_bug_in_the_view_is_logged_and_closes_with_1011(websocket, raw_websocket, monkeypatch, caplog):
    def broken_answer(*args):
        raise RuntimeError("a bug for the test")

    monkeypatch.setattr(websocket_server, "answer", broken_answer)
    ws = raw_websocket(websocket.port)
    with caplog.at_level(logging.ERROR):
        ws.send_frame(ws.TEXT, b'{"type": "send", "text": "hi"}')
        assert ws.read_close() == 1011
        ws.send_close(1011)
        assert ws.read_to_eof() == b""
    failure = next(record for record in caplog.records if "converse" in record.getMessage())
    assert failure.exc_info and "a bug for the test" in str(failure.exc_info[1])


def read_until_close(ws, answer_pings: bool, close_after: float | None) -> tuple[list[dict], int]:
    """Every message pushed before the server's Close, and its code; fails on a frame it cannot parse.
    With ``close_after``, the client sends its own Close after that many seconds of reading."""
    messages, deadline = [], time.monotonic() + (close_after or 1e9)
    while True:
        if time.monotonic() > deadline:
            ws.send_close(1000)
            deadline = float("inf")
        opcode, payload = ws.read_frame()
        if opcode == ws.CLOSE:
            return messages, int.from_bytes(payload[:2], "big")
        if opcode == ws.PING:
            if answer_pings:
                ws.send_frame(ws.PONG, payload)
            continue
        assert opcode == ws.TEXT, f"unexpected frame {opcode:#x}"
        messages.append(json.loads(payload)["message"])


@pytest.fixture
def eager_thread_switches():
    """Switch threads every microsecond instead of every 5 ms, so that races show up in a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.parametrize("answer_pings", [True, False], ids=["client closes", "ping timeout closes"])
def test_pings_pushes_and_the_close_never_interleave(chat, raw_websocket, answer_pings, eager_thread_switches):
    """Every frame the server writes, pings and the Close included, goes through one lock: each frame
    arrives whole, and nothing follows the Close, whichever side closes. Races are rare: ten rounds."""
    interval = 0.05 if answer_pings else 0.01  # an answering client, slowed by the eager switches, has time
    with RunningServer(websocket_server.create_app(chat, ping_interval=interval)) as server:
        for _ in range(10):
            first = chat.board.last_id
            ws = raw_websocket(server.port, f"/ws?after={first}")
            posters = [threading.Thread(target=lambda n=n: [chat.board.post(f"t{n}", "x" * 300) for _ in range(200)])
                       for n in range(3)]
            for poster in posters:
                poster.start()
            messages, code = read_until_close(ws, answer_pings, close_after=0.05 if answer_pings else None)
            assert code == (1000 if answer_pings else 1008)
            ids = [m["id"] for m in messages]
            assert ids == list(range(first + 1, first + 1 + len(ids)))  # in order, none lost or twice
            if not answer_pings:
                ws.send_close(code)
            assert ws.read_to_eof() == b""
            for poster in posters:
                poster.join(10)


def small_buffer_websocket(port: int, path: str) -> tuple[socket.socket, object]:
    """A WebSocket (the socket, its file) whose socket the kernel buffers little for: one that stops reading
    soon fills up, so the server's writes to it have to wait. The buffer is set before connecting."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = wire.new_key()
    sock.sendall(wire.upgrade_request(f"127.0.0.1:{port}", path, key))
    rfile = sock.makefile("rb")
    wire.check_upgrade(wire.read_response(rfile), key)
    return sock, rfile


def test_a_client_that_never_reads_delays_no_one_and_resumes_by_id(chat):
    """Its mailbox holds at most `backlog` messages; past that it is closed with 1008 and comes back with
    ?after=, while a client that reads gets everything at once. The messages add up to more than the
    kernel buffers for one connection (4 MiB on Linux), so the mailbox does fill."""
    backlog, count = 50, 2000
    with RunningServer(websocket_server.create_app(chat, backlog=backlog)) as server:
        broadcaster = server.server.app.extensions["broadcaster"]
        stalled, stalled_file = small_buffer_websocket(server.port, "/ws")
        reader, ids = RawWebSocketClient(server.port), []
        reading = threading.Thread(target=lambda: ids.extend(
            json.loads(reader.read_frame()[1])["message"]["id"] for _ in range(count)))
        reading.start()
        started = time.monotonic()
        for n in range(count):
            chat.board.post("ana", f"{n:04d} " + "x" * 4000)
            time.sleep(0.0005)  # about 2,000 messages a second: a reading client keeps up
            assert max(broadcaster.backlogs(), default=0) <= backlog  # memory stays bounded
        reading.join(10)
        assert ids == list(range(1, count + 1))
        assert time.monotonic() - started < 10  # the stalled client did not hold it up
        got, code = [], None
        stalled.settimeout(10)
        while code is None:  # now it reads: what was on its way, then the Close that says it fell behind
            frame = wire.read_frame(stalled_file)
            if frame.opcode == wire.CLOSE:
                code = wire.parse_close(frame.payload)[0]
            else:
                got.append(json.loads(frame.payload)["message"]["id"])
        assert code == 1008 and got == list(range(1, len(got) + 1)) and len(got) < count
        stalled.close()
        again = RawWebSocketClient(server.port, f"/ws?after={got[-1]}")
        rest = [json.loads(again.read_frame()[1])["message"]["id"] for _ in range(count - len(got))]
        assert got + rest == list(range(1, count + 1))
        reader.close()
        again.close()


def test_resuming_from_before_what_the_board_keeps_says_what_was_missed_then_pages_the_rest(raw_websocket):
    chat = Chat(MessageBoard(keep=600))  # more than one page (500) is kept
    for n in range(800):
        chat.board.post("ana", str(n))
    with RunningServer(websocket_server.create_app(chat)) as server:
        ws = raw_websocket(server.port, "/ws?after=10")
        assert json.loads(ws.read_frame()[1]) == {"type": "missed", "missed": {"count": 190, "first_id": 201}}
        ids = [json.loads(ws.read_frame()[1])["message"]["id"] for _ in range(600)]
        assert ids == list(range(201, 801))
        again = raw_websocket(server.port, "/ws?after=300")  # nothing missed: no notice
        assert json.loads(again.read_frame()[1])["message"]["id"] == 301


def test_concurrent_senders_always_find_their_reply_right_after_their_message(chat, polling, websocket,
                                                                              eager_thread_switches):
    senders = 6

    def over_websocket(n: int) -> None:
        ws = open_websocket(f"{websocket.ws_url}/ws")
        for i in range(30):
            send(ws, f"ws {n} {i}")
        sent = 0
        while sent < 30:  # a client that closes with unread data resets TCP: the server would lose the rest
            sent += receive(ws)["type"] == "sent"
        ws.close()

    def over_http(n: int) -> None:
        with requests.Session() as session:
            for i in range(30):
                session.post(f"{polling.url}/api/messages", json={"text": f"http {n} {i}"}, timeout=5)

    threads = [threading.Thread(target=over_websocket if n % 2 else over_http, args=(n,)) for n in range(senders)]
    chat.start_ticker(0.1)  # server events land among them too
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    chat.stop_ticker()
    assert eventually(lambda: sum(m.author != "server" for m in chat.board.after(0)) == senders * 30, 10, step=0.02)
    board = {m.id: m for m in chat.board.after(0)}
    for message in board.values():
        if message.author != "server":
            assert board[message.id + 1].reply_to == message.id, f"the reply to {message.id} is not next"


def test_every_message_delivered_is_counted_once_whoever_writes_it(chat):
    """The class view's "messages delivered": the history a client catches up on, pushes the broadcaster writes
    itself, and pushes that wait in the mailbox for the connection's own thread (its socket was full)."""
    for n in range(5):
        chat.board.post("ana", f"history {n}")
    with RunningServer(websocket_server.create_app(chat)) as server:
        broadcaster = server.server.app.extensions["broadcaster"]
        slow, slow_file = small_buffer_websocket(server.port, "/ws?after=0&client=slow")
        posted, waited = 0, 0
        while not waited and posted < 900:  # until its socket is full and pushes wait (below the backlog)
            chat.board.post("ana", f"{posted:04d} " + "x" * 16_000)  # the board takes any length from us
            posted += 1
            time.sleep(0.0005)  # the broadcaster's turn
            waited = max(broadcaster.backlogs(), default=0)
        assert waited > 0, "the socket never filled"  # some pushes waited: the connection's own thread wrote them
        for n in range(20):  # and a few more after them, through the mailbox too
            chat.board.post("ana", f"after {n}")
        total = 5 + posted + 20
        slow.settimeout(10)
        ids = [json.loads(wire.read_frame(slow_file).payload)["message"]["id"] for _ in range(total)]
        assert ids == list(range(1, total + 1))
        # the count follows the write: the client may read first
        eventually(lambda: chat.meter.report(["slow"])["slow"]["messages_delivered"] == total, 2)
        assert chat.meter.report(["slow"])["slow"]["messages_delivered"] == total
        slow_file.close()
        slow.close()


# --- other peers: the websockets library, with permessage-deflate -------------------------------------

def test_the_websockets_library_with_compression_is_echoed_then_refused_past_the_limit(websocket):
    """A real peer negotiates permessage-deflate (as browsers do): messages near the limit come back whole,
    its pings get pongs, and one byte over the limit is refused with 1009, counted as it inflates."""
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    with connect(f"{websocket.ws_url}/echo", proxy=None, max_size=2 * websocket_server.ECHO_MAX) as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        for message in ("ünïcödé ✓ " * 1000, os.urandom(300_000), "x" * websocket_server.ECHO_MAX):
            ws.send(message)
            assert ws.recv(timeout=10) == message
        assert ws.ping(b"still there?").wait(5)
        ws.send("x" * (websocket_server.ECHO_MAX + 1))  # 1 MiB of x compresses to about a kilobyte
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009


def test_the_websockets_library_with_compression_chats_on_ws(websocket, chat):
    from websockets.sync.client import connect

    with connect(f"{websocket.ws_url}/ws", proxy=None) as ws:
        ws.send(json.dumps({"type": "send", "text": "compressed?"}))
        events = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
    assert sorted(e["type"] for e in events) == ["message", "message", "sent"]
    assert chat.board.last_id == 2
