"""Property-based: whatever a client sends, the servers answer with a documented error or do what was asked.

Hypothesis generates the inputs (every query parameter and JSON field both servers read, as any text or
JSON value, including numbers of thousands of digits, strings with halves of characters and arrays nested
a thousand deep) against real servers. The properties:
no answer is a 500 (or a dropped connection), and the board changes only for a valid send, by exactly
the message and its reply.
"""

import json
import re
import socket
import unicodedata

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clients import wire
from servers.chat import LONGEST_WAIT, MAX_AUTHOR, MAX_DEPTH, MAX_TEXT, SERVER
from servers.twins import Twins

# Names that read as the server's, and names that only look close to it: the first refused, the second taken
IMPERSONATIONS = ["Server", "SERVER", "server ", " server", "server\u200b", "ser\u00adver", "S.E.R.V.E.R",
                  "s e r v e r", "\uff53\uff45\uff52\uff56\uff45\uff52", "\u017ferver", "s\u0336erver", "\u202erevres",
                  "server\n", "\x00", "\x1b[2J", " ", "\u200b", "\u3000"]
NAMES = ["observer", "server2", "Ana B.", "serveur", "serv\u00e9r", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
         "\u00e9l\u00e8ve"]
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ERRORS = {400, 403, 404, 405, 413, 415, 422, 426}  # every refusal servers/README.md documents

huge_number = st.sampled_from([19, 20, 300, 4300, 4301, 5000]).map(lambda n: "9" * n)  # Python stops at 4,300
number_like = st.one_of(st.integers(-10, 2**64).map(str), huge_number, st.just("١"), st.just("1e3"), st.just(" 7"))
any_text = st.one_of(st.text(max_size=60), number_like)
# Text with halves of characters (lone surrogates): JSON can write them as "\ud800", no text can hold them.
halves = st.tuples(st.text(max_size=3), st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
                   st.text(max_size=3)).map("".join)
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | halves
                          | st.integers(300, 4000).map(lambda n: 10**n), lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
message_fields = st.fixed_dictionaries({}, optional={
    "text": st.one_of(json_value, st.text(max_size=5), st.text(min_size=MAX_TEXT - 2, max_size=MAX_TEXT + 2), halves),
    "author": st.one_of(json_value, st.just(SERVER), st.text(max_size=MAX_AUTHOR + 2), halves,
                        st.sampled_from(IMPERSONATIONS + NAMES)),
    "type": st.one_of(st.just("send"), json_value), "interval": json_value})
any_body = st.one_of(message_fields, json_value, st.fixed_dictionaries({"type": st.just("send"), "text": halves}))
# Bodies no JSON encoder writes: cut short, or a number longer than Python converts (over 4,300 digits).
broken_body = st.one_of(
    any_body.map(lambda body: json.dumps(body)[:-1] or "{"),
    st.builds(lambda key, digits: f'{{"{key}": {"9" * digits}}}' if key else "9" * digits,
              st.sampled_from(["text", "author", "type", "interval", ""]), st.sampled_from([4301, 5000])))
# Arrays and objects inside one another, around the servers' bound and far past it (Python's parser recurses:
# a thousand levels crash it), alone or in a message that would be valid but for them.
nested = st.builds(lambda brackets, depth: brackets[0] * depth + "0" + brackets[1] * depth,
                   st.sampled_from([("[", "]"), ('{"a": ', "}"), ('[{"a": ', "}]")]),
                   st.integers(1, 1200) | st.integers(MAX_DEPTH - 2, MAX_DEPTH + 1))
nested_body = st.one_of(nested, nested.map(lambda inner: f'{{"type": "send", "text": "hi", "deep": {inner}}}'))


def valid_send(payload) -> bool:
    """Written apart from servers/chat.py on purpose: the documented rule, not the code under test."""
    if not isinstance(payload, dict):
        return False
    text, author = payload.get("text"), payload.get("author", "anonymous")
    return (isinstance(text, str) and 0 < len(text) <= MAX_TEXT
            and isinstance(author, str) and 0 < len(author) <= MAX_AUTHOR and valid_name(author))


def valid_name(author: str) -> bool:
    """servers/README.md: no control character (nor one that changes the direction of the text), something
    visible, and not the server's name: its letters and digits, in NFKC and any case, are not "server"."""
    if re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", author):
        return False
    folded = unicodedata.normalize("NFKC", author).casefold()
    visible = [char for char in folded if unicodedata.category(char)[0] not in "CZ"]
    return bool(visible) and re.sub(r"[\W_]", "", folded) != SERVER


def long_poll_that_would_wait(params: dict, last_id: int) -> bool:
    """A valid wait > 0 with a cursor at the end of the board would hold the request open: not what we test."""
    wait, after = params.get("wait", "0"), params.get("after", "0")
    waits = re.fullmatch(r"[0-9]{1,3}", wait) and 0 < int(wait) <= LONGEST_WAIT
    return bool(waits and re.fullmatch(r"[0-9]{1,25}", after) and int(after) >= last_id)


@pytest.fixture(scope="module")
def twins():
    with Twins() as servers:
        servers.chat.send("ana", "so that the board is not empty")
        yield servers


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:
        yield session


@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(["after", "board", "wait", "client"]), any_text))
def test_any_poll_is_answered_and_changes_nothing(twins, session, params):
    last_id = twins.chat.board.last_id
    assume(not long_poll_that_would_wait(params, last_id))
    response = session.get(f"{twins.polling.url}/api/messages", params=params, timeout=10)
    assert response.status_code in {200} | ERRORS, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert twins.chat.board.last_id == last_id


