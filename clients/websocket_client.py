"""Chat over a WebSocket from the terminal, with the ``websockets`` library's threaded client.

    python -m clients.websocket_client                      # interactive chat
    python -m clients.websocket_client --once "How are you?"
    python -m clients.websocket_client --url wss://127.0.0.1:8002/ws --ca .tls/ca.pem   # python -m servers --tls

One connection stays open; the server pushes every message the moment it is stored.
Compare with ``polling_client.py`` and ``sse_client.py``: the same functions in the same order (what the
three share is in ``terminal.py``), so ``diff`` shows only the transport.
"""

import argparse
import json
import logging
import sys
import threading
import time

import websockets.sync.client
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection

from clients import tls
from clients.backoff import Backoff
from clients.terminal import missed, new_board, send_typed_lines, show

URL = "ws://127.0.0.1:8002/ws"  # the WebSocket server's chat, as python -m servers starts it
# How a connection that went silent (a pulled cable, a server's machine that froze) is noticed: it closes nothing,
# so only a ping that gets no pong tells. We ping every PING_INTERVAL s; PING_TIMEOUT s without the pong, the
# library sends its Close and waits CLOSE_TIMEOUT s for the server's (which never comes): then ``follow``
# reconnects, 30 to 50 s after the link went silent with these, the library's defaults.
PING_INTERVAL = 20
PING_TIMEOUT = 20
CLOSE_TIMEOUT = 10
# The library's log for our connections: it logs a traceback when a pong is late, and ``follow`` says so itself.
CONNECTION_LOG = logging.getLogger(__name__)
CONNECTION_LOG.addHandler(logging.NullHandler())  # printed only where the program sets up logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.websocket_client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL, help="the WebSocket endpoint")
    parser.add_argument("--name", default="websocket-client", help="your name in the chat")
    parser.add_argument("--once", metavar="TEXT", help="send TEXT, print the server's reply, exit")
    tls.add_argument(parser)
    args = parser.parse_args(argv)
    try:
        if args.once is not None:  # even --once "": the server, not an empty string, says what is wrong
            ws = connect(args.url, ca=args.ca)  # no ?after=: only what comes next, not the history
            try:
                print(ask(ws, args.name, args.once))
            finally:
                ws.close()
            return 0
        return chat(connect(args.url, 0, "", ca=args.ca), args.url, args.name, args.ca)  # the history, then live
    except (OSError, WebSocketException, RuntimeError, TimeoutError) as error:  # refused, closed, no reply
        print(f"error: {tls.describe(error)}", file=sys.stderr)
        return 1


