"""The watchman: the one thread that finishes the writes of WebSocket connections whose own thread sleeps.

A thread race is rare by nature, so this test does not wait for one to happen: it holds the watchman at the moment
the race needs, and makes the other side happen right then, on a real server, with a real client and the real
broadcaster. The hooks wrap three of the server's own methods; they change when things happen, not what they do."""

import json
import threading

from servers import websocket_server
from servers.broadcast import Mailbox
from servers.serving import RunningServer
from servers.watchman import Watchman

from clients import wire
from conftest import eventually
from test_websocket_server import small_buffer_websocket

TEXT = "x" * 15000  # a push of about 15 kB


def test_a_push_that_fills_the_socket_as_the_watchman_lets_go_is_still_written(chat, monkeypatch):
    """The watchman has written everything a connection had waiting and looked at it once more: nothing waits, so
    it lets it go. Just then the broadcaster pushes a message that fills the socket again and hands the connection
    back to it. The connection's own thread sleeps until its client speaks, so if the watchman let go of it now,
    the rest of that push, and every push after it, would wait for ever, and so would the client."""
    letting_go, go_on, handed, offered = threading.Event(), threading.Event(), threading.Event(), []
    forget, watch, offer = Watchman.forget, Watchman.watch, Mailbox.offer

    def hold_the_watchman_then_forget(watchman, connection, **how):
        if threading.current_thread().name == watchman.name and not letting_go.is_set():
            letting_go.set()
            go_on.wait(30)  # the push happens now, between the watchman's look and its letting go
        forget(watchman, connection, **how)

    def watch_and_say_so(watchman, connection):
        watch(watchman, connection)
        if letting_go.is_set():
            handed.set()

    def offer_and_say_so(mailbox, message_id, item):
        offer(mailbox, message_id, item)  # written, or handed to the watchman, by the time it returns
        offered.append(message_id)

    monkeypatch.setattr(Watchman, "forget", hold_the_watchman_then_forget)
    monkeypatch.setattr(Watchman, "watch", watch_and_say_so)
    monkeypatch.setattr(Mailbox, "offer", offer_and_say_so)
    with RunningServer(websocket_server.create_app(chat)) as server:
        watchman = server.server.app.extensions["watchman"]
        sock, rfile = small_buffer_websocket(server.port, "/ws?client=slow")
        sock.settimeout(10)
        wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": "hi"}).encode())
        while json.loads(wire.read_frame(rfile).payload)["type"] != "sent":  # live: pushes go out as they come
            pass

        def push_until(condition) -> int:
            """Push one message at a time, each written (in part, at least) before the next, until ``condition()``
            (at most a thousand: 15 MB, more than the kernel buffers for one connection). Returns how many."""
            for count in range(1, 1001):
                message = chat.board.post("server", TEXT)
                assert eventually(lambda: message.id in offered, 5)
                assert chat.meter.report(["slow"])["slow"]["messages_delivered"] == message.id  # not left waiting
                if condition():
                    return count
            raise AssertionError("the socket never filled")

        first = push_until(lambda: watchman.watching)  # the socket is full: the watchman waits for room in it
        for _ in range(first):  # the client reads them all: the watchman writes the rest, looks again, lets go
            assert json.loads(wire.read_frame(rfile).payload)["message"]["text"] == TEXT
        assert letting_go.wait(5)
        second = push_until(handed.is_set)  # the socket is full again, and the connection handed back
        go_on.set()
        for _ in range(second):  # every push is written as the client makes room
            assert json.loads(wire.read_frame(rfile).payload)["message"]["text"] == TEXT
        rfile.close()
        sock.close()
