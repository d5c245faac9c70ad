"""The seed article's chat on Flask, over HTTP polling: the first read, before ../polling_server.py.

The client asks and the server answers; the server never speaks first. A client sends a message with
``POST /messages`` (the text is the body) and learns what is new by asking ``GET /messages?after=N``, the
messages after the first N: answered at once (short polling), or, with ``&wait=S``, as soon as there is
one, within S seconds (long polling). ``diff polling_chat.py websocket_chat.py`` shows the transport.
"""

import threading
from pathlib import Path

from flask import Flask, request, send_file

from .seed import answer  # the seed's feature: every message, then the server's reply

PAGE = Path(__file__).with_suffix(".html")  # the page with the seed's "How are you?" button, beside this file


def create_app() -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/", "page", lambda: send_file(PAGE))
    messages: list[str] = []  # all of them, kept for the polls to come: the server cannot reach a client
    lock = threading.Condition()  # guards ``messages``; a long poll waits on it for the next one

    @app.post("/messages")
    def send():
        with lock:
            messages.extend(answer(request.get_data(as_text=True)))
            lock.notify_all()
            return {"after": len(messages) - 1}  # your message's number: ?after= it starts at the reply

    @app.get("/messages")
    def poll():
        after, wait = int(request.args.get("after", 0)), float(request.args.get("wait", 0))
        with lock:
            lock.wait_for(lambda: len(messages) > after, timeout=wait)
            return {"messages": messages[after:]}

    return app
