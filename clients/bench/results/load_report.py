"""What a load run says: the goals of issue 13, a table per transport and N, the websocket.org row, files.

The goals, from one run, at its largest number of clients:

* WebSocket fan-out, server stamp -> last client, median over the events: at most
  ``RATIO_GOAL`` times the ``websockets`` library's broadcast measured in the same run;
  0 lost, 0 duplicated, 0 out of order;
* threads per WebSocket at most ``THREADS_GOAL``, and memory per idle connection (printed);
* the same figures for Server-Sent Events, long polling and short polling, whatever they are.
"""

import statistics
from pathlib import Path

from . import scaling, stats
from .report import write_files
from .stats import fmt

RATIO_GOAL = 2.0
THREADS_GOAL = 2.0
MIB = 2 ** 20


def one_line(row: dict) -> str:
    """A scenario in a line, for the progress display."""
    last = row["fanout_last_client"]
    return (f"{row['label']}, {row['clients']} clients ({row['connected']} connected): last client "
            f"{fmt(last.get('median_ms'), '.1f')} ms (median of {last['n']}), lost {row['lost']}, "
            f"duplicated {row['duplicated']}, out of order {row['out_of_order']}")


def _complete(row: dict) -> bool:
    return (row["connected"] == row["clients"] and row["messages"] > 0
            and row["lost"] == row["duplicated"] == row["out_of_order"] == row["unexpected"] == 0)


def goals(runs: list[dict]) -> dict | None:
    """The goal figures at the largest N where our WebSocket and the reference were both measured
    (None if they never were), with long and short polling at that N beside them."""
    by = {(row["transport"] if row["server"] == "ours" else "reference", row["clients"]): row for row in runs
          if row["server"] != "cluster"}  # the goals are one server process's
    sizes = [n for (transport, n) in by if transport == "websocket" and ("reference", n) in by]
    if not sizes:
        return None
    clients = max(sizes)
    ours, reference = by[("websocket", clients)], by[("reference", clients)]
    ours_ms = ours["fanout_last_client"].get("median_ms")
    reference_ms = reference["fanout_last_client"].get("median_ms")
    ratio = ours_ms / reference_ms if ours_ms and reference_ms else None
    return {"clients": clients, "ratio": ratio, "ratio_goal": RATIO_GOAL,
            "ratio_met": ratio is not None and ratio <= RATIO_GOAL,
            "complete": _complete(ours), "threads_goal": THREADS_GOAL,
            # a thread the server starts once whatever the number of clients (our broadcaster) is no
            # per-connection cost: allow one per server on top of the goal
            "threads_met": ours["threads_per_connection"] <= THREADS_GOAL + 1 / max(ours["connected"], 1),
            "rows": {row["label"]: _goal_figures(row) for row in
                     [reference, ours] + [by[(name, clients)] for name in ("sse", "long-polling", "short-polling")
                                          if (name, clients) in by]}}


def _goal_figures(row: dict) -> dict:
    return {"last_client_median_ms": row["fanout_last_client"].get("median_ms"),
            "median_client_median_ms": row["fanout_median_client"].get("median_ms"),
            "connected": row["connected"], "clients": row["clients"], "messages": row["messages"],
            "lost": row["lost"], "duplicated": row["duplicated"], "out_of_order": row["out_of_order"],
            "complete": _complete(row), "threads_per_connection": row["threads_per_connection"],
            "rss_per_connection": row["rss_per_connection"], "threads_counted": row["threads_counted"]}


def scaling_row(runs: list[dict], every: float) -> dict | None:
    """The websocket.org table's row measured here: at the largest N, every byte our servers carried
    each way per second (headers and bodies, frames and payloads), beside the paper's computation for
    that N and a message every ``every`` seconds (the paper's rate is one a second)."""
    ours = [row for row in runs if row["server"] == "ours"]
    if not ours:
        return None
    clients = max(row["clients"] for row in ours)
    row = {"clients": clients, "unit": "Mbps = bits per second / 2**20 (as the paper)", "every": every,
           "paper_polling_mbps": scaling.mbps(scaling.PAPER_POLL_HEADER_BYTES, clients, 1 / every),
           "paper_websocket_mbps": scaling.mbps(scaling.PAPER_FRAME_HEADER_BYTES, clients, 1 / every)}
    for measured in (run for run in ours if run["clients"] == clients):
        events = measured["events"]
        per_second = events["bytes_to_clients_per_s"] + events["bytes_from_clients_per_s"]
        row[measured["label"]] = {"mbps": per_second * 8 / MIB, "bytes_per_client_per_s": per_second / clients,
                                  "messages_per_s": measured["messages_per_s"]}
    return row


