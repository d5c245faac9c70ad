"""What a load run says: the goals, a table per transport and N, what ran out, what the crowds received beside the
websocket.org table, files.

The goals, from one run, at its largest number of clients where both our WebSocket and the ``websockets`` library
were measured, each printed as our figure, the library's, their ratio, the goal, and whether it is met, judged
against noise where the run keeps samples of both sides (``judged``: a ratio of two medians is "met" only when every
ratio their 95 % intervals allow is at the goal, "at the goal, within noise" when only the medians' ratio is):

* the reply round trip on our ``/ws`` (send, store, reply pushed) at most ``ROUND_TRIP_GOAL`` times the
  library's echo;
* fan-out to every client, from the moment a page's POST leaves to the last client holding the message
  (median over the posts, posted to both servers in turn), and from the server's stamp (the same posts; the
  server's own events without posts): each at most ``RATIO_GOAL`` times the library broadcasting the same
  messages to the same clients;
* every message to every client, once and in order, every client connected;
* memory per idle WebSocket at most ``RSS_GOAL`` times the library's; threads per WebSocket at most
  ``THREADS_GOAL``, beyond the few the server starts once, for its first client (printed beside it).

The same figures for Server-Sent Events, long polling and short polling, whatever they are.
"""

from pathlib import Path

from . import scaling, stats
from .report import write_files
from .stats import fmt

ROUND_TRIP_GOAL = 2.0
RATIO_GOAL = 1.5
RSS_GOAL = 2.5
THREADS_GOAL = 1.0
MIB = 2 ** 20
OURS_ROUND_TRIP, LIBRARY_ECHO = "our /ws reply round trip", "websockets library echo"  # run.py's names for them


def measured(runs: list[dict]) -> list[dict]:
    """The scenarios that ran to the end (a failed one has ``failed``: why, and ``ran_out``)."""
    return [row for row in runs if "failed" not in row]


def one_line(row: dict) -> str:
    """A scenario in a line, for the progress display."""
    ran_out = "; ran out: " + ", ".join(f"{item['resource']} at {item['at']:,}" for item in row["ran_out"]) \
        if row.get("ran_out") else ""
    if "failed" in row:
        return f"{row['label']}, {row['clients']} clients: failed ({row['failed'].splitlines()[0]}){ran_out}"
    last = row["fanout_last_client"]
    return (f"{row['label']}, {row['clients']} clients ({row['connected']} connected): last client "
            f"{fmt(last.get('median_ms'), '.1f')} ms (median of {last['n']}), lost {row['lost']}, "
            f"duplicated {row['duplicated']}, out of order {row['out_of_order']}{ran_out}")


def posts_line(posted: dict, clients: int) -> str:
    """The posts side by side in a line, for the progress display."""
    names = {"websocket": "our WebSocket", "reference": "the websockets library"}
    return f"posts side by side, {clients} clients, POST -> last client, median: " + ", ".join(
        f"{names[side]} {fmt(figures['from_post_last_client'].get('median_ms'), '.1f')} ms "
        f"({figures['connected']} connected, lost {figures['lost']})" for side, figures in posted.items())


def round_trip_line(round_trips: dict) -> str:
    ours, library = round_trips[OURS_ROUND_TRIP], round_trips[LIBRARY_ECHO]
    return (f"reply round trip, median of {ours['n']}: our /ws {fmt(ours['median_ms'])} ms, the websockets "
            f"library's echo {fmt(library['median_ms'])} ms")


def _complete(row: dict) -> bool:
    """Every client connected and got every message once, in order: the server's events, and the posts if any."""
    return all(part["connected"] == part["clients"] and part["messages"] > 0
               and part["lost"] == part["duplicated"] == part["out_of_order"] == part["unexpected"] == 0
               for part in (row, row.get("posted")) if part is not None) and "posts_failed" not in row


