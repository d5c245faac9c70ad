"""Plots of a run's results (matplotlib, Agg backend: files, no window). Each function in ``PLOTS`` takes the
dict ``run()`` returns and gives back a Figure, so a notebook can show it; ``save_all`` writes PNGs. The
functions after ``save_all`` draw the notebooks' figures from the data those notebooks measure themselves."""

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend, whatever it imported first
    matplotlib.use("Agg")  # elsewhere: files, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import scaling  # noqa: E402


REFERENCE_NAMES = {"raw_tcp_echo": "raw TCP echo", "websockets_echo": "websockets library echo",
                   "our_echo": "our /echo", "tcp_connect": "TCP connect (one network round trip)"}


def cdf(ax, rows, title: str) -> None:
    """Draw each distribution as a CDF on ``ax``: ``rows`` is a list of summaries with a "transport"
    label, or a dict {label: summary}; each needs "samples_ms", "median_ms" and "n"."""
    if isinstance(rows, dict):
        rows = [{**row, "transport": label} for label, row in rows.items()]
    for row in rows:
        samples = np.sort(row["samples_ms"])
        ax.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post",
                label=f"{row['transport']} (median {row['median_ms']:.3g} ms, n={row['n']})")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    ax.set_ylabel("fraction of messages")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))


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
    """Box plots of connection set-up steps, on loopback and through the delaying relay."""
    runs = [("loopback", results["connection_setup"])]
    runs += [(f"relay holding data {d['delay_ms']:g} ms each way", d["connection_setup"])
             for d in results["with_delay"]]
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4.5), squeeze=False)
    for ax, (title, steps) in zip(axes[0], runs):
        ax.boxplot([step["samples_ms"] for step in steps.values()], showfliers=False)
        ax.set_xticks(range(1, len(steps) + 1), [name.replace("_", "\n") for name in steps], fontsize=8)
        ax.set_ylabel("milliseconds")
        ax.set_title(f"Connection set-up, {title}")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def bytes_per_message(results: dict):
    """Stacked bars per delivered message: headers each way (HTTP headers or frame headers), then payload."""
    rows = results["overhead"]["delivery"]
    labels = [row["label"] for row in rows]
    parts = {"client → server headers": [], "server → client headers": [], "body / payload": []}
    for row in rows:
        up, down, count = row["up"], row["down"], row["delivered"]
        parts["client → server headers"].append((up["http_headers"] * (row["transport"] != "websocket")
                                                 + up["frame_headers"]) / count)
        parts["server → client headers"].append((down["http_headers"] * (row["transport"] != "websocket")
                                                 + down["frame_headers"]) / count)
        parts["body / payload"].append(row["per_message"]["payload"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = np.zeros(len(rows))
    for name, values in parts.items():
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom += values
    for x, row in enumerate(rows):
        ax.annotate(f"{row['per_message']['headers']:.0f} + {row['per_message']['payload']:.0f} B",
                    (x, bottom[x]), ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, bottom.max() * 1.2)
    ax.set_ylabel("bytes per delivered message (TCP payload)")
    ax.set_title("What one server message costs on the wire (WebSocket handshake not included)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def bandwidth_vs_clients(results: dict):
    """The websocket.org table as lines: the paper's bytes and this run's, Mbps = bits/s / 2**20."""
    table = results["scaling"]["measured"]
    clients = [row["clients"] for row in table]
    fig, ax = plt.subplots(figsize=(8, 5))
    names = {"paper_polling": "paper: polling, 871 B headers", "polling_headers": "measured: poll headers",
             "long_polling_total": "measured: long poll, headers + body",
             "paper_websocket": "paper: WebSocket, 2 B frame header",
             "websocket_frame_header": "measured: frame header", "websocket_total": "measured: frame + payload"}
    for key, label in names.items():
        style = "--" if key.startswith("paper") else "-"
        ax.plot(clients, [row[key] for row in table], style, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clients, one message per second each")
    ax.set_ylabel("Mbps (bits/s / 2^20)")
    ax.set_title("Bandwidth vs number of clients")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


PLOTS = {"reply_latency_cdf.png": reply_cdf, "push_latency_cdf.png": push_cdf,
         "connection_setup.png": setup_box, "bytes_per_message.png": bytes_per_message,
         "bandwidth_vs_clients.png": bandwidth_vs_clients}


def save_all(results: dict, out) -> list[Path]:
    """Write every plot as a PNG into ``out``; returns the paths."""
    paths = []
    for name, plot in PLOTS.items():
        fig = plot(results)
        paths.append(Path(out) / name)
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths


# Figures drawn by the notebooks from data they measured themselves (not the results dict of ``run()``).


def half_interval_rows(replies: dict) -> list[dict]:
    """Short-polling reply round trips against the half-interval model: one row per transport that polls
    at an interval, with the measured and model means (ms) and their difference in standard errors
    (the standard error of a mean of n waits uniform over the interval: interval / sqrt(12 n))."""
    rows = []
    for name, row in replies.items():
        if not row["interval_ms"]:
            continue
        error = row["interval_ms"] / np.sqrt(12 * row["n"])
        rows.append({"transport": name, "mean_ms": row["mean_ms"], "model_mean_ms": row["model_mean_ms"],
                     "interval_ms": row["interval_ms"], "poll_round_trip_ms": row["poll_round_trip"]["mean_ms"],
                     "standard_errors": (row["mean_ms"] - row["model_mean_ms"]) / error})
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
        ax.step(ms, np.arange(1, len(ms) + 1) / len(ms), where="post", label="measured")
        ax.plot([0, rtt, rtt + interval, 1.2 * interval + rtt], [0, 0, 1, 1], "--", label="model")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("milliseconds")
    axes[0].set_ylabel("fraction of messages")
    axes[0].legend(fontsize=8)
    return fig


def parts_per_message(per_message: dict):
    """Horizontal stacked bars, one per transport: ``per_message`` maps a transport label to
    {part: bytes per delivered message}, parts in the same order for every transport (headers first,
    payload last). Unlike ``bytes_per_message``, which splits headers by direction, this splits them by
    kind (request headers, response headers, frame headers)."""
    parts = list(next(iter(per_message.values())))
    fig, ax = plt.subplots(figsize=(9, 3))
    left = np.zeros(len(per_message))
    for part, color in zip(parts, ["#c44", "#e99", "#fa0", "#48c"]):
        sizes = np.array([row[part] for row in per_message.values()])
        ax.barh(list(per_message), sizes, left=left, label=part, color=color)
        left += sizes
    ax.invert_yaxis()
    ax.set_xlabel("bytes per delivered message (WebSocket: handshake not included)")
    ax.legend(ncol=4, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return fig


def bandwidth_lines(measured_bytes: dict, clients=None):
    """Bandwidth against clients as continuous lines (10 to 100,000 clients, one message a second each),
    dashed for the paper's 871 and 2 bytes, solid for ``measured_bytes`` (keys "polling_headers",
    "long_polling_total", "websocket_frame_header", "websocket_total"). ``bandwidth_vs_clients`` draws
    the same comparison at the table's three client counts only."""
    clients = np.logspace(1, 5, 30) if clients is None else clients
    lines = {"paper: poll headers": (scaling.PAPER_POLL_HEADER_BYTES, "--", "#c44"),
             "measured: short poll headers": (measured_bytes["polling_headers"], "-", "#e77"),
             "measured: long poll, headers + body": (measured_bytes["long_polling_total"], "-", "#a22"),
             "paper: frame header": (scaling.PAPER_FRAME_HEADER_BYTES, "--", "#48c"),
             "measured: frame header": (measured_bytes["websocket_frame_header"], "-", "#8bd"),
             "measured: frame header + payload": (measured_bytes["websocket_total"], "-", "#236")}
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for label, (size, style, color) in lines.items():
        ax.plot(clients, [scaling.mbps(size, n) for n in clients], style, color=color,
                label=f"{label}: {size:.0f} B/message")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clients, one message per second each")
    ax.set_ylabel("Mbps (bits per second / 2^20)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def failover_timeline(followers: dict, t0: float, killed_at: float):
    """One row per follower of ``failover.drop_a_node``: a dot for each notification it received, at
    seconds since ``t0``, and a red line where node A stopped."""
    fig, ax = plt.subplots(figsize=(9, 2.2))
    for row, (name, f) in enumerate(followers.items()):
        ax.scatter([t - t0 for t, _, _ in f["got"]], [row] * len(f["got"]), s=25)
    ax.axvline(killed_at - t0, color="#c44", label="node A stops")
    ax.set_yticks(range(len(followers)), list(followers))
    ax.set_ylim(-0.6, len(followers) - 0.4)
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    return fig


# The load run (``python -m clients.bench load``): the dict ``load.run_load()`` returns, against the number of clients.

from .colors import color_of  # noqa: E402  (imported here, with the plots that use it)
from .stats import MIN_SAMPLES  # noqa: E402


def _load_series(results: dict) -> dict[str, list[dict]]:
    """The load run's rows by transport label, in order of clients."""
    series: dict[str, list[dict]] = {}
    for row in sorted(results["runs"], key=lambda row: row["clients"]):
        series.setdefault(row["label"], []).append(row)
    return series


def _load_clients(results: dict) -> list[int]:
    return sorted({row["clients"] for row in results["runs"]})


def _clients_axis(ax, ylabel: str, title: str, clients: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(clients, [f"{n:,}" for n in clients])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    if high < 20 * low:  # within about a decade the minor ticks need numbers too; across several they would crowd
        ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("clients on one server")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))


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
    paths = []
    for name, plot in LOAD_PLOTS.items():
        fig = plot(results)
        paths.append(Path(out) / name)
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths
