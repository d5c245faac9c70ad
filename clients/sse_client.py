"""Chat over Server-Sent Events from the terminal, with ``requests``: the third way.

    python -m clients.sse_client                      # interactive chat
    python -m clients.sse_client --once "How are you?"
    python -m clients.sse_client --url https://127.0.0.1:8001 --ca .tls/ca.pem   # python -m servers --tls

One long HTTP response (GET /api/events on the polling server) carries every message to us
the moment it is stored, as a WebSocket would; what we say still goes up as a POST, as it
does over polling. Compare with ``polling_client.py``, whose ``send`` this client shares.
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
from clients.polling_client import RESTARTED, URL, new_session, send, send_typed_lines, show

STREAM_TIMEOUT = 40  # seconds without a byte before we give the stream up (the server's heartbeat comes every 15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.sse_client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL, help="the polling server, which serves the stream")
    parser.add_argument("--name", default="sse-client", help="your name in the chat")
    parser.add_argument("--once", metavar="TEXT", help="send TEXT, print the server's reply, exit")
    tls.add_argument(parser)
    args = parser.parse_args(argv)
    try:
        if args.once is not None:  # even --once "": the server, not an empty string, says what is wrong
            print(ask(args.url, args.name, args.once, ca=args.ca))
            return 0
        return chat(args.url, args.name, args.ca)
    except (requests.RequestException, RuntimeError, TimeoutError) as error:
        print(f"error: {tls.describe(error)}", file=sys.stderr)
        return 1


def ask(url: str, name: str, text: str, timeout: float = 10, ca: str | None = None) -> str:
    """Open the stream, send one message, and wait for the server's reply to it on the stream (``ca``: the CA
    file to verify https:// with; None: the system's)."""
    with new_session(ca) as session, open_stream(session, url, {}) as response:
        sent = send(session, url, name, text)
        deadline = time.monotonic() + timeout
        for event in events(response):
            if event.type == "message" and json.loads(event.data)["reply_to"] == sent["id"]:
                return json.loads(event.data)["text"]
            if time.monotonic() > deadline:
                break
    raise TimeoutError("no reply from the server")


def open_stream(session: requests.Session, url: str, headers: dict, after: int | None = None,
                board: str | None = None) -> requests.Response:
    """GET /api/events: the answer's body never ends, so requests hands it over as it arrives (stream=True)."""
    response = session.get(f"{url}/api/events", params={"after": after, "board": board}, headers=headers,
                           stream=True, timeout=(10, STREAM_TIMEOUT))  # requests leaves out a parameter that is None
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.json()['message']}")
    return response


def events(response: requests.Response, parser: wire.EventParser | None = None):
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
    with new_session(ca) as session:
        while not stop.is_set():
            try:
                with open_stream(session, url, {"Last-Event-ID": parser.last_id}, board=board) as response:
                    backoff.reset()
                    for event in events(response, parser):
                        if event.type == "message":
                            on_message(json.loads(event.data))
                        elif event.type == "board":
                            if board:
                                print(RESTARTED, file=sys.stderr)
                            board, parser.last_id = json.loads(event.data)["board"], "0"
                        elif event.type == "missed":
                            print(f"[{json.loads(event.data)['count']} older messages are no longer kept]",
                                  file=sys.stderr)
                        if stop.is_set():
                            return
            except (requests.RequestException, urllib3.exceptions.HTTPError, RuntimeError) as error:
                print(f"[stream failed: {error}]", file=sys.stderr)  # urllib3's: silent for STREAM_TIMEOUT s, or cut
            delay = backoff.next_delay()
            print(f"[stream ended; reconnecting in {delay:.1f} s]", file=sys.stderr)
            stop.wait(delay)


def chat(url: str, name: str, ca: str | None = None) -> int:
    stop = threading.Event()
    print(f"Connected to {url} by Server-Sent Events. Type a message and press Enter; Ctrl-D to quit.")
    threading.Thread(target=follow, args=(url, stop), kwargs={"board": "", "ca": ca}, daemon=True).start()  # from 1
    with new_session(ca) as session:
        send_typed_lines(session, url, name)
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
