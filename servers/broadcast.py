"""One thread per server hands every new message to every listening client, encoded once.

Why: if each WebSocket had its own thread waiting on the board, every message
would wake a thousand threads and be encoded a thousand times. The broadcaster
follows the board alone, encodes each message once, and drops it into every
subscriber's mailbox without ever waiting for a client. A client that does not
read fills only its own mailbox; when that is full (``BACKLOG`` messages or
``BACKLOG_BYTES``) the client has fallen behind: its mailbox is emptied and
marked, its connection is closed with a documented code, and the client comes
back with the last id it holds. Everyone else carries on.

On a board kept in Redis, the broadcaster is the node's subscription to the bus. When
Redis goes away, every listener is told so (its connection closes with a documented
code, and it comes back with its last id); the broadcaster ends as if idle, and the
next subscriber, once the board answers again, starts it from the board's newest id.

The broadcaster's thread runs while someone listens and ends within ``IDLE_CHECK``
seconds of the last subscriber leaving.
"""

import logging
import threading
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from .board import BoardUnavailable, Message, MessageBoard, missed, missed_notice
from .chat import PAGE_SIZE, page_of

BACKLOG = 1000  # messages waiting for one client, at most: minutes of a busy ticker
BACKLOG_BYTES = 256 * 1024  # bytes waiting for one client, at most: a thousand messages of a usual size
# Why a subscription ends before its client leaves (``Mailbox.ended``); the owner says so to its client.
FELL_BEHIND, STOPPING, BOARD_UNAVAILABLE = "fell behind", "server stopping", "board unavailable"
IDLE_CHECK = 1.0  # seconds between an idle broadcaster's checks that someone still listens


class Mailbox:
    """What waits for one client: filled by the broadcaster, emptied by the client's own thread.

    ``wakeup`` is the condition an event stream's thread waits on. A WebSocket's thread waits on its
    socket instead: it is told of an end by ``on_end``, and of pushes by being asked to write them.
    """

    def __init__(self, size: int = BACKLOG, size_bytes: int = BACKLOG_BYTES) -> None:
        self.size, self.size_bytes = size, size_bytes
        self.wakeup = threading.Condition()
        self.items: deque = deque()
        self.bytes = 0  # in the items waiting (each is ASCII text or bytes: one character is one byte)
        self.after = 0  # the last id offered (set on subscribing): only ids above it are delivered
        self.ended: str | None = None  # FELL_BEHIND, STOPPING or BOARD_UNAVAILABLE: the owner ends the connection
        # Set by the owner when it may take an item at once: item -> True if it took it (and counted it
        # as delivered if it wrote it; a push to a closing connection is taken and dropped, not delivered).
        self.write_now = None
        self.on_end = None  # set by an owner that does not wait on ``wakeup``: called (holding it) when it ends
        self.account = None  # the meter's account of the client, if it named itself: told what reaches it

    def offer(self, message_id: int, item) -> None:
        """Never blocks on the client: a full mailbox means the client fell behind."""
        with self.wakeup:
            if self.ended or message_id <= self.after:
                return
            self.after = message_id
            if not self.items and self.write_now is not None and self.write_now(item):
                return
            if len(self.items) < self.size and self.bytes + len(item) <= self.size_bytes:
                self.items.append(item)
                self.bytes += len(item)
                self.wakeup.notify_all()
                return
        self.end(FELL_BEHIND)

    def end(self, why: str) -> None:
        """Nothing more will be offered (``why``: FELL_BEHIND, STOPPING, BOARD_UNAVAILABLE): what waits is dropped
        and the owner, woken, closes its client's connection; the client resumes by id."""
        with self.wakeup:
            if self.ended is None:
                self.take()
                self.ended = why
            self.wakeup.notify_all()
            if self.on_end is not None:
                self.on_end()

    def claim(self, first_id: int, last_id: int) -> bool:
        """Whether the owner may deliver messages ``first_id`` to ``last_id`` itself, now (the caller holds
        ``wakeup``): yes when every earlier message has been offered already, so the client misses none;
        the broadcaster then skips them. Its client's own messages need not go through another thread."""
        if self.ended or self.after != first_id - 1:
            return False
        self.after = last_id
        return True

    def take(self) -> list:
        """Everything waiting, oldest first (the caller holds ``wakeup``)."""
        items = list(self.items)
        self.items.clear()
        self.bytes = 0
        return items

    def delivered(self, count: int) -> None:
        """``count`` messages went to the client (the owner says so once per batch it writes)."""
        if self.account is not None:
            self.account.deliver(count)


