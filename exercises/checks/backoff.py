"""Exercise 6's checks: backoff delays drawn many times, then real reconnections: a connect() with a bug, one
client, a server that never comes (a port that refuses at once, then one that takes each connection and resets it
0.8 s later), a connect() that times out once, and a class of 30 whose server comes back, every connection
attempt timed.

The timing checks look at the waits (from the end of a failed attempt to the start of the next) and at when each
attempt starts, never at how long a refused connection takes: on Windows a refused connect to 127.0.0.1 takes
about 2 seconds, on Linux a fraction of a millisecond, and a right answer must pass on both. A failure that takes
its time is tried on purpose, though (the port that resets after 0.8 s): a deadline counted from the first failure
rather than the first attempt, or a time left read before the attempt, overruns it only then; and a reset is not a
refusal, so a client that retries refusals only gives up at once. Each client's waits
are compared with what its own seeded generator draws, delay(0, rng), delay(1, rng)..., so that a wait drawn
for the wrong attempt, from another generator, or from a count shared between calls shows, however plausible its
size; a wait may come out later than drawn (a busy machine), never earlier."""

import random
import socket
import statistics
import struct
import threading
import time
import types

from clients import wire
from clients.lab.peers import close_listener
from servers.twins import Twins

from . import Fail, check, free_port, run_in_thread, where

TITLE = "reconnect with backoff and jitter"
FOLDER, FILE = "06-reconnect", "backoff.py"
DRAWS = 2000  # delays drawn per attempt: the mean of a uniform draw is then within 2 % of its middle
CLASS, DOWN = 30, 1.5  # clients, seconds their server stays away
# The class's first waits: with full jitter (0 to 100 ms) their standard deviation is about 29 ms; without
# jitter they are all alike (about 1 ms apart, from thread scheduling). A machine that stalls bunches the retries
# somewhat, never down to SPREAD.
SPREAD, WINDOW = 0.010, 0.010  # seconds
RECONNECTING, GIVING_UP, SLOW_GIVING_UP, CLASS_SEEDS = 1, 2, 4, 100  # the clients' seeds; with 4 the first two
# waits are short (44 ms in all), so that the third slow attempt starts well before the deadline and ends well past it
SILENCE = 0.3  # seconds a connect() waits for a server that never answers, then raises TimeoutError
REFUSAL, SLOW_GIVE_UP_AFTER = 0.8, 2.0  # seconds the slow port takes to fail each attempt; give_up_after there
SLACK = 0.25  # seconds a step may lag behind the deadline on a busy machine
# A wait may come out later than drawn, by a part of it plus seconds: a busy machine wakes a sleeper late, once
# past 0.35 s on a 2-core machine loaded by others. Such delays come now and then, so only a client whose waits are
# mostly late fails (a pause of its own added to each wait, say).
LATE = (0.5, 0.2)
EARLY = 0.005  # seconds a wait may come out shorter than drawn: the clocks' own grain
QUARTERS = (0.2, 0.3)  # the share of draws in each quarter of the range, evenly drawn: 0.25 (5 standard deviations)


def _bound(student, attempt: int) -> float:
    return min(student.CAP, student.BASE * 2 ** attempt)


