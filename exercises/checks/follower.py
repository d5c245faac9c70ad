"""Exercise 1's checks: a long-poll follower against a real polling server behind a recording relay, through a
board longer than one answer, an error of its own, an idle board, a cut connection, a server away for a while, a
proxy's error page, a server that never answers, and two restarts with a new board: one the follower comes back to
empty, one that already holds more messages than the follower's cursor when it comes back.

Why they watch so long and so widely: a follower that is wrong only now and then (it starts again from 0 on an
empty long poll, it asks many times a second, it trusts the newest id, it catches only the errors it has seen) passes
a check that looks for a moment after the last expected message. So they count requests over idle seconds, read
every request the relay recorded, count connection attempts while the server is away, time how long a request is
given before it is dropped, and set up each restart so that only the board's identity can tell.
"""

import json
import re
import socket
import statistics
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
FEWEST_ATTEMPTS = 2  # ... and at least these, however busy the machine, unless the follower pauses LONGEST_PAUSE
LONGEST_PAUSE = 2.5  # seconds without an attempt: five times the half second asked for
TIMEOUT_BEYOND_WAIT = (1, 10)  # seconds past WAIT a request may be given before it is dropped: fewer drop answers
# on their way (a long poll is answered at WAIT seconds, plus the network's delay), more leave a frozen server
# holding the follower
PAUSE_STOP = 0.25  # seconds follow() may take to return when stop is set during its pause (stop.wait: at once)
PAGE = 500  # messages an answer holds at most (servers/README.md)
LONG_BOARD, KEPT = 800, 700  # messages posted on a board that keeps the newest KEPT: more than a PAGE, from id 101
HAMMERING = 20  # requests to a restarted server before the follower waits on it (one that never waits: hundreds)
SHORT_POLLING = ("pass \"wait\": WAIT in every request: the server then holds it until there is news, and you "
                 "need no pause between requests")
QUICK, APART = 8, 0.1  # messages posted one after another, seconds apart: each must come at once
PROMPT = 0.1  # seconds those take to be delivered, on average: a long poll answers at once (a few ms); a pause of
# half a second after each answer makes about 0.25 s
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


# What the cluster's nginx answers while its node restarts: an error status whose body is JSON (the nodes' own error
# shape), so that response.json() reads it and only raise_for_status() tells it from an answer.
GATEWAY_PAGE = b'{"error": "bad_gateway", "message": "the server node failed the request: send it again"}'
CUT_SHORT = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
             b'{"messages"')  # 11 bytes of the 1,000 promised, then the connection ends
