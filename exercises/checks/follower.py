"""Exercise 1's checks: a long-poll follower against a real polling server behind a counting relay,
through a cut connection and a restart with an empty board."""

import threading
import time

import requests

from clients.lab.relay import Relay
from servers.twins import Twins

from . import Fail, check, run_in_thread, where

TITLE = "follow the board through a server restart"
FOLDER, FILE = "01-follow-the-board", "follower.py"
SETTLE = 10  # seconds a message may take to be delivered, beyond the student's WAIT
IDLE = 2.0  # seconds of silence in which requests are counted


class Followed:
    """A polling server (one of a pair of Twins) behind a recording Relay, and the student's follower on it."""

    def __init__(self, student) -> None:
        self.student, self.wait = student, float(getattr(student, "WAIT", 2))
        self.twins = Twins()
        self.port = self.twins.polling.port
        self.relay = Relay(self.port, record=True)
        self.url = f"http://127.0.0.1:{self.relay.port}"
        self.delivered: list[dict] = []
        self.stop = threading.Event()
        self.session = requests.Session()
        self.thread = run_in_thread(student.follow, self.url, self.delivered.append, self.stop, name="follower")

    def post(self, count: int, label: str) -> None:
        """``count`` chat messages, straight to the server (not through the relay): each adds its reply too."""
        for n in range(1, count + 1):
            self.session.post(f"{self.twins.polling.url}/api/messages", json={"text": f"{label} #{n}",
                                                                               "author": "check"}, timeout=5)

    def board(self) -> list[dict]:
        return self.session.get(f"{self.twins.polling.url}/api/messages", params={"after": 0}, timeout=5).json()[
            "messages"]

    def wait_for(self, count: int, situation: str) -> None:
        """Until ``count`` messages are delivered; a follower that died or stalls fails the check."""
        deadline = time.monotonic() + self.wait + SETTLE
        while len(self.delivered) < count and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.05)
        self.alive(situation)

    def alive(self, situation: str) -> None:
        if not self.thread.is_alive() and not self.stop.is_set():
            error = self.thread.error
            what = where(error, self.student.__file__) if error else "returned"
            raise Fail(f"your follower stopped {situation}: {what}",
                       "catch requests.RequestException around the request (ConnectionError is one), wait a "
                       "moment (stop.wait(0.5)), and try again with the same `after`" if error else
                       "follow() must keep going until stop is set")

    def requests_made(self) -> int:
        return self.relay.split().get("up", {}).get("http_messages", 0)

    def restart(self) -> None:
        """Stop both servers (cutting every connection) and start new ones, with an empty board, on the same port."""
        self.twins.stop()
        time.sleep(0.5)
        self.twins = Twins(polling_port=self.port)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(self.wait + 6)
        self.session.close()
        self.relay.stop()
        self.twins.stop()

    def __enter__(self) -> "Followed":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def compare(delivered: list[dict], expected: list[dict], situation: str) -> None:
    """Delivered must be expected exactly: every message once, in order."""
    got = [(m.get("id"), m.get("text")) for m in delivered]
    want = [(m["id"], m["text"]) for m in expected]
    if got == want:
        return
    twice = [pair for n, pair in enumerate(got) if pair in got[:n]]
    missing = [pair for pair in want if pair not in got]
    if twice:
        raise Fail(f"{situation}, message {twice[0][0]} ({twice[0][1]!r}) was delivered twice",
                   "after a failed request, ask again with the same `after`: only a board whose last_id is "
                   "below `after` (a restarted server) means starting again from 0")
    if missing:
        raise Fail(f"{situation}, {len(missing)} of {len(want)} messages never came, first id {missing[0][0]} "
                   f"({missing[0][1]!r})", "after a restart the answer's last_id is below your `after`: "
                   "set after = 0 to read the new board from its start")
    raise Fail(f"{situation}, the messages came in another order: {[pair[0] for pair in got]}",
               "deliver the messages of each answer in the order they come, oldest first")


@check("every message is delivered once, oldest first, including news that comes while you wait", timeout=40,
       hang_hint="follow() itself may hang: give every request a timeout")
def delivers_in_order(student):
    with Followed(student) as followed:
        followed.post(3, "before you came")
        followed.wait_for(6, "while reading the first messages")
        time.sleep(0.5)  # the follower is waiting in a long poll now
        followed.post(2, "while you wait")
        followed.wait_for(10, "while waiting for news")
        compare(followed.delivered, followed.board(), "on a server that never stops")
    return f"10 messages, in order (WAIT = {followed.wait:g} s)"


@check(f"it long-polls: at most 3 requests in {IDLE:g} seconds when nothing happens", timeout=40)
def long_polls(student):
    with Followed(student) as followed:
        followed.post(1, "hello")
        followed.wait_for(2, "while reading the first messages")
        before = followed.requests_made()
        time.sleep(IDLE)
        made = followed.requests_made() - before
        followed.alive("while nothing happened")
    if followed.wait < 1:
        raise Fail(f"WAIT is {followed.wait:g}: the server answers at once, as in short polling",
                   "set WAIT to a few seconds, so that the server holds each request until news comes")
    if made > 3:
        raise Fail(f"your follower made {made} requests in {IDLE:g} seconds with no news",
                   "pass wait=WAIT in every request, and do not sleep between them: the server holds the "
                   "request until there is news")
    return f"{made} request(s) in {IDLE:g} idle seconds"


@check("a dropped connection loses nothing and repeats nothing", timeout=60)
def survives_a_cut(student):
    with Followed(student) as followed:
        followed.post(3, "before the cut")
        followed.wait_for(6, "while reading the first messages")
        time.sleep(0.3)
        followed.relay.cut()  # as a Wi-Fi hiccup would: the server and its board stay
        followed.post(2, "after the cut")
        followed.wait_for(10, "when its connection was cut")
        time.sleep(0.3)  # room for a duplicate to show up
        compare(followed.delivered, followed.board(), "after a cut connection")
    return "10 messages, once each, across the cut"


@check("a restarted server (new empty board, ids from 1 again) loses nothing and repeats nothing", timeout=60)
def survives_a_restart(student):
    with Followed(student) as followed:
        followed.post(3, "before the restart")
        followed.wait_for(6, "while reading the first messages")
        old = followed.board()
        followed.restart()
        followed.post(2, "after the restart")
        followed.wait_for(10, "when the server restarted")
        time.sleep(0.3)
        compare(followed.delivered, old + followed.board(), "across the restart")
    return "6 messages before, 4 after the restart (ids 1 to 4 again), each once"


@check("it returns soon after stop is set", timeout=60)
def stops(student):
    with Followed(student) as followed:
        followed.post(1, "hello")
        followed.wait_for(2, "while reading the first messages")
        followed.stop.set()
        followed.thread.join(followed.wait + 6)
        if followed.thread.is_alive():
            raise Fail(f"follow() still runs {followed.wait + 6:g} seconds after stop was set",
                       "test stop.is_set() before every request, and wait with stop.wait(...) rather than "
                       "time.sleep(...)")
    return "it returned"


CHECKS = [delivers_in_order, long_polls, survives_a_cut, survives_a_restart, stops]