@EXAMPLES
@given(clients=any_text)
def test_any_status_question_is_answered(twins, session, clients):
    for server in (twins.polling, twins.websocket):
        response = session.get(f"{server.url}/api/status", params={"clients": clients}, timeout=10)
        assert response.status_code in {200} | ERRORS, response.text


any_json_text = st.one_of(any_body.map(json.dumps), broken_body, nested_body)


@EXAMPLES
@given(data=any_json_text, content_type=st.sampled_from(
    ["application/json", "text/plain", "application/json; charset=utf-8", ""]))
def test_any_post_either_stores_a_message_and_its_reply_or_changes_nothing(twins, session, data, content_type):
    last_id = twins.chat.board.last_id
    response = session.post(f"{twins.polling.url}/api/messages", data=data.encode(),
                            headers={"Content-Type": content_type} if content_type else {}, timeout=10)
    assert response.status_code in {201} | ERRORS, response.text
    stored = response.status_code == 201
    assert stored == (valid_send(json.loads(data) if _parses(data) else None) and content_type.startswith(
        "application/json"))
    assert twins.chat.board.last_id == last_id + (2 if stored else 0)


def _parses(data: str) -> bool:
    """Whether the servers read it, by the documented rules: Python's json module reads it (it refuses numbers
    of over 4,300 digits, as the servers must), it nests at most MAX_DEPTH deep, and its strings are text
    (a lone surrogate, half of a character, is not)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return False
    depth, strings = _depth_and_strings(value)
    return depth <= MAX_DEPTH and not any(0xD800 <= ord(char) <= 0xDFFF for string in strings for char in string)


def _depth_and_strings(value) -> tuple[int, list[str]]:
    """How deep a decoded JSON value nests arrays and objects, and every string in it (keys too)."""
    deepest, strings, pending = 0, [], [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            pending += [(child, depth + 1) for child in ([*item, *item.values()] if isinstance(item, dict) else item)]
        elif isinstance(item, str):
            strings.append(item)
    return deepest, strings


@EXAMPLES
@given(body=any_json_text)
def test_any_ticker_switch_is_answered(twins, session, body):
    response = session.post(f"{twins.polling.url}/api/ticker", data=body.encode(),
                            headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code in {200} | ERRORS, response.text
    twins.chat.stop_ticker()


@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(["after", "board", "client"]), any_text))
def test_any_handshake_query_is_answered_before_or_by_the_upgrade(twins, params):
    query = "&".join(f"{name}={requests.utils.quote(value)}" for name, value in params.items())
    try:
        sock, rfile, _, response = wire.open_websocket("127.0.0.1", twins.websocket.port, f"/ws?{query}")
    except wire.HandshakeError as refused:
        assert refused.response.status in ERRORS, refused.response.raw
        return
    assert response.status == 101
    wire.close(sock, rfile)


header_text = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60), number_like)


@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(["after", "board", "client"]), any_text),
       last_event_id=st.one_of(st.none(), header_text))
def test_any_event_stream_request_is_answered_and_changes_nothing(twins, params, last_event_id):
    """GET /api/events: an error before the stream, or the stream's head; never a 500, and the board stays."""
    query = "&".join(f"{name}={requests.utils.quote(value)}" for name, value in params.items())
    # A header's bytes as a client would send them: UTF-8 (request_bytes writes each character as one byte)
    headers = {"Last-Event-ID": last_event_id.encode().decode("latin-1")} if last_event_id is not None else {}
    before = twins.chat.board.last_id
    with socket.create_connection(("127.0.0.1", twins.polling.port), timeout=10) as sock:
        sock.sendall(wire.request_bytes("GET", f"/api/events?{query}", f"127.0.0.1:{twins.polling.port}", headers))
        with sock.makefile("rb") as rfile:
            status = rfile.readline().split()[1:2]
    assert status and int(status[0]) in {200} | ERRORS, status
    assert twins.chat.board.last_id == before


@pytest.fixture(scope="module")
def websocket(twins):
    sock, rfile, _, _ = wire.open_websocket("127.0.0.1", twins.websocket.port, "/ws")
    yield sock, rfile
    wire.close(sock, rfile)


@EXAMPLES
@given(body=any_json_text)
def test_any_frame_either_stores_a_message_and_its_reply_or_gets_an_error(twins, websocket, body):
    sock, rfile = websocket
    last_id = twins.chat.board.last_id
    wire.send_frame(sock, wire.TEXT, body.encode())
    while (event := json.loads(wire.read_frame(rfile).payload))["type"] == "message":
        pass  # pushes of earlier sends (everyone gets every message)
    payload = json.loads(body) if _parses(body) else None
    should_store = valid_send(payload) and payload.get("type") == "send"
    assert event["type"] == ("sent" if should_store else "error"), event
    assert twins.chat.board.last_id == last_id + (2 if should_store else 0)


@pytest.mark.parametrize("author", IMPERSONATIONS + NAMES)
def test_only_the_server_posts_as_the_server_on_either_transport(twins, session, websocket, author):
    """A name that reads as the server's (another case, spaces or invisible characters around or inside it,
    full-width letters, a direction override), or that shows nothing, is refused by both servers alike, and
    the board stays; a name that only looks close to it is taken."""
    sock, rfile = websocket
    taken = author in NAMES
    assert valid_name(author) == taken
    last_id = twins.chat.board.last_id
    response = session.post(f"{twins.polling.url}/api/messages", json={"text": "hi", "author": author}, timeout=10)
    assert (response.status_code, response.json().get("error")) == ((201, None) if taken else (422, "invalid_author"))
    wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": "hi", "author": author}).encode())
    while (event := json.loads(wire.read_frame(rfile).payload))["type"] == "message":
        pass
    assert (event["type"], event.get("error")) == (("sent", None) if taken else ("error", "invalid_author"))
    assert twins.chat.board.last_id == last_id + (4 if taken else 0)
