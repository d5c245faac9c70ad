"""Exercise 1's checks: a long-poll follower against a real polling server behind a recording relay, through an
idle board, a cut connection, a server away for a while, and two restarts with a new board: one the follower
comes back to empty, one that already holds more messages than the follower's cursor when it comes back.

Why they watch so long and so widely: a follower that is wrong only now and then (it starts again from 0 on an
empty long poll, it asks many times a second, it trusts the newest id) passes a check that looks for a moment
after the last expected message. So they count requests over idle seconds, read every request the relay
recorded, count connection attempts while the server is away, and set up each restart so that only the
board's identity can tell.
"""

import re
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import requests

from clients.lab.relay import Relay
from servers.board import MessageBoard
from servers.chat import Chat
from servers.twins import Twins

from . import Fail, check, run_in_thread, where

TITLE = "follow the board through a server restart"
FOLDER, FILE = "01-follow-the-board", "follower.py"
SETTLE = 5  # seconds a message may take to be delivered, beyond the student's WAIT
LONGEST_WAIT = 5  # seconds of WAIT the checks accept: they watch for WAIT and more, several times
AWAY = 2.0  # seconds the server stays away, while connection attempts are counted
MOST_ATTEMPTS = 10  # connection attempts in AWAY seconds: a pause of half a second makes about 4
HAMMERING = 20  # requests to a restarted server before the follower waits on it (one that never waits: hundreds)
REQUEST_LINE = re.compile(rb"^GET (\S+) HTTP/1\.[01]\r$", re.MULTILINE)

NO_BOARD = ("your requests name no board. A restarted server's ids start again from 1, so your `after` cannot show "
            "it: by the time you come back the new board may have passed it. Send the board your `after` belongs "
            "to with every request (params: \"board\": board, \"\" at first)")
RESET = ("when an answer has a \"board\", the server's board is not the one you named (it restarted): take that "
         "board as yours and set after = 0 before you deliver the answer's messages, which start from its first")


