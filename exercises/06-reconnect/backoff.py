"""Exercise 6: reconnect with exponential backoff and jitter (notebook 07). The statement is README.md beside
this file.

Check your work with:  make check EX=6   (or: python -m exercises.check 6)
"""

import time

BASE = 0.1  # seconds: the longest wait before the first retry
CAP = 5.0  # seconds: no wait is ever longer


def delay(attempt: int, rng) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry): a random number between 0 and
    min(CAP, BASE * 2 ** attempt), drawn with ``rng`` (a random.Random: use rng.uniform(a, b))."""
    raise NotImplementedError("delay(attempt, rng) is not written yet")


def connect_with_backoff(connect, rng, give_up_after: float = 30.0):
    """Call ``connect()`` until it returns a connection, and return that. ``connect()`` raises OSError for every
    connection that failed (ConnectionRefusedError, ConnectionResetError, TimeoutError; a ConnectionError for a
    proxy's 502 page) while the server is away. Give up after ``give_up_after`` seconds: then raise the last error."""
    while True:
        try:
            return connect()
        except OSError:
            time.sleep(0.5)
            # TODO: every client of the class sleeps the same 0.5 s, forever. Wait delay(attempt, rng) instead,
            #       with attempt = 0, 1, 2... and stop (raise) once give_up_after seconds have passed.
