"""One WebSocket connection, server side: RFC 6455 through wsproto, one thread, every frame written under one lock.

One thread serves a connection: the request's own (Werkzeug's). It waits in ``poll`` on its socket
(``select`` on Windows; neither costs a file descriptor, unlike epoll), reads what the client sends,
hands each message to the view, and writes the view's answers, the pongs, the pings and the Close.
No message of the client's crosses to another thread: the pushes of the messages it stores go out
with the view's answer, from this thread (``send``'s ``own``). Two other threads may write to its
client, under the same lock, and never wait for it:

* the broadcaster (``broadcast.py``) writes a push itself when the socket has room and nothing else
  is waiting (``_write_now``); otherwise the push waits in the connection's mailbox, bounded in
  messages and bytes, and whoever next holds the lock with room in the socket writes it;
* when a subscription ends (the client fell behind, the server stops, the board is unavailable),
  the Close is written the same way.

What a thread cannot write now waits in the outbox (encoded frames, written in order). If the
connection's own thread sleeps meanwhile, the writer hands the connection to the server's watchman
(``watchman.py``), one thread that waits for room in every such socket at once and cuts the
connection past its deadline. Why not wake the sleeping thread instead: waking a thread blocked in
``poll`` takes a file descriptor it also polls (a socket pair, which works everywhere, Windows
included), two more per client, three in all. Ten thousand clients would need thirty thousand; a
system that allows twenty thousand open files (this project's test machine, and many more) could
not hold them. With the watchman, a WebSocket costs one descriptor, its socket; the watchman two
more while it runs, for the whole server.

Bounds: a message is at most ``max_message`` bytes and ``MAX_FRAMES`` frames, checked while it
arrives (compressed ones while they inflate, and at twice that as they come: ``deflate.py``); the
connection reads no further while its own answers wait for room, so a client that does not read is
slowed down by TCP, and holds at most one message; a frame waits at most ``WRITE_TIMEOUT`` s to be
written; after the server's Close the client has ``CLOSE_TIMEOUT`` s and ``CLOSING_BYTES`` bytes to
answer. Pings in a burst each get their pong; when pongs cannot be written (the client does not read),
only the most recent waits (RFC 6455 section 5.5.3). The closing handshake ends the RFC 6455 way
(section 7.1.1): after the Close frames, the server closes TCP first.

wsproto is a "sans-I/O" protocol engine: it turns events into bytes and bytes into events, and leaves
every socket call to us, which is what lets this file own them.
"""

import socket
import threading
import time
from enum import IntEnum
from functools import wraps

from flask import Response, current_app, request
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as Protocol, ConnectionState
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Message, Ping, Pong, Request,
                            TextMessage)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from .broadcast import BACKLOG, BACKLOG_BYTES, BOARD_UNAVAILABLE, FELL_BEHIND, STOPPING, Mailbox
from .chat import BadInput
from .deflate import BoundedDeflate
from .serving import BUFFERED_INPUT, UPGRADED
from .watchman import Watchman, wait_for

CLOSE_TIMEOUT = 2  # seconds the client has to answer the server's Close (and then to close TCP)
CLOSING_BYTES = 64 * 1024  # bytes the client may still send after the server's Close before it is cut
WRITE_TIMEOUT = 20  # seconds a frame may wait to be written to a client that does not read, before it is cut
MAX_FRAMES = 1024  # frames in one message: an endless message of empty frames ends here
RECEIVE_BYTES = 65536  # bytes read from the socket at once


class CloseCode(IntEnum):
    """Close codes (RFC 6455 section 7.4.1, with 1013 from IANA's registry) by the RFC's names."""
    NORMAL_CLOSURE = 1000  # either side's normal close
    GOING_AWAY = 1001  # the server is stopping
    PROTOCOL_ERROR = 1002  # a frame that breaks RFC 6455 (wsproto finds it)
    UNSUPPORTED_DATA = 1003  # a binary frame on /ws
    ABNORMAL_CLOSURE = 1006  # never sent: what a client reports when TCP ended without a Close frame
    INVALID_PAYLOAD_DATA = 1007  # a text message that is not UTF-8 (wsproto finds it)
    POLICY_VIOLATION = 1008  # the client did not keep up: fell behind, or did not answer a ping
    MESSAGE_TOO_BIG = 1009  # over max_message bytes, or MAX_FRAMES frames
    INTERNAL_ERROR = 1011  # the view failed: a bug, logged
    TRY_AGAIN_LATER = 1013  # the board is unavailable (Redis is down)


