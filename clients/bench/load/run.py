"""Many clients per transport on one server process, beside the ``websockets`` library: the load run.

For each number of clients N and each transport (WebSocket, Server-Sent Events, long
polling, short polling every ``interval`` s, and the reference: the ``websockets`` library's
asyncio server broadcasting with ``websockets.broadcast``), a fresh server process
and N clients in a separate asyncio process (``client_process.py``) on loopback.
The server sends ``messages`` events ``every`` seconds apart (its own ticker),
and we record how late each event reaches the median and the last client, what
was lost, duplicated or out of order, and what the server paid: CPU seconds per
delivered message, memory and threads (per connection, idle), requests and bytes
per second each way (from its own meter). ``command.py`` writes load.json, load.csv,
load_scaling.csv and three plots, and prints the goals the run is held to (``results/load_report.py``).

Why separate processes: clients in the server's interpreter would share its GIL
and its CPU time, and the server's figures would be theirs too.

With ``nodes`` (``--nodes 1,2``) our transports run instead against a cluster (``servers.cluster``:
redis-server, that many node processes, nginx in front, round robin), once per node count,
so one node and two compare on the same machine; the costs are every node's, added up, and
CPU time and memory count redis-server's and nginx's too (threads stay the nodes').
"""

import time

from servers.cluster import Cluster, ToolMissing  # a cluster's tools are looked for only when started

from clients.bench.results import load_report
from clients.bench.results.report import machine

from .crowd import too_few_files
from .processes import HOST, ClientProcess, LoadError, ReferenceProcess, ServersProcess

FULL = {"clients": [10, 100, 1000], "messages": 20, "every": 1.0, "interval": 1.0, "idle": 3.0, "drain": 30.0}
QUICK = {"clients": [10, 50], "messages": 5, "every": 0.5, "interval": 1.0, "idle": 1.0, "drain": 10.0}
TRANSPORTS = ("reference", "websocket", "sse", "long-polling", "short-polling")  # measured in this order, for each N


def label(transport: str, interval: float) -> str:
    """The name a transport goes by in tables and plots (``colors.color_of`` reads it)."""
    return {"reference": "websockets library broadcast", "websocket": "WebSocket", "sse": "Server-Sent Events",
            "long-polling": "long polling",
            "short-polling": f"short polling {interval * 1000:g} ms"}[transport]


def run_load(settings: dict | None = None, transports=TRANSPORTS, say=print) -> dict:
    """Every transport at every N in ``settings["clients"]`` (defaults: ``FULL``); returns the dict load.json
    holds. ``say`` gets one line per scenario (pass ``lambda line: None`` for silence)."""
    settings = {**FULL, **(settings or {})}
    started = time.monotonic()
    results = {"meta": {**machine(), "settings": settings, "transports": list(transports)}, "runs": []}
    with ClientProcess() as client_process:
        results["meta"]["open_files"] = client_process.open_files
        problem = too_few_files(max(settings["clients"]), *client_process.open_files)
        if problem:
            raise LoadError(problem)
        for clients in settings["clients"]:
            for transport in transports:
                for nodes in settings.get("nodes") or [None] if transport != "reference" else [None]:
                    row = run_scenario(client_process, transport, clients, settings, nodes)
                    results["runs"].append(row)
                    say(f"[{time.monotonic() - started:6.1f} s] {load_report.one_line(row)}")
    results["meta"]["duration_s"] = time.monotonic() - started
    results["goals"] = load_report.goals(results["runs"])
    results["scaling"] = load_report.scaling_row(results["runs"], settings["every"])
    return results


def run_scenario(client_process: ClientProcess, transport: str, clients: int, settings: dict,
                 nodes: int | None = None) -> dict:
    """One transport, ``clients`` clients, on a server process (or a cluster of ``nodes``) started for it and
    stopped afterwards."""
    name = label(transport, settings["interval"]) + (f" on {nodes} node{'s' * (nodes > 1)}" if nodes else "")
    spec = {"transport": "websocket" if transport == "reference" else transport, "clients": clients,
            "label": name, "host": HOST, "nodes": nodes,
            "client_id": f"load-{transport}", **{key: settings[key] for key in
                                                 ("messages", "every", "interval", "idle", "drain")}}
    timeout = 120 + clients / 10 + settings["idle"] + settings["messages"] * settings["every"] + settings["drain"]
    if transport == "reference":
        with ReferenceProcess() as server:
            return client_process.run({**spec, "server": "reference", "port": server.port, "pid": server.pid}, timeout)
    if nodes:
        try:
            cluster = Cluster(nodes)
        except ToolMissing as error:
            raise LoadError(str(error)) from None
        with cluster:
            port = cluster.websocket_port if transport == "websocket" else cluster.polling_port
            return client_process.run({**spec, "server": "cluster", "port": port,
                              "control_ports": [node.polling_port for node in cluster.nodes],
                              "part_pids": [cluster.redis.child.pid, cluster.nginx.child.pid]}, timeout)
    with ServersProcess() as server:
        port = server.websocket_port if transport == "websocket" else server.polling_port
        return client_process.run({**spec, "server": "ours", "port": port, "control_port": server.polling_port},
                                  timeout)


def small_load(clients=(10, 40), transports=("websocket", "long-polling", "short-polling"), messages: int = 3,
               every: float = 0.1, interval: float = 0.25) -> dict:
    """A load run that fits a notebook's time budget (about 2 s per transport and N on a 2-core machine):
    few clients, events 0.1 s apart, short polling every 0.25 s, no output. Add "reference" to
    ``transports`` for the ``websockets`` library beside ours. The full run: ``python -m clients.bench load``."""
    return run_load({"clients": list(clients), "messages": messages, "every": every, "interval": interval,
                     "idle": 0.4, "drain": 5.0}, transports, say=lambda line: None)
