"""The HTTP/1.1 server both apps run on, and how tests start one in a thread.

Why not Werkzeug's development server as it is: it answers every request with
``Connection: close``, so a polling client pays a new TCP connection for every
poll. Real servers and browsers keep connections open, and that choice changes
the overhead a student measures, so here it is an explicit switch:

* ``keep_alive=True`` (the default): one TCP connection carries many requests.
* ``keep_alive=False``: every response closes its connection, like ``flask run``.

This handler also knows that after a successful WebSocket upgrade (the view
sets ``environ[UPGRADED]``) the connection no longer speaks HTTP: the WebSocket
connection (``websocket_connection.py``) has already written its own ``101 Switching
Protocols``, so nothing more may be written here (Werkzeug's server writes an ``HTTP/1.1 200 OK``
there, which browsers read as a corrupt frame). The other half of that fix, closing TCP after the
closing handshake, lives in ``websocket_connection.py`` too.

Each request is read whole, head and body, before the app sees it (``http_request.py`` says how, and
which framing it refuses): within REQUEST_TIMEOUT of its first byte, or it is answered ``408``. Until
then the connection counts as waiting, so it may be cut to make room for a new one (see ``Server``).

One client address may hold at most ``max_per_client`` of the connections (MAX_PER_CLIENT), so that one laptop
cannot take every slot from a class; the teacher's own machine (a loopback address) has no such bound: its
benchmarks open hundreds, and behind the cluster's nginx every connection comes from there (nginx bounds each
student's itself, see ``cluster/nginx.py``).

Every accepted connection is a ``CountingSocket``: it counts the bytes it
carries (TCP payload: HTTP or WebSocket bytes, not the IP/TCP headers) and
bills them to whichever account the app names for the current request, so the
browser pages can show exact bytes on the wire per client (see ``meter.py``).
"""

import io
import socket
import ssl
import sys
import threading
import time
import weakref
from typing import Iterable

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from . import http_request
from .http_request import Refusal
from .origins import is_loopback

IDLE_TIMEOUT = 60  # seconds a keep-alive connection may wait for its next request
REQUEST_TIMEOUT = 10  # seconds a request has, from its first byte, to arrive whole (head and body)
MAX_CONNECTIONS = 2000  # per server: each costs a thread, a WebSocket's too; see Server
MAX_PER_CLIENT = 50  # of them from one client address (loopback aside): a browser's six, its tabs' WebSockets, and
# the command-line clients fit many times over, and a class of 30 at its bound still fits in MAX_CONNECTIONS
REFUSING_AT_ONCE = 32  # connections being told 503 at one time; past that, new ones are closed at once
REFUSAL_TIMEOUT = 2  # seconds a refused connection has to send its request and hear the 503
LINGER_BYTES = 1024 * 1024  # what the server reads and drops, at most, after refusing a request (see _linger)
UPGRADED = "serving.upgraded"  # environ key a WebSocket view sets: the connection is no longer HTTP
BUFFERED_INPUT = "serving.buffered_input"  # environ key: the reader HTTP is parsed with, for a WebSocket to let go of
JSON = [("Content-Type", "application/json")]
PRINTABLE = str.maketrans({code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0), ord("\\")]})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BUSY = Refusal(503, "server_busy", "this server is serving as many connections as it may: try again",
               retry_after=1)