@check(f"delay: spread over 0 to min(CAP, BASE * 2**attempt), evenly, checked with {DRAWS:,} draws per attempt")
def delays(student):
    draws = {attempt: [student.delay(attempt, random.Random(attempt * DRAWS + n)) for n in range(DRAWS)]
             for attempt in range(10)}
    for attempt, drawn in draws.items():
        if not all(isinstance(d, (int, float)) for d in drawn):
            raise Fail(f"delay({attempt}, rng) returned {drawn[0]!r}", "return a number of seconds")
    growth = _growth(student, draws)
    for attempt, drawn in draws.items():
        bound = _bound(student, attempt)
        low, high, mean, values = min(drawn), max(drawn), statistics.fmean(drawn), len(set(drawn))
        if values == 1:
            raise Fail(f"delay({attempt}, rng) gave {low:.3f} s every one of {DRAWS:,} times (bound {bound:g} s)",
                       "draw it at random over the whole range: rng.uniform(0, bound); a fixed wait sends the whole "
                       "class back at the same moment")
        if high > bound + 1e-9 or low < 0:
            raise Fail(f"delay({attempt}, rng) gave {high if high > bound else low:.3f} s; it must stay between 0 "
                       f"and {bound:g} s", growth or "min(CAP, BASE * 2 ** attempt) is the longest wait: the cap "
                       "keeps a long outage from growing the wait forever")
        if values < DRAWS // 2:
            raise Fail(f"delay({attempt}, rng) took only {values} different values in {DRAWS:,} draws",
                       "keep the draw as it comes, any value from 0 to the bound (rng.uniform(0, bound)): rounding "
                       "it, or choosing among a few values, sends clients back in bunches")
        if high - low < 0.5 * bound:
            raise Fail(f"delay({attempt}, rng) only ranged from {low:.3f} to {high:.3f} s over {DRAWS:,} draws "
                       f"(bound {bound:g} s)", "draw from 0, not from a part of the bound: rng.uniform(0, bound) "
                       "(full jitter) spreads a class the widest" if high - low > 0.1 * bound else
                       "draw it at random over the whole range: rng.uniform(0, bound); a fixed or nearly fixed wait "
                       "sends the whole class back at the same moment")
        if abs(mean - bound / 2) > 0.1 * bound:
            capped = sum(d == bound for d in drawn) > 0.01 * DRAWS
            raise Fail(f"delay({attempt}, rng) averaged {mean:.3f} s; drawn evenly from 0 to {bound:g} s it "
                       f"would average {bound / 2:.3f}", growth or "cap the bound, not the draw: "
                       "rng.uniform(0, min(CAP, BASE * 2 ** attempt)); a capped draw piles the waits up at CAP"
                       if capped else "use rng.uniform(0, min(CAP, BASE * 2 ** attempt))")
        shares = [sum(quarter * bound / 4 <= d < (quarter + 1) * bound / 4 for d in drawn) / DRAWS
                  for quarter in range(4)]
        if not all(QUARTERS[0] <= share <= QUARTERS[1] for share in shares):
            raise Fail(f"delay({attempt}, rng): of {DRAWS:,} draws, {', '.join(f'{share:.0%}' for share in shares)} "
                       f"fell in the four quarters of 0 to {bound:g} s", "full jitter draws evenly, a quarter of the "
                       "draws in each quarter of the range: rng.uniform(0, bound); yours pile up somewhere (a bell "
                       "curve, rng.gauss, or a clamp)")
    return f"attempt 0: 0 to {_bound(student, 0):g} s ... attempt 9: 0 to {_bound(student, 9):g} s"


def _growth(student, draws: dict) -> str | None:
    """The hint for a bound that grows the wrong way, recognised by the longest draw of each attempt (within 2 %
    of the bound, in 2,000 draws); None if it grows as it should, or in no way known here."""
    base, cap = student.BASE, student.CAP
    ways = [(lambda attempt: min(cap, base * 2 ** (attempt + 1)), "attempt counts from 0: the first retry's bound "
             "is BASE itself, BASE * 2 ** attempt"),
            (lambda attempt: min(cap, base * (2 ^ attempt)), "^ is XOR in Python, not a power: 2 ** attempt"),
            (lambda attempt: min(cap, base * (attempt + 1)), "the bound doubles with each failure: BASE * 2 ** "
             "attempt, not BASE * (attempt + 1)"),
            (lambda attempt: base * 2 ** attempt, "min(CAP, BASE * 2 ** attempt) is the longest wait: the cap keeps "
             "a long outage from growing the wait forever")]
    highs = {attempt: max(drawn) for attempt, drawn in draws.items()}
    def grows_as(bound) -> bool:
        return all(0.98 * bound(attempt) <= high <= bound(attempt) + 1e-9 for attempt, high in highs.items())

    if grows_as(lambda attempt: _bound(student, attempt)):
        return None
    return next((hint for bound, hint in ways if grows_as(bound)), None)


@check("delay uses the rng it is given: the same generator gives the same waits, two generators different ones")
def uses_rng(student):
    first = [student.delay(3, random.Random(7)) for _ in range(3)]
    if len(set(first)) != 1:
        raise Fail("three generators seeded alike gave three different waits", "draw with rng.uniform(...), "
                   "not random.uniform(...): each client has its own generator")
    if len({student.delay(3, random.Random(seed)) for seed in range(5)}) < 5:
        raise Fail("five differently seeded generators gave the same wait", "draw the wait with rng.uniform(...)")


