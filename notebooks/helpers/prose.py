"""Sentences made from measurements, so that a notebook never states what its own run contradicts.

A notebook cell that ends in ``say(f"...")`` renders its Markdown from the figures
just measured; a sentence that stays in a Markdown cell is guarded instead by an
``assert`` in the cell before it. Both fail loudly rather than ship a sentence the
numbers disagree with (``tests/test_notebooks.py`` runs every notebook).
"""

from collections import Counter

# What each kind of server thread counted by ``fanout.server_threads`` does, in words. A kind not listed
# here (after a change to the server) is named as ``fanout`` names it.
# (Besides these, each server runs one broadcaster thread for all its clients, however many: ``broadcast.py``.)
THREAD_ROLES = {"request": "Werkzeug's request thread (it runs the handler: reads what the client sends and writes "
                           "what waits for it)"}


def say(markdown: str) -> None:
    """Show ``markdown`` as a rendered Markdown cell output in a notebook, as plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(markdown))
    else:
        print(markdown)


def listing(items) -> str:
    """"a", "a and b", "a, b and c"."""
    items = [str(item) for item in items]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def threads_in_words(kinds: Counter | dict, per: int = 1) -> str:
    """"2 server threads: Werkzeug's request thread, ... and ..." for ``kinds`` counted over ``per`` clients."""
    total = sum(kinds.values()) / per
    roles = [f"{count / per:g} × {THREAD_ROLES.get(kind, kind)}" if count != per else THREAD_ROLES.get(kind, kind)
             for kind, count in kinds.items()]
    return f"{total:g} server thread{'s' if total != 1 else ''}" + (f": {listing(roles)}" if roles else "")


def table(rows: dict[str, dict[str, str]], corner: str = "") -> str:
    """A Markdown table from ``{row label: {column: text}}``, columns in the order of the first row."""
    columns = list(next(iter(rows.values())))
    lines = [f"| {corner} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(str(cells.get(column, "–")) for column in columns) + " |"
              for label, cells in rows.items()]
    return "\n".join(lines)


def span(low: float, high: float, unit: str = "s", spec: str = ".1f") -> str:
    """"1.2 to 2.0 s", or "2.0 s" when both ends read the same."""
    low_text, high_text = format(low, spec), format(high, spec)
    return f"{high_text} {unit}" if low_text == high_text else f"{low_text} to {high_text} {unit}"
