"""A byte-counting TCP relay: put it between a client and a server and it tells you
exactly how many bytes each side sent, per connection, and can delay them.

    with Relay(server_port) as relay:           # clients connect to relay.port instead
        ...
    relay.totals()  # {"connections": 3, "up": 1234, "down": 5678}

Why a relay and not the server's own counters: it sits outside both programs,
sees what really crossed the socket (TCP payload: HTTP or WebSocket bytes, not
IP/TCP headers), and works the same for every server, ours or not.
``tests/test_relay.py`` checks its counts against tshark, byte for byte.

``delay`` holds every chunk for that many seconds before passing it on, in each
direction, so a round trip grows by ``2 * delay``, as on a network with that
one-way latency. One thing a user-space relay cannot delay is TCP's own
three-way handshake: the kernel completes a ``connect()`` to the relay at once.
``record=True`` keeps every byte so ``bytesplit.split_stream`` can split it up, and
notes when each chunk reached the relay and when the relay passed it on (a
``Crossing``): ``sequence.arrows`` draws a sequence diagram from that. A
recording grows with the traffic: record short exchanges only.

Two ways for the link to fail. ``cut()`` (and ``stop()``) end every connection
at once, both ways, as a kernel does for a process that died: each side reads
its end of the stream and knows. ``freeze()`` passes nothing on and closes
nothing, as a pulled cable or a machine that froze: both sides' writes still
succeed (into the kernel's buffers), and neither learns anything until a
timeout of its own says so; ``thaw()`` passes on what was held, in order.
"""

import functools
import queue
import socket
import threading
import time
from dataclasses import dataclass

from .bytesplit import split_stream


@dataclass
class Crossing:
    """One chunk through the relay (with record=True): the length of its direction's recording once the
    chunk is in (an empty chunk is the EOF), when it reached the relay, and when the relay had passed it
    on (None while it waits, or if the other side was gone)."""
    end: int
    received: float
    delivered: float | None = None


class RelayedConnection:
    """One relayed TCP connection: bytes up (client to server) and down, and when."""

    def __init__(self, index: int, record: bool, client_port: int = 0, upstream_port: int = 0) -> None:
        self.index = index
        # the two legs' ephemeral ports: client -> relay.port, relay:upstream_port -> server
        self.client_port, self.upstream_port = client_port, upstream_port
        self.opened = time.perf_counter()
        self.closed: float | None = None
        self.up = self.down = 0
        self.recorded = {"up": bytearray(), "down": bytearray()} if record else None
        self.crossings: dict[str, list[Crossing]] = {"up": [], "down": []}
        self._lock = threading.Lock()

    def count(self, direction: str, data: bytes, received: float) -> Crossing | None:
        """Count a chunk; with record=True also keep it, and return its Crossing for the sender to complete."""
        with self._lock:
            setattr(self, direction, getattr(self, direction) + len(data))
            if self.recorded is None:
                return None
            self.recorded[direction] += data
            self.crossings[direction].append(Crossing(len(self.recorded[direction]), received))
            return self.crossings[direction][-1]

    def snapshot(self) -> dict:
        """{direction: (bytes so far, their Crossings)} (needs record=True)."""
        if self.recorded is None:
            raise ValueError("this relay does not record bytes: create it with record=True")
        with self._lock:
            return {direction: (bytes(data), list(self.crossings[direction]))
                    for direction, data in self.recorded.items()}

    def split(self) -> dict:
        """Both directions split into HTTP headers/bodies and frame headers/payloads (needs record=True)."""
        if self.recorded is None:
            raise ValueError("this relay does not record bytes: create it with record=True")
        with self._lock:
            return {direction: split_stream(bytes(data)) for direction, data in self.recorded.items()}

    def to_json(self) -> dict:
        return {"index": self.index, "up": self.up, "down": self.down,
                "client_port": self.client_port, "upstream_port": self.upstream_port}


