"""The seed article's chat on Flask, over a WebSocket: the first read, before ../websocket_server.py.

One connection stays open and either side speaks when it likes. A client connects to ``/ws`` (flask-sock)
and sends each message as a text frame; the server pushes every message, then its reply, to every client
connected, the moment it arrives, and keeps none: who connects later hears only what comes next.
``diff polling_chat.py websocket_chat.py`` shows the transport.
"""

import threading
from pathlib import Path

from flask import Flask, send_file
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .seed import answer  # the seed's feature: every message, then the server's reply

PAGE = Path(__file__).with_suffix(".html")  # the page with the seed's "How are you?" button, beside this file


def create_app() -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/", "page", lambda: send_file(PAGE))
    clients = set()  # every open connection: the server reaches each one the moment a message arrives
    lock = threading.Lock()  # guards ``clients``; one message, and its reply, pushed at a time

    @Sock(app).route("/ws")
    def converse(ws):
        with lock:
            clients.add(ws)
        try:
            while True:  # until the client leaves: then receive() raises ConnectionClosed, which flask-sock expects
                messages = answer(ws.receive())
                with lock:
                    for client in clients:
                        try:
                            for message in messages:
                                client.send(message)
                        except ConnectionClosed:  # it is leaving: its own converse takes it off the set
                            pass
        finally:
            with lock:
                clients.discard(ws)

    return app
