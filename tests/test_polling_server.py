"""The polling server over real sockets: every route, every refusal, long polls and keep-alive."""

import http.client
import json
import socket
import threading
import time

import pytest
import requests

from servers import polling_server
from servers.board import MessageBoard
from servers.chat import LONGEST_WAIT, MAX_TEXT, PAGE_BYTES, PAGE_SIZE, REPLY, Chat
from servers.http_request import LARGEST_BODY
from servers.serving import RunningServer


@pytest.fixture
def chat(watched_chat):
    """Every server in this file runs on a board that says when a long poll is waiting."""
    return watched_chat


@pytest.fixture
def api(polling):
    return f"{polling.url}/api/messages"


def refused(response, status: int, code: str) -> None:
    """Every error is JSON with a stable code and a human message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]


# --- sending -------------------------------------------------------------------------------------

def test_post_stores_the_message_and_the_reply(api, chat):
    response = requests.post(api, json={"text": "How are you?", "author": "ana"}, timeout=5)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    message = response.json()["message"]
    assert message == {"id": 1, "author": "ana", "text": "How are you?", "time": message["time"], "reply_to": None}
    reply = chat.board.after(1)[0]
    assert (reply.author, reply.reply_to) == ("server", 1)
    assert reply.text == "Client:How are you?\nServer:I am fine, thanks!"


def test_author_is_optional(api):
    response = requests.post(api, json={"text": "hi"}, timeout=5)
    assert response.status_code == 201
    assert response.json()["message"]["author"] == "anonymous"


def test_json_with_a_charset_is_json(api):
    body = json.dumps({"text": "ünïcödé"}).encode()
    response = requests.post(api, data=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=5)
    assert response.status_code == 201
    assert response.json()["message"]["text"] == "ünïcödé"


JSON = {"Content-Type": "application/json"}
BAD_POSTS = {  # name: (body, headers, status, code)
    "malformed JSON": (b'{"text": ', JSON, 400, "malformed_json"),
    "not UTF-8": (b'{"text": "\xff"}', JSON, 400, "malformed_json"),
    "empty body": (b"", JSON, 400, "malformed_json"),
    "a list": (b'["hi"]', JSON, 422, "invalid_message"),
    "a string": (b'"hi"', JSON, 422, "invalid_message"),
    "no text": (b'{"author": "ana"}', JSON, 422, "invalid_text"),
    "text not a string": (b'{"text": 42}', JSON, 422, "invalid_text"),
    "empty text": (b'{"text": ""}', JSON, 422, "invalid_text"),
    "text too long": (json.dumps({"text": "x" * (MAX_TEXT + 1)}).encode(), JSON, 422, "text_too_long"),
    "author not a string": (b'{"text": "hi", "author": 1}', JSON, 422, "invalid_author"),
    "author posing as the server": (b'{"text": "hi", "author": "server"}', JSON, 422, "invalid_author"),
    "text/plain": (b'{"text": "hi"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    "form": (b"text=hi", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    "no Content-Type": (b'{"text": "hi"}', {}, 415, "unsupported_media_type"),
    "body over the limit": (json.dumps({"text": "x" * polling_server.MAX_BODY}).encode(), JSON, 413,
                            "body_too_large"),
}


@pytest.mark.parametrize("body, headers, status, code", BAD_POSTS.values(), ids=BAD_POSTS.keys())
def test_bad_posts_are_refused_and_change_nothing(api, chat, body, headers, status, code):
    chat.send("ana", "already there")
    response = requests.post(api, data=body, headers=headers, timeout=5)
    refused(response, status, code)
    assert chat.board.last_id == 2


def test_the_body_limit_is_a_parameter(chat):
    with RunningServer(polling_server.create_app(chat, max_body=100)) as server:
        url = f"{server.url}/api/messages"
        assert requests.post(url, json={"text": "x" * 50}, timeout=5).status_code == 201
        refused(requests.post(url, json={"text": "x" * 100}, timeout=5), 413, "body_too_large")
    assert chat.board.last_id == 2


# --- reading -------------------------------------------------------------------------------------

def test_get_returns_messages_after_the_cursor(api, chat):
    for n in range(3):
        chat.send("ana", f"m{n}")
    everything = requests.get(api, timeout=5).json()
    assert [m["id"] for m in everything["messages"]] == [1, 2, 3, 4, 5, 6]
    assert everything["last_id"] == 6
    assert everything["messages"][1] == chat.board.after(1)[0].to_json()
    newer = requests.get(api, params={"after": 4}, timeout=5).json()
    assert [m["id"] for m in newer["messages"]] == [5, 6]
    assert requests.get(api, params={"after": 6}, timeout=5).json() == {"messages": [], "last_id": 6}
    assert requests.get(api, params={"after": 60}, timeout=5).json() == {"messages": [], "last_id": 6}


def test_a_long_history_comes_in_pages(api, chat):
    for n in range(polling_server.PAGE_SIZE + 1):
        chat.board.post("ana", str(n))
    first = requests.get(api, params={"after": 0}, timeout=5).json()
    assert len(first["messages"]) == polling_server.PAGE_SIZE
    assert first["last_id"] == polling_server.PAGE_SIZE + 1  # so the client knows there is more
    rest = requests.get(api, params={"after": first["messages"][-1]["id"]}, timeout=5).json()
    assert [m["id"] for m in rest["messages"]] == [polling_server.PAGE_SIZE + 1]


# --- the board's identity: a cursor names the board it belongs to -----------------------------------------------

def test_a_cursor_naming_this_board_reads_on_and_the_answer_says_nothing_more(api, chat):
    for n in range(3):
        chat.send("ana", f"m{n}")
    answer = requests.get(api, params={"after": 4, "board": chat.board.identity}, timeout=5)
    assert [m["id"] for m in answer.json()["messages"]] == [5, 6]
    assert answer.text.endswith(',"last_id":6}')  # byte for byte as for a client that names no board


@pytest.mark.parametrize("named", ["", "Xy3_kQ9a"], ids=["none-yet", "a-board-gone"])
def test_a_cursor_naming_another_board_reads_this_one_from_its_first_message_at_once(api, chat, named):
    """The server restarted with a new board, whose ids have passed the client's cursor (6) already: "after 6" means
    nothing on it. The answer names this board and starts from its first message, at once, however long the poll."""
    for n in range(4):
        chat.send("ana", f"on the new board #{n}")  # ids 1-8
    answer = requests.get(api, params={"after": 6, "board": named, "wait": LONGEST_WAIT}, timeout=5)
    messages = ",".join(message.encoded for message in chat.board.after(0))
    assert answer.text == f'{{"messages":[{messages}],"last_id":8,"board":"{chat.board.identity}"}}'


def test_an_empty_new_board_is_named_at_once_too(api, chat):
    answer = requests.get(api, params={"after": 6, "board": "Xy3_kQ9a", "wait": LONGEST_WAIT}, timeout=5)
    assert answer.json() == {"messages": [], "last_id": 0, "board": chat.board.identity}


def test_a_long_poll_naming_this_board_waits_as_always(api, chat):
    chat.send("ana", "already there")
    waiting = post_when_waiting(chat, "news")
    answer = requests.get(api, params={"after": 2, "board": chat.board.identity, "wait": 5}, timeout=10).json()
    waiting.join()
    assert [m["text"] for m in answer["messages"]] == ["news", REPLY.format(text="news")] and "board" not in answer


def test_status_names_the_board(polling, chat):
    status = requests.get(f"{polling.url}/api/status", timeout=5).json()
    assert status["board"] == chat.board.identity and status["last_id"] == 0


BAD_QUERIES = {
    "after=-1": ({"after": "-1"}, "invalid_after"), "after=abc": ({"after": "abc"}, "invalid_after"),
    "after=1.5": ({"after": "1.5"}, "invalid_after"), "after=": ({"after": ""}, "invalid_after"),
    "wait=-1": ({"wait": "-1"}, "invalid_wait"), "wait=soon": ({"wait": "soon"}, "invalid_wait"),
    "wait=0.5": ({"wait": "0.5"}, "invalid_wait"),
    "wait=longest+1": ({"wait": str(LONGEST_WAIT + 1)}, "invalid_wait"),
    "board=a space": ({"board": "a b"}, "invalid_board"), "board=41": ({"board": "x" * 41}, "invalid_board"),
    "board=é": ({"board": "é"}, "invalid_board"),
}


@pytest.mark.parametrize("params, code", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_cursors_and_waits_are_refused(api, chat, params, code):
    chat.send("ana", "already there")
    started = time.monotonic()
    refused(requests.get(api, params=params, timeout=5), 400, code)
    assert time.monotonic() - started < 1  # refused at once, never held open
    assert chat.board.last_id == 2


def test_short_poll_answers_at_once(api):
    started = time.monotonic()
    assert requests.get(api, params={"after": 0, "wait": 0}, timeout=5).json() == {"messages": [], "last_id": 0}
    assert time.monotonic() - started < 0.5


def post_when_waiting(chat, text: str) -> threading.Thread:
    """Post ``text`` from another thread the moment a long poll is waiting on the board."""
    def post() -> None:
        if chat.board.waiters.acquire(timeout=5):
            chat.send("bob", text)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_long_poll_returns_as_soon_as_a_message_arrives(api, chat):
    poster = post_when_waiting(chat, "wake up")
    started = time.monotonic()
    response = requests.get(api, params={"after": 0, "wait": 2}, timeout=10)
    elapsed = time.monotonic() - started
    poster.join(5)
    assert response.status_code == 200
    assert response.json()["messages"][0]["text"] == "wake up"
    assert elapsed < 1, f"the long poll took {elapsed:.2f} s: it waited instead of waking up"


def test_long_poll_wakes_up_for_a_message_sent_over_http(api, chat):
    def post() -> None:
        if chat.board.waiters.acquire(timeout=5):
            requests.post(api, json={"text": "from another client"}, timeout=5)

    poster = threading.Thread(target=post)
    poster.start()
    started = time.monotonic()
    messages = requests.get(api, params={"after": 0, "wait": 2}, timeout=10).json()["messages"]
    assert time.monotonic() - started < 1
    poster.join(5)
    assert messages[0]["text"] == "from another client"


def test_long_poll_returns_nothing_after_the_wait(api, chat):
    chat.send("ana", "old news")
    started = time.monotonic()
    response = requests.get(api, params={"after": 2, "wait": 1}, timeout=10)
    elapsed = time.monotonic() - started
    assert response.json() == {"messages": [], "last_id": 2}
    assert 0.95 <= elapsed < 2


def test_long_poll_with_news_already_there_answers_at_once(api, chat):
    chat.send("ana", "old news")
    started = time.monotonic()
    assert len(requests.get(api, params={"after": 0, "wait": 2}, timeout=10).json()["messages"]) == 2
    assert time.monotonic() - started < 1.5  # well before the wait: what a held request would take, even when loaded


# --- routes, methods, origins ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api", "/api/messages/1", "/nope"])
def test_unknown_routes_are_404_json(polling, path):
    refused(requests.get(polling.url + path, timeout=5), 404, "not_found")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_methods_are_405_json_with_allow(api, chat, method):
    response = requests.request(method, api, json={"text": "hi"}, timeout=5)
    refused(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert chat.board.last_id == 0


FOREIGN = ["http://evil.example", "http://127.0.0.1:1", "https://127.0.0.1", "null", "http://localhost"]


@pytest.mark.parametrize("origin", FOREIGN)
def test_foreign_origins_are_refused(api, polling, chat, origin):
    if origin == "https://127.0.0.1":
        origin = f"https://127.0.0.1:{polling.port}"  # the right port, but another scheme is another origin
    refused(requests.post(api, json={"text": "hi"}, headers={"Origin": origin}, timeout=5), 403, "forbidden_origin")
    refused(requests.get(api, headers={"Origin": origin}, timeout=5), 403, "forbidden_origin")
    assert chat.board.last_id == 0


def test_same_origin_and_no_origin_are_allowed(api, polling):
    assert requests.post(api, json={"text": "hi"}, timeout=5).status_code == 201
    response = requests.post(api, json={"text": "hi"}, headers={"Origin": polling.url}, timeout=5)
    assert response.status_code == 201


def test_the_twin_servers_pages_get_cors_headers(chat):
    twin_port = 45678  # never contacted: only compared with the Origin header
    twin = f"http://127.0.0.1:{twin_port}"
    with RunningServer(polling_server.create_app(chat, twin_port=twin_port)) as server:
        url = f"{server.url}/api/messages"
        response = requests.post(url, json={"text": "hi"}, headers={"Origin": twin}, timeout=5)
        assert response.status_code == 201
        assert response.headers["Access-Control-Allow-Origin"] == twin
        assert "Origin" in response.headers["Vary"]
        # the browser's preflight before a cross-origin JSON POST
        preflight = requests.options(url, headers={"Origin": twin, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "content-type"}, timeout=5)
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == twin
        assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
        # another port on the same host is still foreign
        other = requests.get(url, headers={"Origin": f"http://127.0.0.1:{twin_port + 1}"}, timeout=5)
        refused(other, 403, "forbidden_origin")
    assert chat.board.last_id == 2


def test_listed_origins_are_allowed(chat):
    with RunningServer(polling_server.create_app(chat, allowed_origins=["https://class.example"])) as server:
        response = requests.get(f"{server.url}/api/messages", headers={"Origin": "https://class.example"}, timeout=5)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://class.example"


def test_no_cors_header_without_an_origin(api):
    assert "Access-Control-Allow-Origin" not in requests.get(api, timeout=5).headers


# --- connections -------------------------------------------------------------------------------------

def test_a_session_reuses_one_keep_alive_connection(api, polling):
    with requests.Session() as session:
        assert session.post(api, json={"text": "hi"}, timeout=5).status_code == 201
        first = set(polling.server.connections)
        for _ in range(4):
            response = session.get(api, params={"after": 0}, timeout=5)
            assert response.headers.get("Connection", "").lower() != "close"
            assert set(polling.server.connections) == first
    assert len(first) == 1


def test_keep_alive_false_closes_every_connection(chat):
    with RunningServer(polling_server.create_app(chat), keep_alive=False) as server:
        assert requests.get(f"{server.url}/api/messages", timeout=5).headers["Connection"] == "close"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while chunk := raw.recv(65536):  # the server closes: recv ends instead of timing out
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"\r\nConnection: close" in head
        assert json.loads(body) == {"messages": [], "last_id": 0}


def same_connection_requests(port: int, first: tuple, second: tuple) -> tuple:
    """Two requests on one http.client connection; the responses and whether the socket stayed the same."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(*first)
        one = connection.getresponse()
        one_body = one.read()
        local = connection.sock.getsockname()
        connection.request(*second)
        two = connection.getresponse()
        two_body = two.read()
        return (one.status, one_body), (two.status, two_body), connection.sock.getsockname() == local
    finally:
        connection.close()


