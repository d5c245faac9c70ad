"""The chat feature without any transport: the reply, the ticker, and input checks."""

import sys
import threading
import time

import pytest

from servers.board import MessageBoard
from servers.chat import (LONGEST_WAIT, MAX_AUTHOR, MAX_TEXT, REPLY, SERVER, BadInput, Chat, parse_json,
                          read_after, read_new_message, read_wait)


def test_send_stores_the_message_and_the_servers_reply():
    chat = Chat()
    message, reply = chat.send("ana", "How are you?")
    assert (message.id, message.author, message.text, message.reply_to) == (1, "ana", "How are you?", None)
    assert (reply.id, reply.author, reply.reply_to) == (2, "server", 1)
    assert reply.text == "Client:How are you?\nServer:I am fine, thanks!"
    assert chat.board.after(0) == [message, reply]


def test_the_reply_quotes_the_text_verbatim():
    chat = Chat()
    text = 'braces {} {text} "quotes"\nand a newline, ünïcödé ✓'
    _, reply = chat.send("ana", text)
    assert reply.text == f"Client:{text}\nServer:I am fine, thanks!"
    assert REPLY.format(text="x") == "Client:x\nServer:I am fine, thanks!"


def test_ticker_posts_server_events_until_stopped():
    chat = Chat()
    chat.start_ticker(0.02)
    try:
        events = []
        while len(events) < 3:
            events += chat.board.wait_after(len(events), timeout=2)
            assert events, "the ticker posted nothing within 2 s"
        assert chat.ticker_interval == 0.02
    finally:
        chat.stop_ticker()
    stopped_at = chat.board.last_id
    assert [e.text for e in events[:3]] == [f"Notification #{n}: the server speaks first" for n in (1, 2, 3)]
    assert all(e.author == SERVER and e.reply_to is None for e in events)
    assert chat.ticker_interval is None
    # a tick that was already under way when stop_ticker ran may still land, but nothing after it
    chat.board.wait_after(stopped_at + 1, timeout=0.2)
    assert chat.board.last_id <= stopped_at + 1


def test_restarting_the_ticker_replaces_the_old_one():
    chat = Chat()
    chat.start_ticker(60)
    chat.start_ticker(0.02)
    try:
        assert chat.board.wait_after(0, timeout=2)[0].text.startswith("Notification #1:")
        assert chat.ticker_interval == 0.02
    finally:
        chat.stop_ticker()
    chat.stop_ticker()  # stopping twice is harmless


def test_bad_input_is_a_value_error_with_a_json_form():
    error = BadInput("invalid_text", "no text")
    assert isinstance(error, ValueError)
    assert (error.code, error.message, str(error)) == ("invalid_text", "no text", "no text")
    assert error.to_json() == {"error": "invalid_text", "message": "no text"}


@pytest.mark.parametrize("raw, expected", [('{"text": "hi"}', {"text": "hi"}), (b"[1, 2]", [1, 2]),
                                           ("null", None), ('"é"'.encode(), "é")])
def test_parse_json_accepts_json(raw, expected):
    assert parse_json(raw) == expected


@pytest.mark.parametrize("raw", ["", "{", "{'text': 'hi'}", "hello", b"\xff\xfe\x00", "NaN?"])
def test_parse_json_refuses_what_is_not_json(raw):
    with pytest.raises(BadInput) as caught:
        parse_json(raw)
    assert caught.value.code == "malformed_json"


def test_read_new_message_returns_author_and_text():
    assert read_new_message({"text": "hi"}) == ("anonymous", "hi")
    assert read_new_message({"text": "hi", "author": "ana", "extra": 1}) == ("ana", "hi")
    assert read_new_message({"text": "x" * MAX_TEXT}) == ("anonymous", "x" * MAX_TEXT)
    assert read_new_message({"text": "x" * 10, "author": "a" * MAX_AUTHOR}, max_text=10)[1] == "x" * 10


