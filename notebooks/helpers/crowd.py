"""A crowd on one server, for notebook 07: what a load run's figures say, beside a model, and a saved run's rows.

The load run (``clients/bench/load``) counts the requests a crowd of short pollers made while
nothing happened, over a window of a given length. Each poller asks once per interval on a
schedule of its own (its first poll at a random moment of its first interval), so a window of
W seconds holds the whole part of W / interval polls of each poller, or one more: one more for
a share p of them, p being the fraction left over. ``idle_polls`` checks the count against
that model: on average N × W / interval, spread as a binomial, sqrt(N × p × (1 - p)) polls. A
window of a whole number of intervals would leave no spread to judge against, and one much
shorter than an interval (a poll or none) a spread as large as the count.
"""

import json
import math
from pathlib import Path

from clients.bench.results.stats import NOISE_Z, Comparison


def idle_polls(row: dict) -> Comparison:
    """A short-polling scenario of a load run: the requests its clients made while idle (the server's count,
    over the run's idle window) against one per client and interval, within ``NOISE_Z`` binomial spreads."""
    seconds, clients, interval = row["idle"]["seconds"], row["connected"], row["interval"]
    measured = row["idle"]["requests_per_s"] * seconds
    expected = clients * seconds / interval
    p = seconds / interval - math.floor(seconds / interval)
    spread = math.sqrt(clients * p * (1 - p))
    gap = (measured - expected) / spread if spread else (0.0 if round(measured) == round(expected) else math.inf)
    how = (f"{measured:.0f} polls in {seconds:.3f} s against {expected:.1f} expected, {gap:+.1f} binomial spreads "
           f"of {spread:.2f} (tolerance {NOISE_Z:g})")
    return Comparison(measured, expected, abs(gap) < NOISE_Z, how)


def saved(path: Path) -> dict | None:
    """A load run's ``load.json`` kept beside the notebooks, or None when it is not there (yet)."""
    return json.loads(path.read_text()) if path.exists() else None


def at(results: dict, clients: int) -> dict:
    """The rows of a load run at ``clients`` clients, by label."""
    return {row["label"]: row for row in results["runs"] if row["clients"] == clients}


def describe_saved(results: dict) -> str:
    """A saved load run in a few lines: how it was made (its command, date, machine, the three load averages
    before it, how long it took, and the commit it ran on if it kept one), then per transport at its largest
    number of clients, what held (connected of tried, lost, duplicated, out of order), how late the last client
    was, what each connection held, or why the scenario failed; and what ran out, where the run says so."""
    meta = results["meta"]
    load = meta.get("load_average")
    largest = max(row["clients"] for row in results["runs"])
    averages = (f"load averages before it {', '.join(f'{value:.0f}' for value in load)} (tasks running or waiting, "
                "over the last 1, 5 and 15 minutes)" if load else "load average before it unknown")
    commit = f", on commit {meta['commit']}" if meta.get("commit") else ""
    lines = [f"{meta.get('command', 'python -m clients.bench load')}: {meta.get('date_utc', 'date unknown')}, "
             f"{meta['cpu_count']} CPUs, {averages}; it took {meta['duration_s'] / 60:.0f} minutes{commit}; "
             f"one server event every {meta['settings']['every']:g} s"]
    for label, row in at(results, largest).items():
        tried = f" ({row['tried']:,} tried)" if row.get("tried", row["clients"]) < row["clients"] else ""
        held = f"  {label:30} {row['connected']:,} of {row['clients']:,} connected{tried}; "
        if "failed" in row:  # the scenario stopped before its figures: why, and what ran out, below
            lines.append(held + f"failed: {row['failed'].splitlines()[0]}")
        else:
            last = row["fanout_last_client"]
            extra = row.get("messages", 0) - row.get("events_asked", row.get("messages", 0))
            events = f"{last['n']} events" + (f", {abs(extra)} {'more' if extra > 0 else 'fewer'} than the "
                                              f"{row['events_asked']} asked" if extra else "")
            lines.append(held + f"lost {row['lost']:,}, duplicated {row['duplicated']:,}, out of order "
                         f"{row['out_of_order']:,}; last client "
                         + (f"{last['median_ms']:,.0f} ms after the stamp (median of {events})"
                            if last.get("n") else "never served")
                         + f"; {row['threads_per_connection']:.2f} threads and "
                           f"{row['rss_per_connection'] / 1024:.0f} KiB per connection")
        lines += [f"    ran out: {item['resource']} at {item['at']:,} clients: {item['evidence']}" + (
            f" The crowd tried {item['at'] - row['tried']:,} fewer: room left for the run's own questions and posts."
            if item["resource"] == "file descriptors" and row.get("tried", item["at"]) < item["at"] else "")
            for item in row.get("ran_out", [])]
    return "\n".join(lines)
