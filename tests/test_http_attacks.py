"""A hostile class against plain HTTP: what one student's few lines of Python on a raw socket get from the servers.

Each attack is sent byte for byte, as a student who has just learnt to write requests by hand would send it,
to real servers: a head too big to hold, a body framed two ways at once, JSON no one would write, a client
that hangs up half way. The servers answer each with its documented error (servers/README.md), keep the
board as it was, log no traceback, and hold no more memory than the documented bound.
"""

import json
import socket
import threading
import time

import psutil
import pytest
import requests

from clients import wire
from clients.backoff import Backoff
from conftest import RawWebSocket, eventually, require_tool
from servers import polling_server
from servers.board import MessageBoard
from servers.chat import MAX_DEPTH, Chat
from servers.cluster.processes import Node, RedisServer
from servers.http_request import EMPTY_LINES, LARGEST_BODY, MAX_FIELDS, MAX_HEAD
from servers.redis_board import RedisBoard
from servers.serving import RunningServer
from servers.twins import Twins

POST = b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
HELLO = b'{"text": "hello"}'


def send(port: int, data: bytes, *, hang_up: bool = False) -> socket.socket:
    """A connection that has sent ``data`` (and, with ``hang_up``, its FIN: nothing more will come)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(data)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):  # the server has answered and closed before reading it all
        pass
    return sock


def answer(port: int, data: bytes, *, hang_up: bool = False) -> wire.Response:
    """The server's answer to ``data`` sent on a connection of its own."""
    with send(port, data, hang_up=hang_up) as sock, sock.makefile("rb") as rfile:
        return wire.read_response(rfile)


def refused(response: wire.Response, status: int, code: str, closes: bool = True) -> None:
    """A documented refusal: the status, JSON with the code and a sentence, and the connection closed."""
    assert response.status == status, response.raw
    assert response.header("Content-Type") == "application/json"
    body = json.loads(response.body)
    assert body["error"] == code and body["message"], body
    assert (response.header("Connection") == "close") == closes, response.head


# --- the head: a bound on its bytes and fields ---------------------------------------------------------

def field_lines(count: int, size: int) -> bytes:
    return b"".join(b"X-Field-%d: %s\r\n" % (n, b"a" * size) for n in range(count))


