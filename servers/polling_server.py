"""The chat over HTTP polling: the client asks, the server answers, and that is all.

A client sends with ``POST /api/messages`` and learns what is new by asking
``GET /api/messages?after=N`` again and again (short polling), or by asking
with ``&wait=S`` so the server holds the request open until something arrives
(long polling). Read this file beside ``websocket_server.py``: the functions
have the same names in the same order, so ``diff`` shows only the transport.
"""

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from .chat import BadInput, Chat, parse_json, read_after, read_new_message, read_wait
from .origins import origin_allowed

MAX_BODY = 16 * 1024  # bytes in one request body
PAGE = 500  # messages in one response at most; ask again with the last id for more
STATUS = {"malformed_json": 400, "invalid_after": 400, "invalid_wait": 400, "forbidden_origin": 403,
          "unsupported_media_type": 415}  # every other BadInput is 422 Unprocessable Content


def create_app(chat: Chat | None = None, *, twin_port: int | None = None, allowed_origins=(),
               max_body: int = MAX_BODY) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=max_body, TWIN_PORT=twin_port, ALLOWED_ORIGINS=frozenset(allowed_origins))
    app.extensions["chat"] = chat or Chat()
    app.before_request(refuse_foreign_origin)
    app.after_request(allow_twin_pages)
    app.add_url_rule("/api/messages", "send_message", send_message, methods=["POST"])
    app.add_url_rule("/api/messages", "read_messages", read_messages, methods=["GET"])
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


def refuse(error: BadInput):
    return error.to_json(), STATUS.get(error.code, 422)


def refuse_http(error: HTTPException):
    """404, 405, 413...: the same JSON shape as every other error."""
    code = {413: "body_too_large"}.get(error.code, error.name.lower().replace(" ", "_"))
    allow = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    return {"error": code, "message": error.description}, error.code, allow
