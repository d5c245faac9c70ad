"""``python -m clients.bench diagram``: play the script of ``scenario.py`` over each transport and draw what
crossed the wire, one panel per transport, on one time axis (``draw.py``).

    python -m clients.bench diagram                          # docs/transports.png and .svg
    python -m clients.bench diagram --transports short-polling websocket --out results --name two
"""

import argparse
import time

from . import scenario
from .draw import describe, figure, save


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench diagram", description=__doc__.splitlines()[0])
    parser.add_argument("--transports", nargs="+", type=_transport, metavar="NAME",
                        help=f"which, in this order (default: all: {', '.join(scenario.TRANSPORTS)}; "
                             "short-polling for short polling)")
    parser.add_argument("--delay", type=_delay, default=scenario.DELAY, metavar="SECONDS",
                        help=f"the relay's added one-way delay (default {scenario.DELAY:g}, at most 0.5)")
    parser.add_argument("--out", default="docs", metavar="DIR", help="where the PNG and SVG go (default: docs/)")
    parser.add_argument("--name", default="transports", help="file name without extension (default: transports)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = scenario.run_all(args.transports, delay=args.delay)
    paths = save(figure(runs), args.out, args.name)
    print(describe(runs))
    print(f"Wrote {', '.join(map(str, paths))} in {time.perf_counter() - started:.1f} s")
    return 0


def _transport(text: str) -> str:
    wanted = text.replace("-", " ").lower()
    for name in scenario.TRANSPORTS:
        if name.lower() == wanted:
            return name
    raise argparse.ArgumentTypeError(f"{text!r} is not one of: {', '.join(scenario.TRANSPORTS)}")


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"{value:g} s: the delay must be between 0 and 0.5 s")
    return value
