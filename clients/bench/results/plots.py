"""Every plot of the toolkit and the notebooks (matplotlib; the Agg backend, files and no window, outside a
notebook). Each function takes plain data and gives back a Figure, so a notebook can show it:

* a measurement run's figures (``PLOTS``: the dict ``measure.run.run()`` returns), which ``save_all`` writes
  as PNGs; the load run's (``LOAD_PLOTS``: ``load.run.run_load()``'s), ``save_load``;
* the figures the notebooks draw from what they measure themselves, below ``save_all``.

The sequence diagrams draw on this module's ``plt`` (``clients/bench/diagrams/draw.py``).
"""

import math
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend, whatever it imported first
    matplotlib.use("Agg")  # elsewhere: files, no display needed
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from . import load_report, scaling, stats  # noqa: E402
from .colors import REFERENCE, WEBSOCKET, color_of  # noqa: E402
from .stats import MIN_SAMPLES  # noqa: E402

# Lines of one colour (short polling at several intervals, the references) differ by style, in this order.
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (1, 3))]
# Parts of a stacked bar (headers, bodies, payload) in the transport's colour, lighter and hatched each.
PART_SHADES = [(1.0, ""), (0.75, "//"), (0.55, ".."), (0.4, "xx"), (0.25, "")]
LOST = "#b91c1c"  # red: a message that never arrived
LEGEND_OUTSIDE = {"loc": "center left", "bbox_to_anchor": (1.01, 0.5), "fontsize": 8}  # never over the data


REFERENCE_NAMES = {"raw_tcp_echo": "raw TCP echo", "websockets_echo": "websockets library echo",
                   "our_echo": "our /echo", "tcp_connect": "TCP connect (one network round trip)"}


def cdf(ax, rows, title: str) -> None:
    """Draw each distribution as a CDF on ``ax``: ``rows`` is a list of summaries with a "transport"
    label, or a dict {label: summary}; each needs "samples_ms", "median_ms" and "n". Each transport has
    its colour (``colors.color_of``); curves of one colour differ by line style."""
    if isinstance(rows, dict):
        rows = [{**row, "transport": label} for label, row in rows.items()]
    used: dict[str, int] = {}
    for row in rows:
        samples = np.sort(row["samples_ms"])
        color = color_of(row["transport"])
        style = LINE_STYLES[used.get(color, 0) % len(LINE_STYLES)]
        used[color] = used.get(color, 0) + 1
        ax.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post", color=color,
                linestyle=style, label=f"{row['transport']} (median {row['median_ms']:.3g} ms, n={row['n']})")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("milliseconds (log scale)")
    ax.set_ylabel("fraction of messages")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)


def plain_log_ticks(axis) -> None:
    """A log axis labelled in plain numbers (0.5, 1, 2, 5, 10, not 10^0): every power of ten, and 2 and 5 of
    each decade too when the axis spans less than two decades; the other minor ticks stay unlabelled, so no
    two labels collide."""
    def label(value: float, _) -> str:
        low, high = sorted(axis.get_view_interval())
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6) if value > 0 else 0
        return f"{value:g}" if mantissa == 1 or (mantissa in (2, 5) and high < 100 * low) else ""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(label))
    axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(label))


def reply_cdf(results: dict):
    """CDF of the reply round trip per transport, with the two reference echoes."""
    fig, ax = plt.subplots(figsize=(8, 5))
    refs = [{**row, "transport": REFERENCE_NAMES[name]} for name, row in results["references"].items()]
    where = f"to {results['meta']['url']}" if results["meta"].get("url") else "on loopback"
    cdf(ax, refs + results["reply_round_trip"], f"Reply round trip {where}")
    return fig


def push_cdf(results: dict):
    """CDF of push latency (server stamps an event -> client holds it) per transport."""
    fig, ax = plt.subplots(figsize=(8, 5))
    cdf(ax, results["push_latency"], "Push latency of server events")
    return fig


