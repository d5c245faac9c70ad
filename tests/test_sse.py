"""Server-Sent Events on the polling server: the stream byte for byte, resuming by Last-Event-ID, heartbeats."""

import json
import time

import pytest
import requests

from clients import wire
from servers import polling_server
from servers.board import MessageBoard
from servers.chat import Chat
from servers.serving import RunningServer
from servers.twins import Twins


def ids(events: list[wire.Event]) -> list[int]:
    return [json.loads(event.data)["id"] for event in events]


def test_the_stream_byte_for_byte(polling, chat, streams):
    message, reply = chat.send("ana", "How are you?")
    stream = streams(polling.port, "?after=0")
    status, *headers = stream.head.decode().split("\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert {"Content-Type: text/event-stream; charset=utf-8", "Cache-Control: no-cache",
            "X-Accel-Buffering: no", "Connection: close"} <= set(headers)
    assert not any(header.lower().startswith("content-length") for header in headers)  # it ends when TCP does
    expected = (b"retry: 2000\n\n"
                + f"id: 1\ndata: {message.encoded}\n\n".encode() + f"id: 2\ndata: {reply.encoded}\n\n".encode())
    assert stream.rfile.read(len(expected)) == expected
    assert "\\n" in reply.encoded  # the reply's line break travels escaped, inside one data line
    later = chat.board.post("server", "Notification #1")
    assert stream.rfile.read(len(f"id: 3\ndata: {later.encoded}\n\n")) == f"id: 3\ndata: {later.encoded}\n\n".encode()


def test_without_a_cursor_only_what_comes_next(polling, chat, streams):
    chat.send("ana", "before")
    stream = streams(polling.port)
    time.sleep(0.1)
    chat.board.post("bob", "after")
    assert [json.loads(e.data)["text"] for e in stream.events(1)] == ["after"]


def test_last_event_id_resumes_after_a_dropped_connection(polling, chat, streams):
    for n in range(2):
        chat.board.post("ana", f"m{n}")
    first = streams(polling.port, "?after=0")
    assert ids(first.events(2)) == [1, 2]
    first.close()  # dropped
    for n in range(2, 4):
        chat.board.post("ana", f"m{n}")
    again = streams(polling.port, "?after=0", {"Last-Event-ID": first.parser.last_id})  # as EventSource does
    assert ids(again.events(2)) == [3, 4]  # the header wins over the URL's first cursor


def test_last_event_id_resumes_across_a_restart_with_the_board_kept(streams):
    chat = Chat()
    twins = Twins(chat)
    try:
        stream = streams(twins.polling.port, "?after=0")
        chat.board.post("ana", "before")
        got = ids(stream.events(1))
        port = twins.polling.port
        twins.stop()
        assert stream.rfile.read() == b""  # the stream ends cleanly (and promptly) when the server stops
        chat.board.post("ana", "while it was down")
        twins = Twins(chat, polling_port=port)
        chat.board.post("ana", "after the restart")
        again = streams(port, "", {"Last-Event-ID": stream.parser.last_id})
        got += ids(again.events(2))
        assert got == [1, 2, 3]
    finally:
        twins.stop()


def test_a_cursor_from_a_board_restarted_empty_starts_again_from_its_first_message(polling, chat, streams):
    chat.board.post("ana", "the only one")
    stream = streams(polling.port, "", {"Last-Event-ID": "50"})
    restarted, first = stream.events(2)
    assert (restarted.type, json.loads(restarted.data)) == ("restarted", {"last_id": 1})
    assert ids([first]) == [1]


@pytest.mark.parametrize("named", ["", "Xy3_kQ9a"], ids=["none-yet", "a-board-gone"])
def test_a_stream_naming_another_board_gets_this_board_named_then_its_first_message_on(polling, chat, streams, named):
    """What a browser's EventSource sends when it reconnects by itself to a server restarted with a new board whose
    ids have passed its Last-Event-ID (6): the URL, with the old board in it, and the header. The stream names this
    board first and starts from its first message."""
    for n in range(4):
        chat.send("ana", f"on the new board #{n}")  # ids 1-8
    stream = streams(polling.port, f"?after=2&board={named}", {"Last-Event-ID": "6"})
    expected = (b"retry: 2000\n\n" + f'event: board\ndata: {{"board": "{chat.board.identity}"}}\n\n'.encode()
                + b"".join(f"id: {m.id}\ndata: {m.encoded}\n\n".encode() for m in chat.board.after(0)))
    assert stream.rfile.read(len(expected)) == expected


def test_a_stream_naming_this_board_resumes_after_last_event_id(polling, chat, streams):
    for n in range(4):
        chat.send("ana", f"m{n}")
    stream = streams(polling.port, f"?after=2&board={chat.board.identity}", {"Last-Event-ID": "6"})
    assert stream.rfile.read(len(b"retry: 2000\n\nid: 7\n")) == b"retry: 2000\n\nid: 7\n"


def test_a_cursor_before_what_the_board_keeps_gets_missed_first(streams):
    chat = Chat(MessageBoard(keep=3))
    for n in range(8):
        chat.board.post("ana", str(n))
    with RunningServer(polling_server.create_app(chat)) as server:
        stream = streams(server.port, "?after=0")
        missed, *rest = stream.events(4)
        assert (missed.type, json.loads(missed.data)) == ("missed", {"count": 5, "first_id": 6})
        assert ids(rest) == [6, 7, 8]


def test_an_idle_stream_carries_a_heartbeat(chat, streams):
    app = polling_server.create_app(chat)
    app.config["SSE_HEARTBEAT"] = 0.1
    with RunningServer(app) as server:
        stream = streams(server.port)
        assert stream.rfile.read(len(b"retry: 2000\n\n: still here\n\n: still here\n\n")) == (
            b"retry: 2000\n\n: still here\n\n: still here\n\n")


@pytest.mark.parametrize("query, headers, status, code", [
    ("?after=abc", {}, 400, "invalid_after"),
    ("?after=" + "9" * 5000, {}, 400, "invalid_after"),
    ("", {"Last-Event-ID": "abc"}, 400, "invalid_last_event_id"),
    ("?after=0&board=a%20b", {}, 400, "invalid_board"),
    ("?client=no spaces", {}, 400, "invalid_client"),
    ("", {"Origin": "http://elsewhere.example"}, 403, "forbidden_origin"),
])
def test_bad_streams_are_refused_like_every_other_request(polling, chat, query, headers, status, code):
    response = requests.get(f"{polling.url}/api/events{query}", headers=headers, timeout=5)
    assert response.status_code == status and response.json()["error"] == code
    assert chat.board.last_id == 0


def test_a_stream_is_billed_to_its_client(polling, chat, streams):
    stream = streams(polling.port, "?after=0&client=sse-test")
    chat.board.post("ana", "billed")
    stream.events(1)
    report = requests.get(f"{polling.url}/api/status", params={"clients": "sse-test"}, timeout=5).json()
    account = report["clients"]["sse-test"]
    assert account["requests"] == 1 and account["connections"] == 1
    assert account["bytes_from_client"] > 0 and account["bytes_to_client"] > 0