def goals(runs: list[dict], round_trips: dict | None = None) -> dict | None:
    """The goal rows at the largest N where our WebSocket and the reference were both measured (None if they
    never were), each {"key", "goal", "unit", "figure", "library", "ratio", "target", "met"}, with every
    transport's figures at that N beside them (``transports``)."""
    by = {(row["transport"] if row["server"] == "ours" else "reference", row["clients"]): row
          for row in measured(runs) if row["server"] != "cluster"}  # the goals are one server process's
    sizes = [n for (transport, n) in by if transport == "websocket" and ("reference", n) in by]
    if not sizes:
        return None
    clients = max(sizes)
    ours, library = by[("websocket", clients)], by[("reference", clients)]
    posted, library_posted = ours.get("posted") or {}, library.get("posted") or {}
    rows = []
    if round_trips:
        rows.append(_ratio_row("reply_round_trip", "/ws reply round trip (send, store, reply pushed) vs the "
                               f"library's echo, median of {round_trips[OURS_ROUND_TRIP]['n']}", "ms",
                               round_trips[OURS_ROUND_TRIP]["median_ms"], round_trips[LIBRARY_ECHO]["median_ms"],
                               ROUND_TRIP_GOAL))
    rows.append(_ratio_row("fanout_from_post", f"fan-out, POST sent -> last client, median of "
                           f"{posted.get('posts', 0)} posts", "ms",
                           (posted.get("from_post_last_client") or {}).get("median_ms"),
                           (library_posted.get("from_post_last_client") or {}).get("median_ms"), RATIO_GOAL))
    if posted and library_posted:  # the same posts, from the server's stamp
        rows.append(_ratio_row("fanout_from_stamp", "fan-out, server's stamp -> last client, the same posts", "ms",
                               posted["from_stamp_last_client"].get("median_ms"),
                               library_posted["from_stamp_last_client"].get("median_ms"), RATIO_GOAL))
    else:  # no posts: the server's own events
        rows.append(_ratio_row("fanout_from_stamp", f"fan-out, server's stamp -> last client, median of "
                               f"{ours['fanout_last_client']['n']} server events", "ms",
                               ours["fanout_last_client"].get("median_ms"),
                               library["fanout_last_client"].get("median_ms"), RATIO_GOAL))
    rows.append({"key": "delivered", "goal": "every message to every client, once, in order: lost / duplicated / "
                 "out of order", "unit": "", "figure": _deliveries(ours), "library": _deliveries(library),
                 "ratio": None, "target": "0 / 0 / 0, all connected", "met": _complete(ours)})
    rows.append(_ratio_row("rss_per_idle_websocket", "memory per idle WebSocket", "KiB",
                           ours["rss_per_connection"] / 1024, library["rss_per_connection"] / 1024, RSS_GOAL))
    further = ours["threads_per_further_connection"]
    rows.append({"key": "threads_per_websocket", "goal": "threads per WebSocket, beyond the server's own "
                 f"({fmt(ours['threads_of_the_server'], '.0f')}, started for its first client)", "unit": "",
                 "figure": further, "library": library["threads_per_further_connection"], "ratio": None,
                 "target": f"<= {THREADS_GOAL:g}",
                 # one thread of slack: a connection's thread may still be winding down when they are counted
                 "met": further is not None and further <= THREADS_GOAL + 1 / max(ours["connected"] - 1, 1)})
    return {"clients": clients, "rows": rows,
            "clients_cpu": {"ours_ms_per_post": posted.get("client_cpu_ms_per_post"),
                            "library_ms_per_post": library_posted.get("client_cpu_ms_per_post"),
                            "processes": posted.get("client_processes")},
            "transports": {row["label"]: _goal_figures(row) for row in
                           [library, ours] + [by[(name, clients)] for name in ("sse", "long-polling", "short-polling")
                                              if (name, clients) in by]}}


def _ratio_row(key: str, goal: str, unit: str, figure: float | None, library: float | None, target: float) -> dict:
    """A goal held as a ratio to the library's figure: met when ours is at most ``target`` times it."""
    ratio = figure / library if figure is not None and library else None
    return {"key": key, "goal": goal, "unit": unit, "figure": figure, "library": library, "ratio": ratio,
            "target": f"<= {target:g}x", "met": ratio is not None and ratio <= target}


def _deliveries(row: dict) -> str:
    posted = row.get("posted") or {"lost": 0, "duplicated": 0, "out_of_order": 0, "delivered": 0}
    held = f"{row['connected']:,} of {row['clients']:,} connected"
    if row.get("posted"):
        held += f" ({posted['connected']:,} for the posts)"
    return (f"{row['lost'] + posted['lost']} / {row['duplicated'] + posted['duplicated']} / "
            f"{row['out_of_order'] + posted['out_of_order']} of {row['delivered'] + posted['delivered']:,}, {held}"
            + (f"; the posts failed: {row['posts_failed'].splitlines()[0]}" if "posts_failed" in row else ""))


def _goal_figures(row: dict) -> dict:
    posted = row.get("posted") or {}
    return {"last_client_median_ms": row["fanout_last_client"].get("median_ms"),
            "median_client_median_ms": row["fanout_median_client"].get("median_ms"),
            "from_post_last_client_median_ms": (posted.get("from_post_last_client") or {}).get("median_ms"),
            "connected": row["connected"], "clients": row["clients"], "messages": row["messages"],
            "lost": row["lost"], "duplicated": row["duplicated"], "out_of_order": row["out_of_order"],
            "complete": _complete(row), "threads_per_connection": row["threads_per_connection"],
            "threads_per_further_connection": row["threads_per_further_connection"],
            "rss_per_connection": row["rss_per_connection"], "threads_counted": row["threads_counted"]}


