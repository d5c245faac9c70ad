"""What both servers do the same way over plain HTTP, so the transport modules hold only what differs.

Both apps start from ``create_app`` here: it checks the ``Origin`` of every
request, bills requests to the page that names itself (``?client=``, see
``meter.py``), serves the browser pages, the status read-out the pages use for
time sync and byte counts, the ticker switch, and gives every error the same
JSON shape: ``{"error": CODE, "message": "..."}``.
"""

import hmac
from pathlib import Path

from flask import Flask, current_app, g, request, send_from_directory
from werkzeug.exceptions import HTTPException

from . import process
from .board import BoardUnavailable
from .chat import BadInput, Chat, parse_json, read_after, read_board, read_client, read_ticker
from .origins import host_allowed, is_loopback, origin_allowed

PAGES = Path(__file__).with_name("pages")  # plain files: no CDN, they work offline
REPORTED = 16  # clients /api/status reports on at once: the side-by-side page asks for its three
PROXY_TOKEN_HEADER = "X-Proxy-Token"  # what the cluster's nginx adds to every request it passes on (see Proxy)
STATUS = {"malformed_json": 400, "invalid_after": 400, "invalid_board": 400, "invalid_wait": 400,
          "invalid_client": 400, "invalid_key": 400, "invalid_handshake": 400, "invalid_last_event_id": 400,
          "forbidden_origin": 403, "forbidden_host": 403, "teacher_only": 403, "unsupported_media_type": 415,
          "too_many_messages": 429}
# every other BadInput is 422 Unprocessable Content: well-formed JSON with a value we refuse


def create_app(name: str, chat: Chat | None, *, transport: str, landing_page: str, twin_port: int | None,
               allowed_origins) -> Flask:
    app = Flask(name)
    app.config.update(TRANSPORT=transport, LANDING_PAGE=landing_page, TWIN_PORT=twin_port,
                      ALLOWED_ORIGINS=frozenset(allowed_origins), PROXY=None)  # PROXY: set by Twins behind nginx
    app.extensions["chat"] = chat or Chat()
    app.before_request(refuse_foreign_origin)
    app.before_request(count_client)
    app.add_url_rule("/", "landing", landing)
    app.add_url_rule("/pages/<path:name>", "page_file", page_file)
    app.add_url_rule("/api/status", "status", status)
    app.add_url_rule("/api/ticker", "switch_ticker", switch_ticker, methods=["POST"])
    app.register_error_handler(BadInput, refuse)
    app.register_error_handler(HTTPException, refuse_http)
    app.register_error_handler(BoardUnavailable, board_unavailable)
    return app


def refuse_foreign_origin() -> None:
    """Requests and handshakes from a page of another site get 403, before anything else happens."""
    if not host_allowed(request.host, current_app.config["ALLOWED_ORIGINS"]):
        raise BadInput("forbidden_host", f"reach this server by its IP address or localhost, not {request.host}")
    proxy = current_app.config["PROXY"]
    scheme = "https" if request.scheme == "https" or (proxy is not None and proxy.tls) else "http"  # as reached
    if not origin_allowed(request.origin, request.host, current_app.config["TWIN_PORT"],
                          current_app.config["ALLOWED_ORIGINS"], scheme):
        raise BadInput("forbidden_origin", f"pages from {request.origin} may not use this server")


def count_client() -> None:
    """A request carrying ``?client=<id>`` is billed to that page's account (see meter.py), kept as
    ``g.account`` for the views that deliver messages to count them; a control request, to its control part.
    How to bill it, each view says itself (``receives``, ``control``), so no name of a view is written here."""
    if "client" in request.args:
        client = read_client(request.args["client"])
        view = current_app.view_functions.get(request.endpoint)  # None for a request no route matched
        g.account = current_app.extensions["chat"].meter.attach(request.environ.get("werkzeug.socket"), client,
                                                                receiving(view), control=is_control(view),
                                                                address=client_address())


def receives(transport):
    """Declare that a view delivers messages, and by which transport, as the class view names it: ``transport``
    ("websocket", "sse"), or a function that names it for the request at hand (a poll is short or long by what it
    asks). Its requests are billed to that transport; a view that declares none (a send) leaves the client's."""
    def declare(view):
        view.receives = transport  # functools.wraps, as websocket_connection.websocket_view uses it, keeps it
        return view
    return declare


def control(view):
    """Declare a view one of a page's control requests, what it asks besides its messages (its figures, the
    class's mode): billed apart from what its transport costs (see meter.py)."""
    view.control = True
    return view


