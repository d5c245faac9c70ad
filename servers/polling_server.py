"""The chat over HTTP polling: the client asks, the server answers, and that is all.

A client sends with ``POST /api/messages`` and learns what is new by asking
``GET /api/messages?after=N`` again and again (short polling), or by asking
with ``&wait=S`` so the server holds the request open until something arrives
(long polling). Read this file beside ``websocket_server.py``: the functions
have the same names in the same order, so ``diff`` shows only the transport.
"""

from pathlib import Path

from flask import Flask, current_app, request, send_from_directory
from werkzeug.exceptions import HTTPException

from .chat import BadInput, Chat, parse_json, read_after, read_client, read_new_message, read_ticker, read_wait
from .origins import origin_allowed

MAX_BODY = 16 * 1024  # bytes in one request body
PAGES = Path(__file__).with_name("pages")  # the browser pages both servers serve
PAGE = 500  # messages in one response at most; ask again with the last id for more
STATUS = {"malformed_json": 400, "invalid_after": 400, "invalid_wait": 400, "forbidden_origin": 403,
          "unsupported_media_type": 415}  # every other BadInput is 422 Unprocessable Content


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=max_body, TWIN_PORT=twin_port, ALLOWED_ORIGINS=frozenset(allowed_origins))
    app.extensions["chat"] = chat or Chat()
    app.before_request(refuse_foreign_origin)
    app.before_request(count_client)
    app.after_request(allow_twin_pages)
    app.add_url_rule("/api/messages", "send_message", send_message, methods=["POST"])
    app.add_url_rule("/api/messages", "read_messages", read_messages, methods=["GET"])
    app.add_url_rule("/", "landing", landing)
    app.add_url_rule("/pages/<path:name>", "page_file", page_file)
    app.add_url_rule("/api/status", "status", status)
    app.add_url_rule("/api/ticker", "control_ticker", control_ticker, methods=["POST"])
    app.register_error_handler(BadInput, refuse)
    app.register_error_handler(HTTPException, refuse_http)
    return app


def refuse_foreign_origin() -> None:
    """Requests from a page of another site get 403 (browsers send an Origin header)."""
    if not origin_allowed(request.origin, request.host, current_app.config["TWIN_PORT"],
                          current_app.config["ALLOWED_ORIGINS"]):
        raise BadInput("forbidden_origin", f"pages from {request.origin} may not use this server")


def allow_twin_pages(response):
    """CORS: let the twin server's pages (e.g. the side-by-side page) call this API."""
    if request.origin:  # refuse_foreign_origin has already turned foreign origins away
        response.headers["Access-Control-Allow-Origin"] = request.origin
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.vary.add("Origin")
    return response


def send_message():
    """POST /api/messages {"text": ...}: store it. The reply goes on the board; poll to see it."""
    chat = current_app.extensions["chat"]
    if not request.is_json:
        raise BadInput("unsupported_media_type", "send JSON with Content-Type: application/json")
    author, text = read_new_message(parse_json(request.get_data()), chat.max_text)
    message, _reply = chat.send(author, text)
    return {"message": message.to_json()}, 201


def read_messages():
    """GET /api/messages?after=N[&wait=S]: short poll answers now; long poll waits up to S s."""
    board = current_app.extensions["chat"].board
    after = read_after(request.args.get("after", "0"))
    wait = read_wait(request.args.get("wait", "0"))
    messages = board.wait_after(after, wait, PAGE) if wait else board.after(after, PAGE)
    return {"messages": [message.to_json() for message in messages], "last_id": board.last_id}


def count_client() -> None:
    """A request carrying ``?client=<id>`` is billed to that page's account (see meter.py)."""
    if "client" in request.args:
        client = read_client(request.args["client"])
        current_app.extensions["chat"].meter.attach(request.environ.get("werkzeug.socket"), client)


def landing():
    """/: the side-by-side page, the demo's landing page (it talks WebSocket to the twin)."""
    return send_from_directory(PAGES, "side-by-side.html")


def page_file(name: str):
    """/pages/<name>: the browser pages, plain files from servers/pages/ (no CDN, work offline)."""
    return send_from_directory(PAGES, name)


def status():
    """GET /api/status[?clients=a,b]: server clock, twin port, ticker, and what each client cost."""
    clients = [read_client(client) for client in request.args.get("clients", "").split(",") if client]
    report = current_app.extensions["chat"].status(clients)
    return {**report, "transport": "polling", "twin_port": current_app.config["TWIN_PORT"]}


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
    return error.to_json(), STATUS.get(error.code, 422)


def refuse_http(error: HTTPException):
    """404, 405, 413...: the same JSON shape as every other error."""
    code = {413: "body_too_large"}.get(error.code, error.name.lower().replace(" ", "_"))
    allow = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    return {"error": code, "message": error.description}, error.code, allow
