"""``python -m clients.bench load``: many clients per transport on one server, beside the ``websockets`` library.

    python -m clients.bench load --quick                      # about a minute: 10 and 50 clients
    python -m clients.bench load --out results/load           # 10, 100 and 1,000 clients: several minutes
    python -m clients.bench load --clients 300 --only websocket,reference
    python -m clients.bench load --clients 10000 --out results/load-10000   # ten thousand clients per transport
    python -m clients.bench load --clients 1000 --only websocket,reference --profile   # where the server's time goes
    python -m clients.bench load --nodes 1,2 --only websocket,long-polling   # a cluster: Redis, nodes, nginx

What each run measures and why in separate processes: ``run.py``.
"""

import argparse
import sys
from pathlib import Path

from servers.cluster import MAX_NODES

from clients.bench.results import load_report, plots, report
from clients.bench.results.report import machine

from .processes import ROOT, LoadError
from .profile import Profiler
from .run import FULL, QUICK, TRANSPORTS, run_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench load", description=(
        "Many clients per transport on one server process, measured from separate client processes, beside the "
        "websockets library's broadcast; writes load.json, load.csv and plots, and prints the goals our WebSocket "
        "server is held to, each a ratio to the library, and what ran out where a transport could not hold its "
        "clients."),
                                     epilog="Defaults: " + ", ".join(f"{key} {value}" for key, value in FULL.items()))
    parser.add_argument("--quick", action="store_true",
                        help="10 and 50 clients, 5 events 0.5 s apart, 5 posts (about a minute)")
    parser.add_argument("--clients", type=_counts("clients", 100_000), metavar="N,N,...",
                        help="numbers of clients (default 10,100,1000)")
    parser.add_argument("--messages", type=_positive(int), metavar="K", help="server events per scenario (default 20)")
    parser.add_argument("--every", type=_positive(float, 0.1, 60), metavar="SECONDS",
                        help="seconds between server events, 0.1 to 60 (default 1: the websocket.org table's rate)")
    parser.add_argument("--interval", type=_positive(float), metavar="SECONDS",
                        help="short polling interval (default 1)")
    parser.add_argument("--posts", type=_count, metavar="K",
                        help="messages posted one at a time to our WebSocket server and the library's in turn, "
                             "each timed from the POST to the last client (default 20; 0: none)")
    parser.add_argument("--round-trips", type=_count, metavar="K",
                        help="reply round trips on our /ws beside the library's echo (default 200; 0: none)")
    parser.add_argument("--client-processes", type=_positive(int), metavar="K",
                        help="client processes per scenario (default: one per 500 clients, at most two per CPU)")
    parser.add_argument("--server-files", type=_positive(int, 16, 1 << 20), metavar="N",
                        help="lower our servers' open-file limit to N, to see what running out looks like")
    parser.add_argument("--servers-from", type=_checkout, metavar="DIR",
                        help="run the servers of another checkout of this project (its python -m servers)")
    parser.add_argument("--profile", action="store_true",
                        help="record our WebSocket server with py-spy while more posts fan out at the largest "
                             "number of clients, and say which lines of its code cost what per client (needs py-spy)")
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
                     if key in ("clients", "messages", "every", "interval", "nodes", "posts", "round_trips",
                                "client_processes", "server_files") and value is not None})
    settings["servers_root"] = args.servers_from
    load_average = machine()["load_average"]
    print(f"Load run: {', '.join(map(str, settings['clients']))} clients per transport; load average before: "
          f"{' '.join(f'{value:.2f}' for value in load_average) if load_average else 'unknown'}", file=sys.stderr)
    try:
        profiler = Profiler(Path(args.out), args.servers_from or ROOT) if args.profile else None
        results = run_load(settings, args.only, say=lambda line: print(line, file=sys.stderr, flush=True),
                           profiler=profiler)
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    results["meta"]["command"] = "python -m clients.bench load " + " ".join(argv or sys.argv[2:])
    report.publish(results, args.out, load_report.write_load, load_report.load_summary,
                   None if args.no_plots else plots.save_load)
    return 0


def _counts(what: str, most: int):
    """An argument type: whole numbers of ``what`` from 1 to ``most``, separated by commas."""
    def parse(value: str) -> list[int]:
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isdigit() and 1 <= int(part) <= most for part in parts):
            raise argparse.ArgumentTypeError(f"give whole numbers of {what} from 1 to {most}, separated by commas")
        return [int(part) for part in parts]
    return parse


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {value!r}")
    return int(value)


def _checkout(value: str) -> Path:
    root = Path(value).resolve()
    if not (root / "servers" / "__main__.py").is_file():
        raise argparse.ArgumentTypeError(f"{value} holds no servers/__main__.py: give a checkout of this project")
    return root


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