def delivered(run: dict) -> dict:
    """What a scenario's crowd actually received, from its first event until every client held the last (or the
    drain ended): seconds, events stamped and delivered per connected client per second, every byte both ways
    (headers and bodies, frame headers and payloads; the library's counted by its clients), bytes per delivered
    event, Mbps (bits per second / 2**20, as the paper), and for short polling the polls answered per second
    against those due (one per connected client and interval)."""
    start, end = run["snapshots"]["idle"], run["snapshots"]["drained"]
    seconds, clients = end["t"] - start["t"], max(run["connected"], 1)
    metered = start["bytes_to_clients"] is not None
    both_ways = sum(end[key] - start[key] for key in (("bytes_to_clients", "bytes_from_clients") if metered
                                                      else ("client_read", "client_written")))
    figures = {"connected": run["connected"], "seconds": seconds, "stamped_per_client_per_s": run["messages_per_s"],
               "delivered_per_client_per_s": run["delivered"] / clients / seconds,
               "bytes_per_event": both_ways / run["delivered"] if run["delivered"] else None,
               "mbps": both_ways * 8 / seconds / MIB, "polls_per_s": None, "polls_due_per_s": None,
               "bytes_per_poll": None}
    if start["requests"] is not None and run["transport"] in ("long-polling", "short-polling"):
        polls = end["requests"] - start["requests"]
        figures.update(polls_per_s=polls / seconds, bytes_per_poll=both_ways / polls if polls else None)
    if run.get("interval"):
        figures["polls_due_per_s"] = run["connected"] / run["interval"]
    return figures


def scaling_row(runs: list[dict], every: float) -> dict | None:
    """The websocket.org table's row measured here: at the largest N, what each scenario's crowd received
    (``delivered``), by label, beside the rate asked (an event every ``every`` s; the paper's is one a second)."""
    largest = [row for row in measured(runs) if row["server"] != "cluster" and "snapshots" in row]
    if not largest:
        return None
    clients = max(row["clients"] for row in largest)
    return {"clients": clients, "unit": "Mbps = bits per second / 2**20 (as the paper)", "every": every,
            **{run["label"]: delivered(run) for run in largest if run["clients"] == clients}}


FIELDS = ("label", "clients", "connected", "messages", "delivered", "lost", "duplicated", "out_of_order",
          "median_client_median_ms", "median_client_p90_ms", "last_client_median_ms", "last_client_p90_ms",
          "last_client_max_ms", "cpu_seconds", "cpu_ms_per_message", "rss_mb", "rss_kib_per_connection", "threads",
          "threads_per_connection", "idle_cpu_per_s", "idle_requests_per_s", "idle_bytes_to_clients_per_s",
          "requests_per_s", "bytes_to_clients_per_s", "bytes_from_clients_per_s", "messages_per_s",
          "bytes_counted_by", "threads_counted", "connect_seconds", "connect_failures", "client_cpu_seconds",
          "parts_cpu_seconds", "threads_per_further_connection", "posts", "posted_median_client_median_ms",
          "posted_last_client_median_ms", "posted_lost", "client_processes", "client_busiest", "ran_out")


def flat(row: dict) -> dict:
    """One scenario as a CSV row (no samples)."""
    median, last, events, idle = row["fanout_median_client"], row["fanout_last_client"], row["events"], row["idle"]
    values = {**row, "median_client_median_ms": median.get("median_ms"), "median_client_p90_ms": median.get("p90_ms"),
              "last_client_median_ms": last.get("median_ms"), "last_client_p90_ms": last.get("p90_ms"),
              "last_client_max_ms": last.get("max_ms"),
              "cpu_ms_per_message": row["cpu_per_message"] * 1000 if row["cpu_per_message"] is not None else None,
              "rss_mb": row["rss_bytes"] / MIB, "rss_kib_per_connection": row["rss_per_connection"] / 1024,
              "idle_cpu_per_s": idle["cpu_per_s"], "idle_requests_per_s": idle["requests_per_s"],
              "idle_bytes_to_clients_per_s": idle["bytes_to_clients_per_s"],
              "requests_per_s": events["requests_per_s"], "bytes_to_clients_per_s": events["bytes_to_clients_per_s"],
              "bytes_from_clients_per_s": events["bytes_from_clients_per_s"],
              "ran_out": "; ".join(f"{item['resource']} at {item['at']}" for item in row.get("ran_out", []))}
    posted = row.get("posted")
    if posted:
        values.update({"posts": posted["posts"], "posted_lost": posted["lost"],
                       "posted_median_client_median_ms": posted["from_post_median_client"].get("median_ms"),
                       "posted_last_client_median_ms": posted["from_post_last_client"].get("median_ms")})
    return {field: values.get(field) for field in FIELDS}