@check("only a failed connection (OSError) is retried: a bug in connect() (a TypeError) comes out at once",
       timeout=20)
def retries_only_failed_connections(student):
    bug, calls = TypeError("connect() got an unexpected keyword argument 'timout'"), []

    def connect():
        calls.append(time.monotonic())
        raise bug

    thread = run_in_thread(student.connect_with_backoff, connect, random.Random(3), 3.0)
    thread.join(6)
    if thread.is_alive() or len(calls) > 1:
        raise Fail(f"connect() raised a TypeError (a bug, not an absent server), and connect_with_backoff called it "
                   f"{len(calls)} times", "catch OSError only (except OSError:): a bare except, or except Exception, "
                   "retries bugs, and even Ctrl-C, until give_up_after has passed")
    if thread.error is not bug:
        got = "returned" if thread.error is None else f"raised {where(thread.error, student.__file__)}"
        raise Fail(f"connect() raised a TypeError, and connect_with_backoff {got}", "let any error but OSError "
                   "out as it is: only a failed connection is worth another attempt")
    return "the TypeError came out after 1 call"


class Attempts:
    """``connect()`` for the student: a real WebSocket handshake to 127.0.0.1:port, every attempt timed (when it
    started, when it ended) and its error kept, the very object raised. ``failed`` is called after each failure."""

    def __init__(self, port: int, failed=None) -> None:
        self.port, self.times, self.ends, self.errors, self.opened = port, [], [], [], []
        self.failed = failed or (lambda: None)

    def __call__(self):
        self.times.append(time.monotonic())
        try:
            sock, rfile, _, _ = _open(self.port)
        except Exception as error:
            self.errors.append(error)
            self.failed()
            raise
        finally:
            self.ends.append(time.monotonic())
        self.opened.append((sock, rfile))
        return sock, rfile

    def waits(self) -> list[float]:
        """Seconds from the end of each attempt to the start of the next: what the client chose to wait."""
        return [start - end for end, start in zip(self.ends, self.times[1:])]

    def close(self) -> None:
        for sock, rfile in self.opened:
            rfile.close()
            sock.close()


def _open(port: int):
    """A WebSocket to 127.0.0.1:port, as connect() opens it: a failed connection raises OSError, a proxy's error
    page while its server restarts (a 5xx instead of the 101) included, as the statement asks of connect()."""
    try:
        return wire.open_websocket("127.0.0.1", port, "/ws")
    except wire.HandshakeError as refused:
        if refused.response.status >= 500:
            raise ConnectionError(str(refused)) from refused
        raise


class SlowToRefuse:
    """A port that fails each connection only after ``seconds``: it takes the connection, holds it, and resets it
    (ConnectionResetError), as a server in the middle of a restart may, and as slowly as Windows refuses one on
    127.0.0.1 (about 2 s). Closed after use (a context manager)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.listener = seconds, socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._refuse_each, name="slow to refuse", daemon=True).start()

    def _refuse_each(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._refuse, args=(connection,), name="slow to refuse", daemon=True).start()

    def _refuse(self, connection: socket.socket) -> None:
        time.sleep(self.seconds)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        connection.close()

    def close(self) -> None:
        close_listener(self.listener)

    def __enter__(self) -> "SlowToRefuse":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WallClock:
    """What the student's module sees as ``time``: the real module, but a wall clock (``time.time()``) that
    ``set_back()`` sets back an hour, as NTP, daylight saving or a user may set a laptop's clock; ``time.monotonic()``
    goes on. Used as a context manager, it stands in for ``time`` (and ``time.time``) in the module's names, and
    puts them back after."""

    def __init__(self, student) -> None:
        self.student, self.offset, self.read, self.saved = student, 0.0, 0, {}
        self.module = types.ModuleType("time")
        self.module.__dict__.update(vars(time))
        self.module.time = self.time

    def time(self) -> float:
        self.read += 1
        return time.time() + self.offset

    def set_back(self) -> None:
        self.offset = -3600.0

    def __enter__(self) -> "WallClock":
        for name, value in vars(self.student).items():
            if value is time or value is time.time:
                self.saved[name] = value
        for name, value in self.saved.items():
            setattr(self.student, name, self.module if value is time else self.time)
        return self

    def __exit__(self, *exc) -> None:
        for name, value in self.saved.items():
            setattr(self.student, name, value)


class DelayCalls:
    """Stands in for the student's ``delay`` in their module while a check runs (a context manager): every call
    their connect_with_backoff makes goes through to it, noted with the attempt, the generator and the wait drawn,
    so that the waits can be followed whatever the machine's load."""

    def __init__(self, student) -> None:
        self.student, self.calls = student, []

    def noted(self, attempt, rng, *args, **kwargs):
        wait = self.delay(attempt, rng, *args, **kwargs)
        self.calls.append((attempt, rng, wait))
        return wait

    def of(self, rng) -> list[tuple[int, float]]:
        """(attempt, wait) of each call made with ``rng``."""
        return [(attempt, wait) for attempt, used, wait in self.calls if used is rng]

    def __enter__(self) -> "DelayCalls":
        self.delay = self.student.delay
        self.student.delay = self.noted
        return self

    def __exit__(self, *exc) -> None:
        self.student.delay = self.delay


