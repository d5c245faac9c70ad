"""Exercise 4: how far is the server's clock from yours? (notebook 04). The statement is README.md beside this file.

Check your work with:  make check EX=4   (or: python -m exercises.check 4)
"""

import time

import requests


def offset_from(sent: float, server_time: float, received: float) -> tuple[float, float]:
    """One exchange: you read your clock (``sent``), asked the server for its time (``server_time``),
    and read your clock again when the answer came (``received``).

    Returns ``(offset, uncertainty)`` in seconds: ``offset`` is how far the server's clock is ahead of
    yours (negative if it is behind), ``uncertainty`` the most that estimate can be wrong by.
    """
    raise NotImplementedError("offset_from(sent, server_time, received) is not written yet")


def best_of(exchanges: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Many exchanges, each ``(sent, server_time, received)``: the ``(offset, uncertainty)`` you trust most."""
    raise NotImplementedError("best_of(exchanges) is not written yet")


def estimate_offset(url: str, samples: int = 10, clock=time.time) -> tuple[float, float]:
    """Ask the server at ``url`` for its time ``samples`` times (``GET /api/status`` answers
    ``{"time": ..., ...}``), reading ``clock()`` just before and just after each request."""
    exchanges = []
    with requests.Session() as session:
        for _ in range(samples):
            sent = clock()
            server_time = session.get(f"{url}/api/status", timeout=5).json()["time"]
            received = clock()
            exchanges.append((sent, server_time, received))
    return best_of(exchanges)