def write_load(results: dict, out) -> list[Path]:
    """load.json (everything), load.csv (a row per transport and N), load_scaling.csv; returns the paths."""
    rows = [flat(row) for row in measured(results["runs"])]
    tables = {"load.csv": rows} if rows else {}
    if results.get("scaling"):
        row = results["scaling"]
        paper = [{"source": source, "clients": paper["clients"], "Mbps": paper[key], "messages_per_s": 1}
                 for paper in scaling.paper_table() for source, key in (
                     ("paper: polling, 871 B of headers per poll", "polling_mbps"),
                     ("paper: WebSocket, 2 B per frame", "websocket_mbps"))]
        tables["load_scaling.csv"] = paper + [
            {"source": f"measured: {name}", "clients": measured["connected"], "Mbps": measured["mbps"],
             "messages_per_s": measured["delivered_per_client_per_s"]}
            for name, measured in row.items() if isinstance(measured, dict)]
    return write_files(out, "load.json", results, tables)


def load_table(results: dict) -> str:
    """One line per transport and N: fan-out to the median and the last client, deliveries, and what the server
    paid (CPU per delivered message, memory, threads, requests and bytes per second while the events flowed)."""
    lines = [f"{'transport':<30}{'clients':>8}{'median':>9}{'last':>9}{'last p90':>9}{'last max':>9}"
             f"{'lost':>8}{'dup':>5}{'ooo':>5}{'CPU ms':>8}{'RSS MB':>8}{'KiB':>7}{'threads':>8}{'/conn':>6}"
             f"{'req/s':>8}{'KB/s dn':>9}{'KB/s up':>9}",
             f"{'':<30}{'':>8}{'client':>9}{'client':>9}{'':>27}{'':>18}{'/msg':>8}{'':>8}{'/conn':>7}"]
    for row in measured(results["runs"]):
        f = flat(row)
        lines.append(f"{row['label']:<30}{row['clients']:>8}{fmt(f['median_client_median_ms'], '9.1f')}"
                     f"{fmt(f['last_client_median_ms'], '9.1f')}{fmt(f['last_client_p90_ms'], '9.1f')}"
                     f"{fmt(f['last_client_max_ms'], '9.1f')}{row['lost']:>8}{row['duplicated']:>5}"
                     f"{row['out_of_order']:>5}{fmt(f['cpu_ms_per_message'], '8.3f')}{f['rss_mb']:8.1f}"
                     f"{f['rss_kib_per_connection']:7.1f}{row['threads']:>8}{row['threads_per_connection']:6.2f}"
                     f"{fmt(f['requests_per_s'], '8.1f')}{f['bytes_to_clients_per_s'] / 1000:9.1f}"
                     f"{f['bytes_from_clients_per_s'] / 1000:9.1f}"
                     + (f"   ({row['connected']} of {row['clients']} connected)" if row['connected'] < row['clients']
                        else ""))
    return "\n".join(lines)


def load_summary(results: dict) -> str:
    """The table per transport and N, the posts, what ran out, the goals, the profile and the websocket.org row,
    as plain text."""
    meta, settings = results["meta"], results["meta"]["settings"]
    load = meta["load_average"]
    lines = [f"Load run: {meta['duration_s']:.0f} s, {meta['cpu_count']} CPUs, Python {meta['python']}, load average "
             f"before {f'{load[0]:.2f}' if load else 'unknown'}; {settings['messages']} server events "
             f"{settings['every']:g} s apart per scenario",
             *([f"The run stopped {meta['run_stopped']}"] if meta.get("run_stopped") else []),
             "Fan-out: from the server's stamp to the client holding the message, ms, median over the events", "",
             load_table(results)]
    lines += ["", "At idle (clients connected, no events), per second:",
              f"{'transport':<30}{'clients':>8}{'CPU ms':>8}{'requests':>10}{'KB down':>9}{'KB up':>9}"]
    for row in measured(results["runs"]):
        idle = row["idle"]
        lines.append(f"{row['label']:<30}{row['clients']:>8}{idle['cpu_per_s'] * 1000:8.0f}"
                     f"{fmt(idle['requests_per_s'], '10.1f')}{idle['bytes_to_clients_per_s'] / 1000:9.1f}"
                     f"{idle['bytes_from_clients_per_s'] / 1000:9.1f}")
    lines += ["", "Threads: ours are Python threads (/api/status), the reference's are OS threads (psutil). "
              "Bytes: ours from the server's meter,", "the reference's counted by the clients. CPU: user + system "
              "time (time.process_time) over the events and their drain."]
    clustered = [row for row in measured(results["runs"]) if row.get("parts_cpu_seconds") is not None]
    if clustered:
        lines += ["On a cluster, CPU and RSS add up every node, redis-server and nginx (with its workers); threads "
                  "are the nodes'. Of the CPU, Redis's and nginx's share:"]
        lines += [f"  {row['label']:<28}{row['clients']:>8}{row['parts_cpu_seconds']:8.2f} s of "
                  f"{row['cpu_seconds']:.2f} s ({row['parts_cpu_seconds'] / row['cpu_seconds']:.0%})"
                  for row in clustered if row["cpu_seconds"] > 0]
    lines += post_lines(results["runs"]) + ran_out_lines(results["runs"], meta.get("limits"))
    lines += goal_lines(results.get("goals"), goal_samples(results)) + profile_lines(results.get("profile"))
    lines += scaling_lines(results)
    return "\n".join(lines)


