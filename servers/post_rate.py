"""How fast one client may post: a token bucket per address, so that one student cannot flood the board.

Why: a client that posts as fast as the server takes messages (thousands a second from a loop of a few lines)
turns the whole board over in a second, so every poller comes back to a ``missed`` notice, and it pushes more
to every WebSocket and event stream than their clients can read, so each is closed for falling behind (1008):
one student ends the demo for the whole class, again on every reconnection. A person types a message every few
seconds, and the side-by-side page's burst button sends twenty at once; the bound sits far above both.

Each address (``web.client_address``: behind the cluster's nginx, the one nginx saw) has a bucket of
``burst`` tokens that refills at ``rate`` tokens a second; a message takes one token per KiB of its text
as JSON, begun (``cost``): what every client is sent grows with it, so a client of long texts gets fewer of
them through. A message the bucket cannot pay for is refused (``429 too_many_messages`` with ``Retry-After``,
or an error frame on a WebSocket, which goes on) and nothing is stored. The teacher's own machine (a loopback
address) has no bucket: the benchmarks, the notebooks and the tests post from there as fast as they measure,
and nobody else can send from it.

Buckets are kept for the ``senders`` addresses that posted last; a forgotten address starts again with a full
bucket, which is what an address that has not posted for two seconds has anyway.
"""

import json
import math
import threading
import time
from collections import OrderedDict

from .origins import is_loopback

RATE = 20  # tokens a second one address earns: 20 short messages a second, sustained
BURST = 40  # tokens a bucket holds: the side-by-side page's burst of 20, twice
UNIT = 1024  # bytes of a text, as JSON, that cost one token: a longer text costs one per KiB begun
SENDERS = 4096  # addresses whose buckets are kept


def cost(text: str) -> int:
    """Tokens a message of ``text`` takes: one per KiB of the text as JSON (what the server stores and sends)."""
    return max(1, math.ceil(len(json.dumps(text)) / UNIT))


class PostRate:
    """Token buckets by sender address; ``wait`` takes a message's tokens, or says how long to wait for them."""

    def __init__(self, rate: float = RATE, burst: float = BURST, senders: int = SENDERS) -> None:
        self.rate, self.burst, self.senders = rate, burst, senders
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, at monotonic)

    def wait(self, sender: str | None, tokens: int) -> float:
        """0 when ``sender`` may post a message of ``tokens`` now (they are taken), else the seconds until it may
        (nothing is taken). No sender, or a loopback one: always 0."""
        if sender is None or is_loopback(sender):
            return 0.0
        tokens, now = min(tokens, self.burst), time.monotonic()  # a full bucket pays for any message
        with self._lock:
            held, then = self._buckets.pop(sender, (self.burst, now))
            held = min(self.burst, held + (now - then) * self.rate)
            short = tokens - held
            self._buckets[sender] = (held if short > 0 else held - tokens, now)  # newest last
            while len(self._buckets) > self.senders:
                self._buckets.popitem(last=False)
        return short / self.rate if short > 0 else 0.0
