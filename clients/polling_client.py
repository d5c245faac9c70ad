"""Chat over HTTP polling from the terminal, with ``requests``.

    python -m clients.polling_client                      # interactive chat, long polling
    python -m clients.polling_client --interval 1         # short polling, once a second
    python -m clients.polling_client --once "How are you?"
    python -m clients.polling_client --url https://127.0.0.1:8001 --ca .tls/ca.pem   # python -m servers --tls

There is no way for the server to reach us: every message we see, we asked for.
Compare with ``websocket_client.py``, which has the same functions in the same order.
"""

import argparse
import sys
import threading
import time

import requests

from clients import tls
from clients.backoff import Backoff

LONG_POLL_WAIT = 25  # seconds the server may hold each long poll
# seconds an answer may take beyond that wait: then the poll has failed, the server or the link to it gone silent
ANSWER_TIMEOUT = 10
URL = "http://127.0.0.1:8001"  # the polling server, as python -m servers starts it
RESTARTED = "[the server restarted with an empty board: reading it from the start]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.polling_client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL, help="the polling server")
    parser.add_argument("--name", default="polling-client", help="your name in the chat")
    parser.add_argument("--once", metavar="TEXT", help="send TEXT, print the server's reply, exit")
    parser.add_argument("--interval", type=_seconds, metavar="SECONDS",
                        help="short polling every SECONDS (default: long polling)")
    tls.add_argument(parser)
    args = parser.parse_args(argv)
    session = new_session(args.ca)  # one keep-alive connection for all requests
    try:
        if args.once is not None:  # even --once "": the server, not an empty string, says what is wrong
            print(ask(session, args.url, args.name, args.once))
            return 0
        return chat(session, args.url, args.name, args.interval)
    except (requests.RequestException, RuntimeError, TimeoutError) as error:
        print(f"error: {tls.describe(error)}", file=sys.stderr)
        return 1


class Session(requests.Session):
    """A requests session whose own ``verify`` (a CA file) is used: requests lets REQUESTS_CA_BUNDLE, when the
    environment sets it, replace a session's ``verify`` for every request that names none itself."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        return super().merge_environment_settings(url, proxies, stream, self.verify if verify is None else verify,
                                                  cert)


def new_session(ca: str | None = None) -> requests.Session:
    """A session whose connections are kept open between requests, verifying https:// against ``ca`` (a CA file;
    None: the system's CAs)."""
    session = Session()
    session.verify = tls.verify(ca)
    return session


def ask(session: requests.Session, url: str, name: str, text: str, timeout: float = 10) -> str:
    """Send one message and poll until the server's reply to it shows up."""
    sent = send(session, url, name, text)
    after, deadline = sent["id"], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in poll(session, url, after, wait=1):
            if message["reply_to"] == sent["id"]:
                return message["text"]
            after = message["id"]
    raise TimeoutError("no reply from the server")


def send(session: requests.Session, url: str, name: str, text: str) -> dict:
    response = session.post(f"{url}/api/messages", json={"text": text, "author": name}, timeout=10)
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.json()['message']}")
    return response.json()["message"]


class BoardRestarted(Exception):
    """The board's newest id is below our cursor: the server restarted with an empty board."""


def read(session: requests.Session, url: str, after: int, wait: int = 0, board: str | None = None) -> dict:
    """One GET: the answer for the messages after id ``after`` of ``board`` (long poll: wait up to ``wait`` seconds
    for one), ``{"messages": [...], "last_id": L}``, with ``"board"`` when the server's board is not the one named."""
    response = session.get(f"{url}/api/messages", params={"after": after, "board": board, "wait": wait},
                           timeout=wait + ANSWER_TIMEOUT)  # requests leaves out a None parameter
    response.raise_for_status()
    return response.json()


def poll(session: requests.Session, url: str, after: int, wait: int = 0) -> list[dict]:
    """The messages after id ``after``, for a caller that names no board: a server restarted with an empty board
    shows only while its newest id is below ``after`` (then BoardRestarted), not once its ids have passed it."""
    answer = read(session, url, after, wait)
    if answer["last_id"] < after:
        raise BoardRestarted()
    return answer["messages"]


def show(message: dict) -> None:
    print(f"{message['author']}: {message['text']}")


def follow(session: requests.Session, url: str, interval: float | None, stop: threading.Event, after: int = 0,
           on_message=show, board: str | None = None) -> None:
    """Show every message, asking the server again and again. When it cannot be reached, try again after a
    growing, random wait (see backoff.py), from the last id shown: nothing is lost, nothing shown twice.

    Every request names the board the cursor belongs to (``board``: "" for none yet; None names none, and the
    cursor is then taken as it is, even by a server that restarted empty). An answer that names another board
    comes from a server whose board is not ours (it restarted with a new one): its messages start from that
    board's first, and our cursor is now on it."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            answer = read(session, url, after, wait=0 if interval else LONG_POLL_WAIT, board=board)
            backoff.reset()
        except requests.RequestException as error:
            delay = backoff.next_delay()
            print(f"[poll failed: {error}; trying again in {delay:.1f} s]", file=sys.stderr)
            stop.wait(delay)
            continue
        if "board" in answer:
            if board:
                print(RESTARTED, file=sys.stderr)
            board, after = answer["board"], 0
        if "missed" in answer:  # the board no longer keeps the oldest messages after our cursor
            print(f"[{answer['missed']['count']} older messages are no longer kept]", file=sys.stderr)
        for message in answer["messages"]:
            on_message(message)
            after = message["id"]
        if interval:
            stop.wait(interval)


def chat(session: requests.Session, url: str, name: str, interval: float | None) -> int:
    stop = threading.Event()
    print(f"Connected to {url} by {'short polling every %gs' % interval if interval else 'long polling'}. "
          "Type a message and press Enter; Ctrl-D to quit.")  # before the follower prints anything
    # the follower gets its own session (requests.Session is not shared between threads), trusting the same CA
    follower = new_session()
    follower.verify = session.verify
    threading.Thread(target=follow, args=(follower, url, interval, stop), kwargs={"board": ""}, daemon=True).start()
    send_typed_lines(session, url, name)
    stop.set()
    return 0


def send_typed_lines(session: requests.Session, url: str, name: str) -> None:
    """Every line typed, until Ctrl-D or Ctrl-C, as a POST (the Server-Sent Events client sends the same way)."""
    try:
        for line in sys.stdin:
            if line.strip():
                send(session, url, name, line.rstrip("\n"))
    except KeyboardInterrupt:
        pass


def _seconds(value: str) -> float:
    if float(value) <= 0:
        raise argparse.ArgumentTypeError("the polling interval must be more than 0 seconds")
    return float(value)


if __name__ == "__main__":
    sys.exit(main())