class RequestHandler(WSGIRequestHandler):
    wbufsize = -1  # a response's head and body leave in one write (one TCP segment, one TLS record), not two

    def handle_one_request(self) -> None:
        """Wait for a request (a keep-alive connection may idle), read it whole within the request timeout,
        then serve it.

        Until the request has arrived whole, the connection may be evicted to make room for a new one
        (see Server); a request that breaks HTTP's framing or a bound gets its documented error and the
        connection is closed. What reading means is in http_request.py.
        """
        connection = self.connection
        connection.waiting_since = time.monotonic()
        self.command = self.path = self.requestline = "-"  # what the log shows of a request never read
        self.request_version = "HTTP/1.1"  # the version of any error the server answers on its own
        self.close_connection = True
        connection.settimeout(REFUSAL_TIMEOUT if connection.refused else self.server.idle_timeout)
        if connection.handshake_due and not self._secure():
            return
        try:
            if not self.rfile.peek(1):  # the client closed the connection (or it was evicted)
                return
        except (OSError, ValueError):  # silent past the idle timeout, evicted, or reset
            return
        connection.deadline = time.monotonic() + (REFUSAL_TIMEOUT if connection.refused
                                                  else self.server.request_timeout)
        try:
            body = self._read_request()
        except Refusal as refusal:
            self._refuse(refusal)
            return
        except OSError:  # reset by the client: nobody to answer
            return
        if body is None:
            return
        connection.deadline = connection.waiting_since = None  # the request is here: it is served, not evicted
        connection.settimeout(self.server.request_timeout)  # for each write of the answer
        if connection.refused:
            self._refuse(connection.refused)
            return
        self.serve(body)

    def _read_request(self) -> bytes | None:
        """The request's head into this handler's attributes, and its body; None if no request came."""
        try:
            head = http_request.read_head(self.rfile)
            if head is None:
                return None
            self.command, self.path, self.request_version = head.method, head.target, head.version
            self.requestline, self.headers = head.request_line, head.headers
            self.close_connection = not head.keep_alive
            if head.expects_continue and head.length != 0:
                self.wfile.write(CONTINUE)
                self.wfile.flush()
            return http_request.read_body(self.rfile, head)
        except TimeoutError:
            message = f"a request must arrive whole within {self.server.request_timeout} s of its first byte"
            raise Refusal(408, "request_timeout", message) from None

    def _secure(self) -> bool:
        """Over TLS, the handshake first, once per connection, within the request timeout (until it is done the
        connection counts as waiting, and may be cut to make room). A client that speaks plain HTTP to a TLS
        port is told, in plain HTTP, which URL to use; one that refuses our certificate or fails the handshake
        is logged (a browser that does not trust the CA says so here) and let go."""
        connection = self.connection
        connection.deadline = time.monotonic() + self.server.request_timeout
        try:
            connection.handshake()
        except tls.PlainHTTP:
            host, port = connection.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            self._refuse(Refusal(400, "https_required", f"this server speaks HTTPS: use https://{host}:{port}/ "
                                                        "(and wss:// for its WebSockets)"))
            return False
        except ssl.SSLError as error:
            if not self.server.quiet:
                self.log("info", "TLS handshake with %s failed: %s", self.address_string(), tls.explain(error))
            return False
        except (OSError, ValueError):  # silent past the deadline, evicted, or gone
            return False
        connection.deadline = None
        return True

    def serve(self, body: bytes) -> None:
        """Hand the request, whole, to the app, and write its answer."""
        environ = self.environ = self.make_environ()
        environ.pop("wsgi.input_terminated", None)  # the body was chunked: it is decoded now, and its length known
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        environ[BUFFERED_INPUT] = self.rfile
        status, headers, content = self._call_app(environ)
        if environ.get(UPGRADED):  # the WebSocket library wrote its own 101; the socket is its own now
            self.close_connection = True
            self.log_request(101)
            return
        if not self.server.keep_alive:
            self.close_connection = True
        code, _, reason = status.partition(" ")
        head = environ["REQUEST_METHOD"] == "HEAD"
        try:
            if isinstance(content, bytes):
                self._respond(int(code), reason, headers, content, head)
            else:
                self._stream(int(code), reason, headers, content, head)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        self.connection.bill(None)  # the next request's bytes wait for that request's own client

    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` and close the connection, unless it was cut already (evicted)."""
        self.close_connection = True
        if self.connection.evicted:
            return
        self.connection.settimeout(REFUSAL_TIMEOUT)  # a short answer, to a client that may not read it
        self.connection.deadline = time.monotonic() + REFUSAL_TIMEOUT  # and a short while to hear the rest
        headers = JSON + ([("Retry-After", str(refusal.retry_after))] if refusal.retry_after else [])
        try:
            self._respond(refusal.status, refusal.reason, headers, refusal.body(), False)
            self._linger()
        except OSError:  # the client has gone
            pass

    def _linger(self) -> None:
        """After an answer that leaves part of the request unread: close our side, then read and drop what
        the client still sends, for a moment. Closing at once with unread bytes would make TCP send a reset,
        which can destroy the answer before the client reads it (RFC 9112 section 9.6)."""
        self.connection.shutdown(socket.SHUT_WR)
        unread = LINGER_BYTES
        while unread > 0 and (dropped := self.connection.recv(min(unread, 65536))):
            unread -= len(dropped)

    def _respond(self, code: int, reason: str, headers: list, content: bytes, head: bool, length: bool = True) -> None:
        """Status line, headers with an exact Content-Length (the basis of keep-alive), body."""
        self.send_response(code, reason)
        app_length = None
        for name, value in headers:
            if name.lower() == "content-length":
                app_length = value
            elif name.lower() != "connection" or not self.close_connection:
                self.send_header(name, value)
        if head and app_length is not None:  # the length a GET would have had
            self.send_header("Content-Length", app_length)
        elif length and code >= 200 and code not in (204, 304):
            self.send_header("Content-Length", str(len(content)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(content)
        self.wfile.flush()

    def _stream(self, code: int, reason: str, headers: list, chunks, head: bool) -> None:
        """A response the app writes as it goes (Server-Sent Events): each chunk leaves the moment the app
        yields it. With no Content-Length, the end of the connection marks the end of the response."""
        self.close_connection = True
        try:
            self._respond(code, reason, headers, b"", head, length=False)
            if not head:
                for chunk in chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()
        except OSError:  # the client went away (or stopped reading for longer than the request timeout)
            pass
        finally:
            getattr(chunks, "close", lambda: None)()  # ends the app's generator: it unsubscribes

    def _call_app(self, environ: dict) -> tuple[str, list, bytes | Iterable[bytes]]:
        """The app's status, headers and body: whole bytes, or, for an answer the app gave no length
        (a stream), the chunks as the app will produce them."""
        started: list = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]

        try:
            chunks = self.server.app(environ, start_response)
            if not any(name.lower() == "content-length" for name, _ in started[1]) and not isinstance(chunks, list):
                return started[0], started[1], chunks
            try:
                content = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
            return started[0], started[1], content
        except Exception:  # Flask turns app errors into 500s; this is the last resort
            self.server.log("error", "application error", exc_info=True)
            self.close_connection = True
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"internal error\n"

    def finish(self) -> None:
        """The connection is done: what is left of an answer is written, unless the client has gone (then the
        rest of it is dropped: there is nobody to write to)."""
        try:
            super().finish()
        except OSError:
            self.rfile.close()

    def log_request(self, code="-", size="-") -> None:
        """One line per answer, with the request line as it came, control characters escaped. Werkzeug's own
        decodes the target first, in ``send_response``, before a byte of the answer is written: a target it
        could not decode would lose the answer, and leave a traceback instead."""
        if not self.server.quiet:
            self.log("info", '"%s" %s %s', self.requestline.translate(PRINTABLE), code, size)

    def setup(self) -> None:
        super().setup()
        # Send each write at once: with Nagle's algorithm on, a response written as headers then body
        # waits for the client's delayed ACK of the headers (about 40 ms on Linux) before the body goes.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class CountingSocket(socket.socket):
    """A TCP connection that counts the bytes it carries and bills them to an account.

    ``bill(account)`` names who pays for the current request (an object with
    ``add(sent, received)``). Bytes carried while nobody is named (the request
    line and headers, read before the app can see a client id) are held and
    billed to the next account named, so every byte of a request lands on the
    client that made it. An upgraded WebSocket keeps its account to the end.
    """

    def __init__(self, accepted: socket.socket) -> None:
        super().__init__(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        self._billing = threading.Lock()
        self._account = None
        self._held = [0, 0]  # sent, received
        self._accounts = weakref.WeakSet()  # every account this connection billed: a forgotten one drops out
        self.handshake_due = False  # a TLS connection's is True until its handshake is done (tls.TLSSocket)
        # What the server's admission control (see Server) knows of this connection:
        self.waiting_since: float | None = time.monotonic()  # waiting for a request, or receiving it, since;
        # None while its request is served
        self.deadline: float | None = None  # when the request being received must have arrived whole
        self.refused: Refusal | None = None  # accepted only to be told this (server_busy, too_many_connections)
        self.evicted = False  # cut to make room for a newer connection
        self.peer = ""  # the client's address

    def bill(self, account) -> bool:
        """Bill this connection's bytes to ``account`` from now on; True if it is new to this connection."""
        with self._billing:
            self._account = account
            held, self._held = self._held, [0, 0]
            if account is None:
                return False
            account.add(*held)
            new = account not in self._accounts
            self._accounts.add(account)
            return new

    def _count(self, sent: int, received: int) -> None:
        with self._billing:
            if self._account is None:
                self._held[0] += sent
                self._held[1] += received
            else:
                self._account.add(sent, received)

    def _before_receiving(self) -> None:
        """With a deadline, each read may wait only for what is left of it: a client sending a byte now and
        then cannot stretch a request past its deadline (a timeout alone bounds only each wait)."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive whole in time")
            self.settimeout(left)

    def recv(self, bufsize, flags=0):
        self._before_receiving()
        data = super().recv(bufsize, flags)
        self._count(0, len(data))
        return data

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._before_receiving()
        count = super().recv_into(buffer, nbytes, flags)
        self._count(0, count)
        return count

    def send(self, data, flags=0):
        count = super().send(data, flags)
        self._count(count, 0)
        return count

    def sendall(self, data, flags=0):
        super().sendall(data, flags)
        self._count(memoryview(data).nbytes, 0)


class Server(ThreadedWSGIServer):
    """Werkzeug's threaded server, with our handler, our sockets, and caps on open connections.

    Every connection costs a thread, so at most ``max_connections`` are open at once. When a new one
    arrives at the cap, the connection that has waited longest for a request (an idle keep-alive, or
    one whose request is still arriving, however slowly) is cut to make room: a slow or silent client
    cannot crowd out a well-behaved one. Only when every connection is busy (being answered, long-polling, a
    WebSocket) is the newcomer refused: it gets ``503`` with ``Retry-After`` and the JSON error
    ``server_busy`` (a WebSocket handshake too, before the upgrade).

    The same rule holds for each client address with ``max_per_client`` connections (but loopback's): at
    its bound, its own connection that has waited longest is cut; when all of its connections are busy,
    its newcomer gets ``429`` ``too_many_connections``, and nobody else notices.
    """

    def __init__(self, host: str, port: int, app, keep_alive: bool = True, quiet: bool = False,
                 max_connections: int = MAX_CONNECTIONS, max_per_client: int = MAX_PER_CLIENT,
                 idle_timeout: float = IDLE_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT,
                 tls: ssl.SSLContext | None = None) -> None:
        self.keep_alive, self.quiet, self.tls = keep_alive, quiet, tls
        self.max_connections, self.idle_timeout, self.request_timeout = max_connections, idle_timeout, request_timeout
        self.max_per_client = max_per_client
        self.too_many = Refusal(429, "too_many_connections", f"one address may hold {max_per_client} connections to "
                                "this server at most, and each of yours is busy: close one (a tab, a client), then "
                                "try again", retry_after=1)
        self.connections: set[CountingSocket] = set()  # open, with a thread each (refused ones included)
        self._admission = threading.Lock()
        super().__init__(host, port, app, handler=RequestHandler)
        self.ssl_context = tls  # Werkzeug's name for it: requests are https:// (wsgi.url_scheme), but see get_request

    def get_request(self) -> tuple[CountingSocket, tuple]:
        """The next connection, counting its bytes; under TLS, encrypting over them (``tls.py``: the meter counts
        the records on the wire), its handshake left to the connection's own thread (``RequestHandler._secure``)."""
        connection, address = self.socket.accept()
        return (CountingSocket(connection) if self.tls is None else tls.TLSSocket(connection, self.tls)), address

    def process_request(self, connection: CountingSocket, client_address) -> None:
        """Admit the new connection, making room if need be (among its client's own connections first), then serve
        it on a thread of its own."""
        connection.peer = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        with self._admission:
            open_ = [c for c in self.connections if not (c.evicted or c.refused)]
            theirs = [] if is_loopback(connection.peer) else [c for c in open_ if c.peer == connection.peer]
            if len(theirs) >= self.max_per_client and not self._evict_the_longest_waiting(theirs):
                connection.refused = self.too_many
            elif len(open_) >= self.max_connections and not self._evict_the_longest_waiting(open_):
                connection.refused = BUSY
            flood = connection.refused and sum(bool(c.refused) for c in self.connections) >= REFUSING_AT_ONCE
            if not flood:
                self.connections.add(connection)
        if flood:  # no thread for it: cut at once
            super().shutdown_request(connection)
        else:
            super().process_request(connection, client_address)

    @staticmethod
    def _evict_the_longest_waiting(connections: list[CountingSocket]) -> bool:
        waiting = [c for c in connections if c.waiting_since is not None]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.waiting_since)
        oldest.evicted = True
        try:
            oldest.shutdown(socket.SHUT_RDWR)  # its thread, blocked reading, sees the end and finishes
        except OSError:
            pass
        return True

    def shutdown_request(self, connection) -> None:
        """The connection's thread is done with it (or it was never given one)."""
        with self._admission:
            self.connections.discard(connection)
        super().shutdown_request(connection)

    def close_connections(self) -> None:
        """Cut every open connection, as a server restart would."""
        with self._admission:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def open_files_within_reach(wanted: int) -> int:
    """``wanted``, or fewer: as many open files as a program started from here may raise its limit to. The
    hard limit set by the system is as far as it may go (on macOS, 10,240 at most, whatever the hard limit
    says); Windows has no such limit."""
    try:
        import resource
    except ImportError:  # Windows
        return wanted
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    return min(target, 10240) if sys.platform == "darwin" else target


def allow_open_files(wanted: int) -> int:
    """Raise this process's limit on open files (one per connection) towards ``wanted``; returns the limit.

    macOS starts programs with 256 and many Linux systems with 1,024, too few for a classroom's worth of
    connections (see ``open_files_within_reach`` for how far a program may go). The load benchmark's processes
    use this too.
    """
    try:
        import resource
    except ImportError:  # Windows
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = open_files_within_reach(wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else soft


class RunningServer:
    """A server on its own thread; stop() (or leaving a ``with`` block) stops it and its connections.

    Tests and notebooks use it with port 0, so the system picks a free port.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, keep_alive: bool = True, quiet: bool = True,
                 tls: ssl.SSLContext | None = None, **limits):
        self.server = Server(host, port, app, keep_alive=keep_alive, quiet=quiet, tls=tls, **limits)
        self.host, self.port = host, self.server.port
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        # serve_forever notices stop() once per poll interval: 0.05 s instead of 0.5 keeps stopping quick
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name=f"server:{self.port}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


from . import tls  # noqa: E402 (last: tls.TLSSocket builds on CountingSocket, above)
