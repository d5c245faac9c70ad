"""The message board kept in Redis, so several server processes serve one chat.

Why: with the board in one process's memory (``board.MessageBoard``), a second
process has a board of its own, and a client of one never sees what was posted
on the other. Here every node reads and writes one Redis Stream, with the same
contract as the in-memory board, so the core, both transports and every client
work unchanged on either:

* ids 1, 2, 3... across all nodes: a short Lua script, run atomically by Redis,
  takes the next number from a counter and adds the entry with the explicit
  stream id ``N-0``; a message and its reply go in the same script, so the reply
  is always id + 1;
* ``after(N)`` is ``XRANGE`` from ``N+1``; ``last_id`` reads the counter, so it
  never lags behind Redis;
* ``keep`` is the stream's ``MAXLEN``: Redis trims the oldest entries itself;
* the board's identity (see ``board.py``) is a key beside the stream: every node, and
  a node restarted, share it; a Redis that lost its data lost it too, and the first
  node to ask then makes a new one (``SET NX``: if two try at once, one wins), so the
  clients of every node learn that the board is new;
* waiting: one follower thread per board (per node) blocks in ``XREAD BLOCK``
  and wakes the node's waiters through a condition variable, so a thousand long
  polls wait on one Redis connection, not on a thousand. This is the node's
  subscription to the bus: unlike Redis pub/sub, a stream keeps what a node
  (or a client) missed while it was away, so anyone resumes from an id.

While Redis cannot be reached every method raises ``BoardUnavailable`` (the
servers answer 503, or close a WebSocket with 1013); the next call after Redis
is back simply works again.
"""

import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .board import KEEP, BoardUnavailable, Message, new_identity

POOL = 16  # Redis connections a node's requests share; a request waits for a free one (up to COMMAND_TIMEOUT)
CONNECT_TIMEOUT = 2  # seconds to reach Redis
COMMAND_TIMEOUT = 5  # seconds one command may take before Redis counts as unavailable
FOLLOW_BLOCK = 1.0  # seconds one XREAD BLOCK of the follower waits before it checks whether anyone still waits
FOLLOW_BATCH = 500  # entries the follower reads at once
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
OPTIONS = dict(decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT,
               retry=Retry(NoBackoff(), 1))  # one retry at once: a pooled connection Redis closed

# KEYS: the stream, the counter. ARGV: keep, time, author, text, reply_to ("" for none)[, reply author, reply text].
# With five more arguments the second message answers the first. Returns the first message's id.
STORE = """
local count = (#ARGV == 7) and 2 or 1
local last = redis.call('INCRBY', KEYS[2], count)
local first = last - count + 1
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], string.format('%d-0', first),
           'author', ARGV[3], 'text', ARGV[4], 'time', ARGV[2], 'reply_to', ARGV[5])
if count == 2 then
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], string.format('%d-0', last),
             'author', ARGV[6], 'text', ARGV[7], 'time', ARGV[2], 'reply_to', string.format('%d', first))
end
return first
"""
# KEYS: the identity. ARGV: a new identity, kept only if the board has none yet. Returns the board's identity.
IDENTIFY = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


