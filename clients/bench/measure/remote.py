"""``python -m clients.bench --url http://HOST:8001``: the latency and overhead scenarios against servers that
already run elsewhere (the teacher's laptop), over the real network, speaking only the protocol.

The local run (``run.py``) starts its servers in this process; here we find them:
the polling server at ``--url`` tells its WebSocket twin's port in ``/api/status``
(``twin_port``). What the local run does in-process is done over the protocol:

* events are posted with ``POST /api/messages`` (``RemoteBoard``) instead of on the
  board itself, at the same random moments;
* two machines have two clocks, so push latency (server stamp to client arrival)
  is corrected by the offset between them, estimated NTP-style from round trips
  to ``/api/status`` (``clock_offset``), and every push figure carries that
  estimate's uncertainty; round trips use one clock and need no correction;
* the byte-counting relays run here and forward to the remote servers, so they
  count what crossed the network, exactly;
* no reference servers (raw TCP echo, the ``websockets`` library) run on the other
  machine: the references are our own ``/echo`` and TCP's connect time (one
  network round trip in the kernel), and the relay's added delay is left out (the
  network is the delay). Idle cost has no pinging server; "new connection per poll"
  is asked for by the client (``Connection: close``).
"""

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import requests

from clients.bench.results.report import machine
from servers.chat import SERVER

from . import latency, run as local
from .progress import silent

QUICK = {"echo": 100, "poll_reply": 30, "rate": 20, "intervals": [0.1, 0.25], "push": 30, "push_rate": 20,
         "push_intervals": [0.1], "push_cycles": 5, "setup": 20, "delivery": 10, "delivery_rate": 10,
         "delivery_interval": 0.1, "reply_bytes": 10, "idle_seconds": 1.0, "idle_interval": 0.25, "idle_wait": 1,
         "keep_alive": 20, "clock_samples": 20}
FULL = {**local.FULL, "delays": [], "clock_samples": 60}
AUTHOR = "bench"  # the name our posts carry on a board others may be watching


class Unreachable(Exception):
    """The URL does not lead to our polling server: the message says what to check."""


