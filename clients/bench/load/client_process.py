"""``python -m clients.bench.load.client_process``: the client process of ``python -m clients.bench load``.

It reads one scenario per line on stdin (JSON: which server, which transport, how many clients, how many
server events how far apart), runs it with a crowd of asyncio clients (``clients.lab.async_listeners``,
connected and tallied by ``crowd.py``) and writes one result per line on stdout. One process runs every
scenario of a load run, our servers' and the reference's alike, so every figure is measured by the same
clients. Its first line says what open-file limit it got.

A scenario, step by step: read what the server costs with no clients; connect them
all; let them sit idle (what an idle connection costs: memory, threads, CPU and
bytes per second); start the server's ticker, one event every ``every`` seconds,
for ``messages`` events; stop it; wait until every client holds the last event
(or ``drain`` seconds pass); read the costs again; close every client.
"""

import asyncio
import json
import sys
import time
import traceback

import psutil

from clients import wire
from clients.bench.results.stats import milliseconds, summarize
from clients.lab.async_listeners import AsyncConnection, Counts, EventStream, Poller, WebSocketListener
from clients.lab.protocol import HTTP_HEADERS

from . import crowd

SETTLE_SHARE = 0.5  # the share of the idle time left for the clients' first requests before costs are read
LATE_TICKS = 10  # how far behind its schedule (in intervals) the server's ticker may fall before we give up on it
_SELF = psutil.Process()


class OurServer:
    """Our twin servers, from outside: ``/api/status`` for the last id, what the process costs and what
    the crowd's account on the meter holds; ``/api/ticker`` for server events at a fixed interval."""

    def __init__(self, host: str, polling_port: int, client_id: str) -> None:
        self.host, self.port, self.client_id = host, polling_port, client_id

    async def _ask(self, method: str, path: str, body: dict | None = None) -> dict:
        # A connection per question: the control traffic is never billed to the crowd, never idles out.
        connection = await AsyncConnection.open(self.host, self.port, Counts())
        try:
            data = json.dumps(body).encode() if body is not None else b""
            connection.write(wire.request_bytes(method, path, f"{self.host}:{self.port}", {
                **HTTP_HEADERS, **({"Content-Type": "application/json"} if body is not None else {})}, data))
            response = await connection.response()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: the server answered {response.status} {response.body[:200]!r}")
        return json.loads(response.body)

    async def snapshot(self, counts: Counts) -> dict:
        status = await self._ask("GET", f"/api/status?clients={self.client_id}")
        account, process = status["clients"][self.client_id], status["process"]
        return {"t": time.monotonic(), "last_id": status["last_id"], "cpu_seconds": process["cpu_seconds"],
                "threads": process["threads"], "rss_bytes": process["rss_bytes"], "requests": account["requests"],
                "bytes_to_clients": account["bytes_to_client"], "bytes_from_clients": account["bytes_from_client"],
                "client_read": counts.read, "client_written": counts.written}

    async def ticker(self, interval: float | None) -> None:
        await self._ask("POST", "/api/ticker", {"interval": interval})

    async def close(self) -> None:
        pass


class ClusterServer(OurServer):
    """A cluster (``servers.cluster``): the ticker and the last id from its first node, asked directly (a
    ticker stopped through nginx could reach a node that never started it); what the servers cost, and what
    their meters hold of the crowd, added up over every node. CPU time and memory also count the parts in
    front and behind (``part_pids``: redis-server and nginx, with nginx's workers): a message that crosses
    nginx and Redis costs their work too. Threads stay the nodes' own, what a connection costs a node."""

    def __init__(self, host: str, control_ports: list[int], client_id: str, part_pids: list[int] = ()) -> None:
        super().__init__(host, control_ports[0], client_id)
        self.nodes = [OurServer(host, port, client_id) for port in control_ports]
        self.parts = [psutil.Process(pid) for pid in part_pids]

    async def snapshot(self, counts: Counts) -> dict:
        each = [await node.snapshot(counts) for node in self.nodes]
        total = {key: sum(snapshot[key] for snapshot in each) for key in
                 ("cpu_seconds", "threads", "rss_bytes", "requests", "bytes_to_clients", "bytes_from_clients")}
        parts = [process for part in self.parts for process in (part, *part.children(recursive=True))]
        total["parts_cpu_seconds"] = sum(sum(process.cpu_times()[:2]) for process in parts)  # user + system
        total["cpu_seconds"] += total["parts_cpu_seconds"]
        total["rss_bytes"] += sum(process.memory_info().rss for process in parts)
        return {**each[0], **total, "t": time.monotonic()}


