"""The chat over WebSockets: one connection, and either side speaks when it likes.

A client connects to ``/ws`` (or ``/ws?after=N`` to get what it missed since
id N: ``after=0`` is the whole history; without it, only what comes next), sends
``{"type": "send", "text": ...}`` frames, and the server pushes every new
message down the same connection the moment it is stored. ``/echo`` sends back
every frame unchanged: the reference for a bare round trip. Read this file
beside ``polling_server.py``: the functions have the same names in the same
order, so ``diff`` shows only the transport.
"""

import base64
import json
import socket
import threading

from flask import Flask, current_app, g, request
from flask_sock import ConnectionClosed, Sock

from . import web
from .serving import UPGRADED
from .chat import BadInput, Chat, parse_json, read_after, read_new_message

MAX_BODY = 16 * 1024  # bytes in one chat frame, as the polling server's request body
ECHO_MAX = 1024 * 1024  # bytes in one /echo message
CLOSE_TIMEOUT = 2  # seconds we wait for the peer's half of the closing handshake
# Close codes (RFC 6455 section 7.4.1) for errors after which the connection cannot go on.
UNSUPPORTED_DATA, MESSAGE_TOO_BIG = 1003, 1009  # 1007 (invalid UTF-8) is sent by wsproto itself
# How a connection ends under our feet: a Close frame, or a peer that vanished mid-send (reset, broken pipe).
GONE = (ConnectionClosed, OSError)


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY, ping_interval: float | None = None) -> Flask:
    app = web.create_app(__name__, chat, transport="websocket", landing_page="websocket.html",
                         twin_port=twin_port, allowed_origins=allowed_origins)
    app.config.update(SOCK_SERVER_OPTIONS={"max_message_size": ECHO_MAX, "ping_interval": ping_interval},
                      MAX_BODY=max_body)
    app.before_request(refuse_broken_handshake)
    sock = Sock(app)
    sock.route("/ws")(converse)
    sock.route("/echo")(echo)
    app.add_url_rule("/ws", "upgrade_required", upgrade_required)
    app.add_url_rule("/echo", "upgrade_required", upgrade_required)
    return app


def refuse_broken_handshake():
    """Check what RFC 6455 section 4.2.1 requires of a handshake, so a bad one gets a clear answer."""
    if request.url_rule is None or not request.url_rule.websocket:
        return None
    if request.headers.get("Sec-WebSocket-Version") != "13":
        error = BadInput("unsupported_version", "this server speaks WebSocket version 13 (RFC 6455)")
        return error.to_json(), 426, {"Sec-WebSocket-Version": "13"}
    try:
        key_ok = len(base64.b64decode(request.headers.get("Sec-WebSocket-Key", ""), validate=True)) == 16
    except ValueError:
        key_ok = False
    if not key_ok:
        raise BadInput("invalid_key", "Sec-WebSocket-Key must be 16 random bytes in base64")
    # The cursor is taken here, before the 101 goes out: whatever is posted once the client
    # knows it is connected must reach it, even without ?after=.
    board = current_app.extensions["chat"].board
    g.after = read_after(request.args["after"]) if "after" in request.args else board.last_id
    return None


def converse(ws) -> None:
    """/ws: push the board from one thread while this one answers what the client sends."""
    request.environ[UPGRADED] = True
    chat = current_app.extensions["chat"]
    sending = share_lock(ws, threading.Lock())  # frames from three threads must not interleave
    threading.Thread(target=read_messages, args=(ws, sending, chat.board, g.after), daemon=True).start()
    code, reason = 1000, None
    try:
        while code == 1000:
            code, reason = answer(ws, sending, chat, ws.receive())
    except GONE:
        pass
    finish_close(ws, sending, code, reason)


def answer(ws, sending, chat: Chat, data) -> tuple[int, str | None]:
    """Handle one frame from the client; a close code other than 1000 ends the connection."""
    if isinstance(data, bytes):
        return UNSUPPORTED_DATA, "binary frames are not accepted on /ws: send JSON text"
    if len(data.encode()) > current_app.config["MAX_BODY"]:
        return MESSAGE_TOO_BIG, f"frames on /ws are limited to {current_app.config['MAX_BODY']} bytes"
    try:
        request_ = parse_json(data)
        if not isinstance(request_, dict):
            raise BadInput("invalid_message", "expected a JSON object like {\"type\": \"send\", \"text\": ...}")
        if request_.get("type") != "send":
            raise BadInput("unknown_type", "expected {\"type\": \"send\", \"text\": ...}")
        send_json(ws, sending, send_message(chat, request_))
    except BadInput as error:
        send_json(ws, sending, {"type": "error", **error.to_json()})
    return 1000, None


def send_message(chat: Chat, request_: dict) -> dict:
    """{"type": "send", "text": ...}: store it. The reply goes on the board and is pushed."""
    author, text = read_new_message(request_, chat.max_text)
    message, _reply = chat.send(author, text)
    return {"type": "sent", "message": message.to_json()}


def read_messages(ws, sending, board, after: int) -> None:
    """The twin of polling's GET, run by the server for the client: a thread that pushes every
    message after ``after`` as it arrives, until the connection closes."""
    try:
        while ws.connected:
            for message in board.wait_after(after, timeout=1.0):
                send_json(ws, sending, {"type": "message", "message": message.to_json()})
                after = message.id
    except GONE:
        pass


def echo(ws) -> None:
    """/echo: every message back unchanged, text or binary."""
    request.environ[UPGRADED] = True
    sending = share_lock(ws, threading.Lock())
    try:
        while True:
            data = ws.receive()
            with sending:
                ws.send(data)
    except GONE:
        pass
    finish_close(ws, sending)


def share_lock(ws, sending: threading.Lock) -> threading.Lock:
    """Make simple_websocket's reader thread take our send lock too.

    That thread answers a Close (and pings) on its own. Without a shared lock,
    a message we push can be encoded before its Close reply and written after
    it: a data frame after the Close, which RFC 6455 forbids. The library has no
    hook for this, so we wrap its event handler, which encodes and writes them.
    """
    handle_events = ws._handle_events

    def handle_events_locked():
        with sending:
            return handle_events()

    ws._handle_events = handle_events_locked
    return sending


def send_json(ws, sending, payload: dict) -> None:
    with sending:
        ws.send(json.dumps(payload))


def finish_close(ws, sending, code: int = 1000, reason: str | None = None) -> None:
    """Finish the closing handshake, then close TCP, server first (RFC 6455 section 7.1.1).

    Once our FIN is sent, nothing else can reach the client on this connection,
    whatever the HTTP server does after the view returns.
    """
    with sending:
        if ws.connected:
            try:
                ws.close(code, reason)
            except OSError:  # the peer is gone already: nobody to say goodbye to
                pass
    ws.thread.join(CLOSE_TIMEOUT)  # the reader ends when the peer's Close (or EOF) arrives
    try:
        if ws.thread.is_alive():  # the peer never answered: cut the connection
            ws.sock.shutdown(socket.SHUT_RDWR)
            return
        ws.sock.shutdown(socket.SHUT_WR)
        ws.sock.settimeout(CLOSE_TIMEOUT)
        while ws.sock.recv(4096):  # read the peer's late Close, if any, until its FIN
            pass
    except OSError:
        pass


def upgrade_required():
    """A plain HTTP request to a WebSocket endpoint."""
    error = BadInput("upgrade_required", "this endpoint speaks WebSocket: connect with ws://")
    return error.to_json(), 426, {"Upgrade": "websocket", "Connection": "Upgrade"}