def catch_up(board: MessageBoard, after: int, up_to: int) -> Iterator[tuple[dict | None, list[Message]]]:
    """What a new subscriber must read by itself: the messages after ``after`` up to ``up_to`` (where its
    mailbox takes over), a page at a time, each page with the notice of what the board no longer kept
    before it (``board.missed_notice``: only the first page can have one)."""
    while after < up_to:
        messages = page_of([message for message in board.after(after, PAGE_SIZE) if message.id <= up_to])
        if not messages:
            return
        yield missed_notice(after, messages), messages
        after = messages[-1].id


class Broadcaster:
    """Follows ``board`` and offers ``encode(message)`` to every subscribed mailbox."""

    def __init__(self, board: MessageBoard, encode: Callable[[Message], object], name: str = "broadcaster") -> None:
        self.board, self.encode, self.name = board, encode, name
        self._lock = threading.Lock()
        self._left = threading.Condition(self._lock)  # a subscriber left: for ``close``, which waits for them all
        self._mailboxes: set[Mailbox] = set()
        self._position = 0  # the last id offered to every subscriber
        self._running = False

    @contextmanager
    def subscription(self, mailbox: Mailbox, after: int) -> Iterator[int]:
        """Offer ``mailbox`` every message stored from now on with an id above ``after``.

        Yields the id up to which the subscriber must catch up by itself (reading the
        board from ``after``): everything past it arrives in the mailbox.
        """
        with self._lock:
            if not self._running:
                self._position = self.board.last_id
                self._running = True
                threading.Thread(target=self._run, name=self.name, daemon=True).start()
            self._mailboxes.add(mailbox)
            position = self._position
            mailbox.after = max(after, position)  # up to the position, the subscriber reads the board itself
        if mailbox.account is not None:  # the class view counts open streams as connected clients
            mailbox.account.stream(+1)
        try:
            yield position
        finally:
            with self._lock:
                self._mailboxes.discard(mailbox)
                self._left.notify_all()
            if mailbox.account is not None:
                mailbox.account.stream(-1)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._mailboxes)

    def close(self, timeout: float = 1.0) -> None:
        """The server is stopping: tell every subscriber, so each ends its connection cleanly (a WebSocket
        with code 1001, a stream by finishing), and wait up to ``timeout`` s for them to leave."""
        with self._lock:
            mailboxes = list(self._mailboxes)
        for mailbox in mailboxes:
            mailbox.end(STOPPING)
        with self._left:
            self._left.wait_for(lambda: not self._mailboxes, timeout)

    def backlogs(self) -> list[int]:
        """How many messages wait in each subscriber's mailbox (never more than its size)."""
        with self._lock:
            mailboxes = list(self._mailboxes)
        return [len(mailbox.items) for mailbox in mailboxes]

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._mailboxes:
                    self._running = False
                    return
                position = self._position
            try:
                messages = self.board.wait_after(position, IDLE_CHECK, PAGE_SIZE)
            except BoardUnavailable:  # Redis went away: everyone is told to come back, and we end
                with self._lock:  # in one step with the end: a newer subscriber starts a new broadcaster
                    mailboxes, self._running = list(self._mailboxes), False
                for mailbox in mailboxes:
                    mailbox.end(BOARD_UNAVAILABLE)
                return
            if missed(position, messages):  # the board dropped messages before we read them: nobody
                with self._lock:  # may get a silent gap, so everyone resumes by id
                    mailboxes = list(self._mailboxes)
                for mailbox in mailboxes:
                    mailbox.end(FELL_BEHIND)
            for message in messages:
                item = self.encode(message)  # once, for everyone
                with self._lock:  # one step: a new subscriber either gets this message or catches up past it
                    mailboxes = list(self._mailboxes)
                    self._position = message.id
                for mailbox in mailboxes:
                    try:
                        mailbox.offer(message.id, item)
                    except Exception:  # a bug in one subscriber must not stop the messages of all the others
                        logging.getLogger(__name__).exception("a subscriber failed to take message %d", message.id)