def _check_waits(calls: DelayCalls, attempts: Attempts, rng, what: str, first_call: bool,
                 cut: list[float] | None = None, judge_late: bool = True) -> tuple[list, int]:
    """Fail unless the waits between ``attempts`` are delay(0, rng), delay(1, rng)... with the client's own ``rng``,
    each slept as drawn (or, with ``cut``, the time left before a deadline if that is less): never shorter, and
    longer only as a busy machine makes it (most of them on time). The hint names what was counted or drawn
    instead. Returns the late waits and how many there were, for a caller that judges lateness over several
    clients (``judge_late=False``: a stalled machine makes all of them late at once, and one client may wait once)."""
    waits, drawn = attempts.waits(), calls.of(rng)
    if waits and not calls.calls:
        raise Fail(f"{what}: connect_with_backoff waited without calling delay(...)", "after failure number n, "
                   "wait delay(n, rng): the checks follow your waits through it")
    if waits and not drawn:
        raise Fail(f"{what}: connect_with_backoff called delay() with another generator than the rng it was given",
                   "pass delay the rng connect_with_backoff was given: each client has its own (the random module is "
                   "everyone's, and the same seed must give the same waits)")
    numbers = [attempt for attempt, _ in drawn[:len(waits)]]
    if numbers != list(range(len(numbers))):
        raise Fail(f"{what}: its waits were drawn for attempts {_shown(numbers)}, not 0, 1, 2...",
                   _miscounted(numbers, first_call))
    cut = cut or [float("inf")] * len(waits)
    slept = [(n, wait, draw, min(draw, left)) for n, (wait, (_, draw), left) in enumerate(zip(waits, drawn, cut))]
    early = [(n, wait, draw) for n, wait, draw, due in slept if wait < due - EARLY]
    late = [(n, wait, draw) for n, wait, draw, due in slept if wait > due * (1 + LATE[0]) + LATE[1]]
    for n, wait, draw in early or (late if judge_late and 2 * len(late) > len(slept) else []):
        _slept_otherwise(what, n, wait, draw)
    return [(what, *one) for one in late], len(slept)


def _shown(numbers: list[int]) -> str:
    """The attempts a client's waits were drawn for, up to the first wrong one and the next (six at least)."""
    wrong = next(n for n, number in enumerate(numbers) if number != n)
    return ", ".join(map(str, numbers[:max(6, wrong + 2)])) + (", ..." if len(numbers) > max(6, wrong + 2) else "")


