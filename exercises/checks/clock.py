"""Exercise 4's checks: the clock offset from round trips, made-up and against a real server."""

import math
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
            sign = " (the sign: server minus you)" if abs(got[0] + offset) < EXACT else ""
            raise Fail(f"{call} gave the offset {got[0]!r}, expected {offset}{sign}",
                       "the server's time belongs halfway between sent and received: "
                       "server_time - (sent + received) / 2")
        if abs(got[1] - uncertainty) > EXACT:
            raise Fail(f"{call} gave the uncertainty {got[1]!r}, expected {uncertainty}",
                       "if the server read its clock at the very start or end of the round trip, how far from "
                       "the middle would it be? Half the round trip")
    return "(100.0, 150.05, 100.1) -> offset 50.0 s, give or take 0.05 s"


@check("best_of: trust the exchange with the shortest round trip")
def best_exchange(student):
    exchanges = [(0.0, 5.0, 0.3), (1.0, 6.05, 1.1), (2.0, 7.2, 2.2)]  # round trips 0.3, 0.1, 0.2
    got = _pair(student.best_of(list(exchanges)), "best_of(...)")
    if math.isclose(got[0], 5.0, abs_tol=EXACT) and math.isclose(got[1], 0.05, abs_tol=EXACT):
        return "of round trips 0.3, 0.1 and 0.2 s, the 0.1 s one: offset 5.0 s, give or take 0.05 s"
    offsets = [4.85, 5.0, 5.1]
    if math.isclose(got[0], sum(offsets) / 3, abs_tol=1e-6):
        hint = ("you averaged: a round trip held up on one leg moves its estimate by half the delay, and an "
                "average keeps that error; take the exchange whose uncertainty is smallest")
    else:
        hint = "compute offset_from for each exchange and keep the one with the smallest uncertainty"
    raise Fail(f"for round trips of 0.3, 0.1 and 0.2 s, best_of gave {got}, expected (5.0, 0.05)", hint)


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
