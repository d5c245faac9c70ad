"""The message board both servers share: the only state in this project.

Why a board and not a queue per client: HTTP polling cannot push, so a polling
client has to come back and ask "what is new since id N?". Giving every message
a monotonically increasing integer id makes that question cheap and exact, and
the WebSocket server asks the very same question on behalf of its clients, so
both transports deliver the same messages in the same order and a reconnecting
client can resume from the last id it saw without losing anything.

Waiting is done with a condition variable, never a sleep loop: a long-polling
request (or a WebSocket pusher) blocks in ``wait_after`` and wakes up the
moment ``post`` stores something newer.
"""

import threading
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Message:
    id: int
    author: str
    text: str
    time: float  # server clock, seconds since the epoch, stamped when stored
    reply_to: int | None = None  # id of the message this one answers

    def to_json(self) -> dict:
        return asdict(self)


class MessageBoard:
    """Thread-safe, append-only list of messages with ids 1, 2, 3, ..."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._changed = threading.Condition()

    def post(self, author: str, text: str, reply_to: int | None = None) -> Message:
        with self._changed:
            message = Message(len(self._messages) + 1, author, text, time.time(), reply_to)
            self._messages.append(message)
            self._changed.notify_all()
        return message

    @property
    def last_id(self) -> int:
        with self._changed:
            return len(self._messages)

    def after(self, last_id: int, limit: int | None = None) -> list[Message]:
        """Messages with an id greater than ``last_id``, oldest first."""
        with self._changed:
            # ids are 1-based and contiguous, so message N sits at index N-1.
            start = max(last_id, 0)
            end = None if limit is None else start + limit
            return self._messages[start:end]

    def wait_after(self, last_id: int, timeout: float, limit: int | None = None) -> list[Message]:
        """Like ``after``, but block up to ``timeout`` seconds until there is something."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._messages) > last_id, timeout)
            return self.after(last_id, limit)
