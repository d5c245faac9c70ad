"""Plots of a run's results (matplotlib, Agg backend: files, no window). Each function takes the
dict ``run()`` returns and gives back a Figure, so a notebook can show it; ``save_all`` writes PNGs."""

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend, whatever it imported first
    matplotlib.use("Agg")  # elsewhere: files, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


REFERENCE_NAMES = {"raw_tcp_echo": "raw TCP echo", "websockets_echo": "websockets library echo",
                   "our_echo": "our /echo"}


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
    cdf(ax, refs + results["reply_round_trip"], "Reply round trip on loopback")
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
