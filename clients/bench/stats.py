"""Latency samples into the figures we report: a distribution, never a single run.

A percentile needs enough samples to mean something: with 10 samples "p99" is
simply the largest one. ``summarize`` therefore leaves p90 out (None) below
``MIN_SAMPLES["p90_ms"]`` samples and p99 below ``MIN_SAMPLES["p99_ms"]``, and
``fmt`` prints a missing figure as "–", so no table can show a meaningless tail.
"""

import numpy as np

MIN_SAMPLES = {"p90_ms": 10, "p99_ms": 100}  # at least 1 sample above the percentile, on average
MISSING = "–"


def summarize(samples: list[float]) -> dict:
    """Seconds in, milliseconds out: {n, median_ms, p90_ms, p99_ms, max_ms, min_ms, mean_ms};
    p90_ms and p99_ms are None when there are too few samples for them (see MIN_SAMPLES)."""
    if not samples:
        return {"n": 0}
    ms = np.asarray(samples) * 1000
    p50, p90, p99 = (float(value) for value in np.percentile(ms, [50, 90, 99]))
    return {"n": len(ms), "median_ms": p50, "p90_ms": p90 if len(ms) >= MIN_SAMPLES["p90_ms"] else None,
            "p99_ms": p99 if len(ms) >= MIN_SAMPLES["p99_ms"] else None,
            "max_ms": float(ms.max()), "min_ms": float(ms.min()), "mean_ms": float(ms.mean())}


def fmt(value: float | None, spec: str = ".3f") -> str:
    """``format(value, spec)``, or "–" (right-aligned to the same width) when the figure is missing."""
    if value is None:
        width = "".join(ch for ch in spec.partition(".")[0] if ch.isdigit())
        return format(MISSING, f">{width}" if width else "")
    return format(value, spec)


def ratio(figure: dict, reference: dict, key: str = "median_ms") -> float | None:
    """How many times ``reference`` (e.g. raw TCP echo) ``figure`` is, on the same statistic."""
    if not figure.get(key) or not reference.get(key):
        return None
    return figure[key] / reference[key]


def milliseconds(samples: list[float]) -> list[float]:
    """Raw samples for JSON and CDF plots, in ms, rounded to 0.1 microsecond."""
    return [round(s * 1000, 4) for s in samples]