def setup_box(results: dict):
    """Box plots of connection set-up steps, on loopback and through the delaying relay (log scale: the
    steps span orders of magnitude), the WebSocket handshake in the WebSocket's colour."""
    runs = [("loopback", results["connection_setup"])]
    runs += [(f"relay holding data {d['delay_ms']:g} ms each way", d["connection_setup"])
             for d in results["with_delay"]]
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4.5), squeeze=False)
    for ax, (title, steps) in zip(axes[0], runs):
        boxes = ax.boxplot([step["samples_ms"] for step in steps.values()], showfliers=False, patch_artist=True)
        for box, name in zip(boxes["boxes"], steps):
            box.set(facecolor=color_of(name), alpha=0.6)
        ax.set_xticks(range(1, len(steps) + 1), [name.replace("_", "\n") for name in steps], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("milliseconds (log scale)")
        ax.set_title(f"Connection set-up, {title}", fontsize=10)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def bytes_per_message(results: dict):
    """Stacked bars per delivered message, in each transport's colour: headers each way (HTTP headers or
    frame headers), the bodies of empty polls, then the payload; the total on top of each bar."""
    rows = results["overhead"]["delivery"]
    labels = [row["label"] for row in rows]
    parts = {"client → server headers": [], "server → client headers": [], "empty poll bodies": [],
             "body / payload": []}
    for row in rows:
        up, down, count = row["up"], row["down"], row["delivered"]
        parts["client → server headers"].append((up["http_headers"] * (row["transport"] != "websocket")
                                                 + up["frame_headers"]) / count)
        parts["server → client headers"].append((down["http_headers"] * (row["transport"] != "websocket")
                                                 + down["frame_headers"]) / count)
        parts["empty poll bodies"].append(row["per_message"].get("empty_bodies", 0))
        parts["body / payload"].append(row["per_message"]["payload"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = np.zeros(len(rows))
    colors = [color_of(label) for label in labels]
    for i, (name, values) in enumerate(parts.items()):
        alpha, hatch = PART_SHADES[i % len(PART_SHADES)]
        ax.bar(labels, values, bottom=bottom, color=colors, alpha=alpha, hatch=hatch, edgecolor="white")
        ax.bar(0, 0, color=REFERENCE, alpha=alpha, hatch=hatch, edgecolor="white", label=name)  # legend key
        bottom += values
    for x, row in enumerate(rows):
        ax.annotate(f"{row['per_message']['total']:.0f} B", (x, bottom[x]), ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, bottom.max() * 1.15)
    ax.set_ylabel("bytes per delivered message (TCP payload)")
    ax.set_title("What one server message costs on the wire (WebSocket handshake not included)")
    ax.legend(**LEGEND_OUTSIDE)
    return fig


def bandwidth_vs_clients(results: dict):
    """The websocket.org table at its numbers of clients, from a run's bytes: ``bandwidth_lines``."""
    table = results["scaling"]
    fig = bandwidth_lines(table["measured_bytes"], [row["clients"] for row in table["measured"]])
    fig.axes[0].set_title("Bandwidth vs number of clients")
    return fig


PLOTS = {"reply_latency_cdf.png": reply_cdf, "push_latency_cdf.png": push_cdf,
         "connection_setup.png": setup_box, "bytes_per_message.png": bytes_per_message,
         "bandwidth_vs_clients.png": bandwidth_vs_clients}


def save_all(results: dict, out, plots: dict | None = None) -> list[Path]:
    """Write every plot of ``plots`` (the run's, ``PLOTS``, by default) as a PNG into ``out``; returns the paths."""
    paths = []
    for name, plot in (plots or PLOTS).items():
        fig = plot(results)
        paths.append(Path(out) / name)
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths


# Figures drawn by the notebooks from data they measured themselves (not the results dict of ``run()``).


def half_interval_rows(replies: dict) -> list[dict]:
    """Short-polling latencies against the half-interval model: one row per transport that polls at an
    interval, with the measured and model means (ms), their difference in standard errors of the mean,
    and the verdict of ``stats.against_model`` ("within noise", or "higher"/"lower" than the model)."""
    rows = []
    for name, row in replies.items():
        if not row["interval_ms"]:
            continue
        check = stats.against_model(row, row["model_mean_ms"])
        rows.append({"transport": name, "mean_ms": row["mean_ms"], "model_mean_ms": row["model_mean_ms"],
                     "interval_ms": row["interval_ms"], "poll_round_trip_ms": row["poll_round_trip"]["mean_ms"],
                     "n": row["n"], "standard_errors": (check.a - check.b) / stats.standard_error(row),
                     "verdict": check.verdict, "check": check})
    return rows


def model_vs_measured(replies: dict):
    """One panel per short-polling interval: the measured CDF of the reply round trip (solid) and the
    half-interval model (dashed: a wait uniform over the interval after the mean poll round trip).
    ``replies`` maps a transport name to its summary; transports without an interval are left out."""
    short = {name: row for name, row in replies.items() if row["interval_ms"]}
    fig, axes = plt.subplots(1, len(short), figsize=(3.2 * len(short), 3.2), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (name, row) in zip(axes, short.items()):
        ms, interval, rtt = np.sort(row["samples_ms"]), row["interval_ms"], row["poll_round_trip"]["mean_ms"]
        color = color_of(name)
        ax.step(ms, np.arange(1, len(ms) + 1) / len(ms), where="post", color=color, label="measured")
        ax.plot([0, rtt, rtt + interval, 1.2 * interval + rtt], [0, 0, 1, 1], "--", color=REFERENCE,
                label="model: a wait uniform over the interval, then one poll round trip")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("milliseconds")
    axes[0].set_ylabel("fraction of messages")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def parts_per_message(per_message: dict, xlabel: str = "bytes per delivered message "
                      "(WebSocket: handshake not included)", log: bool = False, value_format: str = ",.0f",
                      color: str | None = None):
    """Horizontal stacked bars, one per transport, in its colour (``colors.color_of`` of the label), the
    parts ever lighter: ``per_message`` maps a transport label to {part: bytes}, parts in the same order
    for every transport (headers first, payload last), and each bar ends with its total, written with
    ``value_format``. Unlike ``bytes_per_message``, which splits headers by direction, this splits them by
    kind (request headers, response headers, frame headers). With one part per label it is a plain bar
    chart of any figure (``xlabel`` names it), and needs no legend. ``log``: a log axis, for figures that
    span orders of magnitude (a zero then shows as its label only). ``color``: one colour for every bar, when
    the labels are not transports but exchanges of one transport (notebook 1: HTTP requests to the polling server)."""
    parts = list(next(iter(per_message.values())))
    labels = list(per_message)
    colors = [color or color_of(label) for label in labels]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(labels) + 1.2))
    left = np.zeros(len(labels))
    for i, part in enumerate(parts):
        alpha, hatch = PART_SHADES[i % len(PART_SHADES)]
        sizes = np.array([row[part] for row in per_message.values()])
        ax.barh(labels, sizes, left=left, color=colors, alpha=alpha, hatch=hatch, edgecolor="white")
        ax.barh(labels[0], 0, color=REFERENCE, alpha=alpha, hatch=hatch, edgecolor="white", label=part)
        left += sizes
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_xlim(max(left[left > 0].min() / 3, 0.1) if (left > 0).any() else 0.1, left.max() * 4)
    else:
        ax.set_xlim(0, left.max() * 1.15)
    floor = ax.get_xlim()[0]
    for y, total in enumerate(left):
        ax.annotate(f" {total:{value_format}}", (max(total, floor), y), va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if len(parts) > 1:
        ax.legend(**LEGEND_OUTSIDE)
    return fig


def bandwidth_lines(measured_bytes: dict, clients=None):
    """Bandwidth against clients, one message a second each: dashed for the paper's 871 and 2 bytes, solid (dotted
    for the frame header alone) for ``measured_bytes`` (keys "polling_headers", "long_polling_total",
    "websocket_frame_header", "websocket_total"), each in its transport's colour. ``clients``: where to draw
    them, a marker at each (default: continuous lines from 10 to 100,000 clients)."""
    marker = None if clients is None else "o"
    clients = np.logspace(1, 5, 30) if clients is None else clients
    lines = {"paper: poll headers": (scaling.PAPER_POLL_HEADER_BYTES, "--", "short polling"),
             "measured: short poll headers": (measured_bytes["polling_headers"], "-", "short polling"),
             "measured: long poll, headers + body": (measured_bytes["long_polling_total"], "-", "long polling"),
             "paper: frame header": (scaling.PAPER_FRAME_HEADER_BYTES, "--", "WebSocket"),
             "measured: frame header": (measured_bytes["websocket_frame_header"], ":", "WebSocket"),
             "measured: frame header + payload": (measured_bytes["websocket_total"], "-", "WebSocket")}
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for label, (size, style, transport) in lines.items():
        ax.plot(clients, [scaling.mbps(size, n) for n in clients], style, marker=marker, color=color_of(transport),
                label=f"{label}: {size:.0f} B/message")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clients, one message per second each")
    ax.set_ylabel("Mbps (bits per second / 2^20)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)
    return fig


def failure_delays(runs: dict):
    """``failover.lose_a_node`` runs side by side (``runs``: {title: run}, a column each), a row per transport in
    its colour: how long each notification took from posted to shown (seconds) against when it was posted,
    seconds after node A was lost (the grey line); a dotted line where that client noticed. One scale for all,
    so a process killed and a link gone silent compare at a glance."""
    names = list(next(iter(runs.values()))["clients"])
    fig, axes = plt.subplots(len(names), len(runs), figsize=(9, 1.3 * len(names) + 0.8), sharex="col",
                             sharey=True, squeeze=False)
    for column, (title, run) in enumerate(runs.items()):
        axes[0][column].set_title(title, fontsize=10)
        axes[-1][column].set_xlabel("seconds after node A was lost, when posted", fontsize=9)
        for row, name in enumerate(names):
            ax, client, failed = axes[row][column], run["clients"][name], run["failed_at"]
            first = {}  # the first arrival of each id, by id
            for at, message_id, stamp in client["got"]:
                first.setdefault(message_id, (stamp - failed, at - stamp))
            posted, delay = zip(*sorted(first.values())) if first else ((), ())
            ax.plot(posted, delay, "-o", markersize=2.5, linewidth=1, color=color_of(name))
            ax.axvline(0, color=REFERENCE, linestyle="--", linewidth=1)
            noticed = next((at for at, what, _ in client["log"] if what.startswith("lost") and at >= failed), None)
            if noticed is not None:
                ax.axvline(noticed - failed, color=color_of(name), linestyle=":", linewidth=1)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=8)
            if column == 0:
                ax.set_ylabel(f"{name}\ndelay, s", fontsize=8)
    marks = [matplotlib.lines.Line2D([], [], color=REFERENCE, linestyle="--", linewidth=1),
             matplotlib.lines.Line2D([], [], color=REFERENCE, linestyle=":", linewidth=1)]
    fig.legend(marks, ["node A lost", "the client noticed"], loc="upper center", ncol=2, fontsize=8,
               bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def duplex_timeline(timeline: list):
    """Each frame of ``full_duplex``'s timeline (notebook 06) as a mark on one WebSocket connection: up is our
    client, down is the server; a notification the server sent unasked is filled, an answer to us hollow."""
    kinds = {"our message": ("^", WEBSOCKET, 1), "notification": ("v", WEBSOCKET, 0),
             "answer to us": ("v", REFERENCE, 0)}  # marker, colour, row
    fig, ax = plt.subplots(figsize=(9, 2.4))
    for kind, (marker, color, row) in kinds.items():
        at = [t for t, _, k in timeline if k == kind]
        ax.scatter(at, [row] * len(at), marker=marker, s=60, label=kind, edgecolors=color,
                   facecolors="none" if kind == "answer to us" else color)
    ax.set_yticks([0, 1], ["server -> client", "client -> server"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("seconds, one WebSocket connection")
    ax.legend(**LEGEND_OUTSIDE)
    return fig


def pubsub_against_stream(result: dict, away: range):
    """``scaleout.pubsub_against_stream`` (notebook 08): one row per kind of subscriber, a filled grey dot for
    each message it received, a hollow red one if lost (the legend's marks are the dots' own)."""
    fig, ax = plt.subplots(figsize=(8, 1.9))
    named = set()  # each mark in the legend once
    for row, kind in enumerate(("pub/sub", "stream")):
        for what, ids, style in (("received", result[kind]["received"], {"color": REFERENCE}),
                                 ("lost", result[kind]["lost"], {"facecolors": "none", "edgecolors": LOST})):
            ax.scatter(ids, [row] * len(ids), s=70, label=what if ids and what not in named else None, **style)
            named |= {what} if ids else set()
    ax.axvspan(away.start - 0.5, away.stop - 0.5, color="#f3f4f6", zorder=0)
    ax.text((away.start + away.stop - 1) / 2, 1.45, "subscriber away", ha="center", fontsize=8)
    ax.set_yticks([0, 1], ["Redis pub/sub", "Redis Stream"])
    ax.set_ylim(-0.6, 1.8)
    ax.set_xlabel("message number, in the order published")
    ax.legend(**LEGEND_OUTSIDE)
    fig.tight_layout()
    return fig


def node_costs(rows: list[dict]):
    """``scaleout.node_costs`` (notebook 08): server threads per client, and Redis commands per broadcast, for
    each transport."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
    labels = [row["transport"] for row in rows]
    colors = [color_of(label) for label in labels]
    for ax, key, title in ((axes[0], "threads per client", "node threads held per client"),
                           (axes[1], "Redis commands per broadcast", f"Redis commands for one message to "
                                                                     f"{rows[0]['clients']} clients")):
        values = [row[key] for row in rows]
        ax.barh(labels, values, color=colors)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.2f}" if value != round(value) else f" {value:.0f}", va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, max(values) * 1.25)
    fig.tight_layout()
    return fig


# The load run (``python -m clients.bench load``): the dict ``load.run.run_load()`` returns, against the number
# of clients.


def _load_series(results: dict) -> dict[str, list[dict]]:
    """The load run's rows by transport label, in order of clients (a scenario that failed has no figures)."""
    series: dict[str, list[dict]] = {}
    for row in sorted(load_report.measured(results["runs"]), key=lambda row: row["clients"]):
        series.setdefault(row["label"], []).append(row)
    return series


def _load_clients(results: dict) -> list[int]:
    return sorted({row["clients"] for row in load_report.measured(results["runs"])})


def _clients_axis(ax, ylabel: str, title: str, clients: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(clients, [f"{n:,}" for n in clients])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("clients on one server")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)


def load_latency(results: dict):
    """Fan-out against clients: server stamp -> last client (solid) and -> median client (dashed), median over
    the events, with the spread of the last client over the events (10th to 90th percentile) shaded when
    there are enough events for a 90th percentile."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rows in _load_series(results).items():
        rows = [row for row in rows if row["last_client_ms"]]
        if not rows:
            continue
        clients, color = [row["clients"] for row in rows], color_of(name)
        ax.plot(clients, [np.median(row["last_client_ms"]) for row in rows], "-o", color=color,
                label=f"{name}: last client")
        ax.plot(clients, [np.median(row["median_client_ms"]) for row in rows], "--", marker=".", color=color,
                label=f"{name}: median client")
        if all(len(row["last_client_ms"]) >= MIN_SAMPLES["p90_ms"] for row in rows):  # else no honest p90
            ax.fill_between(clients, [np.percentile(row["last_client_ms"], 10) for row in rows],
                            [np.percentile(row["last_client_ms"], 90) for row in rows], color=color, alpha=0.12)
    _clients_axis(ax, "milliseconds from the server's stamp", "Fan-out of one server event to every client",
                  _load_clients(results))
    return fig


def load_cpu(results: dict):
    """Server CPU time per delivered message against clients (user + system, over the events and their drain).
    A zero (less than one tick of the OS's CPU clock) has no place on a log scale and is left out."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rows in _load_series(results).items():
        rows = [row for row in rows if row["cpu_per_message"]]
        if rows:
            ax.plot([row["clients"] for row in rows], [row["cpu_per_message"] * 1000 for row in rows], "-o",
                    color=color_of(name), label=name)
    _clients_axis(ax, "server CPU milliseconds per delivered message", "What each delivery costs the server",
                  _load_clients(results))
    return fig


def load_bandwidth(results: dict):
    """Bytes per second on the wire, both directions, against clients: measured points per transport, and the
    websocket.org paper's computed lines (871 B per poll, 2 B per frame) at the run's message rate."""
    fig, ax = plt.subplots(figsize=(8, 5))
    series = _load_series(results)
    every = results["meta"]["settings"]["every"]
    for name, rows in series.items():
        reference = rows[0]["server"] == "reference"  # the same bytes as our WebSocket: drawn hollow, around it
        ax.plot([row["clients"] for row in rows],
                [(row["events"]["bytes_to_clients_per_s"] + row["events"]["bytes_from_clients_per_s"]) * 8 / 2 ** 20
                 for row in rows], "s-" if reference else "o-", mfc="none" if reference else None,
                ms=10 if reference else 6, color=color_of(name), label=f"{name}: measured, all bytes")
    clients = _load_clients(results)
    line = np.logspace(np.log10(min(clients)), np.log10(max(clients)), 20)
    for size, name, like in ((scaling.PAPER_POLL_HEADER_BYTES, "paper: a poll per message, 871 B of headers",
                              "short polling"), (scaling.PAPER_FRAME_HEADER_BYTES, "paper: WebSocket, 2 B per frame",
                                                 "WebSocket")):
        ax.plot(line, [scaling.mbps(size, n, 1 / every) for n in line], ":", color=color_of(like),
                label=f"{name}, computed")
    _clients_axis(ax, "Mbps (bits per second / 2^20)", f"Bandwidth, one server event every {every:g} s", clients)
    return fig


LOAD_PLOTS = {"load_latency.png": load_latency, "load_cpu.png": load_cpu, "load_bandwidth.png": load_bandwidth}


def save_load(results: dict, out) -> list[Path]:
    """Write the load run's plots as PNGs into ``out``; returns the paths."""
    return save_all(results, out, LOAD_PLOTS)
