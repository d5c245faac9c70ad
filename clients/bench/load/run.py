"""Many clients per transport on one server process, beside the ``websockets`` library: the load run.

For each number of clients N and each transport (WebSocket, Server-Sent Events, long
polling, short polling every ``interval`` s, and the reference: the ``websockets`` library's
asyncio server broadcasting with ``websockets.broadcast``), a fresh server process
and N clients in separate asyncio processes (``client_process.py``, a few thousand clients each)
on loopback. The server sends ``messages`` events ``every`` seconds apart (its own ticker),
and we record how late each event reaches the median and the last client, what
was lost, duplicated or out of order, and what the server paid: CPU seconds per
delivered message, memory and threads (per connection, idle), requests and bytes
per second each way (from its own meter). On a WebSocket, ours and the library's, ``posts``
messages are then posted (after those two crowds, before the pollers) as a page posts them,
one at a time, and timed from the moment each POST leaves to the last client (``scenario.py``
says every step of a scenario, ``posts.py`` of the posts). Before the crowds, the reply round trip
on our ``/ws`` beside the library's echo. ``command.py`` writes load.json, load.csv,
load_scaling.csv and three plots, and prints the goals the run is held to, each a ratio to the
library measured in this run (``results/load_report.py``), and, where a scenario could not hold
its clients, what ran out (``limits.py``).

Why separate processes: clients in the server's interpreter would share its GIL
and its CPU time, and the server's figures would be theirs too; and one asyncio
process cannot keep up with ten thousand sockets, so their share of the wait would
be billed to the server.

With ``nodes`` (``--nodes 1,2``) our transports run instead against a cluster (``servers.cluster``:
redis-server, that many node processes, nginx in front, round robin), once per node count,
so one node and two compare on the same machine; the costs are every node's, added up, and
CPU time and memory count redis-server's and nginx's too (threads stay the nodes').
"""

import time

from clients.bench.measure import latency
from clients.bench.results import load_report
from clients.bench.results.load_report import LIBRARY_ECHO, OURS_ROUND_TRIP
from clients.bench.results.report import machine
from clients.bench.results.stats import milliseconds, summarize

from . import limits
from .processes import HOST, ROOT, START_TIMEOUT, Crowd, LoadError, ReferenceProcess, ServersProcess, processes_for
from . import posts as posting
from .scenario import bound, run_scenario

FULL = {"clients": [10, 100, 1000], "messages": 20, "every": 1.0, "interval": 1.0, "idle": 3.0, "drain": 30.0,
        "posts": 20, "round_trips": 200}
QUICK = {"clients": [10, 50], "messages": 5, "every": 0.5, "interval": 1.0, "idle": 1.0, "drain": 10.0,
         "posts": 5, "round_trips": 50}
TRANSPORTS = ("reference", "websocket", "sse", "long-polling", "short-polling")  # measured in this order, for each N
ROUND_TRIP_WARMUP = 20


def run_load(settings: dict | None = None, transports=TRANSPORTS, say=print, profiler=None) -> dict:
    """Every transport at every N in ``settings["clients"]`` (defaults: ``FULL``); returns the dict load.json
    holds. ``say`` gets one line per step (pass ``lambda line: None`` for silence); ``profiler``
    (``profile.Profiler``) records our WebSocket server while more posts fan out at the largest N.
    Further settings: ``client_processes`` (how many a scenario uses; default: one per
    ``processes.CLIENTS_PER_PROCESS`` clients), ``server_files`` (the servers' open-file limit) and
    ``servers_root`` (the checkout whose servers to run)."""
    settings = {**FULL, **(settings or {})}
    started = time.monotonic()
    largest = max(settings["clients"])
    results = {"meta": {**machine(), "settings": {**settings, "servers_root": str(settings.get("servers_root") or
                                                                                  ROOT)},
                        "transports": list(transports), "limits": limits.machine_limits(),
                        "bound_s": run_bound(settings, transports, profiler.posts if profiler else 0)}, "runs": []}
    say(f"This run takes {results['meta']['bound_s'] / 60:.0f} minutes at most (every step's own bound, added up).")
    if "websocket" in transports and "reference" in transports and settings["round_trips"]:
        results["round_trips"] = reply_round_trips(settings)
        say(f"[{time.monotonic() - started:6.1f} s] {load_report.round_trip_line(results['round_trips'])}")
    with Crowd(settings.get("client_processes") or processes_for(largest), settings.get("client_processes")) as crowd:
        results["meta"]["open_files"] = crowd.open_files
        problem = crowd.problem(largest)
        if problem:
            raise LoadError(problem)
        for clients in settings["clients"]:
            try:
                # The posts follow the two WebSocket crowds, before the threaded pollers: a server of ten thousand
                # threads leaves the machine busy for minutes after it stops, and the library's crowd would pay.
                sides = [side for side in posting.SIDES if side in transports]
                posting_now = bool(settings["posts"] and sides and not settings.get("nodes"))
                first = [transport for transport in transports if posting_now and transport in sides]
                for group in (first, [transport for transport in transports if transport not in first]):
                    rows = [run_each(crowd, transport, clients, settings, nodes, started, say) for transport in group
                            for nodes in (settings.get("nodes") or [None] if transport != "reference" else [None])]
                    results["runs"] += rows
                    if group is first and first:
                        post_each(crowd, clients, settings, sides, rows, profiler if clients == largest else None,
                                  started, say)
            except LoadError as error:  # the client processes could not be started again after a failure
                results["meta"]["run_stopped"] = f"at {clients} clients: {error}"
                say(f"The run stopped {results['meta']['run_stopped']}")
                break
    results["meta"]["duration_s"] = time.monotonic() - started
    if profiler is not None:
        results["profile"] = profiler.summary
    results["goals"] = load_report.goals(results["runs"], results.get("round_trips"))
    results["scaling"] = load_report.scaling_row(results["runs"], settings["every"])
    return results


