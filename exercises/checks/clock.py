"""Exercise 4's checks: the clock offset from round trips, made-up and against a real server."""

import statistics
import time

from clients.lab.relay import Relay
from servers.twins import Twins

from . import Fail, check

TITLE = "how far is the server's clock from yours?"
FOLDER, FILE = "04-clock-offset", "offset.py"
EXACT = 1e-9  # seconds: made-up exchanges have exact answers
SKEW = 3.7  # seconds the check sets "your" clock behind the server's


def _pair(result, call: str) -> tuple[float, float]:
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(x, (int, float)) for x in result)):
        raise Fail(f"{call} returned {result!r}", "return a tuple of two numbers: (offset, uncertainty)")
    return result


@check("offset_from: assume the server read its clock halfway through the round trip")
def one_exchange(student):
    cases = [((100.0, 150.05, 100.1), (50.0, 0.05)), ((10.0, 7.0, 10.2), (-3.1, 0.1)),
             ((5.0, 5.01, 5.02), (0.0, 0.01))]
    for exchange, (offset, uncertainty) in cases:
        call = f"offset_from{exchange}"
        got = _pair(student.offset_from(*exchange), call)
        if abs(got[0] - offset) > EXACT:
            raise Fail(f"{call} gave the offset {got[0]!r}, expected {offset}", _offset_mistake(exchange, got[0]))
        if abs(got[1] - uncertainty) > EXACT:
            raise Fail(f"{call} gave the uncertainty {got[1]!r}, expected {uncertainty}",
                       "seconds, not milliseconds: the clocks count seconds" if _close(got[1], 1000 * uncertainty)
                       else "if the server read its clock at the very start or end of the round trip, how far from "
                       "the middle would it be? Half the round trip, not all of it")
    return "(100.0, 150.05, 100.1) -> offset 50.0 s, give or take 0.05 s"


def _offset_mistake(exchange: tuple[float, float, float], offset: float) -> str:
    """A hint for the usual mistakes in one exchange's offset, recognised by the value."""
    sent, server_time, received = exchange
    right = server_time - (sent + received) / 2
    if _close(offset, -right):
        return "the sign: the offset is the server's time minus yours, server_time - (sent + received) / 2"
    if _close(offset, 1000 * right):
        return "seconds, not milliseconds: the clocks count seconds"
    if _close(offset, server_time - sent) or _close(offset, server_time - received):
        return ("you compared the server's time with one end of the round trip: it read its clock somewhere in "
                "between, so assume halfway, server_time - (sent + received) / 2")
    return "the server's time belongs halfway between sent and received: server_time - (sent + received) / 2"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


# Made-up exchanges (sent, server time, received) in which the right choice, the exchange with the shortest round
# trip, is told apart from every other statistic a student might take (in one set or another): a single set once
# let the median pass, because its shortest round trip was also its median offset.
EXCHANGES = [
    [(0.0, 5.0, 0.3), (1.0, 6.05, 1.1), (2.0, 7.2, 2.2)],  # round trips 0.3, 0.1, 0.2
    [(10.0, 12.3, 10.4), (11.0, 13.325, 11.05), (12.0, 14.1, 12.2), (13.0, 15.05, 13.3), (14.0, 16.375, 14.25)],
    [(20.0, 17.55, 20.3), (21.0, 17.91, 21.02), (22.0, 19.0, 22.6), (23.0, 19.55, 23.1), (24.0, 21.2, 24.2)],
]
# What else a best_of might return, each with the hint that names that choice.
WRONG_CHOICES = {
    "the median offset": (lambda offsets, trips: statistics.median(offsets),
                          "you took the median offset: the estimate you trust most is the one with the smallest "
                          "uncertainty, the shortest round trip, wherever its offset lies among the others"),
    "the mean offset": (lambda offsets, trips: statistics.fmean(offsets),
                        "you averaged: a round trip held up on one leg moves its estimate by half the delay, and an "
                        "average keeps that error; take the exchange whose uncertainty is smallest"),
    "the smallest offset": (lambda offsets, trips: min(offsets),
                            "you kept the smallest offset: keep the exchange with the smallest uncertainty instead"),
    "the largest offset": (lambda offsets, trips: max(offsets),
                           "you kept the largest offset: keep the exchange with the smallest uncertainty instead"),
    "the first exchange": (lambda offsets, trips: offsets[0],
                           "you kept the first exchange: compare them all and keep the shortest round trip"),
    "the last exchange": (lambda offsets, trips: offsets[-1],
                          "you kept the last exchange: compare them all and keep the shortest round trip"),
    "the longest round trip": (lambda offsets, trips: offsets[trips.index(max(trips))],
                               "you kept the longest round trip, the least certain: keep the shortest (min, not max)"),
}