BAD_GATEWAY = (b"HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(GATEWAY_PAGE), GATEWAY_PAGE))


class Away:
    """Where the polling server was, while it is away: something that takes each connection (the student's
    attempts, through the relay, counted and timed) and, as ``answer`` says, closes it at once, as a server that is
    restarting would ("close"); answers 502 Bad Gateway in JSON, as the cluster's nginx does while its node
    restarts ("502"); starts an answer and ends the connection partway through its body, as a server that died while
    answering ("cut"); or reads the request and never answers, as a server that froze ("silent"), noting when each
    request came and when the follower gave it up."""

    def __init__(self, port: int, answer: str = "close") -> None:
        self.answer, self.attempts, self.times = answer, 0, []  # when each connection came
        self.held: list[list] = []  # "silent": [when the request came, when the follower closed it (None: not yet)]
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self._thread = threading.Thread(target=self._take_each, name="away", daemon=True)
        self._thread.start()

    def _take_each(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed: the server is back
                return
            self.attempts += 1
            self.times.append(time.monotonic())
            if self.answer == "close":
                connection.close()
            else:
                self._open.append(connection)
                threading.Thread(target=self._serve, args=(connection,), name="away", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                if not (chunk := _receive(connection)):
                    return
                request += chunk
            if self.answer in ("502", "cut"):
                try:
                    connection.sendall(BAD_GATEWAY if self.answer == "502" else CUT_SHORT)
                except OSError:  # the follower gave its request up first (its own timeout): nothing to answer
                    pass
                return
            held = [time.monotonic(), None]
            self.held.append(held)
            while _receive(connection):  # until the follower gives the request up, or the check ends
                pass
            held[1] = time.monotonic()

    def close(self) -> None:
        for sock in (self._listener, *self._open):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() or recv() (closing alone does not)
            except OSError:
                pass
        self._listener.close()
        self._thread.join(5)

    def __enter__(self) -> "Away":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _receive(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except OSError:
        return b""


class Followed:
    """A polling server (one of a pair of Twins) behind a recording Relay, and the student's follower on it."""

    def __init__(self, student, before: int = 3, chat: Chat | None = None, deliver=None) -> None:
        """``before`` messages (and their replies) are on the board when the follower starts: its first answer,
        which names the board, always carries some. ``deliver`` is called with each message too."""
        self.student, self.wait = student, float(getattr(student, "WAIT", 2))
        self.twins = Twins(chat)
        self.port = self.twins.polling.port
        self.relay = Relay(self.port, record=True)
        self.url = f"http://127.0.0.1:{self.relay.port}"
        self.delivered: list[dict] = []
        self.when: list[float] = []  # when each was delivered (time.monotonic())
        self.stop = threading.Event()
        self.session = requests.Session()
        self.post(before, "before you came")
        self.thread = run_in_thread(student.follow, self.url, self._deliver(deliver), self.stop, name="follower")

    def _deliver(self, deliver):
        def delivered(message: dict) -> None:
            self.delivered.append(message)
            self.when.append(time.monotonic())
            if deliver is not None:
                deliver(message)
        return delivered

    def post(self, count: int, label: str, apart: float = 0.0) -> list[float]:
        """``count`` chat messages, ``apart`` seconds apart, straight to the server (not through the relay): each
        adds its reply too. Returns when each was posted."""
        posted = []
        for n in range(1, count + 1):
            if n > 1:
                time.sleep(apart)
            posted.append(time.monotonic())
            self.session.post(f"{self.twins.polling.url}/api/messages", json={"text": f"{label} #{n}",
                                                                               "author": "check"}, timeout=5)
        return posted

    def delays(self, label: str, posted: list[float]) -> list[float]:
        """Seconds from posting each message ``label`` #n to its delivery."""
        when = {message.get("text"): at for message, at in zip(self.delivered, self.when)}
        return [when[f"{label} #{n}"] - at for n, at in enumerate(posted, 1) if f"{label} #{n}" in when]

    def board(self) -> list[dict]:
        """Every message the board keeps, as the server sends them (however many answers that takes)."""
        return [message.to_json() for message in self.twins.chat.board.after(0)]

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
            if error is None:
                hint = "follow() must keep going until stop is set"
            elif isinstance(error, requests.exceptions.ChunkedEncodingError):
                hint = ("an answer cut partway through raises requests.exceptions.ChunkedEncodingError, which is "
                        "neither a ConnectionError, a Timeout, an HTTPError nor a ValueError: catch "
                        "requests.RequestException, the base of them all, and nothing else")
            elif isinstance(error, requests.RequestException) and not isinstance(error, requests.ConnectionError):
                hint = ("catch requests.RequestException, not only ConnectionError: a timeout, an error status "
                        "(raise_for_status) and an answer that is not JSON are failed requests too; wait "
                        "(stop.wait(0.5)) and try again with the same `after`")
            elif isinstance(error, KeyError) and error.args == ("messages",):
                hint = ("an error answer (a proxy's 502, in JSON too) has no \"messages\": call "
                        "response.raise_for_status() before response.json(), so that an error status raises a "
                        "requests.RequestException, and wait (stop.wait(0.5)) as after any other failure")
            else:
                hint = ("catch requests.RequestException around the request (ConnectionError is one), wait a "
                        "moment (stop.wait(0.5)), and try again with the same `after`")
            raise Fail(f"your follower stopped {situation}: {what}", hint)

    def requests_seen(self) -> list[dict]:
        """The query of every GET the follower has sent through the relay so far, oldest first."""
        seen = []
        for connection in list(self.relay.connections):
            for target in REQUEST_LINE.findall(connection.snapshot()["up"][0]):
                seen.append({name: values[-1] for name, values in
                             parse_qs(urlsplit(target.decode("latin-1")).query, keep_blank_values=True).items()})
        return seen

    def answers_with(self, text: str) -> int:
        """How many answers the follower got through the relay that carry the message ``text``."""
        pattern = re.compile(rb'"text":\s*' + re.escape(json.dumps(text).encode()))
        return sum(len(pattern.findall(connection.snapshot()["down"][0]))
                   for connection in list(self.relay.connections))

    def twice_hint(self) -> str:
        """The hint for a message delivered twice after a failed request: the same `after`, or what this follower
        got wrong instead (an answer delivered again though no second answer carried it; a board forgotten)."""
        got = [(message.get("id"), message.get("text")) for message in self.delivered]
        twice = next((pair for n, pair in enumerate(got) if pair in got[:n]), None)
        if twice is not None and self.answers_with(twice[1]) < 2:
            return (f"you delivered message {twice[0]} again though no answer carried it twice: after a failed "
                    "request, go straight to the next attempt (continue, after the pause); the last answer you "
                    "delivered is still in your variables")
        if any(query.get("board") == "" and query.get("after", "0") not in ("", "0")
               for query in self.requests_seen()):
            return ("keep your board as well as your `after` after a failed request: a request that names no board "
                    "(board=\"\") gets an answer that names the server's, which sets you back to 0. Only an answer "
                    "naming another board than yours means a restart")
        return SAME_AFTER

    def names_boards(self) -> bool:
        return any("board" in query for query in self.requests_seen())

    def away(self, seconds: float, board_kept: bool, answer: str = "close") -> tuple[int, float]:
        """Stop both servers (cutting every connection) for ``seconds``, and answer the follower's connection
        attempts meanwhile as ``answer`` says (see ``Away``), counting them (the servers come back at once past
        MOST_ATTEMPTS); then start new ones on the same port, on the same board or, unless ``board_kept``, on a new,
        empty one that says when a long poll waits on it. Returns the attempts, and the seconds the server was
        away."""
        chat = self.twins.chat
        self.twins.stop()
        with Away(self.port, answer) as away:
            seconds = self.while_away(away, seconds)
        self.back(chat if board_kept else Chat(WatchedBoard()))
        return away.attempts, seconds

    def while_away(self, away: Away, seconds: float) -> float:
        """Wait ``seconds`` while ``away`` takes the follower's attempts, and on until it has taken FEWEST_ATTEMPTS
        (a busy machine may delay them), unless the follower lets LONGEST_PAUSE pass without one; stop at once past
        MOST_ATTEMPTS. Returns the seconds waited."""
        started = time.monotonic()
        while self.thread.is_alive() and away.attempts <= MOST_ATTEMPTS:
            now = time.monotonic()
            if now - (away.times[-1] if away.times else started) > LONGEST_PAUSE:
                break
            if now >= started + seconds and away.attempts >= FEWEST_ATTEMPTS:
                break
            time.sleep(0.01)
        return time.monotonic() - started

    def back(self, chat: Chat) -> None:
        """The servers again, on the same port, serving ``chat``."""
        self.twins = Twins(chat, polling_port=self.port)

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


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def compare(delivered: list[dict], expected: list[dict], situation: str, twice_hint, missing_hint: str) -> None:
    """Delivered must be expected exactly: every message once, in order. ``twice_hint`` may be a function that
    makes the hint, for a message delivered twice."""
    got = [(m.get("id"), m.get("text")) for m in delivered]
    want = [(m["id"], m["text"]) for m in expected]
    if got == want:
        return
    twice = [pair for n, pair in enumerate(got) if pair in got[:n]]
    missing = [pair for pair in want if pair not in got]
    if twice:
        raise Fail(f"{situation}, message {twice[0][0]} ({twice[0][1]!r}) was delivered twice",
                   twice_hint() if callable(twice_hint) else twice_hint)
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
    wait = getattr(student, "WAIT", 2)
    if not isinstance(wait, int) or isinstance(wait, bool):
        raise Fail(f"WAIT is {wait!r}: the server takes a whole number of seconds, and answers any other wait with "
                   "400 invalid_wait (a failed request, retried for ever)", f"set WAIT to a whole number of "
                   f"seconds, 1 to {LONGEST_WAIT} (WAIT = 2)")
    with Followed(student) as followed:
        followed.wait_for(6, "while reading the first messages")
        time.sleep(0.5)  # the follower is waiting in a long poll now
        followed.post(2, "while you wait")
        followed.wait_for(10, "while waiting for news")
        compare(followed.delivered, followed.board(), "on a server that never stops", FIRST_ANSWER,
                "ask for the messages after the id of the last one you delivered: after = message[\"id\"]")
        posted = followed.post(QUICK, "one after another", apart=APART)
        followed.wait_for(10 + 2 * QUICK, "while messages came one after another")
        compare(followed.delivered, followed.board(), "while messages came one after another", FIRST_ANSWER,
                "ask for the messages after the id of the last one you delivered: after = message[\"id\"]")
    delays = followed.delays("one after another", posted)
    if statistics.fmean(delays) > PROMPT:
        short = any(query.get("wait", "0") in ("", "0") for query in followed.requests_seen())
        raise Fail(f"{QUICK} messages posted {APART:g} s apart took {statistics.fmean(delays) * 1000:.0f} ms on "
                   f"average to be delivered, up to {max(delays) * 1000:.0f} ms", SHORT_POLLING if short else
                   "ask again as soon as an answer comes: a pause after each answer keeps every message posted "
                   "meanwhile waiting (the server holds your next request until news comes). Pause only after a "
                   "failed request")
    return (f"{10 + 2 * QUICK} messages, in order (WAIT = {followed.wait:g} s); those posted {APART:g} s apart "
            f"delivered {statistics.fmean(delays) * 1000:.0f} ms after, on average")


@check(f"a board longer than one answer, that forgot its oldest ({KEPT} kept of {LONG_BOARD}): each kept message once",
       timeout=30)
def reads_a_long_board(student):
    board = MessageBoard(keep=KEPT)
    for n in range(1, LONG_BOARD + 1):
        board.post("check", f"message #{n}")
    with Followed(student, before=0, chat=Chat(board)) as followed:
        followed.wait_for(KEPT, "while reading a long board")
        time.sleep(0.3)
        compare(followed.delivered, followed.board(), f"on a board that keeps ids {LONG_BOARD - KEPT + 1} to "
                f"{LONG_BOARD}", "`after` is the id of the last message you delivered (after = message[\"id\"]), "
                "not a count: this board forgot its oldest messages, so its ids do not start from 1",
                f"an answer holds at most {PAGE} messages, and last_id is the board's newest, not your answer's "
                "last: set after = message[\"id\"] as you deliver each message")
    return f"ids {LONG_BOARD - KEPT + 1} to {LONG_BOARD}, each once (more than one answer of {PAGE})"


NOT_THE_NETWORK = ("catch only what says the server cannot be reached, requests.RequestException, around the request "
                   "and response.json() alone: any other error is a bug to show, not a failure to retry")


# deliver()'s bugs, each raised on message 3: a ValueError first, since response.json()'s error is one too (so a
# student may catch it around everything), then a KeyError (a missing field), then any other
BUGS = (ValueError("invalid literal for int() with base 10: 'three'"), KeyError("colour"),
        RuntimeError("deliver() could not show message 3: a bug in the page's own code"))


@check("an error in deliver() (a bug, not the network: a ValueError, a KeyError, a RuntimeError) comes out of "
       "follow(), not retried and not hidden", timeout=40)
def lets_bugs_out(student):
    for bug in BUGS:
        _lets_out(student, bug)
    return "deliver()'s ValueError, KeyError and RuntimeError each came out of follow()"


def _lets_out(student, bug: Exception) -> None:
    calls = []

    def deliver(message: dict) -> None:
        calls.append(message.get("id"))
        if message.get("id") == 3:
            raise bug

    with Followed(student, deliver=deliver) as followed:
        deadline = time.monotonic() + followed.wait + 3
        while followed.thread.is_alive() and calls.count(3) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        alive, error, tried = followed.thread.is_alive(), followed.thread.error, calls.count(3)
    if not alive and _caused_by(error, bug):
        return
    raised = f"deliver() raised {type(bug).__name__}({bug}) on message 3"
    hint = NOT_THE_NETWORK if isinstance(bug, RuntimeError) else (
        f"{NOT_THE_NETWORK}. Your except catches this {type(bug).__name__}, which deliver() and your own code raise "
        "too (response.json()'s error for an answer that is not JSON is a requests.RequestException already)")
    if not alive:
        what = "returned" if error is None else f"raised {where(error, student.__file__)} instead"
        raise Fail(f"{raised}, and follow() {what}", "let deliver()'s error out of follow() as it is: " + hint)
    if tried > 1:
        raise Fail(f"{raised}, and your follower called it {tried - 1} more times and went on", hint)
    raise Fail(f"{raised}, and your follower went on as if nothing had happened", hint)


def _caused_by(error: BaseException | None, cause: BaseException) -> bool:
    while error is not None:
        if error is cause:
            return True
        error = error.__cause__ or error.__context__
    return False


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
    other = [query["wait"] for query in asked if query not in short and _number(query["wait"]) != wait]
    if other and not short:
        raise Fail(f"your requests ask wait={other[0]} though WAIT = {wait:g}", "pass \"wait\": WAIT itself: "
                   "WAIT is what the checks, and your requests' timeout, count on")
    if short:
        raise Fail(f"{len(short)} of your {len(asked)} requests asked without wait (short polling): "
                   f"GET /api/messages?{'&'.join(f'{k}={v}' for k, v in short[0].items())}",
                   SHORT_POLLING)
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
        compare(followed.delivered, followed.board(), "after a cut connection", followed.twice_hint,
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
        followed.alive("while the server was away")
        if attempts < FEWEST_ATTEMPTS:
            raise Fail(f"while the server was away your follower went {LONGEST_PAUSE:g} seconds without trying again "
                       f"({attempts} attempt{'s' * (attempts != 1)} in {seconds:.1f} seconds)", "pause half a second "
                       "between attempts (stop.wait(0.5)): a longer pause keeps its user waiting that much longer "
                       "once the server is back")
        followed.post(2, "back again")
        followed.wait_for(10, "when the server came back")
        time.sleep(0.3)
        compare(followed.delivered, followed.board(), "when the server came back with its board",
                followed.twice_hint,
                "ask again with the same `after` once the server is back")
    return f"{attempts} attempts in {seconds:.1f} s away; 10 messages, once each"


@check("a proxy's 502 page, an answer cut partway through, then a server that never answers: it pauses between "
       "attempts, drops the silent request after its timeout, and reads on", timeout=60)
def survives_a_proxy_and_a_silence(student):
    with Followed(student) as followed:
        low, high = (followed.wait + beyond for beyond in TIMEOUT_BEYOND_WAIT)
        followed.wait_for(6, "while reading the first messages")
        chat = followed.twins.chat
        followed.twins.stop()
        with Away(followed.port, "502") as proxy:
            seconds = followed.while_away(proxy, AWAY)
        followed.alive("while a proxy answered 502 Bad Gateway (in JSON, with no \"messages\")")
        if proxy.attempts > MOST_ATTEMPTS:
            raise Fail(f"while a proxy answered 502 Bad Gateway your follower asked {proxy.attempts} times in "
                       f"{seconds:.2f} seconds", "an error answer is a failed request too: "
                       "response.raise_for_status(), then wait (stop.wait(0.5)) as after any other failure")
        with Away(followed.port, "cut") as cut:
            followed.while_away(cut, 0.5)
        followed.alive("when an answer was cut partway through (after 11 of its 1,000 bytes)")
        with Away(followed.port, "silent") as frozen:
            given_up = _first_request_given_up(followed, frozen, high)
        followed.alive("while the server took your request and never answered")
        if given_up is None:
            raise Fail(f"your follower has waited {high:g} seconds for the answer of a server that never answers",
                       "give every request a timeout, a few seconds more than WAIT (timeout=WAIT + 5): without "
                       "one, a server that froze holds your follower for ever")
        if given_up < low:
            raise Fail(f"your follower dropped a request {given_up:.1f} seconds after sending it, though the server "
                       f"may hold a long poll WAIT = {followed.wait:g} seconds", "give every request a timeout a few "
                       "seconds longer than WAIT (timeout=WAIT + 5): a long poll's answer may come at WAIT "
                       "seconds, and the network adds its own delay")
        followed.back(chat)
        followed.post(2, "after the silence")
        followed.wait_for(10, "when the server answered again")
        time.sleep(0.3)
        compare(followed.delivered, followed.board(), "when the server answered again", followed.twice_hint,
                "ask again with the same `after` once the server answers")
    return (f"{proxy.attempts} attempts while the proxy answered 502; a silent request dropped after "
            f"{given_up:.1f} s; 10 messages, once each")


def _first_request_given_up(followed: Followed, frozen: Away, longest: float) -> float | None:
    """Seconds from the first request ``frozen`` took to the follower dropping it; None if it still holds on after
    ``longest`` seconds."""
    deadline = time.monotonic() + 5  # the follower's next attempt, after its pause
    while not frozen.held and time.monotonic() < deadline and followed.thread.is_alive():
        time.sleep(0.01)
    followed.alive("while the server took your request and never answered")
    if not frozen.held:
        raise Fail("your follower made no request for 5 seconds after a failed one", "pause half a second "
                   "between attempts (stop.wait(0.5)), then ask again")
    came = frozen.held[0][0]
    while frozen.held[0][1] is None and time.monotonic() < came + longest and followed.thread.is_alive():
        time.sleep(0.01)
    ended = frozen.held[0][1]
    return None if ended is None else ended - came


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


@check("it returns soon after stop is set: during a long poll, and at once during its pause after a failure",
       timeout=60)
def stops(student):
    with Followed(student, before=1) as followed:
        followed.wait_for(2, "while reading the first messages")
        followed.stop.set()
        followed.thread.join(followed.wait + 6)
        if followed.thread.is_alive():
            raise Fail(f"follow() still runs {followed.wait + 6:g} seconds after stop was set",
                       "test stop.is_set() before every request, and wait with stop.wait(...) rather than "
                       "time.sleep(...)")
    with Followed(student, before=1) as followed:
        followed.wait_for(2, "while reading the first messages")
        followed.twins.stop()
        with Away(followed.port) as away:
            deadline = time.monotonic() + 5
            while not away.times and time.monotonic() < deadline and followed.thread.is_alive():
                time.sleep(0.005)
            followed.alive("while the server was away")
            time.sleep(max(0.0, away.times[0] + 0.05 - time.monotonic()) if away.times else 0)  # in the pause
            followed.stop.set()
            set_at = time.monotonic()
            followed.thread.join(followed.wait + 6)
            took = time.monotonic() - set_at
        followed.back(followed.twins.chat)
    if took > PAUSE_STOP:
        raise Fail(f"follow() returned {took:.2f} seconds after stop was set, in its pause after a failed request",
                   "pause with stop.wait(0.5), not time.sleep(0.5): stop.wait returns the moment stop is set")
    return f"it returned; in its pause, {took * 1000:.0f} ms after stop was set"


CHECKS = [delivers_in_order, reads_a_long_board, lets_bugs_out, long_polls, survives_a_cut, waits_while_away,
          survives_a_proxy_and_a_silence, survives_a_restart, survives_a_restart_past_your_place, stops]
