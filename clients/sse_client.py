"""Chat over Server-Sent Events from the terminal, with ``requests``: the third way.

    python -m clients.sse_client                      # interactive chat
    python -m clients.sse_client --once "How are you?"
    python -m clients.sse_client --url https://127.0.0.1:8001 --ca .tls/ca.pem   # python -m servers --tls

One long HTTP response (GET /api/events on the polling server) carries every message to us
the moment it is stored, as a WebSocket would; what we say still goes up as a POST, as it
does over polling, with ``polling_client.send``.
Compare with ``polling_client.py`` and ``websocket_client.py``: the same functions in the same order (what
the three share is in ``terminal.py``), so ``diff`` shows only the transport.
"""

import argparse
import json
import sys
import threading
import time

import requests
import urllib3

from clients import tls, wire
from clients.backoff import Backoff
from clients.polling_client import URL, send  # the polling server serves the stream, and takes what we say
from clients.terminal import missed, new_board, new_session, send_typed_lines, show

STREAM_TIMEOUT = 40  # seconds without a byte before we give the stream up (the server's heartbeat comes every 15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.sse_client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL, help="the polling server, which serves the stream")
    parser.add_argument("--name", default="sse-client", help="your name in the chat")
    parser.add_argument("--once", metavar="TEXT", help="send TEXT, print the server's reply, exit")
    tls.add_argument(parser)
    args = parser.parse_args(argv)
    session = new_session(args.ca)  # one keep-alive connection for what we send
    try:
        if args.once is not None:  # even --once "": the server, not an empty string, says what is wrong
            print(ask(session, args.url, args.name, args.once))
            return 0
        return chat(session, args.url, args.name, args.ca)
    except (requests.RequestException, RuntimeError, TimeoutError) as error:
        print(f"error: {tls.describe(error)}", file=sys.stderr)
        return 1


def ask(session: requests.Session, url: str, name: str, text: str, timeout: float = 10) -> str:
    """Open the stream, send one message, and wait for the server's reply to it on the stream."""
    with connect(session, url) as response:
        sent = send(session, url, name, text)
        deadline = time.monotonic() + timeout
        for event in receive(response):
            if event.type == "message" and json.loads(event.data)["reply_to"] == sent["id"]:
                return json.loads(event.data)["text"]
            if time.monotonic() > deadline:
                break
    raise TimeoutError("no reply from the server")


def connect(session: requests.Session, url: str, board: str | None = None,
            last_id: str | None = None) -> requests.Response:
    """GET /api/events: the answer's body never ends, so requests hands it over as it arrives (stream=True).
    ``last_id`` goes as Last-Event-ID, as EventSource sends it when it reconnects: the stream starts after it,
    on ``board`` ("" for none yet; None names none). Without it, the stream carries what comes next."""
    headers = {} if last_id is None else {"Last-Event-ID": last_id}
    response = session.get(f"{url}/api/events", params={"board": board}, headers=headers,
                           stream=True, timeout=(10, STREAM_TIMEOUT))  # requests leaves out a parameter that is None
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.json()['message']}")
    return response


def receive(response: requests.Response, parser: wire.EventParser | None = None):
    """The events of a stream, one by one, as they arrive (the parser keeps the last id and the retry hint).

    ``read1`` hands over whatever bytes have arrived: ``iter_lines`` would wait for a full buffer
    of 512 bytes before giving up a single line, and an event would sit there until the next ones came.
    """
    parser, pending = parser or wire.EventParser(), b""
    while chunk := response.raw.read1(65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if (event := parser.feed(line.rstrip(b"\r").decode())) is not None:
                yield event


def follow(url: str, stop: threading.Event, after: int = 0, on_message=show, board: str | None = None,
           ca: str | None = None) -> None:
    """Show every message the stream carries. When it ends or breaks, reconnect after a growing, random
    wait (see backoff.py) with the last id seen as Last-Event-ID, as a browser's EventSource does, and the
    board that id belongs to (``board``: "" for none yet; None names none). A ``board`` event says the server's
    board is another one (it restarted with a new one): the stream goes on from that board's first message."""
    parser, backoff = wire.EventParser(), Backoff()
    parser.last_id = str(after)
    with new_session(ca) as session:  # verifying https:// against ca, a CA file (None: the system's)
        while not stop.is_set():
            try:
                with connect(session, url, board, parser.last_id) as response:
                    backoff.reset()
                    for event in receive(response, parser):
                        if event.type == "board":  # not the board we named: it restarted, and starts from its first
                            board, after = new_board(board, json.loads(event.data)["board"])
                            parser.last_id = str(after)
                        elif event.type == "missed":
                            missed(json.loads(event.data))
                        elif event.type == "message":
                            on_message(json.loads(event.data))
                        if stop.is_set():
                            return
            except (requests.RequestException, urllib3.exceptions.HTTPError, RuntimeError) as error:
                print(f"[stream failed: {error}]", file=sys.stderr)  # urllib3's: silent for STREAM_TIMEOUT s, or cut
            delay = backoff.next_delay()
            print(f"[stream ended; reconnecting in {delay:.1f} s]", file=sys.stderr)
            stop.wait(delay)


def chat(session: requests.Session, url: str, name: str, ca: str | None = None) -> int:
    stop = threading.Event()
    print(f"Connected to {url} by Server-Sent Events. Type a message and press Enter; Ctrl-D to quit.")
    threading.Thread(target=follow, args=(url, stop), kwargs={"board": "", "ca": ca},
                     daemon=True).start()  # from the first message, no board known yet
    send_typed_lines(lambda text: send(session, url, name, text))
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
