"""Chat over HTTP polling from the terminal, with ``requests``.

    python -m clients.polling_client                      # interactive chat, long polling
    python -m clients.polling_client --interval 1         # short polling, once a second
    python -m clients.polling_client --once "How are you?"
    python -m clients.polling_client --url https://127.0.0.1:8001 --ca .tls/ca.pem   # python -m servers --tls

There is no way for the server to reach us: every message we see, we asked for.
Compare with ``websocket_client.py`` and ``sse_client.py``: the same functions in the same order (what the
three share is in ``terminal.py``), so ``diff`` shows only the transport.
"""

import argparse
import sys
import threading
import time

import requests

from clients import tls
from clients.backoff import Backoff
from clients.terminal import missed, new_board, new_session, send_typed_lines, show

URL = "http://127.0.0.1:8001"  # the polling server, as python -m servers starts it
LONG_POLL_WAIT = 25  # seconds the server may hold each long poll
# seconds an answer may take beyond that wait: then the poll has failed, the server or the link to it gone silent
ANSWER_TIMEOUT = 10


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


def ask(session: requests.Session, url: str, name: str, text: str, timeout: float = 10) -> str:
    """Send one message and poll until the server's reply to it shows up."""
    sent = send(session, url, name, text)
    after, deadline = sent["id"], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in read(session, url, after, wait=1)["messages"]:
            if message["reply_to"] == sent["id"]:
                return message["text"]
            after = message["id"]
    raise TimeoutError("no reply from the server")


def send(session: requests.Session, url: str, name: str, text: str) -> dict:
    """POST /api/messages: returns the message as the server stored it (the Server-Sent Events client sends so too)."""
    response = session.post(f"{url}/api/messages", json={"text": text, "author": name}, timeout=10)
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.json()['message']}")
    return response.json()["message"]


def read(session: requests.Session, url: str, after: int, wait: int = 0, board: str | None = None) -> dict:
    """One GET: the answer for the messages after id ``after`` of ``board`` (long poll: wait up to ``wait`` seconds
    for one), ``{"messages": [...], "last_id": L}``, with ``"board"`` when the server's board is not the one named."""
    response = session.get(f"{url}/api/messages", params={"after": after, "board": board, "wait": wait},
                           timeout=wait + ANSWER_TIMEOUT)  # requests leaves out a None parameter
    response.raise_for_status()
    return response.json()


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
        if "board" in answer:  # not the board we named: it restarted, and this answer starts from its first
            board, after = new_board(board, answer["board"])
        if "missed" in answer:
            missed(answer["missed"])
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
    threading.Thread(target=follow, args=(follower, url, interval, stop), kwargs={"board": ""},
                     daemon=True).start()  # from the first message, no board known yet
    send_typed_lines(lambda text: send(session, url, name, text))
    stop.set()
    return 0


def _seconds(value: str) -> float:
    if float(value) <= 0:
        raise argparse.ArgumentTypeError("the polling interval must be more than 0 seconds")
    return float(value)


if __name__ == "__main__":
    sys.exit(main())
