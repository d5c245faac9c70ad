"""Exercise 6, a solution: reconnect with exponential backoff and full jitter."""

import time

BASE = 0.1  # seconds: the longest wait before the first retry
CAP = 5.0  # seconds: no wait is ever longer


def delay(attempt: int, rng) -> float:
    """Full jitter: anywhere from 0 to the exponential bound. The bound doubles with each failure, so a server
    that stays down is asked less and less often; the randomness spreads a class that lost its server at the
    same moment, so that it does not come back in one wave."""
    return rng.uniform(0, min(CAP, BASE * 2 ** attempt))


def connect_with_backoff(connect, rng, give_up_after: float = 30.0):
    """Call ``connect()`` until it works; wait ``delay(n, rng)`` after failure n; raise the last error once
    ``give_up_after`` seconds have passed (a last wait is cut short rather than overrun the deadline)."""
    deadline = time.monotonic() + give_up_after
    attempt = 0
    while True:
        try:
            return connect()
        except OSError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            time.sleep(min(delay(attempt, rng), left))
            attempt += 1
