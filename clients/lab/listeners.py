"""The measuring clients, one per transport, each on a plain socket and, once started, a thread of its own:

* ``Poller``: short and long polling, ``GET /api/messages``;
* ``WebSocketListener``: a WebSocket (``/ws``, or an echo endpoint);
* ``EventStream``: Server-Sent Events, ``GET /api/events``.

Every measurement, the diagrams, the failover runs, the notebooks' experiments and the exercises' checks use
them. What each one says and reads is ``protocol.py``'s, shared with the same three on asyncio
(``async_listeners.py``), which the load run starts by the thousand. Why not ``requests`` or a WebSocket
library: the bytes are ``clients.wire``'s, the ones notebooks 1 and 2 write by hand; another thread can cut a
client's connection, as a closing browser tab cuts a long poll the server still holds; and every read goes
through a buffer of our own, so a read that times out loses nothing.

A client is used in one of two ways, after ``connect()``. Started (``start()``), it follows the board on its
thread, noting each message with the moment it arrived, until ``until()`` holds, ``deadline`` seconds have
passed, ``close()`` ends it or its connection fails (``error``); ``wait_until`` waits for what it noted.
Not started, its caller reads it step by step (``poll``, ``next_event``, ``next_message``): round trips
timed without a hand-off between threads.

A server that dies closes its connections, and a started client ends at its next read. A link that goes silent (a
pulled cable, a machine that froze) closes nothing: a client notices only by a timeout, which only works if
the server promises to say something every so often. A poll is answered within its ``wait``, so a poller
gives up ``grace`` s after that; the server pings a WebSocket (``--ping-interval``) and writes a heartbeat
on an idle event stream (every 15 s), so those two give up after ``silence`` s without a byte: set it above
that promise. Without it (None, the default) they wait for ever, as a page's WebSocket does: the browser
neither pings nor shows the server's pings to the page.
"""

import json
import socket
import ssl
import threading
import time

from clients import wire
from clients.polling_client import ANSWER_TIMEOUT, LONG_POLL_WAIT

from .protocol import (CLOSE_TIMEOUT, HTTP_HEADERS, EventStreamProtocol, PollingProtocol, ServerClosed,
                       WebSocketProtocol)


def deadline_in(timeout: float | None) -> float | None:
    """A ``time.monotonic()`` deadline ``timeout`` seconds from now; None: no deadline."""
    return None if timeout is None else time.monotonic() + timeout


