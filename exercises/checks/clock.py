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


# Made-up exchanges (sent, server time, received) and their (offset, uncertainty): the fourth tells floor division
# (//) apart from the other ways an offset comes out wrong, its midpoint having a fraction; the last, a round trip of
# 0.6 ms, shows an answer rounded to the millisecond (which claims a certainty it does not have).
ONE_EXCHANGE = [((100.0, 150.05, 100.1), (50.0, 0.05)), ((10.0, 7.0, 10.2), (-3.1, 0.1)),
                ((5.0, 5.01, 5.02), (0.0, 0.01)), ((101.5, 104.0, 101.9), (2.3, 0.2)),
                ((5.0, 5.0004, 5.0006), (0.0001, 0.0003))]  # a sub-millisecond round trip: loopback's
# How else an offset may come out, each with the hint that names that way.
WRONG_OFFSETS = [
    (lambda sent, server, received: (sent + received) / 2 - server,
     "the sign: the offset is the server's time minus yours, server_time - (sent + received) / 2"),
    (lambda sent, server, received: 1000 * (server - (sent + received) / 2),
     "seconds, not milliseconds: the clocks count seconds"),
    (lambda sent, server, received: server - (sent + received) // 2,
     "// is floor division: it drops the fraction of the midpoint; halve with /, (sent + received) / 2"),
    (lambda sent, server, received: server - sent, "you compared the server's time with one end of the round trip: "
     "it read its clock somewhere in between, so assume halfway, server_time - (sent + received) / 2"),
    (lambda sent, server, received: server - received, "you compared the server's time with one end of the round "
     "trip: it read its clock somewhere in between, so assume halfway, server_time - (sent + received) / 2"),
]


@check("offset_from: assume the server read its clock halfway through the round trip", timeout=10)
def one_exchange(student):
    answers = [(exchange, right, _pair(student.offset_from(*exchange), f"offset_from{exchange}"))
               for exchange, right in ONE_EXCHANGE]
    for exchange, (offset, uncertainty), got in answers:
        if abs(got[0] - offset) > EXACT:
            raise Fail(f"offset_from{exchange} gave the offset {got[0]!r}, expected {offset}",
                       _offset_mistake(answers))
    for exchange, (offset, uncertainty), got in answers:
        if abs(got[1] - uncertainty) > EXACT:
            raise Fail(f"offset_from{exchange} gave the uncertainty {got[1]!r}, expected {uncertainty}",
                       _uncertainty_mistake(answers))
    return "(100.0, 150.05, 100.1) -> offset 50.0 s, give or take 0.05 s"


def _offset_mistake(answers: list) -> str:
    """The hint for the way the student's offsets came out, recognised in every made-up exchange."""
    for formula, hint in WRONG_OFFSETS:
        if all(_close(got[0], formula(*exchange)) for exchange, _, got in answers):
            return hint
    if _rounded(answers, 0):
        return ROUNDED
    return "the server's time belongs halfway between sent and received: server_time - (sent + received) / 2"


ROUNDED = ("you rounded: on loopback a round trip takes well under a millisecond, and a rounded answer claims a "
           "certainty it does not have (an uncertainty of 0.0003 s rounds to 0). Return the numbers as they are")


def _rounded(answers: list, part: int) -> bool:
    """Whether the student's answers (``part`` 0: offsets, 1: uncertainties) are the right ones rounded: each
    within half a hundredth of a second of it, not all exact."""
    return all(abs(got[part] - right[part]) <= 0.005 for _, right, got in answers)


def _uncertainty_mistake(answers: list) -> str:
    """The hint for the way the student's uncertainties came out, recognised in every made-up exchange."""
    if all(_close(got[1], 1000 * right[1]) for _, right, got in answers):
        return "seconds, not milliseconds: the clocks count seconds"
    if all(_close(got[1], 2 * right[1]) for _, right, got in answers):
        return ("if the server read its clock at the very start or end of the round trip, how far from the middle "
                "would it be? Half the round trip, not all of it")
    margins = [got[1] - right[1] for _, right, got in answers]
    if min(margins) > 0 and max(margins) - min(margins) < 1e-6:
        return ("no margin: the server read its clock within the round trip, so half of it is exactly the most the "
                "middle can be off")
    if _rounded(answers, 1):
        return ROUNDED
    return "the uncertainty is half the round trip, (received - sent) / 2: the most the middle can be off"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