def _miscounted(numbers: list[int], first_call: bool, shared: bool = False) -> str:
    """The hint for waits drawn for ``numbers`` instead of attempts 0, 1, 2..., naming how they were counted."""
    count = len(numbers)
    if numbers == list(range(1, count + 1)) and first_call:
        return "attempt counts from 0: after the first failure wait delay(0, rng), then delay(1, rng)..."
    if numbers == list(range(numbers[0], numbers[0] + count)):
        return (f"count attempts from 0 again on every call, in a variable of connect_with_backoff's own: yours "
                f"went on from an earlier call (or another client), starting at {numbers[0]}")
    if numbers == [n // 2 for n in range(count)]:
        return ("you called delay() twice for each wait (to compare it, then to sleep it): every call draws another "
                "wait. Draw once, wait = min(delay(attempt, rng), left), and sleep that")
    if numbers == [min(n, max(numbers)) for n in range(count)]:
        return (f"your count stops at {max(numbers)}: attempt goes on growing, one more after every failure; the "
                "cap belongs to delay's bound, min(CAP, BASE * 2 ** attempt), not to the count")
    if shared:
        return ("each call counts its own attempts from 0, in a variable of connect_with_backoff's own: a "
                "module-level count is shared by every client retrying at once")
    return "attempt goes 0, 1, 2...: one more after each failure, from 0 on each call"


def _slept_otherwise(what: str, n: int, wait: float, draw: float) -> None:
    raise Fail(f"{what}: after failure {n} it waited {wait:.3f} s, where delay({n}, rng) drew {draw:.3f} s",
               "sleep the wait delay drew, no more, no less (at the deadline, min(it, the time left))")


def _start_later(port: int, seconds: float, started: list) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: started.append(Twins(websocket_port=port)))
    timer.start()
    return timer


@check("one client reconnects to a real server that comes up 1.2 s late, without hammering it", timeout=40)
def reconnects(student):
    port, started = free_port(), []
    attempts = Attempts(port)
    timer = _start_later(port, 1.2, started)
    began, rng = time.monotonic(), random.Random(RECONNECTING)
    try:
        with DelayCalls(student) as calls:
            thread = run_in_thread(student.connect_with_backoff, attempts, rng, 20.0)
            thread.join(15)
        if thread.is_alive():
            raise Fail("connect_with_backoff did not return within 15 s of a server that came up after 1.2 s",
                       "the wait grows from BASE: it should take a few tenths of a second past 1.2 s")
        if thread.error is not None:
            raise Fail(f"connect_with_backoff raised {where(thread.error, student.__file__)}",
                       "catch OSError from connect() and try again until give_up_after has passed")
        took = time.monotonic() - began
    finally:
        timer.cancel()
        timer.join()
        attempts.close()
        for twins in started:
            twins.stop()
    if not attempts.opened:
        raise Fail("connect_with_backoff returned without a connection", "return what connect() returned")
    tried = len(attempts.times)
    if tried > 15:
        raise Fail(f"{tried} attempts in {took:.1f} s", "wait delay(attempt, rng) after each failure, "
                   "attempt counting 0, 1, 2...: the waits should grow")
    _check_waits(calls, attempts, rng, "one client", first_call=True)
    return f"connected after {took:.2f} s and {tried} attempts, each wait as its rng drew it"


@check("it gives up at the deadline, give_up_after seconds after its first attempt, raising the last error; the "
       "wall clock set back an hour meanwhile; and where each attempt takes 0.8 s to fail", timeout=40)
def gives_up(student):
    quick = _gives_up_on(student, free_port(), 1.0, GIVING_UP, "nothing listening")  # nothing will ever listen
    with SlowToRefuse(REFUSAL) as slow:
        _gives_up_on(student, slow.port, SLOW_GIVE_UP_AFTER, SLOW_GIVING_UP,
                     f"each attempt reset {REFUSAL:g} s after it started")
    return f"{quick}; where each attempt took {REFUSAL:g} s to fail, on time too"