@pytest.mark.parametrize("fields", [field_lines(98, 64_000), field_lines(2, MAX_HEAD // 2),
                                    field_lines(MAX_FIELDS + 1, 10)], ids=["98 of 64 kB", "two halves", "too many"])
def test_a_head_over_the_bound_gets_431(polling, chat, fields):
    response = answer(polling.port, POST + fields + b"Content-Length: 17\r\n\r\n" + HELLO)
    refused(response, 431, "headers_too_large")
    assert chat.board.last_id == 0


def test_a_head_just_within_the_bound_is_served(polling, chat):
    head = POST + b"Content-Length: 17\r\n"
    padding = MAX_HEAD - len(head) - len(b"X-Pad: \r\n\r\n")
    response = answer(polling.port, head + b"X-Pad: " + b"p" * padding + b"\r\n\r\n" + HELLO)
    assert response.status == 201, response.raw
    assert chat.board.last_id == 2


def test_a_request_line_over_the_bound_gets_414(polling):
    refused(answer(polling.port, b"GET /api/messages?after=" + b"9" * MAX_HEAD + b" HTTP/1.1\r\n\r\n"),
            414, "uri_too_long")


def server_rss_under_header_flood(port: int, pid: int, connections: int = 40) -> tuple[int, int]:
    """The server process's resident memory before, and at its highest while ``connections`` clients each
    send 98 header fields of 64 kB and never end the head (they stay parked, as long as the server lets them)."""
    server = psutil.Process(pid)
    before = server.memory_info().rss
    highest = [before]
    flooding = threading.Event()

    def watch() -> None:
        while not flooding.wait(0.02):
            highest[0] = max(highest[0], server.memory_info().rss)

    def flood(sock: socket.socket) -> None:
        try:
            sock.sendall(b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" + field_lines(98, 64_000))
        except OSError:  # the server refused the head and closed
            pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(connections)]
    senders = [threading.Thread(target=flood, args=(sock,)) for sock in sockets]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    time.sleep(1)  # parked: the heads are as big as they will get
    flooding.set()
    watcher.join()
    for sock in sockets:
        sock.close()
    return before, highest[0]


def test_forty_parked_floods_of_header_fields_cost_the_server_little_memory(tmp_path):
    """Each connection may hold at most MAX_HEAD bytes of a head: 40 of them, 2.5 MiB. The bound asserted
    leaves room for the threads and the allocator's slack; without a bound the flood costs 6 MB a connection."""
    node = Node(1, tmp_path, None, ping_interval=20)
    node.child.wait_ready()
    try:
        before, highest = server_rss_under_header_flood(node.polling_port, node.child.pid)
        print(f"server RSS {before / 2**20:.1f} MiB before, {highest / 2**20:.1f} MiB at most under the flood")
        assert highest - before < 16 * 2**20, f"the flood added {(highest - before) / 2**20:.0f} MiB"
        assert requests.get(f"{node.polling_url}/api/messages", timeout=5).status_code == 200
    finally:
        node.child.stop()


# --- framing (RFC 9112 sections 5.1 and 6.3) ---------------------------------------------------------

def chunked(body: bytes, size: int = 4096) -> bytes:
    pieces = [body[start:start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_body_is_read_whole(polling, chat):
    with send(polling.port, CHUNKED + chunked(HELLO, 5) + POST + b"Content-Length: 17\r\n\r\n" + HELLO) as sock, \
            sock.makefile("rb") as rfile:
        assert wire.read_response(rfile).status == 201
        assert wire.read_response(rfile).status == 201  # the same connection goes on
    assert [m.text for m in chat.board.after(0)][::2] == ["hello", "hello"]


def test_a_chunked_body_over_the_apps_limit_gets_413_not_its_first_16_kib(polling, chat):
    """Valid JSON in the first 16 KiB, more after it: cutting the body there would store a message."""
    first = json.dumps({"text": "x" * 100}).encode().ljust(polling_server.MAX_BODY)
    refused(answer(polling.port, CHUNKED + chunked(first + b"y" * 4000)), 413, "body_too_large", closes=False)
    assert chat.board.last_id == 0


def test_a_chunked_body_over_what_the_server_reads_gets_413_and_is_closed(polling, chat):
    refused(answer(polling.port, CHUNKED + chunked(b" " * LARGEST_BODY + HELLO)), 413, "body_too_large")
    assert chat.board.last_id == 0


@pytest.mark.parametrize("lengths", [(b"17", b"18"), (b"17, 18",), (b"18", b"17")])
def test_two_different_content_lengths_get_400_and_close(polling, chat, lengths):
    fields = b"".join(b"Content-Length: %s\r\n" % length for length in lengths)
    refused(answer(polling.port, POST + fields + b"\r\n" + HELLO + b"x"), 400, "invalid_content_length")
    assert chat.board.last_id == 0


def test_the_same_content_length_twice_is_one_length(polling, chat):
    response = answer(polling.port, POST + b"Content-Length: 17\r\nContent-Length: 17\r\n\r\n" + HELLO)
    assert response.status == 201


SMUGGLED = POST + b"Content-Length: 17\r\n\r\n" + HELLO  # what a second request on the same bytes would be


@pytest.mark.parametrize("field", [b"Transfer-Encoding : chunked", b"Content-Length : 17", b"Host\t: 127.0.0.1",
                                   b" folded: on a line of its own", b"no colon here", b"X-Bare: a\rb",
                                   b"X-Null: a\x00b", b"Bad[name]: x"],
                         ids=["space before colon", "on Content-Length", "tab", "folded", "no colon", "bare CR",
                              "NUL", "not a token"])
def test_a_field_line_rfc_9112_refuses_gets_400_and_close(polling, chat, field):
    head = b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" + field + b"\r\nContent-Type: application/json\r\n"
    refused(answer(polling.port, head + b"Content-Length: 17\r\n\r\n" + HELLO + SMUGGLED), 400, "invalid_header")
    assert chat.board.last_id == 0


@pytest.mark.parametrize("coding, status, code", [
    (b"gzip", 400, "invalid_transfer_encoding"),  # chunked must come last: no way to tell where the body ends
    (b"chunked, gzip", 400, "invalid_transfer_encoding"),
    (b"chunked, chunked", 400, "invalid_transfer_encoding"),
    (b"gzip, chunked", 501, "unsupported_transfer_encoding"),
])
def test_a_transfer_coding_the_server_cannot_frame_is_refused_and_closes(polling, chat, coding, status, code):
    response = answer(polling.port, POST + b"Transfer-Encoding: " + coding + b"\r\n\r\n" + chunked(HELLO))
    refused(response, status, code)
    assert chat.board.last_id == 0


@pytest.mark.parametrize("request_", [
    POST + b"Transfer-Encoding: chunked\r\nContent-Length: 17\r\n\r\n" + chunked(HELLO),
    POST.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(HELLO),
], ids=["with Content-Length", "in HTTP/1.0"])
def test_a_body_framed_two_ways_is_refused_and_closes(polling, chat, request_):
    refused(answer(polling.port, request_), 400, "invalid_transfer_encoding")
    assert chat.board.last_id == 0


@pytest.mark.parametrize("body", [b"5\r\nhello", b"zz\r\n" + HELLO + b"\r\n0\r\n\r\n",
                                  b"11\r\n" + HELLO + b"XX0\r\n\r\n", b"-11\r\n" + HELLO + b"\r\n0\r\n\r\n"],
                         ids=["cut short", "size not hex", "no line end", "negative"])
def test_a_broken_chunked_body_is_refused(polling, chat, body):
    refused(answer(polling.port, CHUNKED + body, hang_up=True), 400,
            "incomplete_request" if body == b"5\r\nhello" else "invalid_chunk")
    assert chat.board.last_id == 0


@pytest.mark.parametrize("line, status, code", [
    (b"GET /api/messages\r\n", 400, "invalid_request_line"),  # HTTP/0.9
    (b"GET  /api/messages HTTP/1.1\r\n", 400, "invalid_request_line"),
    (b"GET /api/messages HTTP/2.0\r\n", 505, "http_version_not_supported"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", 400, "invalid_request_line"),  # TLS to a plain port
])
def test_a_request_line_the_server_cannot_read_gets_a_json_answer(polling, line, status, code):
    refused(answer(polling.port, line + b"Host: 127.0.0.1\r\n\r\n"), status, code)


# --- request lines, targets and Host (RFC 9112 sections 2.2 and 3.2, RFC 9110 section 9.1) -------------------

@pytest.fixture
def logging_polling(chat):
    """The polling server logging every request, as ``python -m servers`` does: its log line must never cost an
    answer."""
    with RunningServer(polling_server.create_app(chat), quiet=False) as server:
        yield server


HOST = b"Host: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize("target", [b"http://[::1/api/status", b"http://127.0.0.1:99999/api/status",
                                    b"http://127.0.0.1:0x1/api/status", b"http://[zz]/api/status", b"api/status",
                                    b"127.0.0.1:80", b"*", b"ftp://127.0.0.1/api/status"],
                         ids=["no closing bracket", "port out of range", "port not a number", "no IPv6 address",
                              "no leading slash", "a host alone", "asterisk for GET", "not http"])
def test_a_target_that_is_no_path_nor_a_readable_url_gets_400_and_no_traceback(logging_polling, capfd, caplog,
                                                                              target):
    refused(answer(logging_polling.port, b"GET " + target + b" HTTP/1.1\r\n" + HOST), 400, "invalid_request_line")
    assert "Traceback" not in capfd.readouterr().err
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_an_absolute_url_this_server_can_read_is_served_and_logged(logging_polling, caplog):
    target = f"http://127.0.0.1:{logging_polling.port}/api/status".encode()
    with caplog.at_level("INFO"):
        assert answer(logging_polling.port, b"GET " + target + b" HTTP/1.1\r\n" + HOST).status == 200
    assert f'"GET {target.decode()} HTTP/1.1" 200' in caplog.text


@pytest.mark.parametrize("fields", [b"", b"Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n", b"Host: 127.0.0.1:99999\r\n",
                                    b"Host: [::1\r\n"], ids=["none", "twice", "port out of range", "no bracket"])
def test_an_http_1_1_request_without_one_readable_host_gets_400(polling, chat, fields):
    head = b"POST /api/messages HTTP/1.1\r\n" + fields + b"Content-Type: application/json\r\n"
    refused(answer(polling.port, head + b"Content-Length: 17\r\n\r\n" + HELLO), 400, "invalid_host")
    assert chat.board.last_id == 0


def test_an_http_1_0_request_may_name_no_host(polling):
    assert answer(polling.port, b"GET /api/status HTTP/1.0\r\n\r\n").status == 200


@pytest.mark.parametrize("method", [b"get", b"Get", b"BREW", b"PROPFIND"])
def test_a_method_is_case_sensitive_and_an_unknown_one_gets_501(polling, method):
    refused(answer(polling.port, method + b" /api/status HTTP/1.1\r\n" + HOST), 501, "not_implemented")


def test_options_asterisk_is_a_target(polling):
    assert answer(polling.port, b"OPTIONS * HTTP/1.1\r\n" + HOST).status == 404  # no resource: asked, not refused


def test_a_few_empty_lines_before_a_request_are_ignored_and_more_are_refused_as_such(polling):
    request_ = b"GET /api/status HTTP/1.1\r\n" + HOST
    assert answer(polling.port, b"\r\n" * EMPTY_LINES + request_).status == 200
    refused(answer(polling.port, b"\r\n" * (EMPTY_LINES + 1) + request_), 400, "invalid_request_line")
    refused(answer(polling.port, b"\r\n" * (MAX_HEAD // 2)), 400, "invalid_request_line")  # not "URI too long"


def test_a_trailer_field_is_checked_as_a_header_field_is(polling, chat):
    body = b"11\r\n" + HELLO + b"\r\n0\r\n"
    refused(answer(polling.port, CHUNKED + body + b"X-Trailer: a\x01b\r\n\r\n"), 400, "invalid_header")
    refused(answer(polling.port, CHUNKED + body + b"X-Trailer : ab\r\n\r\n"), 400, "invalid_header")
    assert chat.board.last_id == 0
    assert answer(polling.port, CHUNKED + body + b"X-Trailer: ab\r\n\r\n").status == 201


@pytest.mark.parametrize("sent", [POST + b"Content-Length: 100\r\n\r\n" + b'{"text": ', POST + b"Content-Len"],
                         ids=["body", "head"])
def test_a_request_that_ends_short_gets_400_and_no_traceback(polling, chat, capfd, caplog, sent):
    refused(answer(polling.port, sent, hang_up=True), 400, "incomplete_request")
    assert requests.get(f"{polling.url}/api/messages", timeout=5).status_code == 200  # the server goes on
    assert "Traceback" not in capfd.readouterr().err
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]
    assert chat.board.last_id == 0


def test_a_client_that_vanishes_mid_body_leaves_no_traceback(polling, capfd, caplog):
    sock = send(polling.port, POST + b"Content-Length: 100\r\n\r\n" + b'{"text": ')
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with RST
    sock.close()
    assert eventually(lambda: not polling.server.connections, 5), "timed out waiting"
    assert "Traceback" not in capfd.readouterr().err
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_expect_100_continue_is_answered_before_the_body(polling, chat):
    with send(polling.port, POST + b"Expect: 100-continue\r\nContent-Length: 17\r\n\r\n") as sock, \
            sock.makefile("rb") as rfile:
        assert rfile.readline() == b"HTTP/1.1 100 Continue\r\n" and rfile.readline() == b"\r\n"
        sock.sendall(HELLO)
        assert wire.read_response(rfile).status == 201


# --- JSON no encoder writes: nested past the bound, a lone surrogate ------------------------------------

@pytest.fixture(params=["memory", "redis"])
def chat_on_either_board(request, tmp_path):
    """A Chat on the in-memory board, then on a board in a redis-server of the test's own."""
    if request.param == "memory":
        yield Chat(MessageBoard())
        return
    require_tool("redis-server")
    with RedisServer(tmp_path / "redis") as redis_server:
        board = RedisBoard(redis_server.url)
        yield Chat(board)
        board.close()


NESTED = b'{"text": "hi", "deep": ' + b"[" * 1100 + b"]" * 1100 + b"}"
SURROGATE = b'{"text": "\\ud800"}'
RAW_SURROGATE = b'{"text": "\xed\xa0\x80"}'  # a surrogate encoded as if UTF-8 could hold one: not UTF-8
UNREADABLE = {
    "nested 1,100 deep": NESTED,
    f"nested {MAX_DEPTH + 1} deep": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "a lone surrogate": SURROGATE,
    "a lone low surrogate": b'{"text": "a\\udc00b"}',
    "a surrogate as author": b'{"text": "hi", "author": "\\udbff"}',
    "a surrogate as a key": b'{"text": "hi", "\\ud800": 1}',
    "raw surrogate bytes": RAW_SURROGATE,
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_json_no_encoder_writes_is_malformed_on_both_transports_and_both_boards(chat_on_either_board, body):
    chat = chat_on_either_board
    with Twins(chat) as twins:
        before = chat.board.last_id
        response = requests.post(f"{twins.polling.url}/api/messages", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400 and response.json()["error"] == "malformed_json", response.text
        ws = RawWebSocket(twins.websocket.port)
        try:
            ws.send_frame(ws.TEXT, b'{"type": "send", ' + body.lstrip(b"{") if body.startswith(b"{") else body)
            if body != RAW_SURROGATE:
                opcode, payload = ws.read_frame()
                assert opcode == ws.TEXT and json.loads(payload)["error"] == "malformed_json", payload
                ws.send_frame(ws.TEXT, b'{"type": "send", "text": "still here"}')  # the connection goes on
                assert json.loads(ws.read_frame()[1])["type"] in ("sent", "message")
            else:  # a text frame that is not UTF-8: close 1007, as documented
                assert ws.read_close() == 1007
        finally:
            ws.close()
        assert chat.board.last_id == before + (0 if body == RAW_SURROGATE else 2)  # only "still here" is stored


def test_a_surrogate_pair_is_one_character_and_is_stored(chat_on_either_board):
    chat = chat_on_either_board
    with Twins(chat) as twins:
        response = requests.post(f"{twins.polling.url}/api/messages", data=b'{"text": "\\ud83d\\ude00"}',
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 201, response.text
        assert response.json()["message"]["text"] == "\U0001F600"
    assert chat.board.after(0)[0].text == "\U0001F600"


@pytest.mark.parametrize("body, status", [
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, 422),  # read, then refused: not a message
    (json.dumps({"text": "[{" * 300 + '\\"' + "}]" * 100}).encode(), 201),  # brackets in a string are text
], ids=["to the bound", "in a string"])
def test_json_within_the_bound_is_read(polling, body, status):
    response = requests.post(f"{polling.url}/api/messages", data=body, headers={"Content-Type": "application/json"},
                             timeout=5)
    assert response.status_code == status, response.text


# --- the clients' backoff, after a server down for an hour ---------------------------------------------

def test_backoff_stays_at_its_longest_wait_however_long_the_server_stays_down():
    backoff = Backoff(first=0.25, longest=8)
    delays = [backoff.next_delay() for _ in range(5000)]  # past 1,024 failures, 2 ** failures overflows a float
    assert max(delays) <= 8 and max(delays[-100:]) > 4
    backoff.reset()
    assert backoff.next_delay() <= 0.25
