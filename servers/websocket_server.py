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
from pathlib import Path

from flask import Flask, current_app, g, request, send_from_directory
from flask_sock import ConnectionClosed, Sock
from werkzeug.exceptions import HTTPException

from .chat import BadInput, Chat, parse_json, read_after, read_client, read_new_message, read_ticker
from .origins import origin_allowed

MAX_BODY = 16 * 1024  # bytes in one chat frame, as the polling server's request body
PAGES = Path(__file__).with_name("pages")  # the browser pages both servers serve
ECHO_MAX = 1024 * 1024  # bytes in one /echo message
CLOSE_TIMEOUT = 2  # seconds we wait for the peer's half of the closing handshake
# Close codes (RFC 6455 section 7.4.1) for errors after which the connection cannot go on.
UNSUPPORTED_DATA, MESSAGE_TOO_BIG = 1003, 1009  # 1007 (invalid UTF-8) is sent by wsproto itself
# How a connection ends under our feet: a Close frame, or a peer that vanished mid-send (reset, broken pipe).
GONE = (ConnectionClosed, OSError)


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY, ping_interval: float | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(SOCK_SERVER_OPTIONS={"max_message_size": ECHO_MAX, "ping_interval": ping_interval},
                      MAX_BODY=max_body, TWIN_PORT=twin_port, ALLOWED_ORIGINS=frozenset(allowed_origins))
    app.extensions["chat"] = chat or Chat()
    app.before_request(refuse_foreign_origin)
    app.before_request(refuse_broken_handshake)
    app.before_request(count_client)
    sock = Sock(app)
    sock.route("/ws")(converse)
    sock.route("/echo")(echo)
    app.add_url_rule("/ws", "upgrade_required", upgrade_required)
    app.add_url_rule("/echo", "upgrade_required", upgrade_required)
    app.add_url_rule("/", "landing", landing)
    app.add_url_rule("/pages/<path:name>", "page_file", page_file)
    app.add_url_rule("/api/status", "status", status)
    app.add_url_rule("/api/ticker", "control_ticker", control_ticker, methods=["POST"])
    app.register_error_handler(BadInput, refuse)
    app.register_error_handler(HTTPException, refuse_http)
    return app


def refuse_foreign_origin() -> None:
    """Handshakes from a page of another site get 403, before any upgrade."""
    if not origin_allowed(request.origin, request.host, current_app.config["TWIN_PORT"],
                          current_app.config["ALLOWED_ORIGINS"]):
        raise BadInput("forbidden_origin", f"pages from {request.origin} may not use this server")


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
    chat = current_app.extensions["chat"]
    sending = threading.Lock()  # frames from two threads must not interleave
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
        kind = request_.get("type") if isinstance(request_, dict) else None
        if kind != "send":
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
    """Push every message after ``after`` as it arrives, until the connection closes."""
    try:
        while ws.connected:
            for message in board.wait_after(after, timeout=1.0):
                send_json(ws, sending, {"type": "message", "message": message.to_json()})
                after = message.id
    except GONE:
        pass


def echo(ws) -> None:
    """/echo: every message back unchanged, text or binary."""
    sending = threading.Lock()
    try:
        while True:
            data = ws.receive()
            with sending:
                ws.send(data)
    except GONE:
        pass
    finish_close(ws, sending)


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
    if ws.thread.is_alive():  # the peer never answered: cut the connection
        ws.sock.shutdown(socket.SHUT_RDWR)
        return
    try:
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


def count_client() -> None:
    """A request carrying ``?client=<id>`` is billed to that page's account (see meter.py)."""
    if "client" in request.args:
        client = read_client(request.args["client"])
        current_app.extensions["chat"].meter.attach(request.environ.get("werkzeug.socket"), client)


def landing():
    """/: the article's page over WebSocket (the side-by-side page lives on the polling twin)."""
    return send_from_directory(PAGES, "websocket.html")


def page_file(name: str):
    """/pages/<name>: the browser pages, plain files from servers/pages/ (no CDN, work offline)."""
    return send_from_directory(PAGES, name)


def status():
    """GET /api/status[?clients=a,b]: server clock, twin port, ticker, and what each client cost."""
    clients = [read_client(client) for client in request.args.get("clients", "").split(",") if client]
    report = current_app.extensions["chat"].status(clients)
    return {**report, "transport": "websocket", "twin_port": current_app.config["TWIN_PORT"]}


def control_ticker():
    """POST /api/ticker {"interval": seconds} starts server-originated events; {"interval": null} stops them."""
    chat = current_app.extensions["chat"]
    if not request.is_json:
        raise BadInput("unsupported_media_type", "send JSON with Content-Type: application/json")
    interval = read_ticker(parse_json(request.get_data()))
    if interval is None:
        chat.stop_ticker()
    else:
        chat.start_ticker(interval)
    return {"ticker": chat.ticker_interval}


def refuse(error: BadInput):
    return error.to_json(), {"forbidden_origin": 403}.get(error.code, 400)


def refuse_http(error: HTTPException):
    """404, 405...: the same JSON shape as every other error."""
    code = error.name.lower().replace(" ", "_")
    allow = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    return {"error": code, "message": error.description}, error.code, allow