def _gives_up_on(student, port: int, give_up_after: float, seed: int, where_: str) -> str:
    """Fail unless connect_with_backoff, trying ``port`` (which never connects), gives up at the deadline as the
    statement says; the wall clock is set back an hour at each failure."""
    with WallClock(student) as clock, DelayCalls(student) as calls:
        attempts, rng = Attempts(port, failed=clock.set_back), random.Random(seed)
        began = time.monotonic()
        thread = run_in_thread(student.connect_with_backoff, attempts, rng, give_up_after)
        thread.join(give_up_after + 4)  # room for a last attempt that takes 2 s to be refused, as on Windows
        ended = time.monotonic()
    if thread.is_alive():
        raise Fail(f"connect_with_backoff was still trying {give_up_after + 4:g} s after it started "
                   f"(give_up_after={give_up_after:g}, {where_})", "measure the deadline on time.monotonic(): "
                   "time.time() is the wall clock, which jumps when it is set (here back an hour, as NTP or a user "
                   "may)" if clock.read else "note time.monotonic() before the first attempt, and raise once "
                   "give_up_after seconds have passed")
    if not attempts.errors or not isinstance(thread.error, OSError):
        got = "returned" if thread.error is None else f"raised {type(thread.error).__name__}"
        raise Fail(f"with {where_}, connect_with_backoff {got}", "re-raise the last error (a bare "
                   "'raise' inside the except block) once give_up_after has passed")
    deadline = attempts.times[0] + give_up_after
    first = attempts.errors[0]
    if len(attempts.times) == 1 and ended < deadline - SLACK and not isinstance(first, ConnectionRefusedError):
        raise Fail(f"the first attempt failed with {type(first).__name__} ({first}), and connect_with_backoff "
                   f"raised it at once, {give_up_after:g} s before its deadline", "retry every failed connection "
                   "(except OSError:): a refusal (ConnectionRefusedError) is only one; a server in the middle of a "
                   "restart may take the connection and reset it (ConnectionResetError), or let it time out "
                   "(TimeoutError)")
    late = [start - deadline for start in attempts.times[1:] if start > deadline + SLACK]
    if late:
        raise Fail(f"with {where_}, an attempt started {late[0]:.2f} s past the deadline "
                   f"(give_up_after={give_up_after:g}): a wait ran past it",
                   "never wait past the deadline: wait min(delay(attempt, rng), time left), then try once more, and "
                   "raise if that fails too" if attempts.ends[0] - attempts.times[0] < SLACK else
                   "an attempt takes time too (here 0.8 s to fail, about 2 s for a refusal on Windows): the "
                   "deadline is give_up_after seconds after the first attempt started (note time.monotonic() before "
                   "it, not at the first failure), and the time left is read after an attempt has failed, just "
                   "before the wait (not before the attempt)")
    last = max(attempts.ends)
    if last < deadline - SLACK:
        _gave_up_early(calls.of(rng), attempts, last - attempts.times[0], ended - attempts.times[0], give_up_after)
    if ended - last > SLACK:
        raise Fail(f"it raised {ended - last:.2f} s after its last attempt failed, past the deadline",
                   "once the deadline has passed, raise at once instead of waiting again")
    _check_waits(calls, attempts, rng, f"give_up_after={give_up_after:g}", first_call=False,
                 cut=[began + give_up_after - end for end in attempts.ends])
    if thread.error is not attempts.errors[-1]:
        raise Fail(f"it raised {type(thread.error).__name__}({thread.error}), not the error its last attempt "
                   f"raised, {type(attempts.errors[-1]).__name__}({attempts.errors[-1]})",
                   "re-raise the last error itself, with a bare 'raise' in the except block: the caller learns why "
                   "the connection failed (a new TimeoutError tells it nothing)")
    return (f"gave up {last - attempts.times[0]:.2f} s after its first attempt, {len(attempts.times)} "
            f"attempts, raising the last {type(thread.error).__name__}")


def _gave_up_early(drawn: list, attempts: Attempts, last: float, raised: float, give_up_after: float) -> None:
    """Fail for a last attempt made well before the deadline, naming why: the client waited out the time left
    and raised without trying again, gave up because the wait it drew ran past the deadline, or counted
    give_up_after some other way than in seconds."""
    what = f"its last attempt came {last:.2f} s after its first, and it raised at {raised:.2f} s"
    if raised >= give_up_after - SLACK:
        raise Fail(f"{what} (give_up_after={give_up_after:g})", "after the wait cut short at the deadline, try once "
                   "more: raise only if that last attempt fails too")
    drawn = drawn[len(attempts.waits())][1] if len(drawn) > len(attempts.waits()) else 0.0  # after the last one
    if last + drawn > give_up_after:
        raise Fail(f"{what}: the next wait it drew, {drawn:.2f} s, ran past the deadline (give_up_after="
                   f"{give_up_after:g})", "a wait that would run past the deadline is cut short, not skipped: wait "
                   "the time left (min(delay(attempt, rng), left)), try once more, and raise only if that fails too")
    raise Fail(f"it gave up {last:.2f} s after its first attempt, with give_up_after={give_up_after:g}",
               "give_up_after is seconds, from the first attempt: keep trying (and waiting) until that much time has "
               "passed")


