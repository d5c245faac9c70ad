"""The chat over WebSockets: one connection, and either side speaks when it likes.

A client connects to ``/ws`` (or ``/ws?after=N&board=B`` to get what it missed since
id N of board B: ``after=0`` is the whole history; without it, only what comes next), sends
``{"type": "send", "text": ...}`` frames, and the server pushes every new
message down the same connection the moment it is stored. ``/echo`` sends back
every frame unchanged: the reference for a bare round trip. Read this file
beside ``polling_server.py``: the functions have the same names in the same
order, so ``diff`` shows only the transport. New here? ``minimal/websocket_chat.py``
is the same chat in forty lines, on flask-sock: read it first; ``minimal/README.md``
says what this one adds, and why.

One broadcaster per server (``broadcast.py``) follows the board and hands each
new message, encoded once, to every connection: it writes the frame itself when
the connection's socket has room, else the frame waits for whichever thread next
finds room (``websocket_connection.py``). The messages a client sends, and their
replies, its own thread pushes to it at once, with the "sent" answer.
"""

import base64
import json

from flask import Flask, current_app, g, request

from . import web
from .board import BoardUnavailable, Message, other_board
from .broadcast import BACKLOG, BOARD_UNAVAILABLE, Broadcaster, catch_up
from .chat import MAX_BODY, BadInput, Chat, parse_json, read_new_message
from .watchman import Watchman
from .websocket_connection import CloseCode, Connection, websocket_view

ECHO_MAX = 1024 * 1024  # bytes in one /echo message


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY, ping_interval: float | None = None, backlog: int = BACKLOG) -> Flask:
    app = web.create_app(__name__, chat, transport="websocket", landing_page="websocket.html",
                         twin_port=twin_port, allowed_origins=allowed_origins)
    app.config.update(WEBSOCKET={"ping_interval": ping_interval, "backlog": backlog}, MAX_BODY=max_body,
                      ECHO_MAX=ECHO_MAX)
    app.extensions["broadcaster"] = Broadcaster(app.extensions["chat"].board, push, name="websocket-broadcaster")
    app.extensions["watchman"] = Watchman()
    app.before_request(refuse_broken_handshake)
    app.add_url_rule("/ws", "converse", websocket_view(converse, limit="MAX_BODY"), websocket=True)
    app.add_url_rule("/echo", "echo", websocket_view(echo, limit="ECHO_MAX"), websocket=True)
    app.add_url_rule("/ws", "upgrade_required", upgrade_required)
    app.add_url_rule("/echo", "upgrade_required", upgrade_required)
    return app


def refuse_broken_handshake():
    """Check what RFC 6455 section 4.2.1 requires of a handshake, so a bad one gets a clear answer."""
    if request.url_rule is None or not request.url_rule.websocket:
        return None
    if request.method != "GET" or request.environ.get("SERVER_PROTOCOL") == "HTTP/1.0":
        raise BadInput("invalid_handshake", "a WebSocket handshake is a GET request in HTTP/1.1 or later (RFC 6455 "
                                            "section 4.1)")
    if request.headers.get("Sec-WebSocket-Version") != "13":
        error = BadInput("unsupported_version", "this server speaks WebSocket version 13 (RFC 6455)")
        return error.to_json(), 426, {"Sec-WebSocket-Version": "13", "Upgrade": "websocket"}
    try:
        key_ok = len(base64.b64decode(request.headers.get("Sec-WebSocket-Key", ""), validate=True)) == 16
    except ValueError:
        key_ok = False
    if not key_ok:
        raise BadInput("invalid_key", "Sec-WebSocket-Key must be 16 random bytes in base64")
    # The cursor is taken here, before the 101 goes out: whatever is posted once the client
    # knows it is connected must reach it, even without ?after=.
    board = current_app.extensions["chat"].board
    g.after = web.requested_cursor(board.last_id)  # an unavailable board (Redis down): 503, before the upgrade
    g.board = other_board(board, web.named_board())
    if g.board is not None:  # the cursor is from another board (the server restarted), or none: this one's start
        g.after = 0
    return None


@web.receives("websocket")
def converse(ws: Connection) -> None:
    """/ws: the broadcaster pushes every new message; meanwhile, answer what the client sends."""
    chat = current_app.extensions["chat"]
    ws.mailbox.account = g.get("account")  # told what reaches this client, for the class view (see meter.py)
    try:
        with current_app.extensions["broadcaster"].subscription(ws.mailbox, g.after) as caught_up_to:
            read_messages(ws, chat.board, g.after, caught_up_to, g.board)
            ws.caught_up()
            while (data := ws.receive()) is not None:
                code, reason = answer(ws, chat, data)
                if code != CloseCode.NORMAL_CLOSURE:
                    ws.close(code, reason)
                    return
    except BoardUnavailable:  # Redis went away: the client comes back later, from its last id
        ws.end(BOARD_UNAVAILABLE)


def answer(ws: Connection, chat: Chat, data) -> tuple[CloseCode, str | None]:
    """Handle one message from the client (at most MAX_BODY bytes: the connection refuses longer ones
    with 1009); a close code other than NORMAL_CLOSURE (1000) ends the connection."""
    if isinstance(data, bytes):
        return CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted on /ws: send JSON text"
    try:
        request_ = parse_json(data)
        if not isinstance(request_, dict):
            raise BadInput("invalid_message", "expected a JSON object like {\"type\": \"send\", \"text\": ...}")
        if request_.get("type") != "send":
            raise BadInput("unknown_type", "expected {\"type\": \"send\", \"text\": ...}")
        sent, pushes = send_message(chat, request_)
        ws.send(sent, own=pushes)
    except BadInput as error:
        ws.send(json.dumps({"type": "error", **error.to_json()}))
    return CloseCode.NORMAL_CLOSURE, None


def send_message(chat: Chat, request_: dict) -> tuple[str, list[tuple[int, str]]]:
    """{"type": "send", "text": ...}: store it. The reply goes on the board and is pushed: returns the
    "sent" frame, and the pushes (id, frame) of the message and its reply, which this client gets too."""
    author, text = read_new_message(request_, chat.max_text)
    message, reply = chat.send(author, text, sender=web.client_address())
    return event("sent", message), [(message.id, push(message)), (reply.id, push(reply))]


def read_messages(ws: Connection, board, after: int, up_to: int, news: str | None) -> None:
    """The twin of polling's GET, run by the server for the client: what was stored after ``after``, a page
    at a time, up to where the broadcaster takes over; first, this board's identity when the client named another
    one (``news``: the messages then start from this board's first), and how many the board no longer keeps, if any."""
    if news is not None:
        ws.send(json.dumps({"type": "board", "board": news}))
    for missing, messages in catch_up(board, after, up_to):
        if missing:
            ws.send(json.dumps({"type": "missed", "missed": missing}))
        for message in messages:
            if not ws.send(push(message)):
                return  # the client has gone
        ws.mailbox.delivered(len(messages))


def push(message: Message) -> str:
    """The frame for a stored message: built once per message by the broadcaster, whoever receives it."""
    return event("message", message)


def event(kind: str, message: Message) -> str:
    return f'{{"type":"{kind}","message":{message.encoded}}}'


def echo(ws: Connection) -> None:
    """/echo: every message back unchanged, text or binary."""
    while (data := ws.receive()) is not None:
        ws.send(data)


def upgrade_required():
    """A plain HTTP request to a WebSocket endpoint."""
    error = BadInput("upgrade_required", "this endpoint speaks WebSocket: connect with ws://")
    return error.to_json(), 426, {"Upgrade": "websocket", "Connection": "Upgrade"}
