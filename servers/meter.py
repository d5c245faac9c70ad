"""What each browser client costs on the wire, counted by the servers: exact, not estimated.

A page cannot see its own bytes on the wire: ``fetch`` hides the request and
response headers it sends, and the browser compresses WebSocket frames
(permessage-deflate) after the page hands them over. The server can see them:
``serving.CountingSocket`` counts every byte a TCP connection carries, and the
apps bill a request's connection to the client id the page sends as
``?client=<id>``. Requests without an id (the pages themselves, this meter's
own read-outs) are not billed to anyone, so measuring does not disturb the figures.
"""

import threading
from collections import OrderedDict

MAX_CLIENTS = 1000  # accounts kept; the oldest go first (a classroom reloads pages a lot)


class Account:
    """One client's totals: requests, TCP connections, bytes each way (TCP payload)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.connections = self.sent = self.received = 0

    def add(self, sent: int, received: int) -> None:
        """Called by the connection for every read and write (``sent`` is server to client)."""
        with self._lock:
            self.sent += sent
            self.received += received

    def to_json(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "connections": self.connections,
                    "bytes_to_client": self.sent, "bytes_from_client": self.received}


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

    def attach(self, connection, client: str) -> None:
        """Bill the current request (and, for a WebSocket, the rest of the connection) to ``client``.

        ``connection`` is the request's socket; one that does not count bytes
        (another WSGI server) still gets its requests counted.
        """
        account = self.account(client)
        new_connection = connection.bill(account) if hasattr(connection, "bill") else False
        with account._lock:
            account.requests += 1
            account.connections += new_connection

    def report(self, clients: list[str]) -> dict:
        with self._lock:
            known = {client: self._accounts.get(client) for client in clients}
        return {client: account.to_json() if account else Account().to_json() for client, account in known.items()}
