"""Latency samples into the figures we report: a distribution, never a single run."""

import numpy as np


def summarize(samples: list[float]) -> dict:
    """Seconds in, milliseconds out: {n, median_ms, p90_ms, p99_ms, max_ms, min_ms, mean_ms}."""
    if not samples:
        return {"n": 0}
    ms = np.asarray(samples) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"n": len(ms), "median_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "max_ms": float(ms.max()), "min_ms": float(ms.min()), "mean_ms": float(ms.mean())}


def ratio(figure: dict, reference: dict, key: str = "median_ms") -> float | None:
    """How many times ``reference`` (e.g. raw TCP echo) ``figure`` is, on the same statistic."""
    if not figure.get(key) or not reference.get(key):
        return None
    return figure[key] / reference[key]


def milliseconds(samples: list[float]) -> list[float]:
    """Raw samples for JSON and CDF plots, in ms, rounded to 0.1 microsecond."""
    return [round(s * 1000, 4) for s in samples]
