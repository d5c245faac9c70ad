"""Exercise 4, a solution: the server's clock offset from round trips, as NTP and the side-by-side page do it."""

import time

import requests


def offset_from(sent: float, server_time: float, received: float) -> tuple[float, float]:
    """The server read its clock somewhere between ``sent`` and ``received`` (on our clock). Assume the middle:
    then the offset is ``server_time - (sent + received) / 2``, wrong by at most half the round trip."""
    round_trip = received - sent
    return server_time - (sent + received) / 2, round_trip / 2


def best_of(exchanges: list[tuple[float, float, float]]) -> tuple[float, float]:
    """The exchange with the shortest round trip has the smallest uncertainty: take it, do not average
    (one slow round trip, held up one way only, would pull an average off)."""
    return min((offset_from(*exchange) for exchange in exchanges), key=lambda estimate: estimate[1])


def estimate_offset(url: str, samples: int = 10, clock=time.time) -> tuple[float, float]:
    """Ask the server at ``url`` for its time ``samples`` times, reading ``clock()`` before and after each."""
    exchanges = []
    with requests.Session() as session:
        for _ in range(samples):
            sent = clock()
            server_time = session.get(f"{url}/api/status", timeout=5).json()["time"]
            received = clock()
            exchanges.append((sent, server_time, received))
    return best_of(exchanges)
