"""How long a client waits before it tries again: exponential backoff with full jitter.

Why the doubling: a server that is restarting should not be flooded with attempts, so
each failure doubles the longest wait (0.25 s, 0.5 s, 1 s, ... up to 8 s).
Why the jitter: when the teacher restarts the server, thirty laptops lose it at the same
instant. Had they all waited exactly 0.25 s, then 0.5 s..., they would all come back at the
same instants, again and again. Each waits a random time between zero and the bound instead,
which spreads them out. The browser pages do the same (``retry()`` in their scripts).
"""

import math
import random

FIRST = 0.25  # seconds: the bound of the first wait
LONGEST = 8.0  # seconds: the bound stops doubling here


class Backoff:
    def __init__(self, first: float = FIRST, longest: float = LONGEST, rng: random.Random | None = None) -> None:
        self.first, self.longest = first, longest
        self.rng = rng or random.Random()
        self.failures = 0
        # Doubling past this many failures changes nothing, and 2 ** 1024 would not even fit in a float
        # (about 68 minutes of a server that stays down): the exponent stops here.
        self.doublings = math.ceil(math.log2(longest / first)) if 0 < first < longest else 0

    def next_delay(self) -> float:
        """Seconds to wait after one more failure: anywhere from 0 to the doubled bound."""
        bound = min(self.longest, self.first * 2 ** min(self.failures, self.doublings))
        self.failures += 1
        return self.rng.uniform(0, bound)

    def reset(self) -> None:
        """A success: the next failure starts from the first bound again."""
        self.failures = 0
