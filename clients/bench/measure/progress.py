"""A one-line progress display on stderr for runs longer than a few seconds."""

import sys
import time


class Progress:
    """``progress(label, done, total)`` redraws one line, at most ten times a second."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._label, self._drawn = None, 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if label == self._label and done < total and now - self._drawn < 0.1:
            return
        if label != self._label and self._label is not None:
            self.stream.write("\n")
        self._label, self._drawn = label, now
        width = 24
        filled = width * done // max(total, 1)
        self.stream.write(f"\r[{now - self.started:6.1f} s] {label:<44} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self._label is not None:
            self.stream.write("\n")
            self.stream.flush()


def silent(label: str, done: int, total: int) -> None:
    """The progress callback for notebooks and tests: say nothing."""
