"""Sequence diagrams drawn from real traffic: ``python -m clients.bench diagram`` plays one script over
each transport (``scenario.py``) and draws what crossed the wire, side by side on one time axis.

    python -m clients.bench diagram                          # docs/three-ways.png and .svg
    python -m clients.bench diagram --transports WebSocket --out results --name websocket

Every arrow is one HTTP request, response, WebSocket frame or TCP FIN the relay saw, placed at the
moments it left one side and reached the other (``sequence.py``); none is drawn by hand. Time runs
down the page; the scale bar says how long a second is.
"""

import argparse
import math
import sys
import time
from pathlib import Path

from matplotlib.patches import Rectangle

from . import scenario
from .colors import color_of
from .plots import plt  # the Agg backend outside notebooks, the inline one inside

CLIENT, SERVER = 0.0, 1.0  # the two lanes
FONT = 7  # points, arrow labels
INCHES_PER_SECOND = 2.6
HELD = 0.03  # seconds: a server that took longer than this over a request gets a shaded bar
STYLES = {  # how each arrow is drawn: line style, width, opacity
    "data": ("-", 1.4, 1.0), "empty": ((0, (4, 3)), 1.0, 0.45), "fin": (":", 0.9, 0.6)}
LEGEND = ("solid: carries data   dashed: an empty poll and its empty answer   dotted: TCP FIN   "
          "shaded on the server lane: the server holds a request")


def figure(runs: list[scenario.Run]):
    """One panel per run, side by side on one time axis, with a scale bar and a legend."""
    end = max(arrow.arrived for run in runs for arrow in run.arrows) + 0.15
    fig, axes = plt.subplots(1, len(runs), figsize=(4.8 * len(runs), 1.6 + INCHES_PER_SECOND * end),
                             sharey=True, squeeze=False)
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 0.9 / fig.get_figheight(),
                        bottom=0.5 / fig.get_figheight(), wspace=0.08)
    for ax, run in zip(axes[0], runs):
        draw(ax, run, end)
    _scale_bar(axes[0][0], end)
    delay = runs[0].delay * 1000
    fig.text(0.5, 0.15 / fig.get_figheight(), f"{LEGEND}.   Every arrow is traffic a relay recorded, holding "
             f"it {delay:g} ms each way so that it slopes.", ha="center", fontsize=FONT, color="0.3")
    return fig


def draw(ax, run: scenario.Run, end: float) -> None:
    """One run's sequence diagram on ``ax``: lanes, script moments, arrows and their labels."""
    color = color_of(run.transport)
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(end, -0.12)  # time runs down
    ax.axis("off")
    for x, name in ((CLIENT, "client"), (SERVER, "server")):
        ax.plot([x, x], [0, end], color="0.55", lw=1)
        ax.text(x, -0.03, name, ha="center", va="bottom", fontsize=FONT + 1, weight="bold")
    ax.set_title(f"{run.transport}\n{summary(run)}", fontsize=FONT + 3, color=color)
    _script(ax, run.script)
    for arrow in run.arrows:
        style = _style(arrow)
        line, width, alpha = STYLES[style]
        ax.annotate("", xy=(_lanes(arrow)[1], arrow.arrived), xytext=(_lanes(arrow)[0], arrow.sent),
                    arrowprops={"arrowstyle": "-|>", "color": "0.4" if style == "fin" else color, "lw": width,
                                "ls": line, "alpha": alpha, "shrinkA": 0, "shrinkB": 0, "mutation_scale": 8})
        if arrow.held_from is not None and arrow.sent - arrow.held_from > HELD:
            ax.add_patch(Rectangle((SERVER - 0.025, arrow.held_from), 0.05, arrow.sent - arrow.held_from,
                                   color=color, alpha=0.25, lw=0))
        if arrow.unanswered:
            ax.add_patch(Rectangle((SERVER - 0.025, arrow.arrived), 0.05, end - arrow.arrived, color=color,
                                   alpha=0.12, lw=0))
            ax.text(SERVER + 0.04, end - 0.05, "still held, unanswered", fontsize=FONT, color=color,
                    va="bottom", rotation=90)
    for group in _together(run.arrows):
        _label(ax, group, end)


def _style(arrow) -> str:
    return "fin" if arrow.kind == "fin" else "empty" if arrow.empty else "data"


def _lanes(arrow) -> tuple[float, float]:
    return (CLIENT, SERVER) if arrow.direction == "up" else (SERVER, CLIENT)


def _together(arrows, within: float = 0.03) -> list[list]:
    """Arrows that leave in the same direction within ``within`` s of each other share one label:
    drawn apart, their labels would overlap."""
    groups = []
    for arrow in arrows:
        same = [group for group in groups[-3:] if group[0].direction == arrow.direction]
        if same and arrow.sent - same[-1][0].sent <= within:
            same[-1].append(arrow)
        else:
            groups.append([arrow])
    return groups


