"""``python -m clients.bench``: measure latency and bytes on the wire; write JSON, CSV and PNG plots.

    python -m clients.bench --quick            # seconds: a smoke run, as notebooks and tests use
    python -m clients.bench --out results/full # a few minutes: >= 1,000 round trips per transport
    python -m clients.bench --url http://HOST:8001 --quick   # against servers running elsewhere (remote.py)
    python -m clients.bench COMMAND --help     # the other measurements, listed in COMMANDS below
"""

import argparse
import importlib
import sys

from . import plots, report
from .progress import Progress, silent

# python -m clients.bench COMMAND ...: each is a module of this package with its own main(argv).
COMMANDS = {"load": "many clients per transport on one server (fan-out, CPU, memory, threads)",
            "diagram": "sequence diagrams drawn from the bytes of a recorded exchange"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return importlib.import_module(f"{__package__}.{argv[0]}").main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m clients.bench", description=__doc__.splitlines()[0],
                                     epilog="other commands: " + "; ".join(
                                         f"{name}: {what}" for name, what in COMMANDS.items()))
    parser.add_argument("--quick", action="store_true", help="small samples: finishes in seconds")
    parser.add_argument("--out", default="results", metavar="DIR", help="where results.json, CSVs and PNGs go "
                        "(default: results/)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("--url", metavar="URL", help="measure the servers already running at URL, the polling "
                        "server's address (http://HOST:8001), over the network, instead of starting our own")
    args = parser.parse_args(argv)
    progress = silent if args.quiet else Progress()
    if args.url:
        from .remote import Unreachable, run_remote
        try:
            results = run_remote(args.url, quick=args.quick, progress=progress)
        except Unreachable as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    else:
        from .run import run  # imported here: the other commands do not need it
        results = run(quick=args.quick, progress=progress)
    if isinstance(progress, Progress):
        progress.close()
    paths = report.write(results, args.out)
    if not args.no_plots:
        paths += plots.save_all(results, args.out)
    print(report.summary(results))
    print(f"\nWrote {', '.join(str(path) for path in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