class ReferenceServer:
    """The ``websockets`` broadcaster (``reference.py``): its ticker, last id and CPU time over a control
    WebSocket, its threads and memory from psutil. It has no meter, so its bytes are the ones the crowd counted."""

    def __init__(self, host: str, port: int, pid: int) -> None:
        self.control = WebSocketListener(f"ws://{host}:{port}/control")
        self.process = psutil.Process(pid)

    async def _ask(self, request: dict) -> dict:
        if self.control.connection is None:
            await self.control.connect()
        self.control.send(json.dumps(request))
        return json.loads(await self.control.receive())

    async def snapshot(self, counts: Counts) -> dict:
        answer = await self._ask({})
        return {"t": time.monotonic(), "last_id": answer["last_id"], "cpu_seconds": answer["cpu_seconds"],
                "threads": self.process.num_threads(), "rss_bytes": self.process.memory_info().rss,
                "requests": None, "bytes_to_clients": None, "bytes_from_clients": None,
                "client_read": counts.read, "client_written": counts.written}

    async def ticker(self, interval: float | None) -> None:
        await self._ask({"ticker": interval})

    async def close(self) -> None:
        if self.control.connection is not None:
            self.control.connection.close()


def listeners_for(spec: dict, counts: Counts, after: int) -> list:
    """``spec["clients"]`` clients of the scenario's transport (not connected yet)."""
    host, port, client_id = spec["host"], spec["port"], spec.get("client_id", "load")
    if spec["transport"] == "websocket":
        client = None if spec["server"] == "reference" else client_id
        return [WebSocketListener(f"ws://{host}:{port}/ws", client=client, counts=counts)
                for _ in range(spec["clients"])]
    if spec["transport"] == "sse":
        return [EventStream(f"http://{host}:{port}", headers=HTTP_HEADERS, client=client_id, counts=counts)
                for _ in range(spec["clients"])]
    interval = spec["interval"] if spec["transport"] == "short-polling" else None
    return [Poller(f"http://{host}:{port}", interval, after=after, client=client_id, counts=counts)
            for _ in range(spec["clients"])]


async def run(spec: dict) -> dict:
    """One scenario (see the module's docstring); returns its figures."""
    counts = Counts()
    if spec["server"] == "reference":
        server = ReferenceServer(spec["host"], spec["port"], spec["pid"])
    elif spec["server"] == "cluster":
        server = ClusterServer(spec["host"], spec["control_ports"], spec.get("client_id", "load"),
                               spec.get("part_pids", []))
    else:
        server = OurServer(spec["host"], spec["control_port"], spec.get("client_id", "load"))
    try:
        return await _run(spec, server, counts)
    finally:
        await server.close()


async def _run(spec: dict, server, counts: Counts) -> dict:
    snapshots = {"before": await server.snapshot(counts)}
    listeners = listeners_for(spec, counts, snapshots["before"]["last_id"])
    started = time.monotonic()
    connected, connect_errors = await crowd.connect_all(listeners)
    connect_seconds = time.monotonic() - started
    try:
        for listener in connected:
            listener.start()
        await asyncio.sleep(spec["idle"] * SETTLE_SHARE)
        snapshots["settled"] = await server.snapshot(counts)
        await asyncio.sleep(spec["idle"] * (1 - SETTLE_SHARE))
        snapshots["idle"] = await server.snapshot(counts)
        cpu_before = _client_cpu()
        await server.ticker(spec["every"])
        await until_posted(server, counts, snapshots["idle"]["last_id"] + spec["messages"], spec["every"])
        await server.ticker(None)
        await asyncio.sleep(0.02)  # a tick that was already under way when the ticker stopped gets stamped
        snapshots["stopped"] = await server.snapshot(counts)
        last_id = snapshots["stopped"]["last_id"]
        deadline = time.monotonic() + spec["drain"]
        while time.monotonic() < deadline and any(
                listener.last_id < last_id and not listener.task.done() for listener in connected):
            await asyncio.sleep(0.02)
        snapshots["drained"] = await server.snapshot(counts)
        client_cpu = _client_cpu() - cpu_before
        stopped_early = sum(listener.task.done() for listener in connected)  # before we close them
    finally:
        await crowd.close_all(connected)
    expected = range(snapshots["idle"]["last_id"] + 1, last_id + 1)
    tallied = crowd.tally([[(arrival.message["id"], arrival.delay) for arrival in listener.received]
                           for listener in connected], expected)
    errors = [f"{type(listener.error).__name__}: {listener.error}" for listener in connected if listener.error]
    return {**figures(spec, snapshots, tallied, len(connected)),
            "connect_seconds": connect_seconds, "connect_failures": len(connect_errors),
            "connect_errors": sorted(set(connect_errors))[:3],
            "stopped_early": stopped_early,
            "closed_by_server": sum(bool(getattr(listener, "closed_by_server", None)) for listener in connected),
            "poll_failures": sum(getattr(listener, "failures", 0) for listener in connected),
            "client_errors": sorted(set(errors))[:3], "client_cpu_seconds": client_cpu, "snapshots": snapshots}


