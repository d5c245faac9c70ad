"""python -m exercises.check [N ...]: run the checks of every exercise, or of exercise N, on your files.

    python -m exercises.check            # all exercises (make check)
    python -m exercises.check 3          # exercise 3 only (make check EX=3)
    python -m exercises.check 3 --solution   # the same checks on the solution (teachers)

A failing check says what is wrong and gives a hint; the checks after it wait
until it passes. Errors in your code are shown as one line (what, where), not
as a traceback. Exit status: 0 when every check passes, 1 otherwise.
"""

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from .checks import EXERCISES, SOLUTIONS, Fail, in_file, where

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.check", description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", metavar="N", help=f"exercise numbers ({', '.join(map(str, EXERCISES))});"
                        " all when none is given")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--solution", action="store_true", help="check the solutions instead of your files")
    where.add_argument("--dir", type=Path, default=HERE, help=argparse.SUPPRESS)  # tests check other copies
    args = parser.parse_args(argv)
    numbers = []
    for text in args.numbers or map(str, EXERCISES):
        if not (text.isdigit() and int(text) in EXERCISES):
            parser.error(f"there is no exercise {text!r}: choose from {', '.join(map(str, EXERCISES))}")
        numbers.append(int(text))
    folder = SOLUTIONS if args.solution else args.dir
    try:
        passed = [run_exercise(number, folder) for number in numbers]
    except KeyboardInterrupt:
        print("\nStopped.")
        return 1
    if len(numbers) > 1:
        print(f"\n{sum(passed)} of {len(numbers)} exercises pass.")
    return 0 if all(passed) else 1


def run_exercise(number: int, folder: Path) -> bool:
    """Load the student's file and run the exercise's checks in order; True if all pass."""
    exercise = importlib.import_module(f"{__package__}.checks.{EXERCISES[number]}")
    print(f"\nExercise {number}: {exercise.TITLE}")
    try:
        student, path = load_student(exercise, number, folder)
    except Fail as failure:
        report_failure("your file loads", failure, len(exercise.CHECKS))
        return False
    try:
        for index, check in enumerate(exercise.CHECKS):
            try:
                detail = run_check(check, student, path)
            except Fail as failure:
                report_failure(check.description, failure, len(exercise.CHECKS) - index - 1)
                print(f"  {index} of {len(exercise.CHECKS)} checks pass.")
                return False
            print(f"  ok    {check.description}")
            for line in (detail or "").splitlines():
                print(f"        {line}")
    finally:
        getattr(student, "close", lambda: None)()  # what the checks started (exercise 7: the servers)
    print(f"  All {len(exercise.CHECKS)} checks pass.")
    return True


def load_student(exercise, number: int, folder: Path):
    """(what the checks get, the student's file): their module, or for an exercise that works on the servers
    themselves (exercise 7, which has ``prepare``), their checkout's servers/ package."""
    if hasattr(exercise, "prepare"):
        print(f"  your files: {', '.join(exercise.FILES)}")
        student = exercise.prepare(folder)
        return student, student.root / "servers"
    path = folder / exercise.FOLDER / exercise.FILE
    print(f"  your file: {_shown(path)}")
    return load(path, f"exercise_{number}"), path


def load(path: Path, name: str):
    """Import the student's file as a module, turning any error into a Fail."""
    if not path.is_file():
        raise Fail(f"{_shown(path)} does not exist", "the exercise's starter file belongs there: "
                   "restore it with 'git checkout -- " + _shown(path) + "'")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise Fail(f"Python cannot read {path.name}: {error.msg} (line {error.lineno})",
                   "look at that line and the one before it: a missing bracket, colon or quote") from None
    except Exception as error:
        raise Fail(f"{path.name} raised an error while loading: {where(error, path)}",
                   "fix that line; code outside functions runs as soon as the file loads") from None
    return module


def run_check(check, student, path: Path):
    """Run one check with its time bound; errors in the student's code become a Fail."""
    from .checks import run_in_thread

    result = []
    thread = run_in_thread(lambda: result.append(check(student)), name=check.__name__)
    thread.join(check.timeout)
    if thread.is_alive():
        raise Fail(f"this check did not finish within {check.timeout:g} seconds",
                   check.hang_hint or "your code may wait forever: a request without a timeout, "
                   "or a loop that never ends")
    error = thread.error
    if error is None:
        return result[0]
    if isinstance(error, Fail):
        raise error
    raise as_failure(error, path)


def as_failure(error: BaseException, path: Path) -> Fail:
    """One line for an exception: the student's own line if it came from their file."""
    if isinstance(error, NotImplementedError) and in_file(error, path):
        return Fail(f"not written yet: {error or 'a function still raises NotImplementedError'}",
                    f"replace the 'raise NotImplementedError(...)' lines in {path.name} with your code")
    if in_file(error, path):
        return Fail(f"your code raised {where(error, path)}", "read that line: the error names what went wrong")
    return Fail(f"the check itself could not run: {type(error).__name__}: {error}",
                "run it again; if this keeps happening, show this message to your teacher")


def report_failure(description: str, failure: Fail, waiting: int) -> None:
    print(f"  FAIL  {description}")
    print(f"        what is wrong: {failure.what}")
    print(f"        hint: {failure.hint}")
    if waiting > 0:
        print(f"        ({waiting} more check{'s' if waiting > 1 else ''} will run once this one passes)")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
