"""The chat over HTTP polling: the client asks, the server answers, and that is all.

A client sends with ``POST /api/messages`` and learns what is new by asking
``GET /api/messages?after=N`` again and again (short polling), or by asking
with ``&wait=S`` so the server holds the request open until something arrives
(long polling). Read this file beside ``websocket_server.py``: the functions
have the same names in the same order, so ``diff`` shows only the transport.
New here? ``minimal/polling_chat.py`` is the same chat in forty lines: read it
first; ``minimal/README.md`` says what this one adds, and why.
"""

import json

from flask import Flask, current_app, request

from . import sse, web
from .board import Message, missed_notice, other_board
from .chat import MAX_BODY, PAGE_SIZE, Chat, page_of, read_after, read_new_message, read_wait


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY) -> Flask:
    app = web.create_app(__name__, chat, transport="polling", landing_page="side-by-side.html",
                         twin_port=twin_port, allowed_origins=allowed_origins)
    app.config.update(MAX_CONTENT_LENGTH=max_body)
    app.after_request(allow_twin_pages)
    app.add_url_rule("/api/messages", "send_message", send_message, methods=["POST"])
    app.add_url_rule("/api/messages", "read_messages", read_messages, methods=["GET"])
    sse.register(app)  # GET /api/events: Server-Sent Events, plain HTTP too (see sse.py)
    return app


def allow_twin_pages(response):
    """CORS: let pages served by the twin server (and allowed origins) call this API from the browser."""
    if request.origin and response.status_code != 403:  # a 403 here is the refusal of a foreign origin
        response.headers["Access-Control-Allow-Origin"] = request.origin
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.vary.add("Origin")
    return response


def send_message():
    """POST /api/messages {"text": ...}: store it. The reply goes on the board; poll to see it."""
    chat = current_app.extensions["chat"]
    author, text = read_new_message(web.read_json(), chat.max_text)
    message, _reply = chat.send(author, text, sender=web.client_address())
    return {"message": message.to_json()}, 201


def how_it_polls() -> str:
    """How a GET /api/messages receives messages, as the class view names it: long polling when it asks to wait."""
    return "long polling" if read_wait(request.args.get("wait", "0")) else "short polling"


@web.receives(how_it_polls)
def read_messages():
    """GET /api/messages?after=N[&board=B][&wait=S]: short poll answers now; long poll waits up to S s."""
    board = current_app.extensions["chat"].board
    after = read_after(request.args.get("after", "0"))
    wait = read_wait(request.args.get("wait", "0"))
    named = web.named_board()
    news = other_board(board, named)
    if news is not None:  # the cursor is from another board (the server restarted), or none: this one from its start
        after, wait = 0, 0  # and now, not later: the client learns it at once
    elif named is None and after > board.last_id:  # a client that names no board, its cursor from an older board:
        wait = 0  # answer now, and the newest id, below its cursor, tells it
    messages = page_of(board.wait_after(after, wait, PAGE_SIZE) if wait else board.after(after, PAGE_SIZE))
    web.delivered(len(messages))  # to the client this request is billed to, for the class view
    return page(messages, board.last_id, missed_notice(after, messages), news)


def page(messages: list[Message], last_id: int, missing: dict | None, board: str | None):
    """{"messages": [...], "last_id": L}, plus "board" when the client named another board than this one (the
    messages then start from this board's first) and "missed" when the board no longer keeps some messages after
    the cursor. Built from each message's JSON, encoded once for every poll that returns it."""
    news = f',"board":{json.dumps(board)}' if board is not None else ""
    notice = f',"missed":{json.dumps(missing, separators=(",", ":"))}' if missing else ""
    body = f'{{"messages":[{",".join(message.encoded for message in messages)}],"last_id":{last_id}{news}{notice}}}'
    return current_app.response_class(body, mimetype="application/json")
