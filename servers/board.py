"""The message board both servers share: the only state in this project.

Why a board and not a queue per client: HTTP polling cannot push, so a polling
client has to come back and ask "what is new since id N?". Giving every message
a monotonically increasing integer id makes that question cheap and exact, and
the WebSocket server asks the very same question on behalf of its clients, so
both transports deliver the same messages in the same order and a reconnecting
client can resume from the last id it saw without losing anything.

Waiting is done with a condition variable, never a sleep loop: a long-polling
request (or the WebSocket server's broadcaster) blocks in ``wait_after`` and
wakes up the moment ``post`` stores something newer.

The board keeps the newest ``keep`` messages, and no more than ``keep_bytes`` of them as JSON, and forgets
older ones, so neither a ticker left running all day nor a student posting the longest messages can fill the
server's memory. A client whose
cursor points before the oldest kept message gets what is kept, starting with
the oldest, and can tell how many it missed: the first id it receives is more
than one past its cursor (see ``missed``).

Every board has an identity, a short random token made when the board is created.
Why: a server restarted without its messages (``python -m servers`` keeps them in
memory) starts a new board whose ids count from 1 again, so an id alone cannot say
which board it belongs to. A client that noticed the restart only because the
newest id fell below its cursor would miss it as soon as the new board's ids passed
that cursor (after=6, a restart, eight messages, and "after 6" looks valid: ids 1
to 6 are skipped). A client that names the board of its cursor cannot be fooled:
a server whose board is another one says so and reads its own from the first
message (``other_board``). Ids that never go back (a clock-based first id, say)
would do too, but they make every id longer on every delivered message, forever,
and "1, 2, 3" is what the course teaches; the identity costs a few bytes per
request and nothing per message.

This board lives in the server's memory, which is why one process serves it. For
several server processes, ``redis_board.RedisBoard`` keeps the same contract in
Redis, its identity too; it raises ``BoardUnavailable`` while Redis cannot be reached.
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cached_property

KEEP = 10_000  # messages kept by default: hours of a busy classroom
KEEP_BYTES = 8 * 1024 * 1024  # of their JSON: 10,000 ordinary messages take about 1 MiB of it, the longest (12 kB
# each) about 700 fit; the board then holds a few megabytes of the server's memory (see servers/README.md)


def new_identity() -> str:
    """A new board's identity: 8 characters (48 random bits, letters, digits, '-' and '_'), so a restarted
    server's board is never taken for the one before it."""
    return secrets.token_urlsafe(6)


@dataclass(frozen=True)
class Message:
    id: int
    author: str
    text: str
    time: float  # server clock, seconds since the epoch, stamped when stored
    reply_to: int | None = None  # id of the message this one answers

    def to_json(self) -> dict:
        """Its fields as a dict, written out: ``dataclasses.asdict`` deep-copies each one, a fifth of the
        server's time for a WebSocket reply."""
        return {"id": self.id, "author": self.author, "text": self.text, "time": self.time, "reply_to": self.reply_to}

    @cached_property
    def encoded(self) -> str:
        """The message as compact JSON text: encoded once, however many clients it is sent to."""
        return json.dumps(self.to_json(), separators=(",", ":"))


class BoardUnavailable(Exception):
    """The board's store cannot be reached (Redis is down): the servers answer 503, or close a WebSocket
    with 1013, and the client tries again later. The in-memory board never raises it."""


def missed(cursor: int, messages: list[Message]) -> int:
    """How many messages after ``cursor`` the board no longer kept when ``messages`` (the answer to
    ``after(cursor)``) were read: ids are contiguous, so a first id beyond cursor + 1 is a gap."""
    return messages[0].id - max(cursor, 0) - 1 if messages else 0


def missed_notice(cursor: int, messages: list[Message]) -> dict | None:
    """What every transport tells a client that resumed from before the oldest kept message:
    ``{"count": K, "first_id": F}`` (K messages are gone, the answer starts at F); None when nothing is."""
    count = missed(cursor, messages)
    return {"count": count, "first_id": messages[0].id} if count else None


def other_board(board, named: str | None) -> str | None:
    """What a client that names the board of its cursor (``named``; "" for none yet) must be told: this board's
    identity when it is another one (the server restarted with a new board, or the client has none yet), so the
    client reads this board from its first message; None when the client names this board, or names none
    (then its cursor is taken as it is, as always)."""
    if named is None:
        return None
    identity = board.identity
    return identity if named != identity else None


class MessageBoard:
    """Thread-safe list of the newest ``keep`` messages (``keep_bytes`` of JSON at most), with ids 1, 2, 3, ..."""

    def __init__(self, keep: int = KEEP, keep_bytes: int = KEEP_BYTES) -> None:
        if keep < 1:
            raise ValueError("a board keeps at least one message")
        self.keep, self.keep_bytes = keep, keep_bytes
        self._bytes = 0  # the kept messages' JSON
        self.identity = new_identity()  # this board's, for as long as it lives: a restarted server makes another
        self._messages: list[Message] = []  # the kept messages, oldest first
        self._last_id = 0
        self._changed = threading.Condition()

    def post(self, author: str, text: str, reply_to: int | None = None) -> Message:
        with self._changed:
            message = self._store(author, text, reply_to)
            self._changed.notify_all()
        return message

    def post_with_reply(self, author: str, text: str, reply_author: str, reply_text: str) -> tuple[Message, Message]:
        """Store a message and its answer in one step: the answer's id is always the message's id + 1,
        and whoever waits wakes up once, to find both."""
        with self._changed:
            message = self._store(author, text, None)
            reply = self._store(reply_author, reply_text, message.id)
            self._changed.notify_all()
        return message, reply

    def _store(self, author: str, text: str, reply_to: int | None) -> Message:
        self._last_id += 1
        message = Message(self._last_id, author, text, time.time(), reply_to)
        self._messages.append(message)
        self._bytes += len(message.encoded)  # encoded once, here rather than for its first reader
        while len(self._messages) > self.keep or (self._bytes > self.keep_bytes and len(self._messages) > 1):
            self._bytes -= len(self._messages.pop(0).encoded)  # the oldest goes
        return message

    @property
    def last_id(self) -> int:
        with self._changed:
            return self._last_id

    def after(self, last_id: int, limit: int | None = None) -> list[Message]:
        """Kept messages with an id greater than ``last_id``, oldest first, at most ``limit`` of them."""
        with self._changed:
            first_id = self._last_id - len(self._messages) + 1  # ids are contiguous
            start = max(last_id + 1 - first_id, 0)
            end = None if limit is None else start + limit
            return self._messages[start:end]

    def wait_after(self, last_id: int, timeout: float, limit: int | None = None) -> list[Message]:
        """Like ``after``, but block up to ``timeout`` seconds until there is something."""
        with self._changed:
            self._changed.wait_for(lambda: self._last_id > last_id, timeout)
            return self.after(last_id, limit)

    def close(self) -> None:
        """Release what the board holds outside this object (nothing, in memory; see RedisBoard)."""