class RedisBoard:
    """The board's contract (see ``board.MessageBoard``) on a Redis Stream, shared by every node."""

    def __init__(self, url: str, keep: int = KEEP) -> None:
        if keep < 1:
            raise ValueError("a board keeps at least one message")
        self.url, self.keep = url, keep
        self.stream, self.counter, self.identity_key = "board:messages", "board:last_id", "board:identity"
        self._pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL, timeout=COMMAND_TIMEOUT,
                                                           socket_timeout=COMMAND_TIMEOUT, **OPTIONS)
        self._redis = redis.Redis(connection_pool=self._pool)
        self._store = self._redis.register_script(STORE)
        self._identify = self._redis.register_script(IDENTIFY)
        self._changed = threading.Condition()  # the follower's news, for this node's waiters
        self._newest = -1  # the newest id the follower knows of (-1: it has not looked yet)
        self._outages = 0  # times the follower lost Redis: a waiter that sees this change gives up
        self._waiting = 0  # threads in wait_after
        self._idle_since = time.monotonic()
        self._following = False
        self._closed = False

    # --- storing ---------------------------------------------------------------------------------

    def post(self, author: str, text: str, reply_to: int | None = None) -> Message:
        now = time.time()
        first = self._call(self._store, keys=[self.stream, self.counter],
                           args=[self.keep, repr(now), author, text, "" if reply_to is None else reply_to])
        return Message(first, author, text, now, reply_to)

    def post_with_reply(self, author: str, text: str, reply_author: str, reply_text: str) -> tuple[Message, Message]:
        """Both in one script: Redis runs it whole, so nothing lands between them and the reply is id + 1."""
        now = time.time()
        first = self._call(self._store, keys=[self.stream, self.counter],
                           args=[self.keep, repr(now), author, text, "", reply_author, reply_text])
        return Message(first, author, text, now), Message(first + 1, reply_author, reply_text, now, first)

    # --- reading ---------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """The board's identity, read from Redis each time (one round trip): it changes only when Redis lost
        its data, and a node must not keep an identity the board no longer has."""
        return self._call(self._identify, keys=[self.identity_key], args=[new_identity()])

    @property
    def last_id(self) -> int:
        return int(self._call(self._redis.get, self.counter) or 0)

    def after(self, last_id: int, limit: int | None = None) -> list[Message]:
        """Kept messages with an id greater than ``last_id``, oldest first, at most ``limit`` of them."""
        if limit == 0:
            return []
        start = "-" if last_id < 0 else f"{last_id + 1}-0"
        return [_message(entry) for entry in self._call(self._redis.xrange, self.stream, start, "+", count=limit)]

    def wait_after(self, last_id: int, timeout: float, limit: int | None = None) -> list[Message]:
        """Like ``after``, but block up to ``timeout`` seconds until there is something. Waiting costs
        no Redis connection: the follower watches the stream for every waiter of this node."""
        messages = self.after(last_id, limit)
        if messages or timeout <= 0:
            return messages
        with self._changed:
            outages = self._outages
            self._waiting += 1
            try:
                if not self._following and not self._closed:
                    self._following, self._newest = True, -1
                    threading.Thread(target=self._follow, name="redis-follower", daemon=True).start()
                self._changed.wait_for(lambda: self._newest > last_id or self._outages != outages, timeout)
            finally:
                self._waiting -= 1
                self._idle_since = time.monotonic()
            if self._outages != outages:
                raise BoardUnavailable(f"lost the connection to Redis at {self.url}")
        return self.after(last_id, limit)

    def close(self) -> None:
        """Stop the follower (within FOLLOW_BLOCK) and close the connections."""
        with self._changed:
            self._closed = True
        self._pool.disconnect()

    # --- the follower ----------------------------------------------------------------------------

    def _follow(self) -> None:
        """Block in XREAD on the stream, from the newest id, and tell waiters of every new one. Ends when
        nobody has waited for a whole FOLLOW_BLOCK, when the board closes, or when Redis is lost."""
        connection = redis.Redis.from_url(self.url, single_connection_client=True,
                                          socket_timeout=FOLLOW_BLOCK + COMMAND_TIMEOUT, **OPTIONS)
        try:
            position = int(connection.get(self.counter) or 0)
            while self._tell(position):
                reply = connection.xread({self.stream: f"{position}-0"}, count=FOLLOW_BATCH,
                                         block=int(FOLLOW_BLOCK * 1000))
                if reply:
                    position = _id(reply[0][1][-1][0])
                elif (newest := int(connection.get(self.counter) or 0)) < position:  # Redis came back empty
                    position = newest
        except Exception as error:  # Redis is gone (or a bug, logged): the waiters give up, the next one restarts us
            if not isinstance(error, REDIS_DOWN):
                logging.getLogger(__name__).exception("the Redis follower failed")
            with self._changed:
                self._outages += 1
                self._following = False
                self._changed.notify_all()
        finally:
            connection.close()

    def _tell(self, newest: int) -> bool:
        """Wake the waiters for ``newest``; False (and the follower ends) once nobody needs it."""
        with self._changed:
            self._newest = newest
            self._changed.notify_all()
            if self._closed or (not self._waiting and time.monotonic() - self._idle_since > FOLLOW_BLOCK):
                self._following = False  # in the same step: a waiter arriving now starts a new follower
                return False
            return True

    # --- Redis -----------------------------------------------------------------------------------

    def _call(self, command, *args, **kwargs):
        return reach(self.url, command, *args, **kwargs)


def reach(url: str, command, *args, **kwargs):
    """``command(*args, **kwargs)`` on the Redis at ``url``; BoardUnavailable while it cannot be reached."""
    try:
        return command(*args, **kwargs)
    except REDIS_DOWN as error:
        raise BoardUnavailable(f"Redis at {url} cannot be reached ({error})") from None


def _id(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _message(entry: tuple[str, dict]) -> Message:
    entry_id, fields = entry
    reply_to = fields.get("reply_to")
    return Message(_id(entry_id), fields["author"], fields["text"], float(fields["time"]),
                   int(reply_to) if reply_to else None)
