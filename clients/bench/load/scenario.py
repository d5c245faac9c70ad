"""One scenario of a load run: a server process started for it, a crowd of N clients of one transport, and
what happened, measured from this process while the clients' own processes hold the sockets.

Step by step: read what the server costs with no clients; connect one client and read it again (what the
server starts once, for its first client, is its own, not a connection's); connect the others; let them sit
idle (what an idle connection costs: memory, threads, CPU and bytes per second); start the server's ticker,
one event every ``every`` seconds, for ``messages`` events; stop it; wait until every client holds the last
event (or ``drain`` seconds pass); read the costs again; close every client. (Messages posted as a page posts
them are timed apart, on our WebSocket server and the library's side by side: ``posts.py``.)

Nothing here waits without a bound (``bound`` says how long a scenario may take), and a scenario whose
server or clients give out returns what it measured and what ran out (``limits.py``) instead of stopping
the run.
"""

import time
from contextlib import ExitStack

from servers.cluster import Cluster, ToolMissing  # a cluster's tools are looked for only when started

from clients.bench.results.stats import milliseconds, summarize

from . import crowd as crowds, limits
from .probes import ClusterServer, OurServer, ReferenceServer
from .processes import (HOST, ROOT, SPARE_CONNECTIONS, START_TIMEOUT, Crowd, LoadError, ReferenceProcess,
                        ServersProcess)

SETTLE_SHARE = 0.5  # the share of the idle time left for the clients' first requests before costs are read
FIRST_SETTLE = 0.2  # seconds the first client is given before the server's own threads are counted
LATE_TICKS = 10  # how far behind its schedule (in intervals) the server's ticker may fall before we give up on it
ANSWER_MARGIN = 60.0  # seconds a client process may take to answer beyond the time its command allows (a machine
# crowded with a threaded server's ten thousand threads gives it little time)


def label(transport: str, interval: float) -> str:
    """The name a transport goes by in tables and plots (``colors.color_of`` reads it)."""
    return {"reference": "websockets library broadcast", "websocket": "WebSocket", "sse": "Server-Sent Events",
            "long-polling": "long polling",
            "short-polling": f"short polling {interval * 1000:g} ms"}[transport]


def connect_seconds(clients: int) -> float:
    """How long the crowd may take to connect: handshakes are a few milliseconds each, a few dozen at a time."""
    return 20 + clients / 100


def bound(clients: int, settings: dict) -> float:
    """The longest a scenario may take, in seconds: every step's own bound, added up."""
    return (2 * START_TIMEOUT + connect_seconds(clients) + settings["idle"] + FIRST_SETTLE
            + (settings["messages"] + LATE_TICKS) * settings["every"] + 5 + settings["drain"]
            + close_seconds(clients))


def close_seconds(clients: int) -> float:
    return 30 + clients / 100


def run_scenario(crowd: Crowd, transport: str, clients: int, settings: dict, nodes: int | None = None) -> dict:
    """One transport, ``clients`` clients, on a server process (or a cluster of ``nodes``) started for it and
    stopped afterwards. ``settings``: the run's (``run.FULL``), with ``servers_root`` and ``server_files``
    for ``ServersProcess`` if given. A scenario that fails returns a row with ``failed`` (why) and
    ``ran_out``; its client processes may be in the middle of a command, so ``crowd.reset()`` them."""
    name = label(transport, settings["interval"]) + (f" on {nodes} node{'s' * (nodes > 1)}" if nodes else "")
    spec = {"transport": "websocket" if transport == "reference" else transport, "clients": clients,
            "label": name, "host": HOST, "nodes": nodes, "client_id": f"load-{transport}",
            "interval": settings["interval"], "every": settings["every"], "events_asked": settings["messages"],
            "server": "reference" if transport == "reference" else "cluster" if nodes else "ours"}
    progress = {"connected": 0}  # what a failed scenario had measured when it failed
    with ExitStack() as stack:
        server = None
        try:
            server, probe, spec["port"] = _start(stack, transport, clients, settings, nodes)
            stack.callback(probe.close)
            spec["tried"] = crowd_size(clients, spec["transport"], getattr(server, "max_connections", None))
            progress["tried"] = spec["tried"]
            row = measure(crowd, probe, spec, settings, progress, server and server.pid)
        except (LoadError, OSError, RuntimeError, ValueError) as error:  # the server or a client process gave out
            row = {"label": name, "transport": spec["transport"], "server": spec["server"], "clients": clients,
                   "every": settings["every"], **progress, "failed": str(error).strip(),
                   "pressure": limits.pressure(server.pid if server else None)}
        row["server_note"] = getattr(server, "note", None)
        row["server_cap"] = server.max_connections if row["server_note"] else None
        row["ran_out"] = limits.ran_out(row, server.log() if server else "", row["server_note"],
                                        server.ended() if server else None)
    return row