def receiving(view) -> str | None:
    """How a request to ``view`` receives messages, as the view declares it; None for one that does not (a send)."""
    transport = getattr(view, "receives", None)
    return transport() if callable(transport) else transport


def is_control(view) -> bool:
    return getattr(view, "control", False)


def delivered(count: int) -> None:
    """``count`` messages go to the client this request is billed to, if any (the class view shows them)."""
    if g.get("account") is not None:
        g.account.deliver(count)


def requested_cursor(newest: int) -> int:
    """Where a stream starts: after ``?after=N``, else after ``newest`` (only what comes next)."""
    return read_after(request.args["after"]) if "after" in request.args else newest


def named_board() -> str | None:
    """The board the client names with ``?board=`` (its cursor's; "" for none yet), or None when it names none."""
    return read_board(request.args["board"]) if "board" in request.args else None


def read_json():
    """The JSON body of a request, or the documented refusal."""
    if not request.is_json:
        raise BadInput("unsupported_media_type", "send JSON with Content-Type: application/json")
    return parse_json(request.get_data())


def landing():
    """/: the polling server opens on the side-by-side page, the WebSocket server on its chat page."""
    return send_from_directory(PAGES, current_app.config["LANDING_PAGE"])


def page_file(name: str):
    """/pages/<name>: the browser pages, plain files from servers/pages/."""
    return send_from_directory(PAGES, name)


@control
def status():
    """GET /api/status[?clients=a,b]: server clock, twin port, ticker, what each client cost, and what the
    server process costs (both twins run in one process under ``python -m servers``, so they report the same)."""
    names = [name for name in request.args.get("clients", "").split(",", REPORTED) if name]  # split no further
    if len(names) > REPORTED:
        raise BadInput("invalid_client", f"\"clients\" names {REPORTED} clients at most")
    clients = [read_client(name) for name in names]
    report = current_app.extensions["chat"].status(clients)
    return {**report, "transport": current_app.config["TRANSPORT"], "twin_port": current_app.config["TWIN_PORT"],
            "process": process.usage()}


def switch_ticker():
    """POST /api/ticker {"interval": seconds} starts server-originated events; {"interval": null} stops them.
    From this machine only: in a classroom, one student's ticker at 0.1 s would flood every page."""
    chat = current_app.extensions["chat"]
    require_teacher("only the machine the servers run on may start or stop the ticker")
    interval = read_ticker(read_json())
    if interval is None:
        chat.stop_ticker()
    else:
        chat.start_ticker(interval)
    return {"ticker": chat.ticker_interval}


def require_teacher(message: str) -> None:
    """Refuse (403 teacher_only, with ``message``) a request that does not come from the teacher's machine."""
    if not from_this_machine():
        raise BadInput("teacher_only", message)


def from_this_machine() -> bool:
    """The request comes from a loopback address: from the teacher's own machine (no one else can send from
    one; students reach the server through the network)."""
    return is_loopback(client_address())


def client_address() -> str:
    """Where the request comes from: its TCP peer, or, for a request the cluster's own nginx passed on, the
    address nginx saw (its ``X-Real-IP``). nginx's word is taken only when the peer is loopback (nginx runs on
    this machine) and the request carries the secret nginx was given with the nodes (``Proxy.token``): any
    other client can write those headers, and its own address is what counts."""
    peer, proxy = request.remote_addr or "", current_app.config["PROXY"]
    token = request.headers.get(PROXY_TOKEN_HEADER, "").encode("utf-8", "replace")  # any bytes a client sent
    if proxy is not None and proxy.token and is_loopback(peer) and hmac.compare_digest(token, proxy.token.encode()):
        return request.headers.get("X-Real-IP", "")
    return peer


def refuse(error: BadInput):
    """The refusal in the JSON shape of every error; with ``Retry-After`` when the same request may be taken later."""
    retry = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    return error.to_json(), STATUS.get(error.code, 422), retry


def board_unavailable(error: BoardUnavailable):
    """The board's store (Redis) cannot be reached: 503, and the client tries again in a second."""
    current_app.logger.warning("%s", error)
    return ({"error": "board_unavailable", "message": "the message board is unavailable right now: try again"},
            503, {"Retry-After": "1"})


def refuse_http(error: HTTPException):
    """404, 405, 413...: the same JSON shape as every other error."""
    code = {413: "body_too_large"}.get(error.code, error.name.lower().replace(" ", "_"))
    allow = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    return {"error": code, "message": error.description}, error.code, allow
