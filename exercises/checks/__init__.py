"""What every exercise's checks are made of: a check is a function that gets the student's module and
returns (passes, optionally with a line to show) or raises ``Fail(what is wrong, a hint)``.

Each exercise has one module here, listed in ``EXERCISES``, with ``TITLE``, ``FOLDER``
(the exercise's folder in ``exercises/``), ``FILE`` (the file the student edits in it)
and ``CHECKS``, run in order. The checks talk to real servers on ephemeral
loopback ports, started and stopped by the checks themselves. An exercise that works
on the servers themselves (7) has ``FILES`` and ``prepare(folder)`` instead of ``FILE``.
"""

import importlib.util
import socket
import threading
import traceback
from pathlib import Path

# number: module
EXERCISES = {1: "follower", 2: "accept_key", 3: "frame", 4: "clock", 5: "bandwidth", 6: "backoff", 7: "feature"}
SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"  # one folder per exercise, as in exercises/


class Fail(Exception):
    """A check that did not pass: ``what`` is wrong, and a ``hint`` towards the fix."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


def check(description: str, timeout: float = 30, hang_hint: str | None = None):
    """Name a check function (``description`` is what it proves) and bound how long it may take."""
    def named(function):
        function.description, function.timeout, function.hang_hint = description, timeout, hang_hint
        return function
    return named


def run_in_thread(target, *args, name: str = "student code") -> threading.Thread:
    """Start the student's ``target(*args)`` on a daemon thread; its exception, if any, is kept as
    ``thread.error`` so a check can report it instead of losing it."""
    def run() -> None:
        try:
            target(*args)
        except BaseException as error:  # reported by the check, not printed as a traceback
            thread.error = error

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.error = None
    thread.start()
    return thread


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now (for a server the check starts later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_file(error: BaseException, path) -> bool:
    """Whether ``error`` went through the file at ``path`` (the student's)."""
    return any(Path(frame.filename).resolve() == Path(path).resolve()
               for frame in traceback.extract_tb(error.__traceback__))


def where(error: BaseException, path) -> str:
    """``TypeError: message (file.py, line 12, in function)``, naming the student's innermost line."""
    return f"{type(error).__name__}: {error}{place(error, path)}"


def place(error: BaseException, path) -> str:
    """`` (file.py, line 12, in function)``: the student's innermost line that ``error`` went through; "" if none."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).resolve() == Path(path).resolve()]
    return f" ({Path(path).name}, line {frames[-1].lineno}, in {frames[-1].name})" if frames else ""


def solution(folder: str, file: str):
    """The official solution's module (``solutions/<folder>/<file>``): the right answer, for a check that must
    compare the student's with it in cases it makes up."""
    spec = importlib.util.spec_from_file_location(f"solution_{Path(file).stem}", SOLUTIONS / folder / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
