"""One WebSocket connection, server side: RFC 6455 through wsproto, every frame written under one lock.

Why our own and not flask-sock's (simple-websocket): there, the library's reader
thread writes frames of its own (pongs, the reply to a Close, pings and the
ping-timeout Close) while the app writes from other threads, and nothing lets an
app take one lock over all of them, so a pushed frame could land after a Close.
Here every frame is written under one lock, in one place (``_write``), and two
threads serve a connection:

* the request's thread (Werkzeug's) runs the view. It is the writer: between the
  client's messages it writes what the broadcaster left in this connection's
  mailbox, the pongs, the pings, and the Close. (When the connection is idle and
  its socket has room, the broadcaster writes a push itself, under the same lock,
  without waiting: see ``_write_now``.)
* a reader thread turns the bytes the client sends into events (wsproto parses
  and checks them: masking, UTF-8, control frames, close codes) and hands them over.

wsproto is a "sans-I/O" protocol engine: it turns events into bytes and bytes into
events, and leaves every socket call to us, which is what lets this file own them.
The closing handshake ends the RFC 6455 way (section 7.1.1): after the Close
frames, the server closes TCP first, so nothing else can reach the client.
"""

import select
import socket
import threading
import time
from collections import deque
from functools import wraps

from flask import Response, current_app, request
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Message, Ping, Pong, Request,
                            TextMessage)
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from .broadcast import BACKLOG, BOARD_UNAVAILABLE, FELL_BEHIND, STOPPING, Mailbox
from .chat import BadInput
from .serving import UPGRADED

CLOSE_TIMEOUT = 2  # seconds we wait for the peer's half of the closing handshake
WRITE_TIMEOUT = 20  # seconds one write may wait for a client that does not read before we cut it off
RECEIVE_BYTES = 65536
INBOX = 64  # messages read from the client and not yet handled; past that we stop reading (TCP slows it down)
# Close codes (RFC 6455 section 7.4.1) the connection itself uses.
NORMAL, GOING_AWAY, TOO_BIG, NOT_KEEPING_UP, INTERNAL_ERROR, TRY_AGAIN_LATER = 1000, 1001, 1009, 1008, 1011, 1013
ENDINGS = {  # why a subscription ended before its client left (broadcast.Mailbox.ended): how we close
    FELL_BEHIND: (NOT_KEEPING_UP, "you fell behind: reconnect with ?after=<the last id you have>"),
    STOPPING: (GOING_AWAY, "the server is stopping"),
    BOARD_UNAVAILABLE: (TRY_AGAIN_LATER, "the message board is unavailable: reconnect later with ?after=<the last id "
                                         "you have>")}