@dataclass
class Endpoint:
    """A server elsewhere, with what the scenarios read of a RunningServer: host, port, url."""
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class RemoteBoard:
    """The board of a server elsewhere, as the scenarios use one: ``post`` and ``last_id``, over HTTP.

    A client may not post as "server", so events go up under ``AUTHOR``; each post
    also gets the server's reply on the board, which the scenarios ignore.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._session = requests.Session()
        self._lock = threading.Lock()  # the scenarios' poster thread and the main thread share it

    def post(self, author: str, text: str, reply_to=None) -> SimpleNamespace:
        author = AUTHOR if author == SERVER else author
        with self._lock:
            response = self._session.post(f"{self.url}/api/messages", json={"text": text[:1000], "author": author},
                                          timeout=10)
        response.raise_for_status()
        return SimpleNamespace(**response.json()["message"])

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._session.get(f"{self.url}/api/status", timeout=10).json()["last_id"]

    def close(self) -> None:
        self._session.close()


class Remote:
    """The twins at ``url``, with what the scenarios read of ``servers.twins.Twins``: polling, websocket, ws_url,
    chat.board."""

    def __init__(self, url: str) -> None:
        self.polling = Endpoint(*_host_and_port(url))
        status = _status(self.polling.url)
        self.websocket = Endpoint(self.polling.host, status["twin_port"])
        self.ws_url = f"ws://{self.websocket.host}:{self.websocket.port}"
        self.chat = SimpleNamespace(board=RemoteBoard(self.polling.url))
        _status(self.websocket.url)  # the twin answers too

    def stop(self) -> None:
        self.chat.board.close()

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def clock_offset(url: str, samples: int = 20) -> dict:
    """The server's clock minus ours, from the ``/api/status`` round trip that took least time.

    The server read its clock somewhere inside the round trip; assuming the middle,
    the estimate is off by at most half that round trip: its ``uncertainty``.
    """
    best = None
    with requests.Session() as session:
        for _ in range(samples):
            sent = time.time()
            server_time = session.get(f"{url}/api/status", timeout=10).json()["time"]
            received = time.time()
            if best is None or received - sent < best[1] - best[0]:
                best = (sent, received, server_time)
    sent, received, server_time = best
    return {"offset_s": server_time - (sent + received) / 2, "uncertainty_s": (received - sent) / 2,
            "samples": samples}


def run_remote(url: str, quick: bool = True, progress=silent, settings: dict | None = None) -> dict:
    """Every scenario that works over the network, against the servers at ``url``; the same result shape as
    ``run.run`` (latencies in ms), with ``meta.url`` and ``meta.clock`` added and ``with_delay`` empty."""
    settings = {**(QUICK if quick else FULL), **(settings or {})}
    started = time.perf_counter()
    with Remote(url) as remote:
        clock = clock_offset(remote.polling.url, settings["clock_samples"])
        results = {"meta": {"mode": f"remote, {'quick' if quick else 'full'}", "url": remote.polling.url,
                            "websocket_url": remote.ws_url, "clock": clock, "settings": settings, **machine()},
                   "with_delay": []}
        phase = local.Phases(results)
        phase("references", lambda: references(remote, settings, progress))
        phase("reply_round_trip", lambda: [local.row_of("WebSocket", None, latency.websocket_reply(
            remote.ws_url, settings["poll_reply"], progress=progress))] + local.polling_round_trips(
            remote.polling.url, settings["poll_reply"], settings["intervals"], settings["rate"], progress))
        phase("push_latency", lambda: push_latencies(remote, settings, clock, progress))
        phase("connection_setup", lambda: local.summaries(latency.connection_setup(
            remote.polling.port, remote.websocket.port, settings["setup"], progress=progress,
            host=remote.polling.host)))
        phase("overhead", lambda: local.overheads(remote, settings, progress, in_process=False))
    results["scaling"] = local.scaling_tables(results["overhead"])
    results["meta"]["duration_s"] = time.perf_counter() - started
    return results


def references(remote: Remote, settings: dict, progress) -> dict:
    """Our /echo round trip, and TCP's connect time to the same machine: the network's own round trip."""
    echo = latency.websocket_echo(f"{remote.ws_url}/echo", settings["echo"], label="our /echo", progress=progress)
    connects = latency.connection_setup(remote.polling.port, remote.websocket.port, settings["setup"],
                                        host=remote.polling.host)["tcp_connect"]
    return local.summaries({"our_echo": echo, "tcp_connect": connects})


def push_latencies(remote: Remote, settings: dict, clock: dict, progress) -> list[dict]:
    """Push latency per transport, on the server's clock (``clock``'s offset), each row carrying its uncertainty."""
    rows = local.push_latencies(remote, settings, progress, clock_offset=clock["offset_s"])
    for row in rows:
        row["clock_uncertainty_ms"] = clock["uncertainty_s"] * 1000
    return rows


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        raise Unreachable(f"{url!r} has no valid port: write it as http://HOST:8001") from None
    if parts.scheme != "http" or not parts.hostname:
        raise Unreachable(f"{url!r} is not the polling server's address: write it as http://HOST:8001")
    return parts.hostname, port


def _status(url: str) -> dict:
    """GET /api/status, or Unreachable with what to check."""
    try:
        response = requests.get(f"{url}/api/status", timeout=5)
    except requests.ConnectionError:
        raise Unreachable(f"nothing answers at {url}: is the server running there, started with --host 0.0.0.0, "
                          "and is a firewall letting the port through?") from None
    except requests.Timeout:
        raise Unreachable(f"{url} did not answer within 5 s: a firewall may drop the connection, or you are on "
                          "another network") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if body.get("error") == "forbidden_host":
        raise Unreachable(f"the server refuses the name {urlsplit(url).hostname!r}: it answers only to an IP "
                          "address or localhost, so use its IP address in the URL")
    if response.status_code != 200 or "twin_port" not in body or "time" not in body:
        raise Unreachable(f"{url}/api/status answered {response.status_code} without our status: is this the "
                          "polling server (port 8001)?")
    return body