def crowd_size(clients: int, transport: str, room: int | None) -> int:
    """How many clients to connect when the server said it takes at most ``room`` connections: on the polling
    server, the run's own questions and posts need a few (a server at its cap refuses them, and cuts an idle
    one to admit a new client), so the crowd leaves them ``SPARE_CONNECTIONS``; on the WebSocket server, all
    of them come, and those past its cap are refused, as they would be."""
    if room is None or transport == "websocket":
        return clients
    return max(1, min(clients, room - SPARE_CONNECTIONS))


def _start(stack: ExitStack, transport: str, clients: int, settings: dict, nodes: int | None):
    """Start the scenario's server (stopped when ``stack`` closes): (its process, None for a cluster; its probe;
    the crowd's port)."""
    if transport == "reference":
        reference = stack.enter_context(ReferenceProcess())
        return reference, ReferenceServer(HOST, reference.http_port, reference.pid), reference.port
    client_id = f"load-{transport}"
    if nodes:
        try:
            cluster = Cluster(nodes)
        except ToolMissing as error:
            raise LoadError(str(error)) from None
        stack.enter_context(cluster)
        probe = ClusterServer(HOST, [node.polling_port for node in cluster.nodes], client_id,
                              [cluster.redis.child.pid, cluster.nginx.child.pid])
        return None, probe, cluster.websocket_port if transport == "websocket" else cluster.polling_port
    ours = stack.enter_context(ServersProcess(clients, settings.get("server_files"),
                                              settings.get("servers_root") or ROOT))
    return (ours, OurServer(HOST, ours.polling_port, client_id),
            ours.websocket_port if transport == "websocket" else ours.polling_port)


def measure(crowd: Crowd, probe, spec: dict, settings: dict, progress: dict, server_pid: int | None) -> dict:
    """The scenario's steps (see the module's docstring); returns its figures. ``progress`` holds how many
    clients connected and what the others were told, as soon as that is known."""
    shares = crowd.split(spec["tried"])

    def snapshot() -> dict:
        return {**probe.snapshot(), **crowd_counts(crowd)}

    snapshots = {"before": snapshot()}
    spec = {**spec, "after": snapshots["before"]["last_id"]}
    overflows = limits.listen_overflows()
    started = time.monotonic()
    connected = connect(crowd, spec, [1] + [0] * (len(shares) - 1), started)
    time.sleep(FIRST_SETTLE)
    snapshots["first"] = snapshot()
    connected = _merge(connected, connect(crowd, spec, [shares[0] - 1] + shares[1:], started))
    connect_seconds_taken = time.monotonic() - started
    overflows = limits.listen_overflows() - overflows if overflows is not None else None
    progress.update({"connected": connected["connected"], "connect_failures": connected["failures"],
                     "connect_errors": connected["errors"], "listen_overflows": overflows})
    time.sleep(settings["idle"] * SETTLE_SHARE)
    snapshots["settled"] = snapshot()
    time.sleep(settings["idle"] * (1 - SETTLE_SHARE))
    snapshots["idle"] = snapshot()
    if connected["connected"]:
        probe.ticker(spec["every"])
        until_posted(probe, snapshots["idle"]["last_id"] + settings["messages"], spec["every"])
        probe.ticker(None)
        time.sleep(0.02)  # a tick that was already under way when the ticker stopped gets stamped
    snapshots["stopped"] = snapshot()
    pressure = limits.pressure(server_pid)  # how loaded the machine was, just as the events ended
    last_id = snapshots["stopped"]["last_id"]
    crowd.ask({"do": "wait", "last_id": last_id, "seconds": settings["drain"]}, settings["drain"] + ANSWER_MARGIN)
    snapshots["drained"] = snapshot()
    collected = crowd.ask({"do": "collect", "after": snapshots["idle"]["last_id"]},
                          ANSWER_MARGIN + spec["clients"] / 1000)
    crowd.ask({"do": "close"}, ANSWER_MARGIN + close_seconds(spec["clients"]))
    received = [client for answer in collected for client in answer["received"]]
    events = range(snapshots["idle"]["last_id"] + 1, last_id + 1)
    tallied = crowds.tally([[delivery for delivery in client if delivery[0] <= last_id] for client in received],
                           events)
    row = {**figures(spec, snapshots, tallied, connected["connected"]),
           "connect_seconds": connect_seconds_taken, "connect_failures": connected["failures"],
           "connect_errors": connected["errors"], "listen_overflows": overflows,
           "client_processes": len(shares),
           **{key: sum(answer[key] for answer in collected)
              for key in ("stopped_early", "closed_by_server", "poll_failures")},
           "client_errors": sorted({error for answer in collected for error in answer["errors"]})[:5],
           **client_cpu(snapshots["idle"], snapshots["drained"]), "pressure": pressure, "snapshots": snapshots}
    return row


