"""The servers of a load run as the run sees them from outside, over HTTP: what each costs right now, its ticker,
and a message posted the way a page posts one.

* ``OurServer``: our twins, ``/api/status`` (the last id, what the process costs, what the crowd's account on the
  meter holds), ``/api/ticker``, ``POST /api/messages``;
* ``ClusterServer``: the same over every node of a cluster, added up, with Redis's and nginx's costs;
* ``ReferenceServer``: the ``websockets`` broadcaster (``reference.py``), which answers the same three requests;
  its threads and memory come from psutil, and it has no meter (its bytes are the ones the crowd counted).

The questions go on one kept-alive connection, opened before the crowd comes: a server busy with thousands of
new connections lets the kernel drop some handshakes (its listen backlog is full), and a question must not wait
for a retried one. They name no ``?client=``, so the meter never bills them to the crowd; a connection the server
closed while it idled is opened again. The posts go on another kept-alive connection, as a page's do, so a post's
time is the request's, not TCP's.
"""

import json
import time

import psutil

from clients import wire
from clients.lab.listeners import Connection
from clients.lab.protocol import HTTP_HEADERS

JSON_HEADERS = {**HTTP_HEADERS, "Content-Type": "application/json"}
POST_AUTHOR = "load"
ANSWER_TIMEOUT = 60  # seconds a server has to answer one question: ten thousand threads leave it little time


class OurServer:
    """Our twin servers, asked on their polling port."""

    def __init__(self, host: str, polling_port: int, client_id: str) -> None:
        self.host, self.port, self.client_id = host, polling_port, client_id
        self._kept: dict[str, Connection] = {}  # "questions" and "posts": a connection each, kept alive

    def _request(self, kept: str, method: str, path: str, body: dict | None = None,
                 again: bool = True) -> tuple[float, dict]:
        """One request on the kept connection ``kept``, opened when first needed; (``time.perf_counter()`` as it
        left, the JSON answer). A connection found closed is opened again once if ``again`` (not for a post,
        which may have been stored already); RuntimeError says which request went unanswered and why."""
        for attempt in (1, 2):
            try:
                if kept not in self._kept:
                    self._kept[kept] = Connection(self.host, self.port)
                data = json.dumps(body).encode() if body is not None else b""
                sent = time.perf_counter()
                self._kept[kept].write(wire.request_bytes(method, path, f"{self.host}:{self.port}",
                                                          JSON_HEADERS if body is not None else HTTP_HEADERS, data))
                response = self._kept[kept].response(time.monotonic() + ANSWER_TIMEOUT)
            except OSError as error:  # refused, cut or timed out
                self._drop(kept)
                if attempt == 2 or not again or isinstance(error, TimeoutError):
                    raise RuntimeError(f"{method} {path}: {type(error).__name__}: {error}") from None
                continue
            return sent, self._read(method, path, response)

    def _drop(self, kept: str) -> None:
        connection = self._kept.pop(kept, None)
        if connection is not None:
            connection.close()

    def _ask(self, method: str, path: str, body: dict | None = None) -> dict:
        return self._request("questions", method, path, body)[1]

    @staticmethod
    def _read(method: str, path: str, response: wire.Response) -> dict:
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: the server answered {response.status} {response.body[:200]!r}")
        return json.loads(response.body)

    def status(self) -> dict:
        return self._ask("GET", f"/api/status?clients={self.client_id}")

    def snapshot(self) -> dict:
        status = self.status()
        account, process = status["clients"][self.client_id], status["process"]
        return {"t": time.monotonic(), "last_id": status["last_id"], "cpu_seconds": process["cpu_seconds"],
                "threads": process["threads"], "rss_bytes": process["rss_bytes"], "requests": account["requests"],
                "bytes_to_clients": account["bytes_to_client"], "bytes_from_clients": account["bytes_from_client"]}

    def ticker(self, interval: float | None) -> None:
        self._ask("POST", "/api/ticker", {"interval": interval})

    def post(self, text: str) -> tuple[float, dict]:
        """Post ``text`` as a page does; returns (``time.perf_counter()`` as the request left, the stored message).
        The server stores its reply with it, and pushes both to every listener."""
        sent, answer = self._request("posts", "POST", "/api/messages", {"author": POST_AUTHOR, "text": text},
                                     again=False)
        return sent, answer["message"]

    def close(self) -> None:
        for kept in list(self._kept):
            self._drop(kept)


class ClusterServer(OurServer):
    """A cluster (``servers.cluster``): the ticker, the posts and the last id from its first node, asked directly
    (a ticker stopped through nginx could reach a node that never started it); what the servers cost, and what
    their meters hold of the crowd, added up over every node. CPU time and memory also count the parts in
    front and behind (``part_pids``: redis-server and nginx, with nginx's workers): a message that crosses
    nginx and Redis costs their work too. Threads stay the nodes' own, what a connection costs a node."""

    def __init__(self, host: str, control_ports: list[int], client_id: str, part_pids: list[int] = ()) -> None:
        super().__init__(host, control_ports[0], client_id)
        self.nodes = [OurServer(host, port, client_id) for port in control_ports]
        self.parts = [psutil.Process(pid) for pid in part_pids]

    def snapshot(self) -> dict:
        each = [node.snapshot() for node in self.nodes]
        total = {key: sum(snapshot[key] for snapshot in each) for key in
                 ("cpu_seconds", "threads", "rss_bytes", "requests", "bytes_to_clients", "bytes_from_clients")}
        parts = [process for part in self.parts for process in (part, *part.children(recursive=True))]
        total["parts_cpu_seconds"] = sum(sum(process.cpu_times()[:2]) for process in parts)  # user + system
        total["cpu_seconds"] += total["parts_cpu_seconds"]
        total["rss_bytes"] += sum(process.memory_info().rss for process in parts)
        return {**each[0], **total, "t": time.monotonic()}

    def close(self) -> None:
        super().close()
        for node in self.nodes:
            node.close()


class ReferenceServer(OurServer):
    """The ``websockets`` broadcaster, asked on its HTTP side; its threads (the OS's) and memory from psutil."""

    def __init__(self, host: str, http_port: int, pid: int) -> None:
        super().__init__(host, http_port, "")
        self.process = psutil.Process(pid)

    def status(self) -> dict:
        return self._ask("GET", "/api/status")

    def snapshot(self) -> dict:
        status = self.status()
        return {"t": time.monotonic(), "last_id": status["last_id"], "cpu_seconds": status["process"]["cpu_seconds"],
                "threads": self.process.num_threads(), "rss_bytes": self.process.memory_info().rss,
                "requests": None, "bytes_to_clients": None, "bytes_from_clients": None}