FIELDS = ("label", "clients", "connected", "messages", "delivered", "lost", "duplicated", "out_of_order",
          "median_client_median_ms", "median_client_p90_ms", "last_client_median_ms", "last_client_p90_ms",
          "last_client_max_ms", "cpu_seconds", "cpu_ms_per_message", "rss_mb", "rss_kib_per_connection", "threads",
          "threads_per_connection", "idle_cpu_per_s", "idle_requests_per_s", "idle_bytes_to_clients_per_s",
          "requests_per_s", "bytes_to_clients_per_s", "bytes_from_clients_per_s", "messages_per_s",
          "bytes_counted_by", "threads_counted", "connect_seconds", "connect_failures", "client_cpu_seconds",
          "parts_cpu_seconds")


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
              "bytes_from_clients_per_s": events["bytes_from_clients_per_s"]}
    return {field: values.get(field) for field in FIELDS}


def write_load(results: dict, out) -> list[Path]:
    """load.json (everything), load.csv (a row per transport and N), load_scaling.csv; returns the paths."""
    tables = {"load.csv": [flat(row) for row in results["runs"]]}
    if results.get("scaling"):
        row = results["scaling"]
        paper = [{"source": source, "clients": paper["clients"], "Mbps": paper[key], "messages_per_s": 1}
                 for paper in scaling.paper_table() for source, key in (
                     ("paper: polling, 871 B of headers per poll", "polling_mbps"),
                     ("paper: WebSocket, 2 B per frame", "websocket_mbps"))]
        tables["load_scaling.csv"] = paper + [
            {"source": f"measured: {name}", "clients": row["clients"], "Mbps": measured["mbps"],
             "messages_per_s": measured["messages_per_s"]}
            for name, measured in row.items() if isinstance(measured, dict)]
    return write_files(out, "load.json", results, tables)


def load_table(results: dict) -> str:
    """One line per transport and N: fan-out to the median and the last client, deliveries, and what the server
    paid (CPU per delivered message, memory, threads, requests and bytes per second while the events flowed)."""
    lines = [f"{'transport':<30}{'clients':>8}{'median':>9}{'last':>9}{'last p90':>9}{'last max':>9}"
             f"{'lost':>6}{'dup':>5}{'ooo':>5}{'CPU ms':>8}{'RSS MB':>8}{'KiB':>7}{'threads':>8}{'/conn':>6}"
             f"{'req/s':>8}{'KB/s dn':>9}{'KB/s up':>9}",
             f"{'':<30}{'':>8}{'client':>9}{'client':>9}{'':>27}{'':>16}{'/msg':>8}{'':>8}{'/conn':>7}"]
    for row in results["runs"]:
        f = flat(row)
        lines.append(f"{row['label']:<30}{row['clients']:>8}{fmt(f['median_client_median_ms'], '9.1f')}"
                     f"{fmt(f['last_client_median_ms'], '9.1f')}{fmt(f['last_client_p90_ms'], '9.1f')}"
                     f"{fmt(f['last_client_max_ms'], '9.1f')}{row['lost']:>6}{row['duplicated']:>5}"
                     f"{row['out_of_order']:>5}{fmt(f['cpu_ms_per_message'], '8.3f')}{f['rss_mb']:8.1f}"
                     f"{f['rss_kib_per_connection']:7.1f}{row['threads']:>8}{row['threads_per_connection']:6.2f}"
                     f"{fmt(f['requests_per_s'], '8.1f')}{f['bytes_to_clients_per_s'] / 1000:9.1f}"
                     f"{f['bytes_from_clients_per_s'] / 1000:9.1f}"
                     + (f"   ({row['connected']} of {row['clients']} connected)" if row['connected'] < row['clients']
                        else ""))
    return "\n".join(lines)


def load_summary(results: dict) -> str:
    """The table per transport and N, the goals, and the websocket.org row, as plain text."""
    meta, settings = results["meta"], results["meta"]["settings"]
    load = meta["load_average"]
    lines = [f"Load run: {meta['duration_s']:.0f} s, {meta['cpu_count']} CPUs, Python {meta['python']}, load average "
             f"before {f'{load[0]:.2f}' if load else 'unknown'}; {settings['messages']} server events "
             f"{settings['every']:g} s apart per scenario",
             "Fan-out: from the server's stamp to the client holding the message, ms, median over the events", "",
             load_table(results)]
    lines += ["", "At idle (clients connected, no events), per second:",
              f"{'transport':<30}{'clients':>8}{'CPU ms':>8}{'requests':>10}{'KB down':>9}{'KB up':>9}"]
    for row in results["runs"]:
        idle = row["idle"]
        lines.append(f"{row['label']:<30}{row['clients']:>8}{idle['cpu_per_s'] * 1000:8.0f}"
                     f"{fmt(idle['requests_per_s'], '10.1f')}{idle['bytes_to_clients_per_s'] / 1000:9.1f}"
                     f"{idle['bytes_from_clients_per_s'] / 1000:9.1f}")
    lines += ["", "Threads: ours are Python threads (/api/status), the reference's are OS threads (psutil). "
              "Bytes: ours from the server's meter,", "the reference's counted by the clients. CPU: user + system "
              "time (time.process_time) over the events and their drain."]
    clustered = [row for row in results["runs"] if row.get("parts_cpu_seconds") is not None]
    if clustered:
        lines += ["On a cluster, CPU and RSS add up every node, redis-server and nginx (with its workers); threads "
                  "are the nodes'. Of the CPU, Redis's and nginx's share:"]
        lines += [f"  {row['label']:<28}{row['clients']:>8}{row['parts_cpu_seconds']:8.2f} s of "
                  f"{row['cpu_seconds']:.2f} s ({row['parts_cpu_seconds'] / row['cpu_seconds']:.0%})"
                  for row in clustered if row["cpu_seconds"] > 0]
    lines += goal_lines(results.get("goals")) + scaling_lines(results.get("scaling"))
    return "\n".join(lines)