def connect(crowd: Crowd, spec: dict, shares: list[int], started: float, group: str = "crowd") -> dict:
    """Connect ``shares`` clients (one number per client process in use) of ``spec``'s transport, as one ``group``,
    within the crowd's time from ``started``: how many connected, how many did not, and a few of their errors."""
    seconds = max(1.0, started + connect_seconds(spec["clients"]) - time.monotonic())
    answers = crowd.ask({"do": "connect", "spec": spec, "at_once": crowd.connect_at_once(), "seconds": seconds,
                         "group": group}, seconds + ANSWER_MARGIN, [{"clients": share} for share in shares])
    return {"connected": sum(answer["connected"] for answer in answers),
            "failures": sum(answer["failures"] for answer in answers),
            "errors": sorted({error for answer in answers for error in answer["errors"]})[:5]}


def _merge(first: dict, rest: dict) -> dict:
    return {"connected": first["connected"] + rest["connected"], "failures": first["failures"] + rest["failures"],
            "errors": sorted(set(first["errors"] + rest["errors"]))[:5]}


def crowd_counts(crowd: Crowd, group: str = "crowd") -> dict:
    """What the crowd's clients of ``group`` read and wrote so far, and every client process's CPU time."""
    answers = crowd.ask({"do": "counts", "group": group}, ANSWER_MARGIN)
    return {"client_read": sum(answer["read"] for answer in answers),
            "client_written": sum(answer["written"] for answer in answers),
            "client_cpu": [answer["cpu_seconds"] for answer in answers], "client_t": time.monotonic()}


def client_cpu(start: dict, end: dict) -> dict:
    """The clients' CPU time between two snapshots, all processes, and the busiest one's share of the wall time:
    at 1.0 it had no time to spare, and the latencies are partly its own."""
    spent = [after - before for before, after in zip(start["client_cpu"], end["client_cpu"])]
    seconds = end["client_t"] - start["client_t"]
    return {"client_cpu_seconds": sum(spent), "client_busiest": max(spent) / seconds if seconds > 0 else None}


def until_posted(probe, last_id: int, every: float) -> None:
    """Return once the server has stamped ``last_id``: a sleep until just before it is due, then a look
    at the server every ``every / 5`` s (at most 20 ms), so the ticker is stopped before it posts one more.
    A ticker running late (a busy server) is waited for up to ``LATE_TICKS`` intervals more."""
    first = probe.status()["last_id"]
    time.sleep(max(0.0, (last_id - first - 0.5) * every))
    deadline = time.monotonic() + LATE_TICKS * every + 5
    while probe.status()["last_id"] < last_id and time.monotonic() < deadline:
        time.sleep(min(0.02, every / 5))


def figures(spec: dict, snapshots: dict, tallied: dict, connected: int) -> dict:
    """What a scenario's snapshots and deliveries say: fan-out, costs at idle and while events flow."""
    before, first, settled, idle, stopped, drained = (snapshots[name] for name in
                                                      ("before", "first", "settled", "idle", "stopped", "drained"))
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
    further = (idle["threads"] - first["threads"]) / (connected - 1) if connected > 1 else None
    cpu_seconds = drained["cpu_seconds"] - idle["cpu_seconds"]
    median_client, last_client = tallied.pop("median_client"), tallied.pop("last_client")
    return {"server": spec["server"], "transport": spec["transport"], "label": spec["label"],
            "clients": spec["clients"], "tried": spec["tried"], "connected": connected, "every": spec["every"],
            "interval": spec["interval"] if spec["transport"] == "short-polling" else None,
            "messages": tallied["expected_per_client"], "events_asked": spec["events_asked"], **tallied,
            "fanout_median_client": summarize(median_client), "fanout_last_client": summarize(last_client),
            "median_client_ms": milliseconds(median_client), "last_client_ms": milliseconds(last_client),
            "bytes_counted_by": "server meter" if metered else "clients",
            "threads_counted": "Python threads (/api/status)" if metered else "OS threads (psutil)",
            "rss_bytes": idle["rss_bytes"],
            "rss_per_connection": (idle["rss_bytes"] - before["rss_bytes"]) / per_connection,
            "threads": idle["threads"],
            "threads_per_connection": (idle["threads"] - before["threads"]) / per_connection,
            # what each connection after the first costs, and what the server started once, for its first client
            "threads_per_further_connection": further,
            "threads_of_the_server": first["threads"] - before["threads"] - (further or 0) if further is not None
            else None,
            "idle": rates(settled, idle), "events": rates(idle, stopped),
            "messages_per_s": tallied["expected_per_client"] / (stopped["t"] - idle["t"]),
            "cpu_seconds": cpu_seconds, "cpu_per_message": cpu_seconds / tallied["delivered"]
            if tallied["delivered"] else None,
            "parts_cpu_seconds": drained["parts_cpu_seconds"] - idle["parts_cpu_seconds"]  # of it: Redis, nginx
            if "parts_cpu_seconds" in drained else None}