ENDINGS = {  # why a subscription ended before its client left (broadcast.Mailbox.ended): how we close
    FELL_BEHIND: (CloseCode.POLICY_VIOLATION, "you fell behind: reconnect with ?after=<the last id you have>"),
    STOPPING: (CloseCode.GOING_AWAY, "the server is stopping"),
    BOARD_UNAVAILABLE: (CloseCode.TRY_AGAIN_LATER, "the message board is unavailable: reconnect later with "
                                                   "?after=<the last id you have>")}


class WriteLock:
    """The lock every frame of a connection is written under, for threads that must never wait for it.

    ``try_acquire`` never waits: when the lock is taken, it leaves a knock, and whoever releases the lock
    next runs ``on_knock`` (holding it again): writes what the knocker left waiting. The connection's own
    thread and the watchman wait for it (``with``); the broadcaster never does.
    """

    def __init__(self, on_knock) -> None:
        self._lock = threading.Lock()
        self._knocked = False
        self._on_knock = on_knock

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def try_acquire(self) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self._knocked = True
        return self._lock.acquire(blocking=False)  # its holder may have left before the knock: look again

    def release(self) -> None:
        self._lock.release()
        while self._knocked and self._lock.acquire(blocking=False):
            try:
                self._knocked = False
                self._on_knock()
            finally:
                self._lock.release()


