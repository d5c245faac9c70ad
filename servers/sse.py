"""Server-Sent Events: the third way. One long HTTP response that the server keeps writing to.

``GET /api/events`` answers ``text/event-stream`` and never finishes: every message
stored on the board is written to it as an event whose id is the message's id::

    id: 7
    data: {"id":7,"author":"ana","text":"How are you?","time":1764093600.12,"reply_to":null}
    (an empty line ends the event)

A browser's ``EventSource`` reconnects by itself when the stream ends and sends the last
id it received as the ``Last-Event-ID`` header, so the server resumes right after it:
nothing lost, nothing twice (``?after=N`` does the same for a first connection). The URL,
which EventSource cannot change, names the board those ids belong to (``&board=B``): a
server whose board is another one (it restarted) says so first and starts from its first
message, and the page opens a stream naming the new board. A comment
line every 15 s keeps proxies from closing an idle stream and tells the server whether the
client is still there. Messages still reach the server by ``POST /api/messages``: SSE pushes
one way only. It lives on the polling server because it is plain HTTP; ``polling_server.py``
registers it.
"""

import json

from flask import Flask, Response, current_app, g, request

from . import web
from .board import Message, other_board
from .broadcast import Broadcaster, Mailbox, catch_up
from .chat import BadInput, read_after

HEARTBEAT = 15  # seconds between comment lines on an idle stream
RETRY = 2000  # milliseconds: how long EventSource should wait before reconnecting (the stream's retry: field)
COMMENT = b": still here\n\n"  # a heartbeat: lines starting with ':' are comments, ignored by EventSource


def register(app: Flask) -> None:
    app.config.update(SSE_HEARTBEAT=HEARTBEAT)  # seconds; a test or a measurement may shorten it
    board = app.extensions["chat"].board
    app.extensions["sse"] = Broadcaster(board, event, name="sse-broadcaster")
    app.add_url_rule("/api/events", "stream_events", stream_events)


def event(message: Message) -> bytes:
    """A stored message as one event: built once by the broadcaster, however many streams carry it."""
    return f"id: {message.id}\ndata: {message.encoded}\n\n".encode()


def notice(name: str, data: dict) -> bytes:
    """An event of its own type (``board``, ``restarted``, ``missed``): EventSource hands it to listeners of that
    name."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


@web.receives("sse")
def stream_events():
    """GET /api/events[?after=N][&board=B]: the board's messages after the cursor, then every new one, as events."""
    board = current_app.extensions["chat"].board
    broadcaster = current_app.extensions["sse"]
    heartbeat = current_app.config["SSE_HEARTBEAT"]
    newest = board.last_id
    after = cursor(newest)
    named = web.named_board()
    news = other_board(board, named)  # the cursor is from another board (the server restarted), or none
    restarted = named is None and after > newest  # a client that names no board, its cursor past the newest id
    account = g.get("account")  # the client this stream is billed to, if any: told what reaches it

    def events():
        """Runs after the view has returned, while the server writes each chunk it yields (see serving.py)."""
        mailbox = Mailbox()
        mailbox.account = account
        start = 0 if news is not None or restarted else after  # EventSource cannot change its URL: the server
        with broadcaster.subscription(mailbox, start) as caught_up_to:  # starts it again, from the first message
            yield f"retry: {RETRY}\n\n".encode()
            if news is not None:
                yield notice("board", {"board": news})
            if restarted:
                yield notice("restarted", {"last_id": caught_up_to})
            for missing, messages in catch_up(board, start, caught_up_to):
                if missing:
                    yield notice("missed", missing)
                yield b"".join(event(message) for message in messages)
                mailbox.delivered(len(messages))
            while True:
                with mailbox.wakeup:
                    mailbox.wakeup.wait_for(lambda: mailbox.items or mailbox.ended, heartbeat)
                    items, ended = mailbox.take(), mailbox.ended
                if ended:  # fell behind, the server is stopping, the board is unavailable: the stream ends,
                    return  # and EventSource comes back with Last-Event-ID
                yield b"".join(items) if items else COMMENT
                mailbox.delivered(len(items))

    return Response(events(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # no proxy may hold events


def cursor(newest: int) -> int:
    """Where the stream starts: after the Last-Event-ID the browser resends on reconnecting, else after
    ``?after=N``, else after the newest message (only what comes next)."""
    if "Last-Event-ID" in request.headers:
        try:
            return read_after(request.headers["Last-Event-ID"])
        except BadInput:
            raise BadInput("invalid_last_event_id", "Last-Event-ID must be the id of a message: a whole number")
    return web.requested_cursor(newest)