class WatchedBoard(MessageBoard):
    """The board of a restarted server, which says when a long poll starts waiting on it, and after which id."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = threading.Event()
        self.cursor: int | None = None  # the ``after`` of the latest long poll

    def wait_after(self, last_id: int, timeout: float, limit: int | None = None):
        self.cursor = last_id
        self.waited.set()
        return super().wait_after(last_id, timeout, limit)

    def has_all_it_asked_for(self) -> bool:
        """A long poll waits for ids past the newest: the follower has all it will ever ask this board for, until
        something new is posted (it delivers an answer before it asks again)."""
        return self.cursor is not None and self.cursor >= self.last_id


class Away:
    """Where the polling server was, while it is away: something that takes each connection and closes it at once,
    as a server that is restarting would, counting them (the student's attempts, through the relay)."""

    def __init__(self, port: int) -> None:
        self.attempts = 0
        self._listener = socket.create_server(("127.0.0.1", port))
        self._thread = threading.Thread(target=self._close_each, name="away", daemon=True)
        self._thread.start()

    def _close_each(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed: the server is back
                return
            self.attempts += 1
            connection.close()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (closing alone does not, on Linux)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)


class Followed:
    """A polling server (one of a pair of Twins) behind a recording Relay, and the student's follower on it."""

    def __init__(self, student, before: int = 3) -> None:
        """``before`` messages (and their replies) are on the board when the follower starts: its first answer,
        which names the board, always carries some."""
        self.student, self.wait = student, float(getattr(student, "WAIT", 2))
        self.twins = Twins()
        self.port = self.twins.polling.port
        self.relay = Relay(self.port, record=True)
        self.url = f"http://127.0.0.1:{self.relay.port}"
        self.delivered: list[dict] = []
        self.stop = threading.Event()
        self.session = requests.Session()
        self.post(before, "before you came")
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
        """Until ``count`` messages are delivered (once everything is posted); a follower that died or stalls fails
        the check. On a watched board, a follower that waits for news with fewer delivered will get no more."""
        board = self.twins.chat.board
        deadline = time.monotonic() + self.wait + SETTLE
        while len(self.delivered) < count and time.monotonic() < deadline and self.thread.is_alive():
            if isinstance(board, WatchedBoard) and board.has_all_it_asked_for():
                break
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

    def requests_seen(self) -> list[dict]:
        """The query of every GET the follower has sent through the relay so far, oldest first."""
        seen = []
        for connection in list(self.relay.connections):
            for target in REQUEST_LINE.findall(connection.snapshot()["up"][0]):
                seen.append({name: values[-1] for name, values in
                             parse_qs(urlsplit(target.decode("latin-1")).query, keep_blank_values=True).items()})
        return seen

    def names_boards(self) -> bool:
        return any("board" in query for query in self.requests_seen())

    def away(self, seconds: float, board_kept: bool) -> tuple[int, float]:
        """Stop both servers (cutting every connection) for ``seconds``, counting the follower's connection
        attempts meanwhile (the servers come back at once past MOST_ATTEMPTS); then start new ones on the same
        port, on the same board or, unless ``board_kept``, on a new, empty one that says when a long poll waits
        on it. Returns the attempts, and the seconds the server was away."""
        chat = self.twins.chat
        self.twins.stop()
        away, started = Away(self.port), time.monotonic()
        while time.monotonic() < started + seconds and away.attempts <= MOST_ATTEMPTS:
            time.sleep(0.01)
        away.close()
        self.twins = Twins(chat if board_kept else Chat(WatchedBoard()), polling_port=self.port)
        return away.attempts, time.monotonic() - started

    def restart_past(self, count: int) -> None:
        """Stop both servers and start new ones on the same port, on a new board that holds ``count`` messages
        (and their replies) before anyone can reach it: a board already past the follower's cursor."""
        self.twins.stop()
        chat = Chat(WatchedBoard())
        for n in range(1, count + 1):
            chat.send("check", f"on the new board #{n}")
        self.twins = Twins(chat, polling_port=self.port)

    def close(self) -> None:
        self.stop.set()
        self.relay.stop()  # cuts the long poll under way: the follower sees stop at once, not WAIT seconds later
        self.thread.join(self.wait + 6)
        self.session.close()
        self.twins.stop()

    def __enter__(self) -> "Followed":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def compare(delivered: list[dict], expected: list[dict], situation: str, twice_hint: str, missing_hint: str) -> None:
    """Delivered must be expected exactly: every message once, in order."""
    got = [(m.get("id"), m.get("text")) for m in delivered]
    want = [(m["id"], m["text"]) for m in expected]
    if got == want:
        return
    twice = [pair for n, pair in enumerate(got) if pair in got[:n]]
    missing = [pair for pair in want if pair not in got]
    if twice:
        raise Fail(f"{situation}, message {twice[0][0]} ({twice[0][1]!r}) was delivered twice", twice_hint)
    if missing:
        raise Fail(f"{situation}, {len(missing)} of {len(want)} messages never came, first id {missing[0][0]} "
                   f"({missing[0][1]!r})", missing_hint)
    raise Fail(f"{situation}, the messages came in another order: {[pair[0] for pair in got]}",
               "deliver the messages of each answer in the order they come, oldest first")


FIRST_ANSWER = ("your first answer names the board (you named none yet) and carries its messages from the first: "
                "set after = 0 before you deliver them, and after = message[\"id\"] as you do")
SAME_AFTER = ("after a failed request, ask again with the same `after`: only an answer that names another board (a "
              "restarted server) means starting again from 0")


@check("every message is delivered once, oldest first, including news that comes while you wait", timeout=30,
       hang_hint="follow() itself may hang: give every request a timeout")
def delivers_in_order(student):
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        time.sleep(0.5)  # the follower is waiting in a long poll now
        followed.post(2, "while you wait")
        followed.wait_for(10, "while waiting for news")
        compare(followed.delivered, followed.board(), "on a server that never stops", FIRST_ANSWER,
                "ask for the messages after the id of the last one you delivered: after = message[\"id\"]")
    return f"10 messages, in order (WAIT = {followed.wait:g} s)"


@check("it long-polls: every request waits at the server, and an idle board delivers nothing again", timeout=40)
def long_polls(student):
    wait = float(getattr(student, "WAIT", 2))
    if wait < 1:
        raise Fail(f"WAIT is {wait:g}: the server answers at once, as in short polling",
                   "set WAIT to a few seconds, so that the server holds each request until news comes")
    if wait > LONGEST_WAIT:
        raise Fail(f"WAIT is {wait:g}: the checks watch your follower for WAIT seconds and more, several times",
                   f"keep WAIT at a few seconds, 1 to {LONGEST_WAIT}: a long poll answers as soon as news comes")
    idle = wait + 1.5  # one empty long poll comes back within it, and what the follower does next shows
    with Followed(student, before=1) as followed:
        followed.wait_for(2, "while reading the first messages")
        before, shown = len(followed.requests_seen()), len(followed.delivered)
        time.sleep(idle)
        followed.alive("while nothing happened")
        asked = followed.requests_seen()
    again = followed.delivered[shown:]
    if again:
        raise Fail(f"nothing was posted for {idle:g} seconds, yet message {again[0].get('id')} was delivered again",
                   "an empty long poll comes back with last_id equal to your `after`: that is no restart. Keep "
                   "`after`; only an answer that names another board (a \"board\" field) means starting again")
    short = [query for query in asked if query.get("wait", "0") in ("", "0")]
    if short:
        raise Fail(f"{len(short)} of your {len(asked)} requests asked without wait (short polling): "
                   f"GET /api/messages?{'&'.join(f'{k}={v}' for k, v in short[0].items())}",
                   "pass \"wait\": WAIT in every request: the server then holds it until there is news, and you need "
                   "no pause between requests")
    made = len(asked) - before
    if made > idle / wait + 1:
        raise Fail(f"your follower made {made} requests in {idle:g} seconds with no news (WAIT = {wait:g})",
                   "ask again as soon as an answer comes, with the same `after`, and no more often: each request "
                   "waits at the server up to WAIT seconds")
    return f"{made} request(s) in {idle:g} idle seconds, each waiting at the server, nothing delivered again"


@check("a dropped connection loses nothing and repeats nothing", timeout=40)
def survives_a_cut(student):
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        time.sleep(0.3)
        followed.relay.cut()  # a closed connection (a FIN), as from a server process that died: the board stays
        followed.post(2, "after the cut")
        followed.wait_for(10, "when its connection was cut")
        time.sleep(0.3)  # room for a duplicate to show up
        compare(followed.delivered, followed.board(), "after a cut connection", SAME_AFTER,
                "after a failed request, ask again with the same `after`")
    return "10 messages, once each, across the cut"


@check(f"a server away for {AWAY:g} s is asked again after a pause, not hammered; its board is read on when it is "
       "back", timeout=40)
def waits_while_away(student):
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        attempts, seconds = followed.away(AWAY, board_kept=True)
        if attempts > MOST_ATTEMPTS:
            raise Fail(f"while the server was away your follower tried {attempts} times in {seconds:.2f} seconds, "
                       "and went on", "wait a moment after a failed request (stop.wait(0.5)): a class of thirty "
                       "that asks without a pause keeps a restarting server busy")
        followed.post(2, "back again")
        followed.wait_for(10, "when the server came back")
        time.sleep(0.3)
        compare(followed.delivered, followed.board(), "when the server came back with its board", SAME_AFTER,
                "ask again with the same `after` once the server is back")
    return f"{attempts} attempts in {AWAY:g} s away; 10 messages, once each"


@check("a restarted server (new empty board, ids from 1 again) loses nothing and repeats nothing", timeout=60)
def survives_a_restart(student):
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        old = followed.board()
        followed.away(0.5, board_kept=False)
        before, deadline = len(followed.requests_seen()), time.monotonic() + followed.wait + 2
        while not followed.twins.chat.board.waited.wait(0.1) and time.monotonic() < deadline:  # until it waits
            if len(followed.requests_seen()) - before > HAMMERING:  # on the new board, or asks without end
                break
        if len(followed.requests_seen()) - before > HAMMERING:
            raise Fail(f"your follower asked the restarted server {len(followed.requests_seen()) - before} times in a "
                       "few seconds with no news: it answers at once, since your `after` is past its newest id",
                       NO_BOARD if not followed.names_boards() else RESET)
        followed.post(2, "after the restart")
        followed.wait_for(10, "when the server restarted")
        time.sleep(0.3)
        compare(followed.delivered, old + followed.board(), "across the restart",
                "an answer that names a new board carries its messages from the first: set after = 0 before you "
                "deliver them, and after = message[\"id\"] as you do", RESET if followed.names_boards() else NO_BOARD)
    return "6 messages before, 4 after the restart (ids 1 to 4 again), each once"


@check("a restarted server whose new board is already past your `after` when you come back: nothing lost",
       timeout=60)
def survives_a_restart_past_your_place(student):
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        old = followed.board()
        followed.restart_past(4)  # ids 1 to 8 before the follower can come back: "after 6" looks valid there
        followed.wait_for(6 + 8, "when the server restarted")
        time.sleep(0.3)
        compare(followed.delivered, old + followed.board(), "across a restart whose new board had 8 messages "
                "when you came back at id 6", "an answer that names a new board carries its messages from the "
                "first: set after = 0 before you deliver them", RESET if followed.names_boards() else NO_BOARD)
    return "6 messages before, 8 on the new board (ids 1 to 8, past your old `after`), each once"


@check("it returns soon after stop is set", timeout=60)
def stops(student):
    with Followed(student, before=1) as followed:
        followed.wait_for(2, "while reading the first messages")
        followed.stop.set()
        followed.thread.join(followed.wait + 6)
        if followed.thread.is_alive():
            raise Fail(f"follow() still runs {followed.wait + 6:g} seconds after stop was set",
                       "test stop.is_set() before every request, and wait with stop.wait(...) rather than "
                       "time.sleep(...)")
    return "it returned"


CHECKS = [delivers_in_order, long_polls, survives_a_cut, waits_while_away, survives_a_restart,
          survives_a_restart_past_your_place, stops]