class Relay:
    """Listens on 127.0.0.1:<port> and relays every connection to ``target_port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", delay: float = 0.0,
                 record: bool = False) -> None:
        self.target = (target_host, target_port)
        self.delay, self.record = delay, record
        self.connections: list[RelayedConnection] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []  # of the connections open now (each leaves on its end)
        self._threads: list[threading.Thread] = []  # pumps, for stop() to join: the ended ones are let go
        self._lock = threading.Lock()
        self._flowing = threading.Event()  # cleared while frozen: nothing is read, passed on or connected
        self._flowing.set()
        self._accepting = threading.Thread(target=self._accept, name=f"relay:{self.port}", daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, (_, client_port) = self._listener.accept()
            except OSError:  # the listener was closed: stop()
                return
            self._flowing.wait()  # frozen: the kernel completed the client's connect, nothing reaches the server
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, server):  # pass every chunk on at once, as it came
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                connection = RelayedConnection(len(self.connections), self.record, client_port,
                                        server.getsockname()[1])
                self.connections.append(connection)
                self._sockets += [client, server]
                self._threads = [thread for thread in self._threads if thread.is_alive()]
                done = threading.Barrier(2, action=functools.partial(self._finish, connection, client, server))
                for source, sink, direction in ((client, server, "up"), (server, client, "down")):
                    thread = threading.Thread(target=self._pump, args=(source, sink, connection, direction, done),
                                              daemon=True)
                    self._threads.append(thread)
                    thread.start()

    def _pump(self, source, sink, connection: RelayedConnection, direction: str, done: threading.Barrier) -> None:
        """Copy one direction until EOF, then pass the EOF on (a half-close, as TCP allows)."""
        late: queue.Queue | None = None
        if self.delay:
            late = queue.Queue()
            writer = threading.Thread(target=self._deliver_late, args=(late, source, sink), daemon=True)
            writer.start()
        while True:
            self._flowing.wait()  # frozen: read nothing more (the sender's writes fill the kernel's buffers)
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            received = time.perf_counter()
            crossing = connection.count(direction, data, received)
            if late is None:
                self._flowing.wait()  # frozen meanwhile: the chunk read waits, as one in flight on a dead link
            if late is not None:
                late.put((received + self.delay, data, crossing))
            elif not _send(sink, data, crossing):
                _cut(source, sink)  # the other side is gone: end this connection both ways
                break
            if not data:
                break
        if late is not None:
            writer.join()
        done.wait()

    def _deliver_late(self, late: queue.Queue, source: socket.socket, sink: socket.socket) -> None:
        while True:
            due, data, crossing = late.get()
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            self._flowing.wait()
            if not _send(sink, data, crossing):
                _cut(source, sink)
                return
            if not data:
                return

    def _finish(self, connection: RelayedConnection, client, server) -> None:
        connection.closed = time.perf_counter()
        with self._lock:
            for sock in (client, server):
                self._sockets.remove(sock)
        for sock in (client, server):
            sock.close()

    def totals(self) -> dict:
        """Connections and bytes so far: {"connections", "up", "down"}."""
        with self._lock:
            connections = list(self.connections)
        return {"connections": len(connections), "up": sum(c.up for c in connections),
                "down": sum(c.down for c in connections)}

    def split(self) -> dict:
        """All connections' bytes split up by bytesplit.split_stream, summed per direction."""
        with self._lock:
            connections = list(self.connections)
        total = {}
        for connection in connections:
            for direction, split in connection.split().items():
                into = total.setdefault(direction, {})
                for key, value in split.items():
                    into[key] = into.get(key, [] if isinstance(value, list) else 0) + value
        return total

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Wait until every relayed connection has ended in both directions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(c.closed is not None for c in self.connections):
                    return True
            time.sleep(0.01)
        return False

    def cut(self) -> None:
        """Cut every connection open now, both ways, as the kernel of a process that died does, and go on
        accepting new ones."""
        with self._lock:
            sockets = list(self._sockets)
        _cut(*sockets)

    def freeze(self) -> None:
        """Pass nothing on, either way, and close nothing: a pulled cable, a machine that froze. Connections
        stay open, new ones are accepted (the kernel answers the handshake) and go no further."""
        self._flowing.clear()

    def thaw(self) -> None:
        """The link is back: what was held goes on, in order, to whichever side is still there."""
        self._flowing.set()

    def stop(self) -> None:
        """Close the listener and cut every connection still open (a frozen relay too)."""
        _cut(self._listener)  # wakes the blocked accept() (closing alone does not, on Linux)
        self._listener.close()
        self._flowing.set()  # what a freeze holds goes on, into sockets cut below
        self._accepting.join()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        _cut(*sockets)
        for thread in threads:
            thread.join(2)

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _send(sink: socket.socket, data: bytes, crossing: Crossing | None) -> bool:
    """Forward a chunk, or the EOF (empty ``data``) as a half-close, and note when; False if the peer is gone."""
    try:
        if data:
            sink.sendall(data)
        else:
            sink.shutdown(socket.SHUT_WR)
    except OSError:
        return False
    if crossing is not None:
        crossing.delivered = time.perf_counter()
    return True


def _cut(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