def run_each(crowd: Crowd, transport: str, clients: int, settings: dict, nodes: int | None, started: float,
             say) -> dict:
    """One scenario, said in a line; after a failure, fresh client processes (LoadError if they cannot start)."""
    row = run_scenario(crowd, transport, clients, settings, nodes)
    say(f"[{time.monotonic() - started:6.1f} s] {load_report.one_line(row)}")
    if "failed" in row:
        crowd.reset()  # now that its server has stopped: its threads would slow the new processes' start
    return row


def post_each(crowd: Crowd, clients: int, settings: dict, sides: list[str], rows: list[dict], profiler,
              started: float, say) -> None:
    """The posts to our WebSocket server and the library's side by side (``posts.py``), each server's figures
    kept with its scenario's row (``posted``); a failure is kept there too (``posts_failed``)."""
    by_transport = {("reference" if row["server"] == "reference" else row["transport"]): row for row in rows}
    try:
        posted = posting.posts_side_by_side(crowd, clients, settings, sides, profiler)
    except (LoadError, OSError, RuntimeError, ValueError) as error:
        for side in sides:
            by_transport[side]["posts_failed"] = str(error).strip()
        say(f"[{time.monotonic() - started:6.1f} s] posts, {clients} clients: failed ({error})")
        crowd.reset()
        return
    for side, figures in posted.items():
        by_transport[side]["posted"] = figures
    say(f"[{time.monotonic() - started:6.1f} s] {load_report.posts_line(posted, clients)}")


def reply_round_trips(settings: dict) -> dict:
    """The reply round trip on our ``/ws`` (send a message, the server stores it and pushes its reply) beside the
    ``websockets`` library's echo, one round trip each in turn, as ``python -m clients.bench`` times them (the lab's
    clients, in this process), each server in a process of its own. Returns {name: summary, with samples_ms}."""
    with ServersProcess(root=settings.get("servers_root") or ROOT) as ours, ReferenceProcess() as reference:
        clients = {OURS_ROUND_TRIP: latency.WebSocketReply(f"ws://{HOST}:{ours.websocket_port}")}
        clients[LIBRARY_ECHO] = latency.WebSocketEcho(f"ws://{HOST}:{reference.port}/echo")
        samples = latency.round_trips(clients, settings["round_trips"], ROUND_TRIP_WARMUP)
    return {name: {**summarize(values), "samples_ms": milliseconds(values)} for name, values in samples.items()}


def run_bound(settings: dict, transports, profiled_posts: int = 0) -> float:
    """The longest the run may take, in seconds: the round trips, every scenario's ``bound``, and the posts (with
    ``profiled_posts`` more to our WebSocket at the largest N, while a profiler records it)."""
    both = "websocket" in transports and "reference" in transports
    round_trips = 2 * START_TIMEOUT + 10 if both else 0
    scenarios = [bound(clients, settings) for clients in settings["clients"] for transport in transports
                 for _ in (settings.get("nodes") or [None] if transport != "reference" else [None])]
    sides = sum(side in transports for side in posting.SIDES) if settings["posts"] and not settings.get("nodes") else 0
    posts = [posting.step_bound(clients, settings, sides) for clients in settings["clients"]] if sides else []
    return round_trips + sum(scenarios) + sum(posts) + posting.bound(profiled_posts, settings["every"])


def small_load(clients=(10, 40), transports=("websocket", "long-polling", "short-polling"), messages: int = 3,
               every: float = 0.1, interval: float = 0.25) -> dict:
    """A load run that fits a notebook's time budget (about 2 s per transport and N on a 2-core machine):
    few clients, events 0.1 s apart, short polling every 0.25 s, no posts, no output. Add "reference" to
    ``transports`` for the ``websockets`` library beside ours. The full run: ``python -m clients.bench load``."""
    return run_load({"clients": list(clients), "messages": messages, "every": every, "interval": interval,
                     "idle": 0.4, "drain": 5.0, "posts": 0, "round_trips": 0}, transports, say=lambda line: None)