def ask(ws: ClientConnection, name: str, text: str, timeout: float = 10) -> str:
    """Send one message and wait for the server to push its reply."""
    send(ws, name, text)
    sent_id, replies, deadline = None, {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = receive(ws, timeout=deadline - time.monotonic())
        if event is None:
            break
        if event["type"] == "sent":
            sent_id = event["message"]["id"]
        elif event["type"] == "message" and event["message"]["reply_to"] is not None:
            replies[event["message"]["reply_to"]] = event["message"]["text"]
        elif event["type"] == "error":
            raise RuntimeError(event["message"])
        if sent_id in replies:
            return replies[sent_id]
    raise TimeoutError("no reply from the server")


def send(ws: ClientConnection, name: str, text: str) -> None:
    """A "send" frame; the server answers "sent", then pushes the message and its reply to everyone, us too."""
    ws.send(json.dumps({"type": "send", "text": text, "author": name}))


def connect(url: str, after: int | None = None, board: str | None = None,
            max_queue: int | None = 16, ca: str | None = None) -> ClientConnection:
    """A WebSocket to ``url``, opened with the seed article's library (its client for threads, not asyncio).

    ``after`` and ``board`` ask for /ws?after=N&board=B: every message after id N of board B ("" for none yet),
    then live. A server whose board is another one (it restarted with a new one) names its own first and starts
    from its first message. ``board`` None names no board: the cursor is then taken as it is, even by a server
    that restarted empty; ``after`` None asks for only what comes next.
    Frames that arrive in the same read as the ``101`` (the history, with ``?after=``) are delivered at once.
    It answers the server's pings and sends its own every ``PING_INTERVAL`` s (above); it offers no
    permessage-deflate, so every frame on the wire is the plain one ``clients.bench`` counts.
    Past ``max_queue`` messages received and not yet taken, the library stops reading the socket until the
    program catches up; ``None`` reads everything as it comes, as a browser does, for a listener that takes
    nothing (the measurements'): its unread messages must not hold back the server's Close.
    A wss:// URL is verified against ``ca``, a CA file (None: the system's CAs).
    """
    if after is not None:
        url += f"?after={after}" + ("" if board is None else f"&board={board}")
    return websockets.sync.client.connect(url, compression=None, ping_interval=PING_INTERVAL,
                                          ping_timeout=PING_TIMEOUT, close_timeout=CLOSE_TIMEOUT,
                                          max_queue=max_queue, logger=CONNECTION_LOG, legacy=True,
                                          ssl=tls.context(ca) if url.startswith("wss:") else None)


def receive(ws: ClientConnection, timeout: float | None = None) -> dict | None:
    """The next event from the server, or None when none came within ``timeout`` seconds."""
    try:
        return json.loads(ws.recv(timeout=timeout))
    except TimeoutError:
        return None


def follow(ws: ClientConnection, url: str, stop: threading.Event, after: int = 0, on_message=show, connected=None,
           board: str | None = None, ca: str | None = None) -> None:
    """Show every message the server pushes. When the connection drops, reconnect after a growing, random
    wait (see backoff.py) and ask for what was missed with ?after= and ?board=, the board that id belongs to:
    nothing is lost, nothing shown twice. ``ws`` was opened with ``connect(url, after, board)``.
    ``connected(ws)`` hears of every new connection (the chat sends over the latest)."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            while not stop.is_set():
                event = receive(ws, timeout=1)  # now and then, look at ``stop``
                if event is None:
                    continue
                if event["type"] == "board":  # not the board we named: it restarted, and starts from its first
                    board, after = new_board(board, event["board"])
                elif event["type"] == "missed":
                    missed(event["missed"])
                elif event["type"] == "message":
                    on_message(event["message"])
                    after = event["message"]["id"]
                elif event["type"] == "error":
                    print(f"[error: {event['message']}]", file=sys.stderr)
        except ConnectionClosed:
            pass
        while not stop.is_set():  # the connection is gone: wait, then try again from the last id
            delay = backoff.next_delay()
            print(f"[connection lost; reconnecting in {delay:.1f} s]", file=sys.stderr)
            if stop.wait(delay):
                return
            try:
                ws = connect(url, after, board, ca=ca)
            except (OSError, WebSocketException):
                continue
            backoff.reset()
            if connected:
                connected(ws)
            break
    try:
        ws.close()
    except (ConnectionClosed, OSError):  # closed already, or its socket went away first: nothing left to close
        pass


def chat(ws: ClientConnection, url: str, name: str, ca: str | None = None) -> int:
    stop = threading.Event()
    link = [ws]  # the connection we send over: the follower replaces it when it reconnects

    def connected(new: ClientConnection) -> None:
        link[0] = new

    print(f"Connected to {url}. Type a message and press Enter; Ctrl-D to quit.")  # before the follower prints
    follower = threading.Thread(target=follow, args=(ws, url, stop),
                                kwargs={"connected": connected, "board": "", "ca": ca},
                                daemon=True)  # from the first message, no board known yet: connect(url, 0, "")
    follower.start()
    send_typed_lines(lambda text: send(link[0], name, text), lost=(ConnectionClosed,))
    stop.set()
    follower.join(2)  # it closes the connection
    return 0


if __name__ == "__main__":
    sys.exit(main())