def _label(ax, group: list, end: float) -> None:
    """The label of ``group``, one line above the middle of its first arrow and parallel to it."""
    first = group[0]
    start, finish = _lanes(first)
    box, fig = ax.get_position(), ax.figure
    across = (finish - start) * box.width * fig.get_figwidth() / 2.0  # inches; the x span is 2 lanes wide
    down = (first.arrived - first.sent) * box.height * fig.get_figheight() / (end + 0.12)
    angle = math.degrees(math.atan2(-down, across))
    angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle  # never upside down
    ax.text((start + finish) / 2, (first.sent + first.arrived) / 2, _joined([arrow.label for arrow in group]),
            fontsize=FONT, ha="center", va="bottom", rotation=angle, rotation_mode="anchor",
            color="0.15" if _style(first) == "data" else "0.45")


def _joined(labels: list[str]) -> str:
    """One line for several labels: "2 × FIN", "3 × text frame, 134 + 137 + 167 B", or "a · b"."""
    if len(set(labels)) == 1:
        return labels[0] if len(labels) == 1 else f"{len(labels)} × {labels[0]}"
    heads = {label.rsplit(", ", 1)[0] for label in labels}
    if len(heads) == 1 and all(label.endswith(" B") for label in labels):
        sizes = " + ".join(label.rsplit(", ", 1)[1][:-2] for label in labels)
        return f"{len(labels)} × {heads.pop()}, {sizes} B"
    return " · ".join(labels)


def _script(ax, script: scenario.Script) -> None:
    """The script's moments, faint: the client's on its left, the server's across the lanes to its right."""
    for at, event in script.events():
        if event.startswith("notify"):
            ax.axhline(at, xmin=0.25, xmax=0.75, color="0.6", lw=0.6, ls=(0, (1, 3)))
            ax.text(SERVER + 0.06, at, f"notification {event.split()[1]}\nposted", fontsize=FONT, color="0.4",
                    va="center", style="italic")
        else:
            words = f"sends\n\"{script.text}\"" if event == "send" else "leaves"
            ax.text(CLIENT - 0.06, at, words, fontsize=FONT, color="0.4", va="center", ha="right", style="italic")


def _scale_bar(ax, end: float) -> None:
    second = 1.0 if end > 1.5 else 0.1
    x, top = -0.42, end - second - 0.1
    ax.plot([x, x], [top, top + second], color="0.2", lw=2, solid_capstyle="butt")
    ax.text(x + 0.03, top + second / 2, f"{second:g} s", fontsize=FONT + 1, va="center")


def summary(run: scenario.Run) -> str:
    """What the client and server exchanged: requests (empty ones), frames, connections, bytes."""
    requests = [arrow for arrow in run.arrows if arrow.kind == "request"]
    frames = [arrow for arrow in run.arrows if arrow.kind == "frame"]
    parts = [f"{len(requests)} request{'s' * (len(requests) != 1)}"
             + (f" ({sum(arrow.empty for arrow in requests)} empty)" if any(a.empty for a in requests) else "")]
    if frames:
        parts.append(f"{len(frames)} frames")
    connections = len({arrow.connection for arrow in run.arrows})
    parts.append(f"{connections} connection{'s' * (connections != 1)}")
    parts.append(f"{sum(arrow.size for arrow in run.arrows):,} B")
    return ", ".join(parts)


def save(fig, out: str, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.svg (for slides) into ``out``; returns the paths."""
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = [Path(out) / f"{name}.{kind}" for kind in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=110, metadata={"Date": None} if path.suffix == ".svg" else None)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench diagram", description=__doc__.splitlines()[0])
    parser.add_argument("--transports", nargs="+", choices=list(scenario.TRANSPORTS), metavar="NAME",
                        help=f"which, in this order (default: all: {', '.join(scenario.TRANSPORTS)})")
    parser.add_argument("--delay", type=_delay, default=scenario.DELAY, metavar="SECONDS",
                        help=f"the relay's added one-way delay (default {scenario.DELAY:g}, at most 0.5)")
    parser.add_argument("--out", default="docs", metavar="DIR", help="where the PNG and SVG go (default: docs/)")
    parser.add_argument("--name", default="three-ways", help="file name without extension (default: three-ways)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = scenario.run_all(args.transports, delay=args.delay)
    paths = save(figure(runs), args.out, args.name)
    for run in runs:
        print(f"{run.transport:14} {len(run.arrows):3} arrows, {summary(run)}  ({run.seconds:.1f} s)")
    print(f"Wrote {', '.join(map(str, paths))} in {time.perf_counter() - started:.1f} s")
    return 0


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"{value:g} s: the delay must be between 0 and 0.5 s")
    return value


if __name__ == "__main__":
    sys.exit(main())