@pytest.mark.parametrize("first, status", [
    (("POST", "/api/messages", b'{"text": "unread"}' * 50, {"Content-Type": "text/plain"}), 415),
    (("POST", "/api/messages", b'{"text": "' + b"x" * (polling_server.MAX_BODY + 10) + b'"}', JSON), 413),
    (("POST", "/nope", b"an unread body", JSON), 404),
], ids=["415", "413", "404"])
def test_an_unread_body_does_not_break_the_next_request(polling, chat, first, status):
    (one_status, _), (two_status, two_body), same = same_connection_requests(
        polling.port, first, ("POST", "/api/messages", b'{"text": "next"}', JSON))
    assert one_status == status
    assert two_status == 201 and json.loads(two_body)["message"]["text"] == "next"
    assert same, "the connection was not reused"
    assert [m.text for m in chat.board.after(0)][0] == "next"


def test_a_body_too_big_to_skip_closes_the_connection(api):
    """Past http_request.LARGEST_BODY the server would rather close than read a body it refuses."""
    body = json.dumps({"text": "x" * (LARGEST_BODY + 1)}).encode()
    response = requests.post(api, data=body, headers=JSON, timeout=5)
    refused(response, 413, "body_too_large")
    assert response.headers["Connection"] == "close"


def test_server_stop_ends_a_waiting_long_poll(chat):
    server = RunningServer(polling_server.create_app(chat))
    outcome: list = []

    def poll() -> None:
        try:
            outcome.append(requests.get(f"{server.url}/api/messages", params={"wait": 30}, timeout=10))
        except requests.RequestException as error:
            outcome.append(error)

    poller = threading.Thread(target=poll)
    poller.start()
    assert chat.board.waiters.acquire(timeout=5)
    started = time.monotonic()
    server.stop()
    poller.join(10)
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], requests.ConnectionError), outcome  # cut off, not left hanging for 30 s


