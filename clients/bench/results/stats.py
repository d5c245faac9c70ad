"""Latency samples into the figures we report, and the one place that decides whether a difference is noise.

A percentile needs enough samples to mean something: with 10 samples "p99" is
simply the largest one. ``summarize`` therefore leaves p90 out (None) below
``MIN_SAMPLES["p90_ms"]`` samples and p99 below ``MIN_SAMPLES["p99_ms"]``, and
``fmt`` prints a missing figure as "–", so no table can show a meaningless tail.

Two figures measured in one run always differ a little; the question is whether
the difference is larger than what chance alone produces at that sample size.
Every comparison in the notebooks and the bench asks it here, in one of two ways:

* ``compare(a, b)``: two measured distributions. Each median gets a 95 %
  confidence interval that needs no assumption about the distribution's shape
  (from the binomial law of how many samples fall below the true median), so
  it widens by itself when there are few samples. Two medians whose intervals
  overlap are "within noise"; a winner is named only when they do not.
* ``against_model(samples, model)``: a measured mean against a figure a model
  predicts. The tolerance is ``NOISE_Z`` standard errors of the mean
  (standard deviation / sqrt(n)), so it shrinks as the sample grows.
"""

import math
from dataclasses import dataclass

import numpy as np

MIN_SAMPLES = {"p90_ms": 10, "p99_ms": 100}  # at least 1 sample above the percentile, on average
MISSING = "–"
CONFIDENCE = 0.95  # of each median's interval in ``compare``
NORMAL_QUANTILES = {0.9: 1.645, 0.95: 1.960, 0.99: 2.576}  # two-sided, for large samples
# Standard errors a measured mean may stray from a model before we call it a disagreement. Chance alone
# goes beyond 3 about 3 times in 1,000 (normal law); a notebook checks about ten such figures a run.
NOISE_Z = 3.0


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


# --- within noise, or not ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` (two medians, or a mean and a model), and whether the gap is beyond noise.

    ``verdict`` is "within noise", "higher" or "lower" (``a`` against ``b``); ``how`` says how noise was
    judged, in words a reader can check against the figures printed beside it."""
    a: float
    b: float
    within_noise: bool
    how: str

    @property
    def ratio(self) -> float:
        return self.a / self.b if self.b else math.inf

    @property
    def verdict(self) -> str:
        if self.within_noise:
            return "within noise"
        return "higher" if self.a > self.b else "lower"

    @property
    def lower(self) -> bool:
        """``a`` is below ``b``, beyond noise."""
        return self.verdict == "lower"

    @property
    def higher(self) -> bool:
        """``a`` is above ``b``, beyond noise."""
        return self.verdict == "higher"

    def says(self, a_name: str, b_name: str, unit: str = "ms", spec: str = ".3g") -> str:
        """One sentence: "A (x ms) and B (y ms) are within noise of each other", or, beyond noise,
        "A (x ms) is 2.3 times B (y ms)" / "B (y ms) is 12 % above A (x ms)", the larger figure first."""
        a, b = f"{a_name} ({self.a:{spec}} {unit})", f"{b_name} ({self.b:{spec}} {unit})"
        if self.within_noise:
            return f"{a} and {b} are within noise of each other"
        high, low, times = (a, b, self.ratio) if self.a >= self.b else (b, a, 1 / self.ratio)
        return f"{high} is {times:.2g} times {low}" if times >= 1.5 else f"{high} is {(times - 1):.0%} above {low}"


def _values(samples) -> np.ndarray:
    """A list of samples, or a summary dict carrying them as "samples_ms"."""
    if isinstance(samples, dict):
        samples = samples["samples_ms"]
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("no samples to compare")
    return values


def median_interval(samples, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A confidence interval for the median that assumes nothing about the distribution.

    Sorted, the samples x(1) <= ... <= x(n) bracket the true median between x(k) and
    x(n+1-k) unless k or more of them fall on one side of it, which happens with
    probability 2 * P(Binomial(n, 1/2) < k). We take the largest k that keeps that below
    1 - ``confidence``; with too few samples (5 or fewer at 95 %) no k does, and the
    interval is the whole range, which is all such a sample can say.
    """
    values = np.sort(_values(samples))
    n, alpha = len(values), 1 - confidence
    if n > 2000:  # the normal approximation of the binomial, exact enough here and cheaper
        k = int((n - NORMAL_QUANTILES[confidence] * math.sqrt(n)) / 2)
    else:
        k, below = 0, 0  # below: the ways to put at most k samples under the median
        while k < n // 2:
            below += math.comb(n, k)
            if 2 * below / 2 ** n > alpha:
                break
            k += 1
    k = max(k, 1)
    return float(values[k - 1]), float(values[n - k])


def compare(a, b, confidence: float = CONFIDENCE) -> Comparison:
    """Median of ``a`` against median of ``b`` (lists of samples, or summaries with "samples_ms"):
    within noise when their ``median_interval``s overlap."""
    (a_low, a_high), (b_low, b_high) = median_interval(a, confidence), median_interval(b, confidence)
    a_values, b_values = _values(a), _values(b)
    overlap = a_low <= b_high and b_low <= a_high
    how = (f"medians' {confidence:.0%} intervals [{a_low:.3g}, {a_high:.3g}] (n={len(a_values)}) and "
           f"[{b_low:.3g}, {b_high:.3g}] (n={len(b_values)}) {'overlap' if overlap else 'do not overlap'}")
    return Comparison(float(np.median(a_values)), float(np.median(b_values)), overlap, how)


def standard_error(samples) -> float:
    """Standard error of the mean: the samples' standard deviation / sqrt(n)."""
    values = _values(samples)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf


def against_model(samples, model: float, z: float = NOISE_Z) -> Comparison:
    """The mean of ``samples`` (list, or summary with "samples_ms") against the ``model``'s prediction of it:
    within noise when they differ by less than ``z`` standard errors of the mean."""
    values = _values(samples)
    mean, error = float(values.mean()), standard_error(values)
    gap = (mean - model) / error if error else (0.0 if mean == model else math.inf)
    within = abs(gap) < z
    how = f"{gap:+.1f} standard errors of the mean (n={len(values)}, tolerance {z:g})"
    return Comparison(mean, model, within, how)
