"""Exercise 6's checks: backoff delays drawn many times, then real reconnections: one client, a server that
never comes, and a class of 30 whose server comes back, every connection attempt timed.

The timing checks look at the waits (from the end of a failed attempt to the start of the next) and at when each
attempt starts, never at how long a refused connection takes: on Windows a refused connect to 127.0.0.1 takes
about 2 seconds, on Linux a fraction of a millisecond, and a right answer must pass on both."""

import random
import statistics
import threading
import time

from clients import wire
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
SLACK = 0.25  # seconds a step may lag behind the deadline on a busy machine


def _bound(student, attempt: int) -> float:
    return min(student.CAP, student.BASE * 2 ** attempt)


@check(f"delay: spread over 0 to min(CAP, BASE * 2**attempt), checked with {DRAWS:,} draws per attempt")
def delays(student):
    for attempt in range(10):
        bound = _bound(student, attempt)
        draws = [student.delay(attempt, random.Random(attempt * DRAWS + n)) for n in range(DRAWS)]
        if not all(isinstance(d, (int, float)) for d in draws):
            raise Fail(f"delay({attempt}, rng) returned {draws[0]!r}", "return a number of seconds")
        low, high, mean = min(draws), max(draws), statistics.fmean(draws)
        if high > bound + 1e-9 or low < 0:
            off_by_one = high <= 2 * bound + 1e-9 and abs(mean - bound) <= 0.1 * bound
            raise Fail(f"delay({attempt}, rng) gave {high if high > bound else low:.3f} s; it must stay between 0 "
                       f"and {bound:g} s", "attempt counts from 0: the first retry's bound is BASE itself, "
                       "BASE * 2 ** attempt" if off_by_one else "min(CAP, BASE * 2 ** attempt) is the longest wait: "
                       "the cap keeps a long outage from growing the wait forever")
        if high - low < 0.5 * bound:
            raise Fail(f"delay({attempt}, rng) only ranged from {low:.3f} to {high:.3f} s over {DRAWS:,} draws "
                       f"(bound {bound:g} s)", "draw from 0, not from a part of the bound: rng.uniform(0, bound) "
                       "(full jitter) spreads a class the widest" if high - low > 0.1 * bound else
                       "draw it at random over the whole range: rng.uniform(0, bound); a fixed or nearly fixed wait "
                       "sends the whole class back at the same moment")
        if abs(mean - bound / 2) > 0.1 * bound:
            raise Fail(f"delay({attempt}, rng) averaged {mean:.3f} s; drawn evenly from 0 to {bound:g} s it "
                       f"would average {bound / 2:.3f}", "use rng.uniform(0, min(CAP, BASE * 2 ** attempt))")
    return f"attempt 0: 0 to {_bound(student, 0):g} s ... attempt 9: 0 to {_bound(student, 9):g} s"


@check("delay uses the rng it is given: the same generator gives the same waits, two generators different ones")
def uses_rng(student):
    first = [student.delay(3, random.Random(7)) for _ in range(3)]
    if len(set(first)) != 1:
        raise Fail("three generators seeded alike gave three different waits", "draw with rng.uniform(...), "
                   "not random.uniform(...): each client has its own generator")
    if len({student.delay(3, random.Random(seed)) for seed in range(5)}) < 5:
        raise Fail("five differently seeded generators gave the same wait", "draw the wait with rng.uniform(...)")


class Attempts:
    """``connect()`` for the student: a real WebSocket handshake to 127.0.0.1:port, every attempt timed (when it
    started, when it ended) and its error kept, the very object raised."""

    def __init__(self, port: int) -> None:
        self.port, self.times, self.ends, self.errors, self.opened = port, [], [], [], []

    def __call__(self):
        self.times.append(time.monotonic())
        try:
            sock, rfile, _, _ = wire.open_websocket("127.0.0.1", self.port, "/ws")
        except Exception as error:
            self.errors.append(error)
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


def _start_later(port: int, seconds: float, started: list) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: started.append(Twins(websocket_port=port)))
    timer.start()
    return timer


@check("one client reconnects to a real server that comes up 1.2 s late, without hammering it", timeout=40)
def reconnects(student):
    port, started = free_port(), []
    attempts = Attempts(port)
    timer = _start_later(port, 1.2, started)
    began = time.monotonic()
    try:
        thread = run_in_thread(student.connect_with_backoff, attempts, random.Random(1), 20.0)
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
    return f"connected after {took:.2f} s and {tried} attempts"


@check("it gives up at the deadline, give_up_after seconds after its first attempt, raising the last error",
       timeout=30)
def gives_up(student):
    port, give_up_after = free_port(), 1.0  # nothing will ever listen on port
    attempts = Attempts(port)
    thread = run_in_thread(student.connect_with_backoff, attempts, random.Random(2), give_up_after)
    thread.join(give_up_after + 4)  # room for a last attempt that takes 2 s to be refused, as on Windows
    ended = time.monotonic()
    if thread.is_alive():
        raise Fail(f"connect_with_backoff was still trying {give_up_after + 4:g} s after it started "
                   f"(give_up_after={give_up_after:g})", "note time.monotonic() before the first attempt, and raise "
                   "once give_up_after seconds have passed")
    if not attempts.errors or not isinstance(thread.error, OSError):
        got = "returned" if thread.error is None else f"raised {type(thread.error).__name__}"
        raise Fail(f"with nothing listening, connect_with_backoff {got}", "re-raise the last error (a bare "
                   "'raise' inside the except block) once give_up_after has passed")
    deadline = attempts.times[0] + give_up_after
    late = [start - deadline for start in attempts.times[1:] if start > deadline + SLACK]
    if late:
        raise Fail(f"an attempt started {late[0]:.2f} s past the deadline (give_up_after={give_up_after:g}): a wait "
                   "ran past it", "never wait past the deadline: wait min(delay(attempt, rng), time left), then try "
                   "once more, and raise if that fails too")
    if max(attempts.ends) < deadline - SLACK:
        raise Fail(f"it gave up {max(attempts.ends) - attempts.times[0]:.2f} s after its first attempt, with "
                   f"give_up_after={give_up_after:g}", "give_up_after is seconds, from the first attempt: keep "
                   "trying (and waiting) until that much time has passed")
    if ended - max(attempts.ends) > SLACK:
        raise Fail(f"it raised {ended - max(attempts.ends):.2f} s after its last attempt failed, past the deadline",
                   "once the deadline has passed, raise at once instead of waiting again")
    if thread.error is not attempts.errors[-1]:
        raise Fail(f"it raised {type(thread.error).__name__}({thread.error}), not the error its last attempt "
                   f"raised, {type(attempts.errors[-1]).__name__}({attempts.errors[-1]})",
                   "re-raise the last error itself, with a bare 'raise' in the except block: the caller learns why "
                   "the connection failed (a new TimeoutError tells it nothing)")
    return (f"gave up {max(attempts.ends) - attempts.times[0]:.2f} s after its first attempt, {len(attempts.times)} "
            f"attempts, raising the last {type(thread.error).__name__}")


@check(f"a class of {CLASS} whose server is back after {DOWN:g} s does not come back in one wave", timeout=60)
def no_wave(student):
    port, started = free_port(), []
    clients = [Attempts(port) for _ in range(CLASS)]
    timer = _start_later(port, DOWN, started)
    try:
        threads = [run_in_thread(student.connect_with_backoff, client, random.Random(100 + n), 20.0)
                   for n, client in enumerate(clients)]
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


CHECKS = [delays, uses_rng, reconnects, gives_up, no_wave]