# --- found in review: the HTTP layer's own refusals -------------------------------------------------

def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes as they are and read until the server closes or answers with a whole JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
            if data.rstrip().endswith(b"}"):
                break
        return data


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3"])
def test_a_content_length_that_is_no_number_is_refused_and_closes(polling, chat, length):
    answer = raw_request(polling.port, b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/json\r\nContent-Length: " + length + b"\r\n\r\n{\"text\": \"hi\"}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert json.loads(body)["error"] == "invalid_content_length"
    assert chat.board.last_id == 0


def test_an_upgrade_header_on_a_plain_route_still_gets_its_answer(polling):
    """Only a real WebSocket upgrade silences the HTTP server, not a header any client can send."""
    answer = raw_request(polling.port, b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 ") and answer.rstrip().endswith(b"}")  # routing says 405: a JSON answer


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8001", "127.0.0.1.attacker.example"])
def test_a_host_name_that_dns_could_rebind_is_refused(polling, chat, host):
    """DNS rebinding: an attacker's name resolving to 127.0.0.1 would make its page 'same origin'."""
    origin = f"http://{host}"
    refused(requests.get(f"{polling.url}/api/messages", headers={"Host": host}, timeout=5), 403, "forbidden_host")
    response = requests.post(f"{polling.url}/api/messages", json={"text": "hi"},
                             headers={"Host": host, "Origin": origin}, timeout=5)
    refused(response, 403, "forbidden_host")
    assert chat.board.last_id == 0


def test_ip_addresses_localhost_and_allowed_origins_hosts_are_answered(chat):
    app = polling_server.create_app(chat, allowed_origins=["http://teacher.local:8001"])
    with RunningServer(app) as server:
        for host in ["127.0.0.1", "localhost", f"localhost:{server.port}", "[::1]", "teacher.local:8001"]:
            response = requests.get(f"{server.url}/api/messages", headers={"Host": host}, timeout=5)
            assert response.status_code == 200, host


def test_a_refused_origin_gets_no_cors_header(api):
    response = requests.get(api, headers={"Origin": "http://evil.example"}, timeout=5)
    refused(response, 403, "forbidden_origin")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_cursor_before_what_the_board_keeps_is_told_what_it_missed():
    chat = Chat(MessageBoard(keep=5))
    for n in range(12):
        chat.board.post("ana", str(n))
    with RunningServer(polling_server.create_app(chat)) as server:
        api = f"{server.url}/api/messages"
        answer = requests.get(api, params={"after": 0}, timeout=5).json()
        assert [m["id"] for m in answer["messages"]] == [8, 9, 10, 11, 12]
        assert answer["missed"] == {"count": 7, "first_id": 8}
        assert "missed" not in requests.get(api, params={"after": 7}, timeout=5).json()
        assert requests.get(api, params={"after": 3, "wait": 5}, timeout=10).json()["missed"]["count"] == 4


def test_a_page_of_the_longest_messages_is_bounded_in_bytes_and_a_client_reads_on_from_its_last_id(polling, chat):
    """Pages hold PAGE_SIZE messages or PAGE_BYTES of them, whichever comes first: a client that does not read
    holds the server to a page, not 6 MB; one that reads gets every message by asking again from its last id."""
    longest = "\U0001F600" * MAX_TEXT  # 12 kB as JSON
    for _ in range(PAGE_SIZE // 2):
        chat.board.post_with_reply("ana", longest, "server", longest)
    api, after, ids = f"{polling.url}/api/messages", 0, []
    while after < chat.board.last_id:
        answer = requests.get(api, params={"after": after}, timeout=5)
        assert len(answer.content) <= PAGE_BYTES + 100 and answer.json()["messages"], len(answer.content)
        ids += [message["id"] for message in answer.json()["messages"]]
        after = ids[-1]
    assert ids == list(range(1, PAGE_SIZE + 1))
    short = requests.get(api, params={"after": PAGE_SIZE}, timeout=5).json()  # ordinary messages: a whole page
    assert short["messages"] == [] and short["last_id"] == PAGE_SIZE
    for n in range(PAGE_SIZE):
        chat.board.post("ana", f"message {n}")
    assert len(requests.get(api, params={"after": PAGE_SIZE}, timeout=5).json()["messages"]) == PAGE_SIZE


def test_an_absurdly_long_content_length_is_refused_and_closes(polling, chat):
    sock = socket.create_connection(("127.0.0.1", polling.port), timeout=5)
    sock.sendall(f"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {'9' * 5000}\r\n\r\n{{}}".encode())
    answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 413") and b'"body_too_large"' in answer
    assert chat.board.last_id == 0
