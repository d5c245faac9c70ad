"""One thread per WebSocket server for what no connection's own thread is waiting for.

Each WebSocket has one thread, which sleeps in ``poll`` on its own socket until the client sends
something or one of its timers is due. While it sleeps, other threads may write to its client: the
broadcaster pushes a message, or a subscription ends and its Close is written. When such a write does
not fit in the socket (the client reads slowly), the rest must be written as soon as the client makes
room, and the connection cut if it never does; when it is a Close, the client's answer has a deadline.
The sleeping thread cannot be woken for that without a file descriptor of its own to wake it with
(a socket pair: three descriptors per client instead of one, too many for ten thousand clients on
a system that allows twenty thousand open files). So the thread that wrote hands the connection to
the watchman, which waits for room in every such socket at once and keeps their deadlines.

The watchman runs only while it watches a connection (it costs two descriptors for its own wake-up,
while it runs), and ends ``IDLE`` seconds after the last one. A watched connection tells it what it
waits for (``Connection.watched``): room to write, a deadline, or nothing more (then it is let go). Between
that answer and the letting go, a writer may fill the socket again and hand the connection back (``watch``):
it is kept then, or the rest of that write would wait for a thread asleep until its client speaks.
"""

import select
import socket
import threading
import time

IDLE = 1.0  # seconds the watchman stays with nothing to watch before its thread ends
WINDOWS_SELECT = 512  # sockets one select call takes on Windows


def wait_for(readers: list, writers: list, timeout: float | None) -> tuple[list, list]:
    """The sockets among ``readers`` with bytes to read (or at their end) and among ``writers`` with room to
    write, waiting up to ``timeout`` s (None: for ever) for one. poll where there is one, since it takes no
    file descriptor and has no limit on descriptor numbers (select stops at 1023); select on Windows, which
    takes 512 sockets at most: past that, the first ones are watched, the others on a later call. A TLS socket
    may hold bytes already received and decrypted (``pending``): those are readable at once, without a wait."""
    decrypted = [sock for sock in readers if getattr(sock, "pending", None) and sock.pending()]
    if decrypted:
        return decrypted, []
    if not hasattr(select, "poll"):
        readable, writable, _ = select.select(readers, writers[:WINDOWS_SELECT - len(readers)], [], timeout)
        return readable, writable
    poller, by_fd = select.poll(), {}
    for sock in readers + writers:
        events = (select.POLLIN if sock in readers else 0) | (select.POLLOUT if sock in writers else 0)
        poller.register(sock, events)
        by_fd[sock.fileno()] = sock
    ready = poller.poll(None if timeout is None else timeout * 1000)
    readable = [by_fd[fd] for fd, event in ready if by_fd[fd] in readers and event & ~select.POLLOUT]
    writable = [by_fd[fd] for fd, event in ready if by_fd[fd] in writers and event & ~select.POLLIN]
    return readable, writable


class Watchman:
    """Waits for room in the sockets of connections handed to it (``watch``), and cuts those past a deadline."""

    def __init__(self, name: str = "websocket-watchman") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._watched: set = set()
        self._handed: set = set()  # handed over (again) since the thread last looked at what each one waits for
        self._wakeup: socket.socket | None = None  # written to when a connection is added: the thread looks again
        self._running = False

    def watch(self, connection) -> None:
        """Take care of ``connection`` until it says it needs nothing more (see ``Connection.watched``)."""
        with self._lock:
            self._watched.add(connection)
            self._handed.add(connection)
            if not self._running:
                self._running = True
                listening, self._wakeup = socket.socketpair()
                self._wakeup.setblocking(False)
                threading.Thread(target=self._run, args=(listening,), name=self.name, daemon=True).start()
                return
            try:
                self._wakeup.send(b"\0")
            except BlockingIOError:  # already full of wake-ups: it will look again anyway
                pass

    def forget(self, connection, *, unless_handed: bool = False) -> None:
        """The connection has ended: no more writes or deadlines for it. ``unless_handed``: the watchman lets go
        of a connection that said it waits for nothing, unless a writer handed it over again since it looked."""
        with self._lock:
            if unless_handed and connection in self._handed:
                return
            self._watched.discard(connection)
            self._handed.discard(connection)

    @property
    def watching(self) -> int:
        with self._lock:
            return len(self._watched)

    def _run(self, listening: socket.socket) -> None:
        idle_since = time.monotonic()
        while True:
            with self._lock:
                watched = list(self._watched)
                self._handed.clear()
                if not watched and time.monotonic() - idle_since >= IDLE:
                    self._running = False
                    listening.close()
                    self._wakeup.close()
                    return
            writers, deadline, now = [], None, time.monotonic()
            for connection in watched:  # one look at each: what it waits for decides what is done with it
                waits_for_room, its_deadline = connection.watched()
                if connection.sock.fileno() < 0:  # closed: its connection has ended
                    waits_for_room, its_deadline = False, None
                if its_deadline is not None and its_deadline <= now:
                    connection.cut()
                    self.forget(connection)
                    continue
                if waits_for_room:
                    writers.append(connection.sock)
                if its_deadline is not None:
                    deadline = its_deadline if deadline is None else min(deadline, its_deadline)
                if not waits_for_room and its_deadline is None:
                    self.forget(connection, unless_handed=True)
            if watched:
                idle_since = now
            timeout = IDLE if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                readable, writable = wait_for([listening], writers, timeout)
            except (OSError, ValueError):  # a socket closed meanwhile (its connection ended): look again
                continue
            if readable:
                listening.recv(4096)
            for connection in watched:
                if connection.sock in writable:
                    connection.flush()