# Made-up exchanges (sent, server time, received) in which the right choice, the exchange with the shortest round
# trip, is told apart from every other statistic a student might take (in one set or another), wherever it sits: a
# single set once let the median pass, because its shortest round trip was also its median offset; sets whose
# shortest round trip was always the second let "the second", "all but the first" and "stop at the first shorter
# one" pass. Each set has an odd number of exchanges, so that its median is one of them.
EXCHANGES = [
    [(0.0, 5.0, 0.3), (1.0, 6.05, 1.1), (2.0, 7.2, 2.2)],  # round trips 0.3, 0.1, 0.2
    [(10.0, 12.3, 10.4), (11.0, 13.325, 11.05), (12.0, 14.1, 12.2), (13.0, 15.05, 13.3), (14.0, 16.375, 14.25)],
    [(20.0, 17.55, 20.3), (21.0, 17.91, 21.02), (22.0, 19.0, 22.6), (23.0, 19.55, 23.1), (24.0, 21.2, 24.2)],
    [(30.0, 32.005, 30.01), (31.0, 33.3, 31.4), (32.0, 34.05, 32.3), (33.0, 35.3, 33.2), (34.0, 36.225, 34.35)],
    [(40.0, 37.1, 40.3), (41.0, 37.95, 41.2), (42.0, 39.2, 42.25), (43.0, 40.2, 43.4), (44.0, 40.775, 44.05)],
    [(50.0, 60.6, 51.2), (52.0, 62.85, 53.6), (54.0, 64.6, 55.3), (56.0, 66.45, 57.1), (58.0, 68.77, 59.5)],  # all
]  # over a second (a satellite link), and the answer that came back fastest is not the largest offset
# What else a best_of might return, each with the hint that names that choice: f(offsets, round trips, exchanges).
WRONG_CHOICES = {
    "the median offset": (lambda offsets, trips, exchanges: statistics.median(offsets),
                          "you took the median offset: the estimate you trust most is the one with the smallest "
                          "uncertainty, the shortest round trip, wherever its offset lies among the others"),
    "the mean offset": (lambda offsets, trips, exchanges: statistics.fmean(offsets),
                        "you averaged: a round trip held up on one leg moves its estimate by half the delay, and an "
                        "average keeps that error; take the exchange whose uncertainty is smallest"),
    "the smallest offset": (lambda offsets, trips, exchanges: min(offsets),
                            "you kept the smallest offset: keep the exchange with the smallest uncertainty instead"),
    "the largest offset": (lambda offsets, trips, exchanges: max(offsets),
                           "you kept the largest offset: keep the exchange with the smallest uncertainty instead"),
    "the offset nearest 0": (lambda offsets, trips, exchanges: min(offsets, key=abs),
                             "you kept the offset nearest 0, but the clocks may be seconds apart: keep the exchange "
                             "with the smallest uncertainty instead"),
    "the first exchange": (lambda offsets, trips, exchanges: offsets[0],
                           "you kept the first exchange: compare them all and keep the shortest round trip"),
    "the second exchange": (lambda offsets, trips, exchanges: offsets[1],
                            "you kept the second exchange: compare them all and keep the shortest round trip"),
    "the last exchange": (lambda offsets, trips, exchanges: offsets[-1],
                          "you kept the last exchange: compare them all and keep the shortest round trip"),
    "the longest round trip": (lambda offsets, trips, exchanges: offsets[trips.index(max(trips))],
                               "you kept the longest round trip, the least certain: keep the shortest (min, not max)"),
    "the shortest but the first": (
        lambda offsets, trips, exchanges: offsets[trips.index(min(trips[1:]), 1)],
        "you left the first exchange out: it may well have the shortest round trip; compare them all"),
    "the first shorter than the first": (
        lambda offsets, trips, exchanges: next((offset for offset, trip in zip(offsets, trips) if trip < trips[0]),
                                               offsets[0]),
        "you stopped at the first round trip shorter than the first one: go through every exchange and keep the "
        "shortest (min over all of them)"),
    "the smallest received - server_time": (
        lambda offsets, trips, exchanges: offsets[min(range(len(exchanges)),
                                                      key=lambda n: exchanges[n][2] - exchanges[n][1])],
        "you chose the answer that came back fastest, received - server_time: that mixes two clocks (the offset "
        "is in it). The round trip is received - sent, both read on your clock"),
    "the smallest server_time - sent": (
        lambda offsets, trips, exchanges: offsets[min(range(len(exchanges)),
                                                      key=lambda n: exchanges[n][1] - exchanges[n][0])],
        "the round trip is received - sent, both read on your clock: server_time - sent mixes two clocks"),
}


