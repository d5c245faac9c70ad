"""``python -m clients.bench load``: many clients per transport on one server, beside the ``websockets`` library.

    python -m clients.bench load --quick                      # about 40 seconds: 10 and 50 clients
    python -m clients.bench load --out results/load           # 10, 100 and 1,000 clients: several minutes
    python -m clients.bench load --clients 300 --only websocket,reference
    python -m clients.bench load --nodes 1,2 --only websocket,long-polling   # a cluster: Redis, nodes, nginx

For each number of clients N and each transport (WebSocket, long polling, short
polling every ``--interval`` s, and the reference: the ``websockets`` library's
asyncio server broadcasting with ``websockets.broadcast``), a fresh server process
and N clients in a separate asyncio process (``load_clients.py``) on loopback.
The server sends ``--messages`` events ``--every`` seconds apart (its own ticker),
and we record how late each event reaches the median and the last client, what
was lost, duplicated or out of order, and what the server paid: CPU seconds per
delivered message, memory and threads (per connection, idle), requests and bytes
per second each way (from its own meter). It writes load.json, load.csv,
load_scaling.csv and three plots, and prints the goals of issue 13.

Why separate processes: clients in the server's interpreter would share its GIL
and its CPU time, and the server's figures would be theirs too.

With ``--nodes 1,2`` our transports run instead against a cluster (``servers.cluster``:
redis-server, that many node processes, nginx in front, round robin), once per node count,
so one node and two compare on the same machine; the costs are every node's, added up, and
CPU time and memory count redis-server's and nginx's too (threads stay the nodes').
"""

import argparse
import sys
import time

from servers.cluster import MAX_NODES, Cluster, ToolMissing  # a cluster's tools are looked for only when started

from . import load_report
from .crowd import too_few_files
from .load_processes import HOST, Broadcaster, ClientProcess, LoadError, OurServers
from .report import machine

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
    with ClientProcess() as crowd:
        results["meta"]["open_files"] = crowd.open_files
        problem = too_few_files(max(settings["clients"]), *crowd.open_files)
        if problem:
            raise LoadError(problem)
        for clients in settings["clients"]:
            for transport in transports:
                for nodes in settings.get("nodes") or [None] if transport != "reference" else [None]:
                    row = run_scenario(crowd, transport, clients, settings, nodes)
                    results["runs"].append(row)
                    say(f"[{time.monotonic() - started:6.1f} s] {load_report.one_line(row)}")
    results["meta"]["duration_s"] = time.monotonic() - started
    results["goals"] = load_report.goals(results["runs"])
    results["scaling"] = load_report.scaling_row(results["runs"], settings["every"])
    return results


def run_scenario(crowd: ClientProcess, transport: str, clients: int, settings: dict, nodes: int | None = None) -> dict:
    """One transport, ``clients`` clients, on a server process (or a cluster of ``nodes``) started for it and
    stopped afterwards."""
    name = label(transport, settings["interval"]) + (f" on {nodes} node{'s' * (nodes > 1)}" if nodes else "")
    spec = {"transport": "websocket" if transport == "reference" else transport, "clients": clients,
            "label": name, "host": HOST, "nodes": nodes,
            "client_id": f"load-{transport}", **{key: settings[key] for key in
                                                 ("messages", "every", "interval", "idle", "drain")}}
    timeout = 120 + clients / 10 + settings["idle"] + settings["messages"] * settings["every"] + settings["drain"]
    if transport == "reference":
        with Broadcaster() as server:
            return crowd.run({**spec, "server": "reference", "port": server.port, "pid": server.pid}, timeout)
    if nodes:
        try:
            cluster = Cluster(nodes)
        except ToolMissing as error:
            raise LoadError(str(error)) from None
        with cluster:
            port = cluster.websocket_port if transport == "websocket" else cluster.polling_port
            return crowd.run({**spec, "server": "cluster", "port": port,
                              "control_ports": [node.polling_port for node in cluster.nodes],
                              "part_pids": [cluster.redis.child.pid, cluster.nginx.child.pid]}, timeout)
    with OurServers() as server:
        port = server.websocket_port if transport == "websocket" else server.polling_port
        return crowd.run({**spec, "server": "ours", "port": port, "control_port": server.polling_port}, timeout)


