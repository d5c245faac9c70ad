"""Where a run goes: results.json (everything, with machine and versions), CSV tables, a text summary."""

import csv
import json
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .stats import MIN_SAMPLES, fmt

PACKAGES = ("flask", "simple-websocket", "werkzeug", "wsproto", "requests", "websockets",
            "websocket-client", "numpy", "matplotlib")


def machine() -> dict:
    """What the figures depend on: the machine, the OS, Python and library versions, the time."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "platform": platform.platform(),
            "machine": platform.machine(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "python": sys.version.split()[0], "versions": versions}


LATENCY_FIELDS = ("scenario", "transport", "delay_ms", "n", "median_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms",
                  "model_mean_ms", "ratio_to_raw_tcp", "ratio_to_websockets")


def latency_rows(results: dict) -> list[dict]:
    """Every latency distribution of a run as one flat table (no raw samples)."""
    rows = [{"scenario": "reference echo", "transport": name, "delay_ms": 0, **summary}
            for name, summary in results["references"].items()]
    rows += [{"scenario": "reply round trip", "delay_ms": 0, **row} for row in results["reply_round_trip"]]
    rows += [{"scenario": "push latency", "delay_ms": 0, **row} for row in results["push_latency"]]
    rows += [{"scenario": "connection setup", "transport": step, "delay_ms": 0, **summary}
             for step, summary in results["connection_setup"].items()]
    for delayed in results["with_delay"]:
        rows += [{"scenario": "TCP echo, relay check", "transport": name, "delay_ms": delayed["delay_ms"], **summary}
                 for name, summary in delayed.get("tcp_echo", {}).items()]
        rows += [{"scenario": "reply round trip", "delay_ms": delayed["delay_ms"], **row}
                 for row in delayed["reply_round_trip"]]
        rows += [{"scenario": "connection setup", "transport": step, "delay_ms": delayed["delay_ms"], **summary}
                 for step, summary in delayed["connection_setup"].items()]
    return [{field: row.get(field) for field in LATENCY_FIELDS} for row in rows]


def bytes_rows(results: dict) -> list[dict]:
    """Bytes per delivered message per transport, split into headers and payload."""
    return [{"transport": row["label"], "delivered": row["delivered"], "requests": row["requests"],
             "headers_per_message": row["per_message"]["headers"], "payload_per_message": row["per_message"]["payload"],
             "empty_poll_bodies_per_message": row["per_message"].get("empty_bodies", 0),
             "total_per_message": row["per_message"]["total"], "headers_per_request": row["headers_per_request"],
             "server_frame_header": row["server_frame_header"], "setup_bytes": row["setup_bytes"]}
            for row in results["overhead"]["delivery"]]


def write(results: dict, out: str | Path) -> list[Path]:
    """Write results.json and the CSV tables into ``out``; returns the paths written."""
    scale = results["scaling"]
    return write_files(out, "results.json", results, {
        "latency.csv": latency_rows(results), "bytes_per_message.csv": bytes_rows(results),
        "scaling.csv": scale["measured"], "scaling_paper.csv": scale["paper"],
        "handshake.csv": results["overhead"]["handshake"], "idle.csv": results["overhead"]["idle"],
        "keep_alive.csv": results["overhead"]["keep_alive"]})


def write_files(out: str | Path, json_name: str, results: dict, tables: dict[str, list[dict]]) -> list[Path]:
    """``results`` whole as ``json_name``, and each table ({file name: rows, one dict per row}) as a CSV file,
    into ``out``; returns the paths written. A measurement run and a load run are written by it alike."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / json_name]
    paths[0].write_text(json.dumps(results, indent=1, default=_plain))
    for name, rows in tables.items():
        paths.append(out / name)
        with open(paths[-1], "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return paths


def publish(results: dict, out: str | Path, write_files_of, summary_of, draw=None) -> None:
    """Write a run's files into ``out`` (``write_files_of(results, out)``, and ``draw(results, out)``'s plots
    unless ``draw`` is None), then print ``summary_of(results)`` and the files' names: what each command
    of the toolkit ends with."""
    paths = write_files_of(results, out) + (draw(results, out) if draw is not None else [])
    print(summary_of(results))
    print(f"\nWrote {', '.join(str(path) for path in paths)}")


def _plain(value):
    if hasattr(value, "__dict__"):  # bytesplit.FrameBytes and EventBytes in split details
        return vars(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def summary(results: dict) -> str:
    """The figures a reader wants first, as plain text."""
    meta = results["meta"]
    lines = [f"Run: {meta['mode']} mode, {meta['duration_s']:.1f} s, {meta['cpu_count']} CPUs, "
             f"Python {meta['python']}, load average before {meta['load_average'][0]:.1f}", "",
             f"{'Latency (ms)':<42} {'n':>5} {'median':>8} {'p90':>8} {'p99':>8}  x raw TCP  x websockets"]
    if meta.get("clock"):  # servers on another machine: push latency rests on a clock offset estimate
        clock = meta["clock"]
        lines[1:1] = [f"Servers at {meta['url']}; their clock minus ours: {clock['offset_s'] * 1000:+.2f} ms, "
                      f"give or take {clock['uncertainty_s'] * 1000:.2f} ms (every push latency carries that "
                      "uncertainty)"]
    for row in latency_rows(results):
        if row["delay_ms"]:
            continue
        ratios = (f"{row['ratio_to_raw_tcp']:9.1f}  {row['ratio_to_websockets']:11.1f}"
                  if row["ratio_to_raw_tcp"] else "")
        model = f"  (model mean {row['model_mean_ms']:.1f}, measured mean {row['mean_ms']:.1f})" \
            if row["model_mean_ms"] else ""
        lines.append(f"{row['scenario'] + ': ' + row['transport']:<42} {row['n']:5} {row['median_ms']:8.3f} "
                     f"{fmt(row['p90_ms'], '8.3f')} {fmt(row['p99_ms'], '8.3f')}  {ratios}{model}")
    for delayed in results["with_delay"]:
        lines.append(f"Relay set to hold data {delayed['delay_ms']:g} ms each way: a TCP echo through it took "
                     f"{delayed['round_trip_added_ms']:.2f} ms longer (median) than without")
    lines += ["", f"{'Bytes per delivered message':<30} {'headers':>8} {'payload':>8} {'empty polls':>12} {'total':>8}"]
    for row in bytes_rows(results):
        lines.append(f"{row['transport']:<30} {row['headers_per_message']:8.1f} {row['payload_per_message']:8.1f} "
                     f"{row['empty_poll_bodies_per_message']:12.1f} {row['total_per_message']:8.1f}")
    scale = results["scaling"]
    columns = list(scale["measured"][0])[1:]
    lines += ["", f"Scaling, {scale['unit']}, one message per client per second; bytes per message: "
              + ", ".join(f"{name} {value:.1f}" for name, value in
                          {"paper_polling": 871, "paper_websocket": 2, **scale["measured_bytes"]}.items()),
              f"{'clients':>8} " + " ".join(f"{name:>22}" for name in columns)]
    for row in scale["measured"]:
        lines.append(f"{row['clients']:>8} " + " ".join(f"{row[name]:22.3f}" for name in columns))
    return "\n".join(lines)


def table(rows: dict) -> str:
    """A notebook's table of distributions, ``{label: summary}``: n, median, p90, p99 in ms ("–" where
    there are too few samples for the percentile), and the ratios to the reference echoes if computed.
    Each figure has three significant figures, two for a median of fewer samples than a p90 needs: what
    such a sample can say (``significant``)."""
    ratios = any(row.get("ratio_to_raw_tcp") for row in rows.values())
    lines = [f"{'':28}{'n':>5}{'median':>10}{'p90':>10}{'p99':>10}" + ("   x raw TCP  x websockets" if ratios else "")]
    for name, row in rows.items():
        digits = 3 if row["n"] >= MIN_SAMPLES["p90_ms"] else 2
        line = (f"{name:28}{row['n']:5}{significant(row['median_ms'], digits):>8}ms"
                + "".join(f"{significant(row[key]):>8}ms" if row[key] is not None else f"{fmt(None, '8')}  "
                          for key in ("p90_ms", "p99_ms")))
        if row.get("ratio_to_raw_tcp"):
            line += f"{significant(row['ratio_to_raw_tcp']):>12}{significant(row['ratio_to_websockets']):>13}"
        lines.append(line)
    return "\n".join(lines)


def significant(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant figures, without an exponent: 0.0377, 24.4, 1230."""
    rounded = float(f"{value:.{digits}g}")
    return f"{rounded:.0f}" if abs(rounded) >= 10 ** (digits - 1) else f"{rounded:g}"