def post_lines(runs: list[dict]) -> list[str]:
    """The posts, one at a time, per WebSocket scenario: from the moment the POST left, and from the server's
    stamp, and what each post cost the server and the clients."""
    posted = [row for row in measured(runs) if row.get("posted")]
    if not posted:
        return []
    lines = ["", "Posts, one at a time, as a page posts them, to our WebSocket server and the library's in turn, both "
             "up at once with a crowd each: ms from the moment the POST left to the median and the last client "
             "holding the message, median over the posts; from the server's stamp; CPU per post:",
             f"{'transport':<30}{'clients':>8}{'posts':>6}{'median':>9}{'last':>9}{'stamp':>9}{'lost':>8}{'dup':>5}"
             f"{'ooo':>5}{'server':>9}{'clients':>9}{'each':>9}",
             f"{'':<30}{'':>8}{'':>6}{'client':>9}{'client':>9}{'-> last':>9}{'':>18}{'CPU ms':>9}{'CPU ms':>9}"
             f"{'process':>9}"]
    for row in posted:
        post = row["posted"]
        lines.append(f"{row['label']:<30}{row['clients']:>8}{post['posts']:>6}"
                     f"{fmt(post['from_post_median_client'].get('median_ms'), '9.1f')}"
                     f"{fmt(post['from_post_last_client'].get('median_ms'), '9.1f')}"
                     f"{fmt(post['from_stamp_last_client'].get('median_ms'), '9.1f')}{post['lost']:>8}"
                     f"{post['duplicated']:>5}{post['out_of_order']:>5}{post['server_cpu_ms_per_post']:9.1f}"
                     f"{post['client_cpu_ms_per_post']:9.1f}"
                     f"{post['client_cpu_ms_per_post'] / post['client_processes']:9.1f}")
    lines.append("  A post reaches every client twice (the message and the server's reply). The clients' CPU is their "
                 "own processes', all of them, and each process's share: a last client near that share waited for "
                 "its own process, not for the server.")
    return lines


def ran_out_lines(runs: list[dict], machine_limits: dict | None) -> list[str]:
    """Each scenario that failed, or did not hold all its clients, or fell behind: what ran out, at how many
    clients, and the evidence; and what this machine allows."""
    short = [row for row in runs if row.get("ran_out") or "failed" in row or "posts_failed" in row]
    if not short:
        return []
    lines = ["", "What ran out:"]
    for row in short:
        held = f"{row.get('connected', 0):,} of {row['clients']:,} connected"
        if row.get("tried", row["clients"]) < row["clients"]:
            held += f", {row['tried']:,} tried: the server's cap, less room for the run's own requests"
        failed = f", failed: {row['failed'].splitlines()[0]}" if "failed" in row else ""
        lines.append(f"  {row['label']}, {row['clients']:,} clients ({held}{failed}):")
        lines += [f"    {item['resource']} at {item['at']:,} clients: {item['evidence']}" for item in row["ran_out"]]
        if "posts_failed" in row:
            lines.append(f"    the posts side by side failed: {row['posts_failed'].splitlines()[0]}")
    if machine_limits:
        files, tasks = machine_limits["open_files"], machine_limits["tasks"]
        lines.append(f"  This machine: open files per process {fmt(files[0], ',')} (hard limit {fmt(files[1], ',')}), "
                     f"ephemeral ports {fmt(machine_limits['ephemeral_ports'], ',')}, tasks (processes and threads) "
                     f"{fmt(tasks, ',')} ({fmt(machine_limits['tasks_now'], ',')} in use before the run), memory "
                     f"available {machine_limits['memory_available'] / 2 ** 30:.1f} GiB, "
                     f"{machine_limits['cpus']} CPUs, listen backlog cap {fmt(machine_limits['listen_backlog'], ',')}")
    return lines