async def until_posted(server, counts: Counts, last_id: int, every: float) -> None:
    """Return once the server has stamped ``last_id``: a sleep until just before it is due, then a look
    at the server every ``every / 5`` s (at most 20 ms), so the ticker is stopped before it posts one more.
    A ticker running late (a busy server) is waited for up to ``LATE_TICKS`` intervals more."""
    first = (await server.snapshot(counts))["last_id"]
    await asyncio.sleep(max(0.0, (last_id - first - 0.5) * every))
    deadline = time.monotonic() + LATE_TICKS * every + 5
    while (await server.snapshot(counts))["last_id"] < last_id and time.monotonic() < deadline:
        await asyncio.sleep(min(0.02, every / 5))


def figures(spec: dict, snapshots: dict, tallied: dict, connected: int) -> dict:
    """What a scenario's snapshots and deliveries say: fan-out, costs at idle and while events flow."""
    before, settled, idle, stopped, drained = (snapshots[name] for name in
                                               ("before", "settled", "idle", "stopped", "drained"))
    metered = before["bytes_to_clients"] is not None

    def rates(start: dict, end: dict) -> dict:
        seconds = end["t"] - start["t"]

        def per_second(key):
            return (end[key] - start[key]) / seconds if end[key] is not None else None
        return {"seconds": seconds, "cpu_per_s": per_second("cpu_seconds"), "requests_per_s": per_second("requests"),
                "bytes_to_clients_per_s": per_second("bytes_to_clients" if metered else "client_read"),
                "bytes_from_clients_per_s": per_second("bytes_from_clients" if metered else "client_written"),
                "client_read_per_s": per_second("client_read"), "client_written_per_s": per_second("client_written")}

    per_connection = max(connected, 1)
    cpu_seconds = drained["cpu_seconds"] - idle["cpu_seconds"]
    median_client, last_client = tallied.pop("median_client"), tallied.pop("last_client")
    return {"server": spec["server"], "transport": spec["transport"], "label": spec["label"],
            "clients": spec["clients"], "connected": connected, "every": spec["every"],
            "interval": spec.get("interval") if spec["transport"] == "short-polling" else None,
            "messages": tallied["expected_per_client"], **tallied,
            "fanout_median_client": summarize(median_client), "fanout_last_client": summarize(last_client),
            "median_client_ms": milliseconds(median_client), "last_client_ms": milliseconds(last_client),
            "bytes_counted_by": "server meter" if metered else "clients",
            "threads_counted": "Python threads (/api/status)" if metered else "OS threads (psutil)",
            "rss_bytes": idle["rss_bytes"],
            "rss_per_connection": (idle["rss_bytes"] - before["rss_bytes"]) / per_connection,
            "threads": idle["threads"],
            "threads_per_connection": (idle["threads"] - before["threads"]) / per_connection,
            "idle": rates(settled, idle), "events": rates(idle, stopped),
            "messages_per_s": tallied["expected_per_client"] / (stopped["t"] - idle["t"]),
            "cpu_seconds": cpu_seconds, "cpu_per_message": cpu_seconds / tallied["delivered"]
            if tallied["delivered"] else None,
            "parts_cpu_seconds": drained["parts_cpu_seconds"] - idle["parts_cpu_seconds"]  # of it: Redis, nginx
            if "parts_cpu_seconds" in drained else None}


def _client_cpu() -> float:
    cpu = _SELF.cpu_times()
    return cpu.user + cpu.system


def main() -> int:
    soft, hard = crowd.open_file_limit()
    print(json.dumps({"ready": True, "open_files": [soft, hard]}), flush=True)
    for line in sys.stdin:
        spec = json.loads(line)
        try:
            result = asyncio.run(run(spec))
        except Exception as error:  # the parent reports it: one broken scenario says why, in one line
            result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