def goal_lines(goal: dict | None) -> list[str]:
    if goal is None:
        return ["", "Goals: not measured (they need both the WebSocket and the reference transport)."]
    rows = goal["rows"]
    websocket = rows["WebSocket"]
    reference = rows["websockets library broadcast"]

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines = ["", f"Goals (issue 13), from this run, {goal['clients']:,} clients:",
             "  WebSocket fan-out, server stamp -> last client, median: "
             f"{fmt(websocket['last_client_median_ms'], '.1f')} ms; "
             f"websockets library: {fmt(reference['last_client_median_ms'], '.1f')} ms; ratio "
             f"{fmt(goal['ratio'], '.2f')} (goal <= {goal['ratio_goal']:g}): {verdict(goal['ratio_met'])}",
             f"  delivered: {websocket['connected']} of {websocket['clients']} connected, lost {websocket['lost']}, "
             f"duplicated {websocket['duplicated']}, out of order {websocket['out_of_order']} "
             f"(goal 0 / 0 / in order): {verdict(goal['complete'])}",
             f"  threads per WebSocket: {websocket['threads_per_connection']:.3f} (goal <= {goal['threads_goal']:g}, "
             "plus any one thread per server): "
             f"{verdict(goal['threads_met'])}; RSS per idle connection: "
             f"{websocket['rss_per_connection'] / 1024:.1f} KiB "
             f"(reference: {reference['rss_per_connection'] / 1024:.1f} KiB)",
             "", f"  {'':<30}{'last client':>12}{'median client':>15}{'lost':>6}{'dup':>5}{'ooo':>5}"
             f"{'threads/conn':>14}{'KiB/conn':>10}"]
    for name, row in rows.items():
        lines.append(f"  {name:<30}{fmt(row['last_client_median_ms'], '10.1f')} ms"
                     f"{fmt(row['median_client_median_ms'], '13.1f')} ms{row['lost']:>6}{row['duplicated']:>5}"
                     f"{row['out_of_order']:>5}{row['threads_per_connection']:14.2f}"
                     f"{row['rss_per_connection'] / 1024:10.1f}")
    return lines


def scaling_lines(row: dict | None) -> list[str]:
    """The paper's table (computed from its 871 and 2 bytes) with this run's measured row below it."""
    if row is None:
        return []
    measured = {name: value for name, value in row.items() if isinstance(value, dict)}
    short = next((name for name in measured if name.startswith("short polling")), None)
    rate = statistics.median(value["messages_per_s"] for value in measured.values())
    lines = ["", f"The websocket.org table, {row['unit']}; the paper: one message per client per second; "
             f"this run: one every {row['every']:g} s (measured {rate:.2f} per second):",
             f"  {'':<44}{'clients':>9}{'polling':>10}{'long polling':>14}{'WebSocket':>11}{'SSE':>9}"]
    for paper in scaling.paper_table():
        lines.append(f"  {'paper: 871 B per poll, 2 B per frame':<44}{paper['clients']:>9,}"
                     f"{paper['polling_mbps']:10.3f}{'':>14}{paper['websocket_mbps']:11.3f}")
    lines.append(f"  {'the same, computed for this run':<44}{row['clients']:>9,}{row['paper_polling_mbps']:10.3f}"
                 f"{'':>14}{row['paper_websocket_mbps']:11.3f}")

    def mbps(name: str | None, width: int) -> str:
        return fmt(measured[name]["mbps"] if name in measured else None, f"{width}.3f")
    lines.append(f"  {'measured here, real clients':<44}{row['clients']:>9,}{mbps(short, 10)}"
                 f"{mbps('long polling', 14)}{mbps('WebSocket', 11)}{mbps('Server-Sent Events', 9)}")
    lines.append(f"  measured: every byte both ways on the TCP connections (headers and bodies, frame headers and "
                 f"payloads); polling = {short or 'short polling (not measured)'}. The paper counts headers only.")
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
    for run in results["runs"]:
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