def small_load(clients=(10, 40), transports=("websocket", "long-polling", "short-polling"), messages: int = 3,
               every: float = 0.1, interval: float = 0.25) -> dict:
    """A load run that fits a notebook's time budget (about 2 s per transport and N on a 2-core machine):
    few clients, events 0.1 s apart, short polling every 0.25 s, no output. Add "reference" to
    ``transports`` for the ``websockets`` library beside ours. The full run: ``python -m clients.bench load``."""
    return run_load({"clients": list(clients), "messages": messages, "every": every, "interval": interval,
                     "idle": 0.4, "drain": 5.0}, transports, say=lambda line: None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench load", description=(
        "Many clients per transport on one server process, measured from a separate client process, beside the "
        "websockets library's broadcast; writes load.json, load.csv and plots, and prints the goals of issue 13."),
                                     epilog="Defaults: " + ", ".join(f"{key} {value}" for key, value in FULL.items()))
    parser.add_argument("--quick", action="store_true",
                        help="10 and 50 clients, 5 events 0.5 s apart (about 40 seconds)")
    parser.add_argument("--clients", type=_counts("clients", 100_000), metavar="N,N,...",
                        help="numbers of clients (default 10,100,1000)")
    parser.add_argument("--messages", type=_positive(int), metavar="K", help="server events per scenario (default 20)")
    parser.add_argument("--every", type=_positive(float, 0.1, 60), metavar="SECONDS",
                        help="seconds between server events, 0.1 to 60 (default 1: the websocket.org table's rate)")
    parser.add_argument("--interval", type=_positive(float), metavar="SECONDS",
                        help="short polling interval (default 1)")
    parser.add_argument("--nodes", type=_counts("nodes", MAX_NODES), metavar="N,N,...",
                        help="run our transports against a cluster of N nodes (Redis and nginx in front), once per "
                             "N: 1,2 compares one node with two (needs Debian's redis-server and nginx)")
    parser.add_argument("--only", type=_transports, metavar="T,T,...", default=TRANSPORTS,
                        help=f"transports to measure, of {','.join(TRANSPORTS)} (default: all)")
    parser.add_argument("--out", default="results/load", metavar="DIR", help="where load.json, CSVs and PNGs go "
                        "(default: results/load/)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings.update({key: value for key, value in vars(args).items()
                     if key in ("clients", "messages", "every", "interval", "nodes") and value is not None})
    load_average = machine()["load_average"]
    print(f"Load run: {', '.join(map(str, settings['clients']))} clients per transport; load average before: "
          f"{' '.join(f'{value:.2f}' for value in load_average) if load_average else 'unknown'}", file=sys.stderr)
    try:
        results = run_load(settings, args.only, say=lambda line: print(line, file=sys.stderr, flush=True))
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    results["meta"]["command"] = "python -m clients.bench load " + " ".join(argv or sys.argv[2:])
    paths = load_report.write(results, args.out)
    if not args.no_plots:
        from . import plots  # matplotlib only when drawing
        paths += plots.save_load(results, args.out)
    print(load_report.summary(results))
    print(f"\nWrote {', '.join(str(path) for path in paths)}")
    return 0


def _counts(what: str, most: int):
    """An argument type: whole numbers of ``what`` from 1 to ``most``, separated by commas."""
    def parse(value: str) -> list[int]:
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isdigit() and 1 <= int(part) <= most for part in parts):
            raise argparse.ArgumentTypeError(f"give whole numbers of {what} from 1 to {most}, separated by commas")
        return [int(part) for part in parts]
    return parse


def _positive(kind, low=None, high=None):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or number <= 0 or (low is not None and not low <= number <= high):
            bounds = f" from {low:g} to {high:g}" if low is not None else " above 0"
            whole = "whole " if kind is int else ""
            raise argparse.ArgumentTypeError(f"expected a {whole}number{bounds}, not {value!r}")
        return number
    return parse


def _transports(value: str) -> list[str]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in TRANSPORTS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TRANSPORTS)} (not {', '.join(unknown) or value!r})")
    return [name for name in TRANSPORTS if name in chosen]


if __name__ == "__main__":
    sys.exit(main())
