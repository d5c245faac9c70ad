"""Sequence diagrams drawn from real traffic: one script over each transport, side by side in time.

``figure(runs)`` draws what crossed the wire during ``scenario.run_all()``, one panel per transport, on
one time axis (``python -m clients.bench diagram`` saves it: ``command.py``); ``figure(runs, columns=2)``
puts them two by two, which fits a notebook's width with every label at ``FONT`` points. Every arrow is
one HTTP request, response, WebSocket frame or TCP FIN the relay saw, placed at the moments it left one
side and reached the other (``sequence.py``); none is drawn by hand. Time runs down the page; the scale
bar says how long a second is. A label goes beside its arrow, above or below it, where it covers no
other label and, if it can, no arrow (``label_boxes`` says where each one lies).
"""

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from clients.bench.results.colors import color_of
from clients.bench.results.plots import plt  # the Agg backend outside notebooks, the inline one inside

from . import scenario

CLIENT, SERVER = 0.0, 1.0  # the two lanes
FONT = 8  # points, arrow labels: at least 8 where the figure is shown at its size (two columns: about 9 in)
PANEL_WIDTH = 4.5  # inches per transport
INCHES_PER_SECOND = 2.6
ALONG = (0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.9, 0.1, 1.0, 0.0)  # where along its arrow a label may go, in turn
HELD = 0.03  # seconds: a server that took longer than this over a request gets a shaded bar
STYLES = {  # how each arrow is drawn: line style, width, opacity
    "data": ("-", 1.4, 1.0), "empty": ((0, (4, 3)), 1.0, 0.45), "fin": (":", 0.9, 0.6)}
LEGEND = ("solid: carries data   dashed: an empty poll and its empty answer   dotted: TCP FIN   "
          "shaded on the server lane: the server holds a request")


def figure(runs: list[scenario.Run], columns: int | None = None):
    """One panel per run, ``columns`` to a row (default: all in one row), every panel on one time axis,
    with a scale bar in each row and a legend."""
    columns = columns or len(runs)
    rows = math.ceil(len(runs) / columns)
    end = max(arrow.arrived for run in runs for arrow in run.arrows) + 0.15
    width = PANEL_WIDTH * columns
    legend = textwrap.fill(f"{LEGEND}.   Every arrow is traffic a relay recorded, holding it "
                           f"{runs[0].delay * 1000:g} ms each way so that it slopes.", int(width * 120 / FONT))
    below = 0.3 + 0.16 * legend.count("\n")  # inches under the lanes, for the legend
    row_height = 1.3 + INCHES_PER_SECOND * end
    fig, axes = plt.subplots(rows, columns, figsize=(width, rows * row_height + below), sharey=True, squeeze=False)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 0.9 / height, bottom=below / height, wspace=0.08,
                        hspace=0.9 / (row_height - 0.9))
    for ax, run in zip(axes.flat, runs):
        draw(ax, run, end)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    for row in axes:
        _scale_bar(row[0], end)
    fig.text(0.5, 0.1 / height, legend, ha="center", va="bottom", fontsize=FONT, color="0.3")
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
    ax.set_title(f"{run.transport}\n{summary(run)}", fontsize=FONT + 2, color=color)
    taken = _script(ax, run.script)
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
    lines = {id(arrow): _line(ax, arrow) for arrow in run.arrows}
    placed = taken  # the boxes of the script's words and of the labels so far, in pixels
    for group in _together(run.arrows):
        others = np.vstack([lines[id(arrow)] for arrow in run.arrows if arrow not in group] or [np.empty((0, 4))])
        placed = np.vstack([placed, _label(ax, group, end, placed, others)])


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


