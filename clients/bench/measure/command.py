"""``python -m clients.bench``: measure latency and bytes on the wire; write JSON, CSV and PNG plots.

    python -m clients.bench --quick            # seconds: a smoke run, as notebooks and tests use
    python -m clients.bench --out results/full # a few minutes: >= 1,000 round trips per transport
    python -m clients.bench --url http://HOST:8001 --quick   # against servers running elsewhere (remote.py)
"""

import argparse
import sys

from clients.bench.results import plots, report

from .progress import Progress, silent


def main(argv: list[str] | None = None, epilog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench", description=__doc__.splitlines()[0],
                                     epilog=epilog)
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
        from .run import run  # imported here: a remote run does not start servers of its own
        results = run(quick=args.quick, progress=progress)
    if isinstance(progress, Progress):
        progress.close()
    report.publish(results, args.out, report.write, report.summary, None if args.no_plots else plots.save_all)
    return 0
