"""TLS on our own connections: a ``CountingSocket`` that encrypts and decrypts with ``ssl.MemoryBIO``.

Why not ``SSLContext.wrap_socket``: an ``SSLSocket`` takes the connection's file descriptor over and reads
and writes it in C, so the bytes our meter counts would be the plain HTTP and WebSocket bytes, not what
crosses the wire, and the TLS records (22 bytes or more each), the handshake and the certificate would go
uncounted. Here the TLS engine (an ``SSLObject``) works on two memory buffers and this class moves the
bytes between them and the socket, through ``CountingSocket``'s own ``recv`` and ``send``: every byte
counted is a byte of a TLS record, so the side-by-side page and the class view show what a student's
browser really paid, under TLS as without it.

It behaves like the socket it replaces, for both of its users:

* the HTTP server (``serving.py``) reads and writes it blocking, with timeouts, through buffered files;
  its handshake is done first, within the request timeout (``handshake``), and a client that speaks plain
  HTTP to it is told to use ``https://`` in plain HTTP (``PlainHTTP``);
* a WebSocket (``websocket_connection.py``) sets it non-blocking and waits in ``poll``. Two promises of a
  non-blocking socket need care under TLS. Bytes may be waiting in the TLS engine, received and decrypted,
  while the socket itself has nothing to read: ``pending()`` says so, and ``watchman.wait_for`` looks at it
  before it polls. And a record is made whole or not at all: ``send`` answers how many bytes of the caller's
  data are on the wire in whole records (as many as fit, like a plain socket's ``send``), and keeps the rest
  of a record only part of which fit; the caller, as OpenSSL asks of its own callers, comes back with the
  same data, and is told its count once the record is out (the WebSocket's outbox keeps its bytes until
  then). When no whole record fit, it raises ``BlockingIOError``, as a full socket does.

One lock guards the TLS engine and the records not yet sent: the WebSocket's reader and its writers
(the broadcaster, the watchman) are different threads. A wait for the socket never happens under it.
The end of a connection says so in TLS too (a ``close_notify`` alert, ``shutdown(SHUT_WR)``), so a
stream that ends with its connection (an event stream) is not mistaken for one cut short.
"""

import errno
import socket
import ssl
import threading

from .serving import CountingSocket

HANDSHAKE_RECORD = 0x16  # the first byte of every TLS connection: a handshake record (RFC 8446 section 5.1)
RECEIVE_BYTES = 65536  # bytes read from the socket at once
RECORD_BYTES = 16384  # plaintext bytes per TLS record at most (RFC 8446 section 5.1): a write makes one at a time