def _label(ax, group: list, end: float, labels: np.ndarray, arrows: np.ndarray) -> np.ndarray:
    """The label of ``group``: parallel to its first arrow, just above it or just below it, at the first
    point along it (the middle, then further out: ``ALONG``) where it covers the fewest of the ``labels``
    boxes (other labels and the script's words, in pixels), and of those the fewest of the ``arrows``' boxes.
    A label longer than its arrow goes on two lines. Returns its own boxes."""
    first = group[0]
    start, finish = _lanes(first)
    box, fig = ax.get_position(), ax.figure
    across = (finish - start) * box.width * fig.get_figwidth() / 2.0  # inches; the x span is 2 lanes wide
    down = (first.arrived - first.sent) * box.height * fig.get_figheight() / (end + 0.12)
    angle = math.degrees(math.atan2(-down, across))
    angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle  # never upside down
    renderer = fig.canvas.get_renderer()
    words = _joined([a.label for a in group])
    text = ax.text(0, 0, words, fontsize=FONT, ha="center", va="bottom", rotation_mode="anchor", gid="label",
                   color="0.15" if _style(first) == "data" else "0.45")
    if text.get_window_extent(renderer).width > 0.9 * math.hypot(across, down) * fig.dpi:
        text.set_text(_two_lines(words))
    flat = text.get_window_extent(renderer)  # measured flat, then turned
    text.set_rotation(angle)
    spots = []
    for along, side in ((along, side) for along in ALONG for side in ("bottom", "top")):
        at = (start + (finish - start) * along, first.sent + (first.arrived - first.sent) * along)
        boxes = _footprint(ax.transData.transform(at), flat.width, flat.height, angle, side)
        spots.append((_overlaps(boxes, labels), _overlaps(boxes, arrows), at, side, boxes))
    _, _, at, side, boxes = min(spots, key=lambda spot: spot[:2])  # the first of the least crowded
    text.set_position(at)
    text.set_va(side)
    return boxes


def label_boxes(text) -> list[Bbox]:
    """Where a slanted label lies, in pixels, as a few small boxes along it (one box around the whole of a
    slanted label would cover much more than the label)."""
    rotation = text.get_rotation()
    text.set_rotation(0)
    flat = text.get_window_extent(text.axes.figure.canvas.get_renderer())  # measured flat, then turned
    text.set_rotation(rotation)
    anchor = text.axes.transData.transform(text.get_position())
    return [Bbox([[x0, y0], [x1, y1]]) for x0, y0, x1, y1 in
            _footprint(anchor, flat.width, flat.height, rotation, text.get_va())]


def _footprint(anchor, width: float, height: float, angle: float, side: str, pieces: int = 6) -> np.ndarray:
    """A label of ``width`` x ``height`` pixels turned by ``angle`` degrees about ``anchor``, above it (``side``
    "bottom": the text's bottom at the anchor) or below it ("top"), as ``pieces`` boxes: rows of x0, y0, x1, y1."""
    radians = math.radians(angle)
    along, up = np.array([math.cos(radians), math.sin(radians)]), np.array([-math.sin(radians), math.cos(radians)])
    lift = height / 2 if side == "bottom" else -height / 2
    offsets = width * ((np.arange(pieces) + 0.5) / pieces - 0.5)
    centres = np.asarray(anchor) + np.outer(offsets, along) + up * lift
    half = np.array([width / pieces / 2, height / 2])
    return np.hstack([centres - half, centres + half])


def _overlaps(mine: np.ndarray, others: np.ndarray) -> int:
    """How many of the boxes ``others`` the boxes ``mine`` cover (rows of x0, y0, x1, y1)."""
    if not len(others):
        return 0
    apart = ((mine[:, None, 2] < others[None, :, 0]) | (others[None, :, 2] < mine[:, None, 0])
             | (mine[:, None, 3] < others[None, :, 1]) | (others[None, :, 3] < mine[:, None, 1]))
    return int((~apart).any(axis=0).sum())


def _line(ax, arrow) -> np.ndarray:
    """An arrow as a chain of small boxes, in pixels (rows of x0, y0, x1, y1): an obstacle for the labels of
    the others."""
    ends = ax.transData.transform([(_lanes(arrow)[0], arrow.sent), (_lanes(arrow)[1], arrow.arrived)])
    points = ends[0] + np.outer(np.arange(41) / 40, ends[1] - ends[0])
    return np.hstack([points - (2, 1), points + (2, 1)])


def _joined(labels: list[str]) -> str:
    """One line for several labels: "2 × FIN", "3 × text frame, 134 + 137 + 167 B", or, for labels of
    different kinds, each kind so: "201, 258 B · 2 × event, 107 + 135 B"."""
    kinds: dict[str, list[str]] = {}  # a label's head ("text frame") -> its sizes, in order
    for label in labels:
        head, _, size = label.rpartition(", ")
        if not (head and size.endswith(" B")):
            head, size = label, ""
        kinds.setdefault(head, []).append(size)
    parts = []
    for head, sizes in kinds.items():
        count = f"{len(sizes)} × " if len(sizes) > 1 else ""
        parts.append(f"{count}{head}" + (f", {' + '.join(size[:-2] for size in sizes)} B" if all(sizes) else ""))
    return " · ".join(parts)