SAMPLED = ("reply_round_trip", "fanout_from_post", "fanout_from_stamp")  # goals a run measures many times


def goal_samples(results: dict) -> dict:
    """The samples a run kept behind each goal that is a ratio of medians, ours and the library's, by goal key:
    the reply round trips, the posts' fan-out (from the POST, and from the stamp where kept), or the server's
    own events when there were no posts. A goal absent here was read once on each side."""
    goal = results.get("goals")
    if not goal:
        return {}
    by = {("reference" if row["server"] == "reference" else row["transport"]): row
          for row in measured(results["runs"]) if row["clients"] == goal["clients"] and row["server"] != "cluster"}
    ours, library = by.get("websocket"), by.get("reference")
    found = {}
    trips = results.get("round_trips") or {}
    if all("samples_ms" in trips.get(name, {}) for name in (OURS_ROUND_TRIP, LIBRARY_ECHO)):
        found["reply_round_trip"] = (trips[OURS_ROUND_TRIP]["samples_ms"], trips[LIBRARY_ECHO]["samples_ms"])
    if ours is None or library is None:
        return found
    posted, library_posted = ours.get("posted") or {}, library.get("posted") or {}
    for key, samples in (("fanout_from_post", "from_post_last_client_ms"),
                         ("fanout_from_stamp", "from_stamp_last_client_ms")):
        if posted.get(samples) and library_posted.get(samples):
            found[key] = (posted[samples], library_posted[samples])
    if not (posted and library_posted) and ours.get("last_client_ms") and library.get("last_client_ms"):
        found["fanout_from_stamp"] = (ours["last_client_ms"], library["last_client_ms"])
    return found


def judged(row: dict, samples: tuple | None, unsampled: str = "one reading each") -> str:
    """A ratio goal's verdict in words, noise included: with samples, the ratio the two medians' 95 %
    intervals allow (``stats.median_interval``), and "met" only when all of it is at the goal, "at the goal,
    within noise" when the medians' ratio is and the interval reaches past it; without, ``unsampled`` says why."""
    target = float(row["target"].strip("<= x"))
    if row["ratio"] is None:
        return "not measured"
    if samples is None:
        return ("at the goal" if row["met"] else "NOT met") + f", noise not judged: {unsampled}"
    comparison = stats.compare(*samples)
    (ours_low, ours_high), (library_low, library_high) = (stats.median_interval(side) for side in samples)
    low, high = ours_low / library_high, ours_high / library_low
    span = (f"the medians' 95 % intervals (n = {len(samples[0])} and {len(samples[1])}) allow a ratio of {low:.2f} "
            f"to {high:.2f}")
    if high <= target:
        return f"met beyond noise: {span}"
    if row["ratio"] <= target:
        return f"at the goal, within noise: {span}"
    return f"NOT met{', within noise' if low <= target else ''}: {span}" + (
        "" if comparison.within_noise else "; ours above the library's, beyond noise")


def goal_lines(goal: dict | None, samples: dict | None = None) -> list[str]:
    """One line per goal: our figure, the library's, the ratio, the goal, and whether it is met, judged against
    noise where the run kept the samples (``goal_samples``), and said to be one reading each where it did not."""
    if goal is None:
        return ["", "Goals: not measured (they need both the WebSocket and the reference transport)."]
    samples = samples or {}
    lines = ["", f"Goals, from this run, {goal['clients']:,} clients: ours beside the websockets library, measured on "
             "the same machine by the same clients",
             f"  {'goal':<86}{'ours':>12}{'library':>12}{'ratio':>8}  {'goal':<10}"]
    for row in goal["rows"]:
        unit = f" ({row['unit']})" if row["unit"] else ""
        if row["key"] == "delivered":
            lines += [f"  {row['goal']} (goal: {row['target']}): {_verdict(row['met'])}",
                      f"    ours: {row['figure']}", f"    library: {row['library']}"]
            continue
        verdict = _verdict(row["met"]) if row["key"] == "threads_per_websocket" else \
            judged(row, samples.get(row["key"]), "this run kept no samples of it" if row["key"] in SAMPLED
                   else "one reading each")
        lines.append(f"  {row['goal'] + unit:<86}{fmt(row['figure'], '12.3f')}{fmt(row['library'], '12.3f')}"
                     f"{fmt(row['ratio'], '8.2f')}  {row['target']:<10}{verdict.partition(':')[0]}")
        if ": " in verdict:
            lines.append(f"      {verdict.partition(': ')[2]}")
    cpu = goal["clients_cpu"]
    if cpu["ours_ms_per_post"] is not None and cpu["library_ms_per_post"] is not None:
        each = max(cpu["ours_ms_per_post"], cpu["library_ms_per_post"]) / cpu["processes"]
        lines.append(f"  The clients' own CPU per post: {cpu['ours_ms_per_post']:.1f} ms with ours, "
                     f"{cpu['library_ms_per_post']:.1f} ms with the library, over {cpu['processes']} client "
                     f"process{'es' * (cpu['processes'] > 1)}, about {each:.1f} ms each: a last client near that "
                     "waited for its own process, which brings the ratio nearer 1 than the servers alone would.")
    lines += ["", f"  {'':<30}{'last client':>12}{'median client':>15}{'lost':>8}{'dup':>5}{'ooo':>5}"
              f"{'threads/conn':>14}{'KiB/conn':>10}"]
    for name, row in goal["transports"].items():
        lines.append(f"  {name:<30}{fmt(row['last_client_median_ms'], '10.1f')} ms"
                     f"{fmt(row['median_client_median_ms'], '13.1f')} ms{row['lost']:>8}{row['duplicated']:>5}"
                     f"{row['out_of_order']:>5}{row['threads_per_connection']:14.2f}"
                     f"{row['rss_per_connection'] / 1024:10.1f}")
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def profile_lines(profile: dict | None) -> list[str]:
    """Where the server's time went while the posts fanned out (``load.profile``'s summary)."""
    if not profile:
        return []
    return ["", *profile["lines"]]


