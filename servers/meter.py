"""What each browser client costs on the wire, counted by the servers: exact, not estimated.

A page cannot see its own bytes on the wire: ``fetch`` hides the request and
response headers it sends, and the browser compresses WebSocket frames
(permessage-deflate) after the page hands them over. The server can see them:
``serving.CountingSocket`` counts every byte a TCP connection carries, and the
apps bill a request's connection to the client id the page sends as
``?client=<id>``. Requests without an id (the pages themselves, this meter's
own read-outs) are not billed to anyone, so measuring does not disturb the figures.
A page's control requests (``/api/status``, ``/api/class/mode``) that carry its id are
billed apart, to the account's ``control`` part: counted, but not as what the transport costs.

The class view (``classroom.py``, through ``room.py``) lists the accounts of the clients
connected now, with how they receive (``transport``) and how many messages the server
delivered to each: the transports count those where they hand messages over (``deliver``),
once per answer or batch of frames, never with work of their own per message.

Any client may name itself anything, so the names are bounded twice: the meter keeps MAX_CLIENTS accounts and
forgets the one used longest ago (one with a stream open last), and one client address holds at most
MAX_NAMES_PER_ADDRESS of them: a new name past that replaces its own name used longest ago. A student who makes up
names by the thousand wipes nobody's figures but its own, and lists no more than a handful of rows. The teacher's
own machine (a loopback address) is not held to it: the benchmarks name hundreds of clients from there.
"""

import threading
import time
from collections import Counter, OrderedDict

from .origins import is_loopback

MAX_CLIENTS = 1000  # accounts kept; the one used longest ago goes first (a classroom reloads pages a lot)
MAX_NAMES_PER_ADDRESS = 32  # accounts one client address holds (loopback aside): a student's tabs, each page's
# three names on the side-by-side page, and its reloads, fit; its oldest name goes for a new one past that
CONTROL_FIGURES = ("requests", "bytes_to_client", "bytes_from_client")  # what the class view shows of control


class Account:
    """One client's totals: requests, TCP connections, bytes each way (TCP payload), messages delivered;
    and what the class view needs to know: how it receives, when it last asked, its open streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.connections = self.sent = self.received = self.delivered = 0
        self.transport: str | None = None  # how it last asked for messages: "short polling", "websocket"...
        self.last_request = 0.0  # time.monotonic() of its last request
        self.streams = 0  # WebSockets and event streams open now
        self.control: Account | None = None  # its page's control requests, billed apart (see Meter.attach)
        self.owner: str | None = None  # the client address that named it first (None: loopback, or unknown)

    def add(self, sent: int, received: int) -> None:
        """Called by the connection for every read and write (``sent`` is server to client)."""
        with self._lock:
            self.sent += sent
            self.received += received

    def deliver(self, count: int) -> None:
        """``count`` messages handed to this client: in one poll's answer, a batch of frames, a stream's chunk."""
        if count:
            with self._lock:
                self.delivered += count

    def stream(self, opened: int) -> None:
        """A WebSocket or an event stream of this client opened (+1) or ended (-1)."""
        with self._lock:
            self.streams += opened

    def row(self) -> dict:
        """What the class view lists: how it receives, its open streams, when it last asked (``seen``, on the
        wall clock, so that the rows of several server processes compare), its figures and its control's."""
        control = self.control.to_json() if self.control else {}
        with self._lock:
            seen = time.time() - (time.monotonic() - self.last_request) if self.last_request else 0.0
            head = {"transport": self.transport, "streams": self.streams, "seen": seen}
        return {**head, **self.to_json(), **{f"control_{key}": control.get(key, 0) for key in CONTROL_FIGURES}}

    def to_json(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "connections": self.connections,
                    "bytes_to_client": self.sent, "bytes_from_client": self.received,
                    "messages_delivered": self.delivered}


class Meter:
    """Accounts by client id; both servers can share one, as they share one Chat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: OrderedDict[str, Account] = OrderedDict()  # the one used longest ago first
        self._names = Counter()  # accounts held, by the client address that named them

    def account(self, client: str, address: str | None = None) -> Account:
        """``client``'s account, made for it if need be: named by ``address`` (the client's, when known), which
        then holds it against its MAX_NAMES_PER_ADDRESS."""
        with self._lock:
            account = self._accounts.get(client)
            if account is not None:
                self._accounts.move_to_end(client)
                return account
            account = Account()
            account.owner = None if address is None or is_loopback(address) else address
            if account.owner is not None and self._names[account.owner] >= MAX_NAMES_PER_ADDRESS:
                self._forget(lambda other: other.owner == account.owner)
            self._accounts[client] = account
            self._names[account.owner] += 1
            while len(self._accounts) > MAX_CLIENTS:
                self._forget(lambda other: True)
            return account

    def _forget(self, whose) -> None:
        """Forget the account used longest ago of those ``whose`` picks: one without an open stream, if any.
        Called with the lock held."""
        picked = [(client, account) for client, account in self._accounts.items() if whose(account)]
        client, account = next(((client, account) for client, account in picked if not account.streams), picked[0])
        del self._accounts[client]
        self._names[account.owner] -= 1
        if not self._names[account.owner]:
            del self._names[account.owner]

    def attach(self, connection, client: str, transport: str | None = None, control: bool = False,
               address: str | None = None) -> Account:
        """Bill the current request (and, for a WebSocket, the rest of the connection) to ``client``.

        ``connection`` is the request's socket; one that does not count bytes
        (another WSGI server) still gets its requests counted. ``transport`` names
        how this request receives messages (None for a send: the client keeps its transport).
        A ``control`` request (the page asking for its mode or its figures) goes to the account's
        control part, so the account itself keeps what the transport costs. ``address`` is the client's, when
        known: it holds the names it makes up to MAX_NAMES_PER_ADDRESS.
        """
        account = self.account(client, address)
        if control:
            with account._lock:
                account.control = account.control or Account()
            account = account.control
        new_connection = connection.bill(account) if hasattr(connection, "bill") else False
        with account._lock:
            account.requests += 1
            account.connections += new_connection
            account.transport = transport or account.transport
            account.last_request = time.monotonic()
        return account

    def rows(self) -> dict[str, dict]:
        """Every account's ``row``, the one used longest ago first: what the class view lists (``room.py`` picks
        the connected)."""
        with self._lock:
            accounts = list(self._accounts.items())
        return {client: account.row() for client, account in accounts}

    def report(self, clients: list[str]) -> dict:
        with self._lock:
            known = {client: self._accounts.get(client) for client in clients}
        return {client: account.to_json() if account else Account().to_json() for client, account in known.items()}