@pytest.mark.parametrize("payload, code", [
    ([], "invalid_message"), ("hi", "invalid_message"), (None, "invalid_message"), (3, "invalid_message"),
    ({}, "invalid_text"), ({"text": ""}, "invalid_text"), ({"text": 5}, "invalid_text"),
    ({"text": None}, "invalid_text"), ({"text": ["hi"]}, "invalid_text"),
    ({"text": "x" * (MAX_TEXT + 1)}, "text_too_long"),
    ({"text": "hi", "author": ""}, "invalid_author"), ({"text": "hi", "author": 7}, "invalid_author"),
    ({"text": "hi", "author": "a" * (MAX_AUTHOR + 1)}, "invalid_author"),
    ({"text": "hi", "author": SERVER}, "invalid_author"),  # nobody may pose as the server
])
def test_read_new_message_refuses(payload, code):
    with pytest.raises(BadInput) as caught:
        read_new_message(payload)
    assert caught.value.code == code


def test_the_text_limit_is_a_parameter():
    with pytest.raises(BadInput) as caught:
        read_new_message({"text": "x" * 11}, max_text=10)
    assert caught.value.code == "text_too_long"
    assert "11" in caught.value.message and "10" in caught.value.message


@pytest.mark.parametrize("value, expected", [("0", 0), ("42", 42), ("007", 7), (0, 0), (12, 12)])
def test_read_after_accepts_whole_numbers(value, expected):
    assert read_after(value) == expected


@pytest.mark.parametrize("value", ["", "-1", "1.5", "abc", " 1", "١", "²", -1, 1.0, True, None, [1]])
def test_read_after_refuses(value):
    with pytest.raises(BadInput) as caught:
        read_after(value)
    assert caught.value.code == "invalid_after"


@pytest.mark.parametrize("value, expected", [("0", 0), ("1", 1), (str(LONGEST_WAIT), LONGEST_WAIT)])
def test_read_wait_accepts_0_to_the_longest_wait(value, expected):
    assert read_wait(value) == expected


@pytest.mark.parametrize("value", ["", "-1", str(LONGEST_WAIT + 1), "2.5", "soon", "٣"])
def test_read_wait_refuses(value):
    with pytest.raises(BadInput) as caught:
        read_wait(value)
    assert caught.value.code == "invalid_wait"


def test_flipping_the_ticker_from_many_threads_leaves_at_most_one_running():
    """Two pages may press the ticker button at the same moment; stop() must still stop it."""
    chat = Chat()
    start = threading.Barrier(4)

    def flip():
        start.wait()
        chat.start_ticker(0.05)

    for _ in range(20):
        threads = [threading.Thread(target=flip) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        chat.stop_ticker()
    last = chat.board.last_id
    time.sleep(0.2)  # four ticker intervals: a ticker nobody can stop would post here
    assert chat.board.last_id == last


def test_a_message_and_its_reply_are_stored_together_whoever_else_posts():
    """The reply's id is always the message's id + 1, even with other senders and server events racing."""
    chat = Chat()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so a gap would be found
    try:
        workers = [threading.Thread(target=lambda n=n: [chat.send(f"t{n}", str(i)) for i in range(300)])
                   for n in range(6)]
        workers.append(threading.Thread(target=lambda: [chat.board.post("server", "event") for _ in range(900)]))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
    finally:
        sys.setswitchinterval(switch)
    board = {message.id: message for message in chat.board.after(0)}
    sent = [message for message in board.values() if message.author.startswith("t")]
    assert len(sent) == 6 * 300
    assert all(board[message.id + 1].reply_to == message.id for message in sent)


def test_once_stopped_the_ticker_posts_nothing_more():
    """A tick under way when the ticker is stopped lands before stop_ticker returns, never after (a slow board,
    such as one kept in Redis, makes the tick's moment of storing long)."""

    class SlowBoard(MessageBoard):
        def post(self, *args, **kwargs):
            time.sleep(0.02)
            return super().post(*args, **kwargs)

    for _ in range(5):
        chat = Chat(SlowBoard())
        chat.start_ticker(0.1)
        time.sleep(0.11)  # the first tick is being stored
        chat.stop_ticker()
        last = chat.board.last_id
        time.sleep(0.05)
        assert chat.board.last_id == last