def scaling_lines(results: dict) -> list[str]:
    """The paper's table (computed from its 871 and 2 bytes), then what this run's crowds received at its
    largest N (``delivered``): clients connected, events stamped and delivered per client per second, bytes per
    delivered event, Mbps, polls answered against those due; then the paper's arithmetic with this run's own
    figures: its connected clients, the rate it asked for, the bytes it measured per poll and per event."""
    row = scaling_row(results["runs"], results["meta"]["settings"]["every"])
    if row is None:
        return []
    every = row["every"]
    lines = ["", f"The websocket.org table, {row['unit']}; every client receives one message a second, headers only:",
             f"  {'':<40}{'clients':>9}{'polling':>10}{'WebSocket':>11}"]
    lines += [f"  {'paper: 871 B per poll, 2 B per frame':<40}{paper['clients']:>9,}{paper['polling_mbps']:10.3f}"
              f"{paper['websocket_mbps']:11.3f}" for paper in scaling.paper_table()]
    lines += ["", f"Measured here, {row['clients']:,} clients asked for, one event every {every:g} s, from the first "
              "event until every client held the last (or the run stopped waiting): every byte both ways (headers "
              "and bodies, frame headers and payloads); events per connected client per second, stamped by the "
              "server and delivered to the clients; bytes per delivered event:",
              f"  {'':<30}{'connected':>10}{'stamped':>9}{'delivered':>10}{'B/event':>9}{'Mbps':>8}  polls answered"]
    figures = {name: value for name, value in row.items() if isinstance(value, dict)}
    for name, value in figures.items():
        polls = "" if value["polls_per_s"] is None else f"  {value['polls_per_s']:,.0f} per s" + (
            f" of {value['polls_due_per_s']:,.0f} due ({value['polls_per_s'] / value['polls_due_per_s']:.0%})"
            if value["polls_due_per_s"] else "")
        lines.append(f"  {name:<30}{value['connected']:>10,}{value['stamped_per_client_per_s']:9.2f}"
                     f"{value['delivered_per_client_per_s']:10.2f}{fmt(value['bytes_per_event'], '9.0f')}"
                     f"{value['mbps']:8.2f}{polls}")
    lines += [f"  {run['label']:<30}{run.get('connected', 0):>10,}  failed: no figures" for run in results["runs"]
              if "failed" in run and run["clients"] == row["clients"]]
    lines += computed_lines(figures, every)
    return lines


def computed_lines(figures: dict, every: float) -> list[str]:
    """The paper's arithmetic with a run's own figures: its connected clients, one poll per interval or one
    event per ``every`` s, and the bytes it measured per poll (the polls it made, news or not, headers and
    bodies) and per delivered WebSocket event; a run keeps no header sizes apart from the bodies."""
    lines = []
    short = next((value for name, value in figures.items() if value["polls_due_per_s"] and value["bytes_per_poll"]),
                 None)
    if short is not None:
        lines.append(f"  computed for this run, polling: {short['polls_due_per_s']:,.0f} polls due per s x "
                     f"{short['bytes_per_poll']:,.0f} B per poll measured = "
                     f"{scaling.mbps(short['bytes_per_poll'], 1, short['polls_due_per_s']):.2f} Mbps, "
                     "had every poll due been made and answered")
    socket = figures.get("WebSocket")
    if socket is not None and socket["bytes_per_event"]:
        lines.append(f"  computed for this run, WebSocket: {socket['connected']:,} clients x {1 / every:g} event "
                     f"per s x {socket['bytes_per_event']:,.0f} B per event measured = "
                     f"{scaling.mbps(socket['bytes_per_event'], socket['connected'], 1 / every):.2f} Mbps, had every "
                     "event reached every client within its second")
    return lines