@check(f"best_of: trust the exchange with the shortest round trip, in {len(EXCHANGES)} made-up sets")
def best_exchange(student):
    answers = []
    for exchanges in EXCHANGES:
        offsets = [server - (sent + received) / 2 for sent, server, received in exchanges]
        trips = [received - sent for sent, _, received in exchanges]
        shortest = trips.index(min(trips))
        got = _pair(student.best_of(list(exchanges)), "best_of(...)")
        answers.append((offsets, trips, got))
        if not (_close(got[0], offsets[shortest]) and _close(got[1], trips[shortest] / 2)):
            shown = ", ".join(f"{trip:g}" for trip in trips)
            raise Fail(f"for round trips of {shown} s, best_of gave ({got[0]:.6g}, {got[1]:.6g}), expected "
                       f"({offsets[shortest]:g}, {trips[shortest] / 2:g})", _choice(student, answers))
    return "in each set, the exchange with the shortest round trip (0.1 s, 0.05 s, 0.02 s)"


def _choice(student, answers: list) -> str:
    """Name the statistic the student took, from every set: the one that gives their offset in each."""
    for exchanges in EXCHANGES[len(answers):]:  # the sets not tried yet tell the choices apart
        offsets = [server - (sent + received) / 2 for sent, server, received in exchanges]
        answers.append((offsets, [received - sent for sent, _, received in exchanges],
                        _pair(student.best_of(list(exchanges)), "best_of(...)")))
    for choice, hint in WRONG_CHOICES.values():
        if all(_close(got[0], choice(offsets, trips)) for offsets, trips, got in answers):
            return hint
    return "compute offset_from for each exchange and keep the one with the smallest uncertainty"


def _within(student, url: str, clock, true_offset: float, what: str) -> tuple[float, float]:
    offset, uncertainty = _pair(student.estimate_offset(url, samples=10, clock=clock), "estimate_offset(...)")
    if abs(offset - true_offset) > uncertainty + 1e-6:
        raise Fail(f"{what}: you estimated {offset * 1000:+.3f} ms give or take {uncertainty * 1000:.3f} ms, "
                   f"but the true offset is {true_offset * 1000:+.3f} ms", "the server's time lies between "
                   "sent and received; check offset_from's sign and its uncertainty")
    return offset, uncertainty


@check("against a real server on this machine: the true offset (0, one clock) lies within your uncertainty")
def real_server(student):
    with Twins() as twins:
        offset, uncertainty = _within(student, twins.polling.url, time.time, 0.0, "one machine, one clock")
    return f"{offset * 1000:+.3f} ms give or take {uncertainty * 1000:.3f} ms"


@check(f"your clock {SKEW:g} s behind the server's, and a network that holds every byte 20 ms each way")
def skewed_and_slow(student):
    with Twins() as twins, Relay(twins.polling.port, delay=0.02) as slow:
        behind = lambda: time.time() - SKEW  # noqa: E731  (a laptop whose clock is behind)
        offset, uncertainty = _within(student, twins.polling.url, behind, SKEW, f"your clock {SKEW:g} s behind")
        slow_offset, slow_uncertainty = _within(student, f"http://127.0.0.1:{slow.port}", time.time, 0.0,
                                                "through a relay adding 20 ms each way")
    if slow_uncertainty < 0.02:
        raise Fail(f"through a relay that adds 40 ms to every round trip your uncertainty is only "
                   f"{slow_uncertainty * 1000:.1f} ms", "the uncertainty is half the round trip you measured")
    return (f"clock behind: {offset:+.4f} s give or take {uncertainty * 1000:.2f} ms; slow network: "
            f"{slow_offset * 1000:+.2f} ms give or take {slow_uncertainty * 1000:.2f} ms")


CHECKS = [one_exchange, best_exchange, real_server, skewed_and_slow]
