"""The class kept in Redis, so that every server process behind nginx serves the same class.

Why: nginx hands each request to the next node, so a student's page asks one node
for the mode, polls another, and holds its stream on a third. With the room in each
process's memory (``room.Room``), the mode read back would alternate between nodes
and each node would list only the students it happened to serve. Here:

* the mode is one Redis key that every node reads and the teacher's switch writes;
* each node publishes its meter's rows (every client it has served, with its figures)
  every ``PUBLISH_EVERY`` seconds into one Redis hash, a field per node; the class view,
  whichever node serves it, adds every node's rows up (its own read live). A node that
  has stopped publishing (killed) drops out after ``STALE`` seconds, and its field with it.

Counting stays where the bytes are, in each node's meter: nothing is written to Redis
per request. While Redis cannot be reached, reading the mode or the class raises
``BoardUnavailable`` (the servers answer 503) and the publisher tries again later.
"""

import json
import threading
import time
import uuid

import redis

from .board import BoardUnavailable
from .redis_board import COMMAND_TIMEOUT, OPTIONS, reach
from .room import FIRST_MODE, MODES, Room, connected

MODE_KEY = "class:mode"
FIGURES_KEY = "class:figures"  # a hash: node id -> {"time": published at, "clients": its meter's rows}
PUBLISH_EVERY = 0.5  # seconds between two publications of a node's rows: how stale another node's figures may be
POOL = 4  # Redis connections a node's class requests share; one waits for a free one (up to COMMAND_TIMEOUT)
STALE = 3  # seconds after which a node's rows no longer count: it has stopped (or cannot reach Redis)
NOT_ADDED = ("transport", "seen")  # the fields of a row that are not added up across nodes


class RedisRoom(Room):
    """``room.Room``'s contract, shared through the Redis at ``url`` by every node that names it."""

    def __init__(self, url: str, meter) -> None:
        super().__init__(meter)
        self.url, self.node = url, uuid.uuid4().hex
        self._pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL, timeout=COMMAND_TIMEOUT,
                                                           socket_timeout=COMMAND_TIMEOUT, **OPTIONS)
        self._redis = redis.Redis(connection_pool=self._pool)
        self._stopped = threading.Event()
        self._publisher = threading.Thread(target=self._publish, name="class-publisher", daemon=True)
        self._publisher.start()

    @property
    def mode(self) -> str:
        mode = reach(self.url, self._redis.get, MODE_KEY)
        return mode if mode in MODES else FIRST_MODE

    def switch(self, mode: str) -> None:
        reach(self.url, self._redis.set, MODE_KEY, mode)

    def clients(self, window: float) -> dict[str, dict]:
        """Every node's rows added up, this node's read now, the others' as they last published them."""
        now, tables, gone = time.time(), [self.meter.rows()], []
        for node, published in reach(self.url, self._redis.hgetall, FIGURES_KEY).items():
            figures = json.loads(published)
            if now - figures["time"] > STALE:
                gone.append(node)
            elif node != self.node:
                tables.append(figures["clients"])
        if gone:
            reach(self.url, self._redis.hdel, FIGURES_KEY, *gone)
        return connected(merged(tables), window)

    def close(self) -> None:
        """Stop publishing and take this node's rows out at once (a killed node's go after STALE seconds)."""
        self._stopped.set()
        self._publisher.join()
        try:
            reach(self.url, self._redis.hdel, FIGURES_KEY, self.node)
        except BoardUnavailable:
            pass
        self._pool.disconnect()

    def _publish(self) -> None:
        while not self._stopped.wait(PUBLISH_EVERY):
            figures = json.dumps({"time": time.time(), "clients": self.meter.rows()}, separators=(",", ":"))
            try:
                reach(self.url, self._redis.hset, FIGURES_KEY, self.node, figures)
            except BoardUnavailable:  # Redis is away: the next round tries again
                pass


def merged(tables: list[dict[str, dict]]) -> dict[str, dict]:
    """One row per client from several nodes' rows: figures and open streams added up, ``seen`` the latest,
    and the transport its latest request asked for (a node that only saw it send knows none)."""
    rows: dict[str, dict] = {}
    for table in tables:
        for client, row in table.items():
            total = rows.setdefault(client, {**row, **{key: 0 for key in row if key not in NOT_ADDED}})
            for key in row.keys() - NOT_ADDED:
                total[key] += row[key]
            if row["transport"] and (row["seen"] >= total["seen"] or not total["transport"]):
                total["transport"] = row["transport"]
            total["seen"] = max(total["seen"], row["seen"])
    return rows