@check("a connection attempt that times out (TimeoutError) is retried too: the next attempt connects", timeout=20)
def retries_timeouts(student):
    calls, connection, returned = [], object(), []
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes each connection and never answers it
        def connect():
            calls.append(time.monotonic())
            if len(calls) > 1:
                return connection
            with socket.create_connection(silent.getsockname(), timeout=SILENCE) as sock:
                sock.recv(1)  # nothing comes: a real TimeoutError, as from a server that hangs mid-restart

        thread = run_in_thread(lambda: returned.append(student.connect_with_backoff(connect, random.Random(3), 5.0)))
        thread.join(8)
    if isinstance(thread.error, TimeoutError) and len(calls) == 1:
        raise Fail("connect() timed out once (TimeoutError), and connect_with_backoff raised it at once",
                   "retry every failed connection: except OSError:. A TimeoutError is an OSError but not a "
                   "ConnectionError, so except ConnectionError: lets timeouts out")
    if thread.is_alive() or thread.error is not None or returned != [connection]:
        got = ("was still running 8 s later" if thread.is_alive() else "returned something else" if
               thread.error is None else f"raised {where(thread.error, student.__file__)}")
        raise Fail(f"connect() timed out once, then connected, and connect_with_backoff {got}",
                   "catch OSError (TimeoutError is one), wait, try again, and return what connect() returned")
    return f"the TimeoutError was retried: connected on attempt {len(calls)}"


@check(f"a class of {CLASS} whose server is back after {DOWN:g} s does not come back in one wave", timeout=60)
def no_wave(student):
    port, started = free_port(), []
    clients = [Attempts(port) for _ in range(CLASS)]
    timer = _start_later(port, DOWN, started)
    try:
        rngs = [random.Random(CLASS_SEEDS + n) for n in range(CLASS)]
        with DelayCalls(student) as calls:
            threads = [run_in_thread(student.connect_with_backoff, client, rng, 20.0)
                       for client, rng in zip(clients, rngs)]
            for thread in threads:
                thread.join(20)
        first = min(client.times[0] for client in clients)
        retries = sorted(t - first for client in clients for t in client.times[1:])
        connected = sum(bool(client.opened) for client in clients)
    finally:
        timer.cancel()
        timer.join()
        for client in clients:
            client.close()
        for twins in started:
            twins.stop()
    if connected < CLASS:
        raise Fail(f"only {connected} of {CLASS} clients connected within 20 s", "see the checks before this one")
    lates, all_waits = [], 0
    for n, (client, rng) in enumerate(zip(clients, rngs)):
        numbers = [attempt for attempt, _ in calls.of(rng)[:len(client.waits())]]
        if numbers != list(range(len(numbers))):
            raise Fail(f"client {n + 1} of the class drew its waits for attempts {_shown(numbers)}, not 0, 1, 2...",
                       _miscounted(numbers, first_call=False, shared=True))
        late, slept = _check_waits(calls, client, rng, f"client {n + 1} of the class", first_call=False,
                                   judge_late=False)
        lates, all_waits = lates + late, all_waits + slept
    if 2 * len(lates) > all_waits:  # most of the class late: a pause of its own, not a stalled machine
        _slept_otherwise(*lates[0])
    crowd = max(sum(1 for t in retries[i:] if t < start + WINDOW) for i, start in enumerate(retries))
    first_waits = [client.waits()[0] for client in clients if len(client.times) > 1]  # however long a refusal took
    spread = statistics.pstdev(first_waits) if len(first_waits) > 1 else 0.0
    if spread < SPREAD:
        raise Fail(f"the class's first waits were within {spread * 1000:.1f} ms of each other (standard deviation); "
                   f"the busiest {WINDOW * 1000:g} ms held {crowd} of the class's retries",
                   "draw each wait at random (rng.uniform) so that clients that failed together retry apart")
    return (f"{len(retries)} retries; first waits spread by {spread * 1000:.0f} ms (standard deviation); the "
            f"busiest {WINDOW * 1000:g} ms held {crowd}; all {CLASS} connected "
            f"{max(c.times[-1] for c in clients) - first:.2f} s after the first attempt")


CHECKS = [delays, uses_rng, retries_only_failed_connections, reconnects, gives_up, retries_timeouts,
          no_wave]