def _two_lines(words: str) -> str:
    """``words`` broken at the " · " nearest its middle, else at the ", " nearest it (else left whole)."""
    for separator in (" · ", ", "):
        cuts = [i for i in range(len(words)) if words.startswith(separator, i)]
        if cuts:
            cut = min(cuts, key=lambda i: abs(i - len(words) / 2))
            return words[:cut] + ("\n" if separator == " · " else ",\n") + words[cut + len(separator):]
    return words


def _script(ax, script: scenario.Script) -> np.ndarray:
    """The script's moments, faint: the client's on its left, the server's across the lanes to its right.
    Returns where their words lie, in pixels, for the labels to keep clear of."""
    texts = []
    for at, event in script.events():
        if event.startswith("notify"):
            ax.axhline(at, xmin=0.25, xmax=0.75, color="0.6", lw=0.6, ls=(0, (1, 3)))
            texts.append(ax.text(SERVER + 0.06, at, f"notification {event.split()[1]}\nposted", fontsize=FONT,
                                 color="0.4", va="center", style="italic"))
        else:
            words = f"sends\n\"{script.text}\"" if event == "send" else "leaves"
            texts.append(ax.text(CLIENT - 0.06, at, words, fontsize=FONT, color="0.4", va="center", ha="right",
                                 style="italic"))
    renderer = ax.figure.canvas.get_renderer()
    return np.array([text.get_window_extent(renderer).extents for text in texts]).reshape(-1, 4)


def _scale_bar(ax, end: float) -> None:
    second = 1.0 if end > 1.5 else 0.1
    x, top = -0.42, end - second - 0.1
    ax.plot([x, x], [top, top + second], color="0.2", lw=2, solid_capstyle="butt")
    ax.text(x + 0.03, top + second / 2, f"{second:g} s", fontsize=FONT + 1, va="center")


POLL = "GET /api/messages"  # how a poll's arrow is labelled (``scenario``'s pollers ask for the board's messages)


def summary(run: scenario.Run) -> str:
    """What the client and server exchanged: requests (of them, the polls and how many came back empty: only a
    poller polls), frames (or an event stream's events and retry hint), connections, bytes."""
    requests = [arrow for arrow in run.arrows if arrow.kind == "request"]
    polls = [arrow for arrow in requests if arrow.label.startswith(POLL)]
    frames = [arrow for arrow in run.arrows if arrow.kind == "frame"]
    parts = [f"{len(requests)} request{'s' * (len(requests) != 1)}"
             + (f" ({len(polls)} poll{'s' * (len(polls) != 1)}, {sum(arrow.empty for arrow in polls)} empty)"
                if polls else "")]
    if frames:
        parts.append(f"{len(frames)} {'frames' if any('frame' in arrow.label for arrow in frames) else 'events'}")
    connections = len({arrow.connection for arrow in run.arrows})
    parts.append(f"{connections} connection{'s' * (connections != 1)}")
    parts.append(f"{sum(arrow.size for arrow in run.arrows):,} B")
    return ", ".join(parts)


def describe(runs: list[scenario.Run]) -> str:
    """The script the runs played and what each recorded, in a few lines (notebooks print it)."""
    script = runs[0].script
    lines = [f"script: the client sends {script.text!r} at {script.send_at:g} s, the server posts notifications "
             f"at {', '.join(f'{at:g}' for at in script.notify_at)} s, the client leaves at {script.close_at:g} s; "
             + (f"short polls every {scenario.SHORT_INTERVAL:g} s; " if any(
                 run.transport == "short polling" for run in runs) else "")
             + f"the relay holds data {runs[0].delay * 1000:g} ms each way"]
    width = max(len(run.transport) for run in runs)
    lines += [f"{run.transport:{width}} {len(run.arrows):3} arrows: {summary(run)} (run took {run.seconds:.1f} s)"
              for run in runs]
    return "\n".join(lines)


def save(fig, out: str, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.svg (for slides) into ``out``; returns the paths."""
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = [Path(out) / f"{name}.{kind}" for kind in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=110, metadata={"Date": None} if path.suffix == ".svg" else None)
    return paths