class Connection:
    """The server's end of one WebSocket, opened from a WSGI request that asked to upgrade."""

    def __init__(self, environ: dict, watchman: Watchman, *, max_message: int, ping_interval: float | None = None,
                 backlog: int = BACKLOG, backlog_bytes: int = BACKLOG_BYTES) -> None:
        self.sock: socket.socket = environ["werkzeug.socket"]
        self.watchman, self.max_message, self.ping_interval = watchman, max_message, ping_interval
        self.close_code: int | None = None  # how the connection ended, once it has
        self.mailbox = Mailbox(backlog, backlog_bytes)  # filled by the broadcaster (see broadcast.py)
        self.mailbox.on_end = self._knock
        self._deflate = BoundedDeflate(max_message)
        self._protocol, accepted = self._handshake(environ)  # wsproto's frames and states, and the 101's bytes
        self._lock = WriteLock(self._flush)  # wsproto's state and the outbox: every frame is written under it
        self._outbox = bytearray(accepted)  # frames encoded and not yet taken by the socket, the 101 first
        self._waiting_since: float | None = None  # since when the outbox has been waiting for room
        self._pong: bytes | None = None  # the payload of the most recent ping whose pong could not be written yet
        self._live = False  # caught up with the history: pushes may be written as they come
        self._asleep = False  # the connection's thread is waiting in poll: it cannot see what others write
        self._close_written: float | None = None  # when our Close frame went out
        self._received_after_close = 0  # bytes read since our Close
        self._parser_failed = False  # wsproto refused a frame: it parses nothing more
        self._cut = False  # the connection was cut: nothing more is read or written
        self._finished = False
        self._events = self._protocol.events()
        self._message: list = []  # the parts of the message being received
        self._message_bytes, self._message_frames = 0, 0
        self._awaiting_pong = False
        self._next_ping = time.monotonic() + (ping_interval or 0)
        self.sock.setblocking(False)  # waits happen in poll, never in a read or a write
        self._take_over(environ.get(BUFFERED_INPUT))
        with self._lock:
            self._flush()  # the 101; a client gone already (it reset the connection) is cut, quietly

    # --- the opening handshake (RFC 6455 section 4.2) ----------------------------------------

    def _handshake(self, environ: dict) -> tuple[Protocol, bytes]:
        """Hand wsproto the request Werkzeug has already parsed. Returns wsproto's connection and the bytes of
        its 101 answer, written by the caller; the rest of wsproto's handshake machinery (an HTTP parser) is let
        go: it is not needed again. RemoteProtocolError for a handshake RFC 6455 refuses: nothing is written."""
        handshake = WSConnection(ConnectionType.SERVER)
        head = f"GET {environ.get('RAW_URI') or environ.get('PATH_INFO', '/')} HTTP/1.1\r\n"
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                head += f"{key[5:].replace('_', '-').title()}: {value}\r\n"
        try:
            handshake.receive_data((head + "\r\n").encode("latin-1"))
            next(event for event in handshake.events() if isinstance(event, Request))
            # permessage-deflate when the client offers it (browsers do): measured in notebook 05
            accepted = handshake.send(AcceptConnection(extensions=[self._deflate]))
        except UnicodeError:  # wsproto reads the fields it needs as ASCII (the target, Connection, the offers...)
            raise RemoteProtocolError("a handshake's target and WebSocket header fields are ASCII") from None
        return handshake.connection, accepted

    def _take_over(self, buffered_input) -> None:
        """From now on this connection reads its socket itself: the bytes the HTTP server's reader already
        holds beyond the handshake (a client that did not wait for the 101) go to wsproto, and the reader
        is closed, which frees its 8 KiB buffer (the socket stays open). ``flask run`` has no such reader.
        A client that reset the connection meanwhile is cut: its thread ends with nothing to log."""
        if buffered_input is None:
            return
        try:
            if early := buffered_input.peek():  # what it holds, without waiting: the socket is non-blocking
                self._protocol.receive_data(early)
                self._events = self._protocol.events()
        except OSError:  # reset by the client
            self.cut()
        finally:
            buffered_input.close()

    # --- what the view calls ------------------------------------------------------------------

    def receive(self) -> str | bytes | None:
        """The client's next message; meanwhile, pongs, pings and whatever waits to be written. None once
        the connection is closing (``close_code`` says how).

        Messages the client sent before its Close are all handed over before the Close is answered:
        nothing a client said is dropped because it said goodbye right after."""
        while (event := self._next_event()) is not None:
            if isinstance(event, (TextMessage, BytesMessage)):
                if (message := self._assemble(event)) is not None:
                    return message
            elif isinstance(event, Ping):
                self._answer(event.payload)
            elif isinstance(event, Pong):
                self._awaiting_pong = False
            elif isinstance(event, CloseConnection):
                self._closed_by(event)
                return None
        return None

    def send(self, data: str | bytes, own: list[tuple[int, str]] = ()) -> bool:
        """One message: text for a str, binary for bytes. Waits (up to WRITE_TIMEOUT) while earlier frames
        wait for room, so a client that does not read holds one answer at most. False once the connection
        is closing (either side sent a Close) or gone: then nothing more can be sent.

        ``own``: the pushes (id, frame) of the messages this client just stored, in id order. When every
        earlier message has reached this connection already, they are written now, before ``data``, by
        this thread, and the broadcaster skips them here; else the broadcaster pushes them as to everyone."""
        if self._outbox and not self._wait_for_room():  # (a look without the lock: a push may just be going out)
            return False
        with self._lock:
            if own and self._live and self._protocol.state is ConnectionState.OPEN:
                with self.mailbox.wakeup:
                    if self.mailbox.claim(own[0][0], own[-1][0]):
                        pushes = self.mailbox.take() + [push for _, push in own]
                        self._outbox += b"".join(self._protocol.send(Message(data=push)) for push in pushes)
                        self.mailbox.delivered(len(pushes))
            return self._write_locked(Message(data=data))

    def close(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Start the closing handshake (or answer the client's Close), unless it is under way already."""
        with self._lock:
            self._close(code, reason)

    def end(self, why: str) -> None:
        """Close for one of the reasons a subscription ends (``ENDINGS``), with its documented code."""
        self.close(*ENDINGS[why])

    def caught_up(self) -> None:
        """From now on pushes are written as they come, by the broadcaster itself when the socket has room
        (before, the view was sending the history, which must come first): what waits goes now."""
        with self._lock:
            self._live = True
            self.mailbox.write_now = self._write_now
            self._flush()

    def finish(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Complete the closing handshake, then close TCP, server first (RFC 6455 section 7.1.1).

        Once our FIN is sent, nothing else can reach the client on this connection, whatever the
        HTTP server does after the view returns. The client's answer has a deadline: CLOSE_TIMEOUT
        seconds after our Close went out, whatever it keeps sending.
        """
        try:
            self.close(code, reason)
            while self._state() is ConnectionState.LOCAL_CLOSING and not self._parser_failed:
                event = self._next_event()  # its messages meanwhile are dropped, uninflated
                if event is None or isinstance(event, CloseConnection):
                    break
            if self._wait_for_room():  # our Close is out
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                self._read_until_eof()
        finally:
            with self._lock:
                self._finished = True
            self.watchman.forget(self)

    # --- reading ------------------------------------------------------------------------------

    def _next_event(self):
        """The next event wsproto made of the client's bytes, reading (and waiting) for more when there
        is none; None once nothing more can come."""
        while True:
            with self._lock:
                event = next(self._events, None)
            if event is not None:
                return event
            if not self._read():
                return None

    def _read(self) -> bool:
        """Wait for the client's bytes, writing and pinging meanwhile, and hand them to wsproto. False once
        nothing more will be read (the connection is closed, cut, or wsproto refused a frame)."""
        while True:
            with self._lock:
                self._flush()
                if self._cut or self._parser_failed or self._protocol.state is ConnectionState.CLOSED:
                    return False
                blocked, timeout = bool(self._outbox), self._timeout()
                self._asleep = True
            try:  # while our frames wait for room we read nothing more: TCP slows the client down
                readable, writable = wait_for([] if blocked else [self.sock], [self.sock] if blocked else [], timeout)
            finally:
                with self._lock:
                    self._asleep = False
            self._on_time(reading=bool(readable))
            if not readable:
                continue
            try:
                data = self.sock.recv(RECEIVE_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # reset by the client, or cut
                data = b""
            with self._lock:
                if self._close_written is not None:
                    self._received_after_close += len(data)
                    if self._received_after_close > CLOSING_BYTES:  # it will not stop: no more of it
                        self._cut_locked()
                        return False
                self._protocol.receive_data(data or None)  # None: TCP ended without a Close (1006)
                self._events = self._protocol.events()
            return True

    def _assemble(self, event) -> str | bytes | None:
        """Add a piece of the message under way; the whole message once it is complete (None before, or
        when it is dropped: the connection is closing, or the message is over its limits)."""
        if self._state() is not ConnectionState.OPEN:  # we are closing: what it still sends is dropped
            return None
        self._message_bytes += len(event.data.encode() if isinstance(event.data, str) else event.data)
        self._message_frames += event.frame_finished
        if self._message_bytes > self.max_message or self._message_frames > MAX_FRAMES:
            self.close(CloseCode.MESSAGE_TOO_BIG, self._too_big())
            return None
        if event.data:
            self._message.append(event.data)
        if not event.message_finished:
            return None
        message = type(event.data)().join(self._message)
        self._message, self._message_bytes, self._message_frames = [], 0, 0
        return message

    def _too_big(self) -> str:
        compressed = f" ({self._deflate.max_compressed} compressed)" if self._deflate.enabled() else ""
        return f"messages are limited to {self.max_message} bytes{compressed} and {MAX_FRAMES} frames"

    def _answer(self, payload: bytes) -> None:
        """A pong for a ping, written with the others of the same read; while the socket is full, only the
        most recent ping waits for its pong (RFC 6455 section 5.5.3)."""
        with self._lock:
            if self._waiting_since is not None:
                self._pong = payload
            elif self._protocol.state is ConnectionState.OPEN:
                self._outbox += self._protocol.send(Pong(payload))

    def _closed_by(self, event: CloseConnection) -> None:
        """wsproto's Close event: the client's Close (answered at once, with its code), the end of TCP
        without one (1006), or a frame wsproto or permessage-deflate refused (1002, 1007, 1009: it parses nothing
        more; we close, saying why)."""
        with self._lock:
            state = self._protocol.state
            if state is ConnectionState.REMOTE_CLOSING or state is ConnectionState.CLOSED:
                self.close_code = self.close_code or event.code
                self._close(event.code)  # nothing to do once CLOSED
            else:
                self._parser_failed = True
                too_big = event.code == CloseCode.MESSAGE_TOO_BIG
                self._close(event.code, self._too_big() if too_big else self._deflate.refusal or event.reason)

    def _read_until_eof(self) -> None:
        """Read and drop what the client still sends, until its FIN, our Close's deadline, or CLOSING_BYTES
        read since our Close (a client that keeps sending is cut: returning closes the socket)."""
        deadline = (self._close_written or time.monotonic()) + CLOSE_TIMEOUT
        while (left := deadline - time.monotonic()) > 0 and self._received_after_close <= CLOSING_BYTES:
            if not wait_for([self.sock], [], left)[0]:
                continue
            try:
                data = self.sock.recv(RECEIVE_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if not data:
                return
            self._received_after_close += len(data)

    # --- writing ------------------------------------------------------------------------------

    def _knock(self) -> None:
        """The subscription ended (``Mailbox.on_end``): write the Close now if the lock is free, else its
        holder does on leaving. Never waits."""
        if self._lock.try_acquire():
            try:
                self._flush()
            finally:
                self._lock.release()

    def _write(self, event) -> bool:
        """Encode a frame after what waits, and write what the socket takes. False if the protocol no longer
        allows it (after a Close) or the client is gone."""
        with self._lock:
            return self._write_locked(event)

    def _write_locked(self, event) -> bool:
        if self._cut:
            return False
        try:
            self._outbox += self._protocol.send(event)
        except LocalProtocolError:
            return False
        self._flush()
        return not self._cut

    def _write_now(self, item: str) -> bool:
        """The broadcaster's way in (``Mailbox.write_now``): write a push at once if nothing else waits,
        without ever waiting for this client. True: written (and counted as delivered), or dropped because
        the connection is closing. False: it waits in the mailbox, for the next writer with room.

        Writing a thousand pushes from one thread costs far less than waking a thousand threads to write
        one each; a client whose socket is full is left to the connection's thread or the watchman, so it
        delays nobody."""
        if not self._lock.try_acquire():
            return False
        try:
            if self._outbox or not self._live:
                return False
            if self._protocol.state is ConnectionState.OPEN and not self._cut:
                self._outbox += self._protocol.send(Message(data=item))
                self.mailbox.delivered(1)
                if not self._send_outbox() and self._asleep and not self._cut:  # the rest: the watchman's
                    self.watchman.watch(self)
            return True
        finally:
            self._lock.release()

    def flush(self) -> None:
        """Write what waits, as far as the socket takes it (the watchman's call, when the socket has room)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        """Write the outbox, then the waiting pong, the mailbox and the end of the subscription, as far as
        the socket takes them without waiting (the caller holds the lock)."""
        while self._send_outbox() and self._encode_what_waits():
            pass
        if self._asleep and self.watched() != (False, None):  # its thread cannot see this: the watchman will
            self.watchman.watch(self)

    def _send_outbox(self) -> bool:
        """Write as much of the outbox as the socket takes now; True once all of it is written (the caller
        holds the lock). Our Close's deadline starts when it is out."""
        if self._cut or self._finished:
            return False
        if self._outbox:
            try:
                sent = self.sock.send(self._outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (OSError, ValueError):  # the client is gone (ValueError: its socket is closed already)
                self._cut_locked()
                return False
            del self._outbox[:sent]
            if self._outbox:  # the socket is full
                self._waiting_since = self._waiting_since or time.monotonic()
                return False
        self._waiting_since = None
        if self._close_written is None and self._protocol.state in (ConnectionState.LOCAL_CLOSING,
                                                                     ConnectionState.CLOSED):
            self._close_written = time.monotonic()  # the client's time to answer starts now
        return True

    def _encode_what_waits(self) -> bool:
        """Move the waiting pong, then the mailbox's pushes (or its Close, if it ended) into the outbox;
        False when nothing waited."""
        if self._pong is not None and self._protocol.state is ConnectionState.OPEN:
            self._outbox += self._protocol.send(Pong(self._pong))
            self._pong = None
            return True
        with self.mailbox.wakeup:  # its end, even before the history is sent; its pushes only after
            ended = self.mailbox.ended
            items = self.mailbox.take() if self._live else []
        if ended and self._protocol.state is ConnectionState.OPEN:
            self._close(*ENDINGS[ended], flush=False)
            return True
        if items and self._protocol.state is ConnectionState.OPEN:
            self._outbox += b"".join(self._protocol.send(Message(data=item)) for item in items)
            self.mailbox.delivered(len(items))
            return True
        return False

    def _close(self, code: int, reason: str | None = None, flush: bool = True) -> None:
        """Our Close, or our answer to the client's (the caller holds the lock). From now on, what the
        client sends is dropped without being inflated."""
        state = self._protocol.state
        if state is ConnectionState.OPEN or state is ConnectionState.REMOTE_CLOSING:
            self._outbox += self._protocol.send(CloseConnection(code, reason))
            self._deflate.discarding = True
            self.close_code = self.close_code or code
            if flush:
                self._flush()

    def _wait_for_room(self) -> bool:
        """Wait until every frame waiting has been written; False if the connection was cut (the client took
        nothing for WRITE_TIMEOUT s) or is gone."""
        while True:
            with self._lock:
                self._flush()
                if self._cut:
                    return False
                if not self._outbox:
                    return True
                timeout = self._timeout()
            if not wait_for([], [self.sock], timeout)[1]:
                self._on_time()

    # --- time: pings and deadlines --------------------------------------------------------------

    def _timeout(self) -> float | None:
        """Seconds until the next thing due: a ping, the write deadline, the Close's deadline (None: none)."""
        due = [deadline for deadline in self._deadlines() if deadline is not None]
        if self.ping_interval and self._protocol.state is ConnectionState.OPEN:
            due.append(self._next_ping)
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _deadlines(self) -> tuple[float | None, float | None]:
        """When the waiting frames must have been written, and when the client must have answered our Close."""
        return (self._waiting_since + WRITE_TIMEOUT if self._waiting_since is not None else None,
                self._close_written + CLOSE_TIMEOUT if self._close_written is not None else None)

    def watched(self) -> tuple[bool, float | None]:
        """For the watchman: whether frames wait for room, and the nearest deadline (None: none)."""
        if self._finished or self._cut:
            return False, None
        due = [deadline for deadline in self._deadlines() if deadline is not None]
        return bool(self._outbox), min(due) if due else None

    def _on_time(self, reading: bool = False) -> None:
        """After a wait: cut the connection past a deadline; ping when a ping is due. A ping unanswered for
        a whole interval closes with 1008, unless the pong may be unread yet: the server has bytes to read
        (``reading``), or its own frames wait for room, when it reads nothing (the write deadline rules then)."""
        with self._lock:
            if any(deadline is not None and deadline <= time.monotonic() for deadline in self._deadlines()):
                self._cut_locked()
                return
            not_reading = bool(self._outbox)
        if not self.ping_interval or time.monotonic() < self._next_ping or self._state() is not ConnectionState.OPEN:
            return
        self._next_ping = time.monotonic() + self.ping_interval
        if not self._awaiting_pong:
            self._awaiting_pong = True
            self._write(Ping())
        elif not (reading or not_reading):  # the last ping got no pong within a whole interval
            self.close(CloseCode.POLICY_VIOLATION, "no pong within the ping interval")

    def cut(self) -> None:
        """End the connection without a word: the client sees TCP end (1006). For a client that never takes
        what it is sent, or never answers a Close."""
        with self._lock:
            self._cut_locked()

    def _cut_locked(self) -> None:
        if self._cut or self._finished:
            return
        self._cut = True
        self.close_code = self.close_code or CloseCode.ABNORMAL_CLOSURE
        self._outbox.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # the connection's thread, if it waits in poll, wakes up
        except OSError:
            pass

    def _state(self) -> ConnectionState:
        return self._protocol.state  # one attribute, read at once: no lock needed to look


def websocket_view(view, limit: str):
    """Turn ``view(connection)`` into a Flask view for a WebSocket route (``websocket=True``) whose messages
    are at most ``app.config[limit]`` bytes.

    Whatever the view does, the closing handshake runs: a view that returns closes with
    1000 (or the code it chose), one that fails is logged with its traceback and closes
    with 1011, so the client learns of the bug instead of seeing a dropped connection.
    """
    @wraps(view)
    def upgrade(*args, **kwargs):
        try:
            ws = Connection(request.environ, current_app.extensions["watchman"],
                            max_message=current_app.config[limit], **current_app.config["WEBSOCKET"])
        except RemoteProtocolError as error:  # nothing was written: the refusal is an ordinary HTTP answer
            raise BadInput("invalid_handshake", f"this is not a WebSocket handshake RFC 6455 accepts: {error}")
        request.environ[UPGRADED] = True  # the 101 is written: the HTTP server must write nothing more
        code, reason = CloseCode.NORMAL_CLOSURE, None
        try:
            view(ws, *args, **kwargs)
        except Exception:
            current_app.logger.exception("the WebSocket view %s failed", view.__name__)
            code, reason = CloseCode.INTERNAL_ERROR, "internal server error (the server logged it)"
        finally:
            ws.finish(code, reason)
        return Response(status=200)  # never written: the connection is closed (see serving.py)
    return upgrade