# What grows with clients: the lesson's table, from a run with at least two numbers of clients.
GROWS, SHRINKS = 1.5, 1 / 1.5  # a figure read once that moves less than this between the two sizes is "about the same"
GROWTH_FIGURES = {  # name: how to read it from a scenario's row
    "bytes per second, both ways": lambda row: row["events"]["bytes_to_clients_per_s"]
    + row["events"]["bytes_from_clients_per_s"],
    "requests per second": lambda row: row["events"]["requests_per_s"],
    "requests per second at idle": lambda row: row["idle"]["requests_per_s"],
    "server CPU ms per second": lambda row: row["events"]["cpu_per_s"] * 1000,
    "threads held for the clients": lambda row: row["threads_per_connection"] * row["connected"],
    "memory held for the clients (MiB)": lambda row: row["rss_per_connection"] * row["connected"] / MIB,
    "latency to the median client (ms)": lambda row: row["fanout_median_client"].get("median_ms"),
    "latency to the last client (ms)": lambda row: row["fanout_last_client"].get("median_ms"),
}
# Figures with one sample per server event: their change is judged against noise (``stats.compare``).
GROWTH_SAMPLES = {"latency to the median client (ms)": "median_client_ms",
                  "latency to the last client (ms)": "last_client_ms"}


def growth(results: dict) -> list[dict]:
    """Each transport's figures at the smallest and the largest number of clients of a run, how many times
    the one the other is (``factor``; None from a zero), and a verdict: "grows", "shrinks", "about the same"
    (read once at each size: at least ``GROWS`` times, or not), "none" (zero at both sizes), or for the
    latencies, which have a sample per server event, "grows", "shrinks" or "within noise" by ``stats.compare``
    of their medians (``comparison`` holds it)."""
    rows = []
    by_label: dict[str, list[dict]] = {}
    for run in measured(results["runs"]):
        by_label.setdefault(run["label"], []).append(run)
    for label, runs in by_label.items():
        small, large = min(runs, key=lambda run: run["clients"]), max(runs, key=lambda run: run["clients"])
        if small is large:
            continue
        for figure, read in GROWTH_FIGURES.items():
            before, after = read(small), read(large)
            if before is None or after is None:
                continue
            samples = GROWTH_SAMPLES.get(figure)
            comparison = stats.compare(large[samples], small[samples]) if samples and small.get(samples) and \
                large.get(samples) else None
            if comparison is not None:
                verdict = {"higher": "grows", "lower": "shrinks"}.get(comparison.verdict, "within noise")
            elif max(abs(before), abs(after)) < 1e-9:
                verdict = "none"
            elif after >= GROWS * before:
                verdict = "grows"
            elif after <= SHRINKS * before:
                verdict = "shrinks"
            else:
                verdict = "about the same"
            rows.append({"transport": label, "figure": figure, "clients": (small["clients"], large["clients"]),
                         "values": (before, after), "factor": after / before if before else None,
                         "verdict": verdict, "comparison": comparison})
    return rows


def growth_markdown(rows: list[dict]) -> str:
    """``growth``'s rows as a Markdown table, a figure per line and a transport per column; each cell reads
    "small → large (×factor)", and the latencies add whether the change is beyond noise."""
    if not rows:
        return "(one number of clients only: nothing to compare)"
    small, large = rows[0]["clients"]
    transports = list(dict.fromkeys(row["transport"] for row in rows))
    cells = {(row["figure"], row["transport"]): row for row in rows}
    lines = [f"| {small} → {large} clients | " + " | ".join(transports) + " |",
             "|---|" + "---|" * len(transports)]
    for figure in dict.fromkeys(row["figure"] for row in rows):
        lines.append(f"| {figure} | " + " | ".join(_cell(cells.get((figure, name))) for name in transports) + " |")
    return "\n".join(lines)


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    before, after = row["values"]
    if row["verdict"] == "none":
        return "0 → 0"
    text = f"{_number(before)} → {_number(after)}" + (f" (×{row['factor']:.2g})" if row["factor"] else "")
    if row["comparison"] is not None:
        text += ", beyond noise" if row["verdict"] in ("grows", "shrinks") else ", within noise"
    return text


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2g}" if abs(value) < 1 else f"{value:.3g}"
