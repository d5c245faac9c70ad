"""``python -m clients.bench``: measure latency and bytes on the wire; write JSON, CSV and PNG plots.

    python -m clients.bench --quick            # seconds: a smoke run, as notebooks and tests use
    python -m clients.bench --out results/full # a few minutes: >= 1,000 round trips per transport
"""

import argparse
import sys

from . import plots, report
from .progress import Progress, silent
from .run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples: finishes in seconds")
    parser.add_argument("--out", default="results", metavar="DIR", help="where results.json, CSVs and PNGs go "
                        "(default: results/)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    progress = silent if args.quiet else Progress()
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
