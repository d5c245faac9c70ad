"""The class: which transport every student's page uses now, and who is in the room.

Both live in the server process for ``python -m servers``: the mode here, the
students in the meter (``meter.py``), which bills each page's requests to its
name. Behind nginx, several processes serve one class and a student's requests
land on any of them, so each process would see a part of the class and keep a
mode of its own; ``redis_room.RedisRoom`` keeps the mode in Redis, with every
process's figures, and adds them up. The class view (``classroom.py``) asks the
room and never knows which one it has.
"""

import time

MODES = ("short", "long", "websocket", "sse")  # short polling every 100 ms, long polling, WebSocket, SSE
FIRST_MODE = "long"  # what pages do until the teacher switches: cheap, and on the page's own port


class Room:
    """The class as this one process sees it (the meter's accounts are its students)."""

    def __init__(self, meter) -> None:
        self.meter = meter
        self._mode = FIRST_MODE

    @property
    def mode(self) -> str:
        return self._mode

    def switch(self, mode: str) -> None:
        self._mode = mode

    def clients(self, window: float) -> dict[str, dict]:
        """The clients connected now, by name: each a meter ``row`` (how it receives, open streams, figures).
        Connected means a stream open, or a request in the last ``window`` seconds."""
        return connected(self.meter.rows(), window)

    def close(self) -> None:
        """Nothing to let go of in memory (``RedisRoom`` stops its publisher here)."""


def connected(rows: dict[str, dict], window: float) -> dict[str, dict]:
    """The rows of clients with a stream open, or seen in the last ``window`` seconds (wall clock)."""
    now = time.time()
    return {client: row for client, row in rows.items() if row["streams"] > 0 or now - row["seen"] < window}