class Connection:
    """A TCP connection read through a buffer of our own, one whole piece at a time (a response, a frame, a
    line), so that a read that times out leaves what came in the buffer. Each read waits until its
    ``deadline`` (``time.monotonic()``; None: as long as it takes) and raises TimeoutError after it."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host = f"{host}:{port}"
        self.sock = wire.connect(host, port, tls, ANSWER_TIMEOUT)  # inside TLS with ``tls`` (wss://)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as requests and websocket-client do
        self.pending = b""

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self, deadline: float | None) -> None:
        """One more chunk into the buffer; ConnectionError when the peer has closed the connection."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.pending += chunk

    def _take(self, size: int) -> bytes:
        taken, self.pending = self.pending[:size], self.pending[size:]
        return taken

    def line(self, deadline: float | None = None) -> bytes:
        """One line, its end included."""
        while (end := self.pending.find(b"\n")) < 0:
            self._more(deadline)
        return self._take(end + 1)

    def response(self, deadline: float | None = None) -> wire.Response:
        """One HTTP response: the head up to its blank line, then ``wire.body_size`` bytes of body."""
        while (end := self.pending.find(b"\r\n\r\n")) < 0:
            self._more(deadline)
        response = wire.response_from_head(self.pending[:end + 4])
        size = end + 4 + wire.body_size(response)
        while len(self.pending) < size:
            self._more(deadline)
        response.body = self._take(size)[end + 4:]
        return response

    def frame(self, deadline: float | None = None) -> wire.Frame:
        """One WebSocket frame, once all of it is in (``wire.frame_sizes`` says when)."""
        while wire.frame_sizes(self.pending) is None:
            self._more(deadline)
        frame, used = wire.parse_frame(self.pending)
        self._take(used)
        return frame

    def read_to_end(self, deadline: float | None) -> None:
        """Read until the peer closes TCP (its FIN), or the deadline."""
        try:
            while True:
                self._more(deadline)
                self.pending = b""
        except OSError:
            pass

    def cut(self) -> None:
        """End the connection both ways now: a thread blocked reading it wakes."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class Listener:
    """What the three clients share: the thread each follows the board on once started, and waiting for what
    it noted. A client is a protocol of ``protocol.py`` that is also a Listener, with a ``connection`` and a
    ``step()`` (one poll, one frame, one line)."""

    connection: Connection | None = None

    def __init__(self, name: str, until=None, deadline: float | None = None) -> None:
        self.until = until or (lambda: False)
        self.deadline = deadline  # seconds after start
        self.error: Exception | None = None  # why it ended, if it failed
        self.started = self.stopped = None  # time.perf_counter()
        self.ended = False
        self.stopping = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)

    def start(self):
        """Follow the board on the client's thread (connecting first if it has not)."""
        if self.connection is None:
            self.connect()
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def _follow(self) -> None:
        try:
            while not (self.stopping.is_set() or self.until() or self._late()):
                self.step()
                with self._changed:
                    self._changed.notify_all()
        except (OSError, ValueError) as error:  # the connection failed, was cut or closed; a refusal
            if not self.stopping.is_set():
                self.error = error
        finally:
            self.stopped = time.perf_counter()
            self.finish()
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def _late(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.started + self.deadline

    def finish(self) -> None:
        """What the thread does last: close the connection."""
        if self.connection is not None:
            self.connection.close()

    def wait_until(self, condition, timeout: float | None) -> bool:
        """Wait, at most ``timeout`` s (None: as long as the client runs), until ``condition()`` holds (asked
        each time the client has read something, and when it ends); returns whether it holds."""
        with self._changed:
            self._changed.wait_for(lambda: condition() or self.ended or self._thread.ident is None, timeout)
        return condition()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the client's thread to end; False if it still runs after ``timeout`` s."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """End it now, cutting its connection (a request the server still holds included)."""
        self.stopping.set()
        if self.connection is not None:
            self.connection.cut()
        self.join(5)
        if self.connection is not None:
            self.connection.close()

    def __enter__(self):
        return self if self.connection is not None else self.connect()

    def __exit__(self, *exc) -> None:
        self.close()


class Poller(Listener, PollingProtocol):
    """Polls on one keep-alive connection (a new one after the server answers ``Connection: close``): every
    ``interval`` s, or by long polling when ``interval`` is None (see ``PollingProtocol``; ``wait`` None: a
    poll the server answers at once). ``headers``: ``requests``'s by default. ``until_id``: stop once it
    holds that message. ``poll()`` alone, without ``connect()``, opens the connection in its first poll,
    as ``requests`` does."""

    def __init__(self, url: str, interval: float | None = None, until=None, deadline: float | None = None, *,
                 after: int | None = None, board: str | None = None, wait: float | None = LONG_POLL_WAIT,
                 headers: dict = HTTP_HEADERS, client: str | None = None, until_id: int | None = None,
                 grace: float = ANSWER_TIMEOUT) -> None:
        PollingProtocol.__init__(self, url, interval, after=after, board=board, wait=wait, headers=headers,
                                 client=client)
        self.grace = grace  # seconds an answer may take beyond ``wait`` before the poll fails (TimeoutError)
        if until_id is not None:  # it holds that message: it stops, rather than begin one more long poll
            until = lambda: self.last_id >= until_id  # noqa: E731
        Listener.__init__(self, "poller", until, deadline)
        self.due = 0.0  # when the next short poll is due

    def connect(self) -> "Poller":
        self.connection = Connection(self.host, self.port)
        if self.after is None:  # start from what is new
            self.connection.write(self.newest_request())
            self.read_newest(self.connection.response(deadline_in(ANSWER_TIMEOUT)))
        return self

    def poll(self) -> None:
        """One request, and its answer read and noted; on a new connection if the server closed the last."""
        sent = time.perf_counter()
        if self.connection is None:
            self.connection = Connection(self.host, self.port)
        self.connection.write(self.request())
        if self.read(self.connection.response(deadline_in((self.wait or 0) + self.grace)), sent):
            self.connection.close()  # the server closes it after this answer
            self.connection = None

    def step(self) -> None:
        self.poll()
        if self.interval:
            self.due = self.next_poll(self.due or self.started, time.perf_counter())
            self.stopping.wait(self.due - time.perf_counter())

    def close(self) -> None:
        self.stopping.set()
        if self.interval:  # a short poll on its way is answered within a round trip: let it finish
            self.join(5)
        super().close()


class WebSocketListener(Listener, WebSocketProtocol):
    """A WebSocket, opened by the Upgrade handshake (``connect``) and closed by the closing handshake
    (``close``); ``send`` and ``send_event`` write text frames, ``receive`` and ``next_event`` read them.
    Started, it gives up (TimeoutError) after ``silence`` s without a frame, a ping included (None: never).
    A wss:// URL is opened inside TLS, with ``tls`` (an ``ssl.SSLContext`` that trusts the server's CA)."""

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, origin: str | None = None,
                 client: str | None = None, until=None, silence: float | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        WebSocketProtocol.__init__(self, url, after=after, board=board, origin=origin, client=client)
        Listener.__init__(self, "websocket listener", until)
        self.silence, self.tls = silence, tls

    def connect(self) -> "WebSocketListener":
        self.connection = Connection(self.host, self.port, self.tls)
        request = self.handshake()
        self.connection.write(request)
        try:
            self.accept(request, self.connection.response(deadline_in(ANSWER_TIMEOUT)))
        except (wire.HandshakeError, OSError):
            self.connection.close()
            raise
        return self

    def receive(self, timeout: float | None = None) -> str:
        """The text of the server's next data frame, pings answered meanwhile; TimeoutError after ``timeout``
        s, ServerClosed after the server's Close."""
        deadline = deadline_in(timeout)
        while True:
            text, answer = self.read(self.connection.frame(deadline))
            if answer is not None:
                self.connection.write(answer)
            if text is not None:
                return text

    def next_event(self, timeout: float | None = None) -> dict:
        """The server's next JSON event (a message is noted)."""
        return self.read_event(self.receive(timeout))

    def send(self, text: str) -> bytes:
        """One text frame; returns its bytes."""
        frame = self.text_frame(text)
        self.connection.write(frame)
        return frame

    def send_event(self, event: dict) -> bytes:
        return self.send(json.dumps(event))

    def step(self) -> None:
        """One frame: a ping answered, an event read; each frame, whatever it holds, shows the link is alive."""
        text, answer = self.read(self.connection.frame(deadline_in(self.silence)))
        if answer is not None:
            self.connection.write(answer)
        if text is not None:
            self.read_event(text)

    def finish(self) -> None:
        if self.closing or self.closed_by_server:  # after its Close the server closes TCP first: wait for its FIN
            self.connection.read_to_end(deadline_in(CLOSE_TIMEOUT))
        super().finish()

    def close(self) -> None:
        """The closing handshake: our Close, the server's Close (read on the client's thread if it was started),
        then the server's FIN; TCP is cut if the server does not answer within ``CLOSE_TIMEOUT`` s."""
        if self.connection is None:
            return
        self.stopping.set()
        try:
            self.connection.write(self.close_frame())
            if self._thread.ident is None:
                self.read_until_closed(deadline_in(CLOSE_TIMEOUT))
        except OSError:
            pass
        if self._thread.ident is None or not self.join(2 * CLOSE_TIMEOUT):
            super().close()

    def read_until_closed(self, deadline: float) -> None:
        """Read past whatever the server sent before our Close, up to its own Close and FIN."""
        try:
            while True:
                self.receive(deadline - time.monotonic())
        except ServerClosed:
            self.finish()


class EventStream(Listener, EventStreamProtocol):
    """One ``GET /api/events``, whose answer never ends: ``connect`` returns once the stream is open (its retry
    hint has come); ``next_message`` reads up to the next message; ``close`` leaves, as a closing
    EventSource does, by closing the connection. ``headers``: none besides ``Host`` by default. Started, it
    gives up (TimeoutError) after ``silence`` s without a line, a heartbeat included (None: never)."""

    def __init__(self, url: str, *, after: int | None = None, board: str | None = None, headers: dict | None = None,
                 client: str | None = None, until=None, silence: float | None = None) -> None:
        EventStreamProtocol.__init__(self, url, after=after, board=board, headers=headers, client=client)
        Listener.__init__(self, "event stream", until)
        self.silence = silence

    def connect(self) -> "EventStream":
        self.connection = Connection(self.host, self.port)
        self.connection.write(self.request())
        deadline = deadline_in(ANSWER_TIMEOUT)
        try:
            self.accept(self.connection.response(deadline))
            while not self.opened:
                self.read_line(self.connection.line(deadline))
        except (ValueError, OSError):
            self.connection.close()
            raise
        return self

    def next_message(self, timeout: float | None = None) -> dict:
        """The next message the stream carries (heartbeats and notices are read past); TimeoutError if none
        came within ``timeout`` s."""
        deadline = deadline_in(timeout)
        while (message := self.read_line(self.connection.line(deadline))) is None:
            pass
        return message

    def step(self) -> None:
        self.read_line(self.connection.line(deadline_in(self.silence)))