class Connection:
    """The server's end of one WebSocket, opened from a WSGI request that asked to upgrade."""

    def __init__(self, environ: dict, *, max_message: int, ping_interval: float | None = None,
                 backlog: int = BACKLOG) -> None:
        self.sock: socket.socket = environ["werkzeug.socket"]
        self.max_message, self.ping_interval = max_message, ping_interval
        self.close_code: int | None = None  # how the connection ended, once it has
        self._protocol = WSConnection(ConnectionType.SERVER)
        self._protocol_lock = threading.Lock()  # wsproto's state: read by the reader, changed by the writer
        self._write_lock = threading.RLock()  # every frame, encoded and written as one step
        self.mailbox = Mailbox(backlog)  # filled by the broadcaster (see broadcast.py)
        self._wakeup = self.mailbox.wakeup  # the writer wakes for the mailbox, the inbox, a pong, a close
        self._inbox: deque = deque()  # complete messages from the client
        self._control: deque = deque()  # pongs and the reply to a Close, asked for by the reader
        self._unsent = b""  # the end of a push the broadcaster could not write whole
        self._reader_done = False  # the client sent its Close, or the connection ended
        self._finishing = False  # the view is done: what the client still sends is read and dropped
        self._awaiting_pong = False
        self._handshake(environ)
        self._next_ping = time.monotonic() + (ping_interval or 0)
        self.sock.settimeout(WRITE_TIMEOUT)  # a write to a client that never reads ends; reads just loop
        self._reader = threading.Thread(target=self._read, name="websocket-reader", daemon=True)
        self._reader.start()

    # --- the opening handshake (RFC 6455 section 4.2) ----------------------------------------

    def _handshake(self, environ: dict) -> None:
        """Hand wsproto the request Werkzeug has already parsed, and write its 101 answer."""
        head = f"GET {environ.get('RAW_URI') or environ.get('PATH_INFO', '/')} HTTP/1.1\r\n"
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                head += f"{key[5:].replace('_', '-').title()}: {value}\r\n"
        self._protocol.receive_data((head + "\r\n").encode("latin-1"))
        next(event for event in self._protocol.events() if isinstance(event, Request))
        # permessage-deflate when the client offers it (browsers do): measured in notebook 04
        self.sock.sendall(self._protocol.send(AcceptConnection(extensions=[PerMessageDeflate()])))

    # --- what the view calls ------------------------------------------------------------------

    def receive(self) -> str | bytes | None:
        """The client's next message. While waiting, write whatever the mailbox holds and keep the
        connection alive with pings. None once the connection is closing (``close_code`` says how).

        Messages the client sent before its Close are all handed over before the Close is answered:
        nothing a client said is dropped because it said goodbye right after."""
        while True:
            with self._wakeup:
                while not self._has_work():
                    self._wakeup.wait(self._until_next_ping())
            with self._write_lock:  # held from emptying the mailbox to writing it: no push can overtake these
                with self._wakeup:
                    message = self._inbox.popleft() if self._inbox else None
                    control = [event for event in self._control if message is None or isinstance(event, Pong)]
                    for event in control:
                        self._control.remove(event)
                    items, ended = self.mailbox.take(), self.mailbox.ended
                    self._wakeup.notify_all()  # the reader may wait for room in the inbox
                self._write(*control)
                if self._write(*(Message(data=item) for item in items)):
                    self.mailbox.delivered(len(items))
            if ended:
                self.end(ended)
                return None
            if not self._ping_if_due():  # no pong: we closed
                return None
            if message is not None:
                return message
            with self._wakeup:
                if self._reader_done and not self._inbox:  # all the client sent is handed over, its Close answered
                    return None

    def send(self, data: str | bytes) -> bool:
        """One message: text for a str, binary for bytes. False once the connection is closing (either
        side sent a Close) or gone: then nothing more can be sent."""
        return self._write(Message(data=data))

    def close(self, code: int = NORMAL, reason: str | None = None) -> None:
        """Start the closing handshake (or answer the client's Close), unless it is under way already."""
        with self._protocol_lock:
            state = self._protocol.state
        if state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._write(CloseConnection(code if state is ConnectionState.OPEN else self.close_code or code, reason))
        self.close_code = self.close_code or code

    def end(self, why: str) -> None:
        """Close for one of the reasons a subscription ends (``ENDINGS``), with its documented code."""
        self.close(*ENDINGS[why])

    def finish(self, code: int = NORMAL, reason: str | None = None) -> None:
        """Complete the closing handshake, then close TCP, server first (RFC 6455 section 7.1.1).

        Once our FIN is sent, nothing else can reach the client on this connection,
        whatever the HTTP server does after the view returns.
        """
        self.close(code, reason)
        with self._wakeup:
            self._finishing = True
            self._wakeup.notify_all()
        self._reader.join(CLOSE_TIMEOUT)  # the reader ends when the peer's Close (or EOF) arrives
        try:
            if self._reader.is_alive():  # the peer never answered: cut the connection
                self.sock.shutdown(socket.SHUT_RDWR)
                return
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(CLOSE_TIMEOUT)
            while self.sock.recv(4096):  # read the peer's late bytes, if any, until its FIN
                pass
        except OSError:
            pass

    # --- the writer's side ----------------------------------------------------------------------

    def _write(self, *events) -> bool:
        """Encode and write frames as one step, under the one lock every frame goes through.
        False if the protocol no longer allows them (after our Close) or the client is gone."""
        with self._write_lock:
            try:
                if self._unsent:  # the end of a push the broadcaster began (see _write_now) comes first
                    self.sock.sendall(self._unsent)
                    self._unsent = b""
                if not events:
                    return True
                with self._protocol_lock:
                    data = b"".join(self._protocol.send(event) for event in events)
                self.sock.sendall(data)
                return True
            except LocalProtocolError:  # after a Close, nothing more may be sent
                return False
            except OSError:  # gone, or a write that timed out half-way: this connection cannot go on
                self._abort()
                return False

    def caught_up(self) -> None:
        """From now on the broadcaster may write pushes itself, while nothing else is being written
        (before, the view was sending the history, which must come first)."""
        self.mailbox.write_now = self._write_now

    def _write_now(self, item: str) -> bool:
        """The broadcaster's way in: write a push at once if no frame is being written and the socket has
        room, without ever waiting for this client. True: written (and counted as delivered), or dropped
        because the connection is closing. False: the writer thread takes it from the mailbox.

        Writing a thousand pushes from one thread costs far less than waking a thousand threads to write
        one each; a client whose socket is full is left to its own thread, so it delays nobody.
        """
        if self._unsent or not self._write_lock.acquire(blocking=False):
            return False
        try:
            if not _has_room(self.sock):
                return False
            with self._protocol_lock:
                if self._protocol.state is not ConnectionState.OPEN:
                    return True  # closing: the push is dropped, as it would be by the writer
                data = self._protocol.send(Message(data=item))
            sent = self.sock.send(data)  # never waits: the socket has room, and a timeout keeps it non-blocking
            if sent < len(data):  # the writer thread finishes the frame before writing anything else
                self._unsent = data[sent:]
                self._wakeup.notify_all()  # the broadcaster holds the mailbox's lock: that is this condition
            self.mailbox.delivered(1)
            return True
        except (OSError, ValueError):  # the client is gone (ValueError: its socket is closed already)
            self._abort()
            return True
        finally:
            self._write_lock.release()

    def _has_work(self) -> bool:
        return bool(self._control or self.mailbox.items or self._inbox or self.mailbox.ended
                    or self._unsent or self._reader_done or self._until_next_ping() == 0)

    def _until_next_ping(self) -> float | None:
        """Seconds until the next ping is due (0: now); None without pings."""
        return max(0.0, self._next_ping - time.monotonic()) if self.ping_interval else None

    def _ping_if_due(self) -> bool:
        """Ping when it is time; False if the last ping went unanswered, and the connection is closing."""
        if self._until_next_ping() != 0:
            return True
        self._next_ping = time.monotonic() + self.ping_interval
        if self._state() is not ConnectionState.OPEN:  # closing already: no more pings
            return True
        if self._awaiting_pong:  # the last ping got no pong within a whole interval
            self.close(NOT_KEEPING_UP, "no pong within the ping interval")
            return False
        self._awaiting_pong = True
        return self._write(Ping())

    def _abort(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _state(self) -> ConnectionState:
        with self._protocol_lock:
            return self._protocol.state

    # --- the reader's side ----------------------------------------------------------------------

    def _read(self) -> None:
        """Bytes in, events out, until the peer's Close or the end of the connection."""
        parts: list = []
        size, too_big = 0, False
        try:
            while True:
                try:
                    data = self.sock.recv(RECEIVE_BYTES)
                except TimeoutError:  # an idle client: pings (if on) tell whether it is still there
                    continue
                except OSError:
                    data = b""
                with self._protocol_lock:
                    if self._protocol.state is ConnectionState.CLOSED:
                        return
                    self._protocol.receive_data(data or None)  # None: TCP ended without a Close (1006)
                    events = list(self._protocol.events())
                for event in events:
                    if isinstance(event, (TextMessage, BytesMessage)) and not too_big:
                        parts.append(event.data)
                        size += len(event.data)
                        if size > self.max_message:  # we close; what follows is read until the client's Close
                            too_big = True
                            self._ask(close=CloseConnection(TOO_BIG, f"messages are limited to {self.max_message} "
                                                                     "bytes"))
                        elif event.message_finished:
                            self._deliver(type(parts[0])().join(parts))
                            parts, size = [], 0
                    elif isinstance(event, Ping):
                        self._ask(control=event.response())
                    elif isinstance(event, Pong):
                        self._awaiting_pong = False
                    elif isinstance(event, CloseConnection):
                        self.close_code = self.close_code or event.code
                        self._ask(close=event.response())
                        return
                if not data:
                    return
        finally:
            with self._wakeup:
                self._reader_done = True
                self._wakeup.notify_all()

    def _deliver(self, message: str | bytes) -> None:
        with self._wakeup:
            while len(self._inbox) >= INBOX and not self._finishing:  # the view is busy: stop reading
                self._wakeup.wait()
            if not self._finishing:
                self._inbox.append(message)
                self._wakeup.notify_all()

    def _ask(self, control=None, close: CloseConnection | None = None) -> None:
        """Ask the writer for a pong, or for a Close (the reply to the client's, or one of ours)."""
        with self._wakeup:
            if close is not None:
                self._control.append(close)
            elif sum(isinstance(event, Pong) for event in self._control) < 4:  # a ping flood gets no more
                self._control.append(control)
            self._wakeup.notify_all()


def websocket_view(view):
    """Turn ``view(connection)`` into a Flask view for a WebSocket route (``websocket=True``).

    Whatever the view does, the closing handshake runs: a view that returns closes with
    1000 (or the code it chose), one that fails is logged with its traceback and closes
    with 1011, so the client learns of the bug instead of seeing a dropped connection.
    """
    @wraps(view)
    def upgrade(*args, **kwargs):
        try:
            ws = Connection(request.environ, **current_app.config["WEBSOCKET"])
        except RemoteProtocolError as error:  # nothing was written: the refusal is an ordinary HTTP answer
            raise BadInput("invalid_handshake", f"this is not a WebSocket handshake RFC 6455 accepts: {error}")
        request.environ[UPGRADED] = True  # the 101 is written: the HTTP server must write nothing more
        code, reason = NORMAL, None
        try:
            view(ws, *args, **kwargs)
        except Exception:
            current_app.logger.exception("the WebSocket view %s failed", view.__name__)
            code, reason = INTERNAL_ERROR, "internal server error (the server logged it)"
        finally:
            ws.finish(code, reason)
        return Response(status=200)  # never written: the connection is closed (see serving.py)
    return upgrade


def _has_room(sock: socket.socket) -> bool:
    """Whether a write would not wait now (poll where there is one: select cannot watch fds above 1023)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        return bool(poller.poll(0))
    return bool(select.select([], [sock], [], 0)[1])