# What the usual handshake failures mean, in the words of OpenSSL's reason and then in ours
FAILURES = (
    (("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "UNSUPPORTED_CERTIFICATE"),
     "the client does not trust our certificate: it must trust the project's CA (the file the launcher printed, "
     "with how to)"),
    (("CERTIFICATE_EXPIRED",), "the client finds our certificate expired: is its clock right?"),
    (("WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"),
     "the client offers no TLS version we speak (1.2 and 1.3)"),
    (("NO_SHARED_CIPHER",), "the client offers no cipher we share"),
)


def explain(error: ssl.SSLError) -> str:
    """One line for the server's log: what a failed handshake most likely means."""
    reason = (getattr(error, "reason", None) or "").upper()
    for reasons, meaning in FAILURES:
        if any(known in reason for known in reasons):
            return f"{meaning} ({getattr(error, 'reason', error)})"
    return str(error)


class PlainHTTP(Exception):
    """The client's first bytes are not a TLS handshake: it speaks plain HTTP (an http:// URL) to a TLS port."""


class TLSSocket(CountingSocket):
    """An accepted TCP connection that speaks TLS as the server of ``context``, counting its records."""

    def __init__(self, accepted: socket.socket, context: ssl.SSLContext) -> None:
        super().__init__(accepted)
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._engine = threading.Lock()  # the TLS engine, its buffers, and what follows
        self._unsent = bytearray()  # records made and not yet taken by the socket
        self._owed = 0  # plaintext bytes whose records are in _unsent: send's answer, once they are out
        self._more = False  # a read stopped with the caller's buffer full: more may be decrypted without waiting
        self.encrypted = False  # until the handshake, bytes pass as they are (to answer plain HTTP in plain HTTP)
        self.handshake_due = True

    def handshake(self) -> None:
        """The server's side of the TLS handshake, blocking (the caller set the timeout and the deadline).
        Raises PlainHTTP for a client that speaks something else, ssl.SSLError when TLS fails (the client
        refused our certificate, or offers nothing we speak): the alert that says why is sent first."""
        self.handshake_due = False  # tried once
        self._before_receiving()
        first = socket.socket.recv(self, 1, socket.MSG_PEEK)  # looked at, not taken: the meter counts it later
        if first and first[0] != HANDSHAKE_RECORD:
            raise PlainHTTP()
        self.encrypted = True
        while True:
            try:
                with self._engine:
                    try:
                        self._tls.do_handshake()
                    finally:
                        self._take_records()  # our next flight, or the alert that says why we stop
                self._send_records()
                return
            except ssl.SSLWantReadError:
                self._send_records()
                self._receive()
            except ssl.SSLError:
                try:
                    self._send_records()
                except OSError:
                    pass
                raise

    @property
    def version(self) -> str | None:
        """The TLS version agreed ("TLSv1.3"), once the handshake is done."""
        return self._tls.version() if self.encrypted else None

    # --- reading ------------------------------------------------------------------------------

    def recv(self, bufsize, flags=0):
        if not self.encrypted:
            return super().recv(bufsize, flags)
        while True:
            with self._engine:
                data = self._decrypt(bufsize)
                self._take_records()  # what reading made us say: a TLS 1.3 session ticket, a key update
            self._send_records()
            if data is not None:
                return data
            self._receive()  # blocks, or raises BlockingIOError on a non-blocking socket with nothing to read

    def recv_into(self, buffer, nbytes=0, flags=0):
        if not self.encrypted:
            return super().recv_into(buffer, nbytes, flags)
        data = self.recv(nbytes or len(buffer))
        memoryview(buffer)[:len(data)] = data
        return len(data)

    def pending(self) -> bool:
        """Whether bytes can be read now without waiting for the socket: decrypted and waiting in the engine."""
        with self._engine:
            return self.encrypted and (self._more or self._tls.pending() > 0)

    def _decrypt(self, bufsize: int) -> bytes | None:
        """Up to ``bufsize`` bytes from the records received so far (as many records as fit, so that nothing
        whole is left behind unseen by ``poll``); b"" at the end of the connection; None if a record is still
        incomplete (the caller holds the lock)."""
        data = bytearray()
        try:
            while len(data) < bufsize:
                data += self._tls.read(bufsize - len(data))
        except ssl.SSLWantReadError:
            self._more = False
            return bytes(data) or None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # the client's close_notify, or TCP's end without one
            self._more = False
            return bytes(data)
        self._more = True
        return bytes(data)

    def _receive(self) -> None:
        """Bytes from the socket into the engine; the socket's end becomes the engine's."""
        data = super().recv(RECEIVE_BYTES)
        with self._engine:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    # --- writing ------------------------------------------------------------------------------

    def send(self, data, flags=0):
        """How many bytes of ``data`` are on the wire, in whole records: as many records as the socket takes, as a
        plain socket takes as many bytes as fit. When the socket took only part of a record, the bytes of that
        record are not counted: call again with the data that follows the count (it starts with them) once
        there is room. A non-blocking socket that took no whole record of ``data`` raises BlockingIOError."""
        if not self.encrypted:
            return super().send(data, flags)
        view, done = memoryview(data).cast("B"), 0
        try:
            while True:
                self._send_records()  # what waits goes first: an earlier call's records, or what reading made us say
                with self._engine:
                    if self._unsent:  # the socket is full, with part of a record in it
                        if done:
                            return done
                        raise BlockingIOError(errno.EAGAIN, "the socket took part of a TLS record: send it again")
                    done, self._owed = done + self._owed, 0  # an earlier call's record counts for the data it began
                    if done >= len(view):
                        return done
                    self._owed = self._tls.write(view[done:done + RECORD_BYTES])
                    self._take_records()
        finally:
            view.release()  # at once: the caller may resize its buffer (the WebSocket's outbox) as soon as we answer

    def sendall(self, data, flags=0):
        if not self.encrypted:
            return super().sendall(data, flags)
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view):]

    def shutdown(self, how: int) -> None:
        """``SHUT_WR``, a clean end, says so in TLS first (close_notify); ``SHUT_RDWR``, a cut, says nothing."""
        if how == socket.SHUT_WR and self.encrypted:
            with self._engine:
                try:
                    self._tls.unwrap()
                except ssl.SSLError:  # SSLWantReadError: the client's close_notify has not come, and need not
                    pass
                self._take_records()
            try:
                self._send_records()
            except OSError:
                pass
        super().shutdown(how)

    def _take_records(self) -> None:
        """Move what the engine wrote into the records waiting to be sent (the caller holds the lock)."""
        if self._outgoing.pending:
            self._unsent += self._outgoing.read()

    def _send_records(self) -> None:
        """Send the waiting records: all of them on a blocking socket, as many as fit on a non-blocking one."""
        with self._engine:
            if not self._unsent:
                return
            if self.gettimeout() != 0:
                super().sendall(self._unsent)
                self._unsent.clear()
                return
            while self._unsent:
                try:
                    sent = super().send(self._unsent)
                except (BlockingIOError, InterruptedError):
                    return
                del self._unsent[:sent]