@check(f"best_of: trust the exchange with the shortest round trip, in {len(EXCHANGES)} made-up sets", timeout=10)
def best_exchange(student):
    answers = []
    for exchanges in EXCHANGES:
        offsets, trips, got = _answer(student, exchanges)
        shortest = trips.index(min(trips))
        answers.append((offsets, trips, got, exchanges))
        if not (_close(got[0], offsets[shortest]) and _close(got[1], trips[shortest] / 2)):
            shown = ", ".join(f"{trip:g}" for trip in trips)
            raise Fail(f"for round trips of {shown} s, best_of gave ({got[0]:.6g}, {got[1]:.6g}), expected "
                       f"({offsets[shortest]:g}, {trips[shortest] / 2:g})", _choice(student, answers))
    return ("in each set, the exchange with the shortest round trip, wherever it sits ("
            + ", ".join(f"{min(received - sent for sent, _, received in exchanges):g} s" for exchanges in EXCHANGES)
            + ")")


def _answer(student, exchanges: list) -> tuple[list[float], list[float], tuple[float, float]]:
    """The offsets and round trips of ``exchanges``, and what the student's best_of makes of them."""
    offsets = [server - (sent + received) / 2 for sent, server, received in exchanges]
    trips = [received - sent for sent, _, received in exchanges]
    got = student.best_of(list(exchanges))
    if got is None:
        raise Fail(f"for round trips of {', '.join(f'{trip:g}' for trip in trips)} s, best_of returned None",
                   "did you start from a guessed bound (shortest = 1.0)? A round trip may take more than a second: "
                   "start from the first exchange, or take min() over them all")
    return offsets, trips, _pair(got, "best_of(...)")


def _choice(student, answers: list) -> str:
    """Name the statistic the student took, from every set: the one that gives their offset in each."""
    offsets, trips, got, _ = answers[-1]
    if _close(got[0], offsets[trips.index(min(trips))]):
        return "keep that exchange's own uncertainty, half its round trip: not an average, nor another's"
    for exchanges in EXCHANGES[len(answers):]:  # the sets not tried yet tell the choices apart
        answers.append((*_answer(student, exchanges), exchanges))
    for choice, hint in WRONG_CHOICES.values():
        if all(_close(got[0], choice(offsets, trips, exchanges)) for offsets, trips, got, exchanges in answers):
            return hint
    if not any(_close(got[0], offset) for offset in offsets):
        return ("you combined several exchanges (an average, a median, weights): a slow leg pulls any combination "
                "off; keep the one exchange whose uncertainty is smallest")
    return "compute offset_from for each exchange and keep the one with the smallest uncertainty"


def _within(student, url: str, clock, true_offset: float, what: str) -> tuple[float, float]:
    offset, uncertainty = _pair(student.estimate_offset(url, samples=10, clock=clock), "estimate_offset(...)")
    if abs(offset - true_offset) > uncertainty + 1e-6:
        ignored = abs(true_offset) > 1 and abs(offset) < abs(true_offset) / 10  # as if on the machine's own clock
        raise Fail(f"{what}: you estimated {offset * 1000:+.3f} ms give or take {uncertainty * 1000:.3f} ms, "
                   f"but the true offset is {true_offset * 1000:+.3f} ms", "estimate_offset must read the clock it "
                   "is given, clock(), before and after each request, not time.time(): here that clock is behind "
                   "the server's" if ignored else "the server's time lies between sent and received; check "
                   "offset_from's sign and its uncertainty")
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
