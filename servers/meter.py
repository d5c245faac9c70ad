"""What each browser client costs on the wire, counted by the servers: exact, not estimated.

A page cannot see its own bytes on the wire: ``fetch`` hides the request and
response headers it sends, and the browser compresses WebSocket frames
(permessage-deflate) after the page hands them over. The server can see them:
``serving.CountingSocket`` counts every byte a TCP connection carries, and the
apps bill a request's connection to the client id the page sends as
``?client=<id>``. Requests without an id (the pages themselves, this meter's
own read-outs) are not billed to anyone, so measuring does not disturb the figures.

The class view (``classroom.py``) lists the accounts of the clients connected now,
with how they receive (``transport``) and how many messages the server delivered to
each: the transports count those where they hand messages over (``deliver``), once
per answer or batch of frames, never with work of their own per message.
"""

import threading
import time
from collections import OrderedDict

MAX_CLIENTS = 1000  # accounts kept; the oldest go first (a classroom reloads pages a lot)


class Account:
    """One client's totals: requests, TCP connections, bytes each way (TCP payload), messages delivered;
    and what the class view needs to know: how it receives, when it last asked, its open streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.connections = self.sent = self.received = self.delivered = 0
        self.transport: str | None = None  # how it last asked for messages: "short polling", "websocket"...
        self.last_request = 0.0  # time.monotonic() of its last request
        self.streams = 0  # WebSockets and event streams open now

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

    def connected(self, now: float, window: float) -> bool:
        """A stream open, or a request within ``window`` seconds (longer than a long poll may be held)."""
        with self._lock:
            return self.streams > 0 or now - self.last_request < window

    def to_json(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "connections": self.connections,
                    "bytes_to_client": self.sent, "bytes_from_client": self.received,
                    "messages_delivered": self.delivered}


class Meter:
    """Accounts by client id; both servers can share one, as they share one Chat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: OrderedDict[str, Account] = OrderedDict()

    def account(self, client: str) -> Account:
        with self._lock:
            account = self._accounts.get(client)
            if account is None:
                account = self._accounts[client] = Account()
                while len(self._accounts) > MAX_CLIENTS:
                    self._accounts.popitem(last=False)
            return account

    def attach(self, connection, client: str, transport: str | None = None) -> Account:
        """Bill the current request (and, for a WebSocket, the rest of the connection) to ``client``.

        ``connection`` is the request's socket; one that does not count bytes
        (another WSGI server) still gets its requests counted. ``transport`` names
        how this request receives messages (None for a send: the client keeps its transport).
        """
        account = self.account(client)
        new_connection = connection.bill(account) if hasattr(connection, "bill") else False
        with account._lock:
            account.requests += 1
            account.connections += new_connection
            account.transport = transport or account.transport
            account.last_request = time.monotonic()
        return account

    def connected(self, window: float) -> dict[str, Account]:
        """The accounts of the clients connected now (see ``Account.connected``), oldest first."""
        now = time.monotonic()
        with self._lock:
            accounts = list(self._accounts.items())
        return {client: account for client, account in accounts if account.connected(now, window)}

    def report(self, clients: list[str]) -> dict:
        with self._lock:
            known = {client: self._accounts.get(client) for client in clients}
        return {client: account.to_json() if account else Account().to_json() for client, account in known.items()}
