"""python -m exercises.check [N ...]: run the checks of every exercise, or of exercise N, on your files.

    python -m exercises.check            # all exercises (make check)
    python -m exercises.check 3          # exercise 3 only (make check EX=3)
    python -m exercises.check 3 --solution   # the same checks on the solution (teachers)

A failing check says what is wrong and gives a hint; the checks after it wait
until it passes. Errors in your code are shown as one line (what, where), not
as a traceback, and so are errors in the project's own servers, which the checks
start (exercise 7 changes them). Exit status: 0 when every check passes, 1 otherwise.

Whatever a student's file does, the checker goes on and says it: a file that
ends the program (sys.exit()), waits for typing (input()) or never finishes
loading (a loop at the top) is a failing check like any other. Several exercises
run one after the other, each in a Python process of its own, so that what one
file leaves behind (a loop still spinning, a thread, an exit) cannot stop or
slow the checks of the next.
"""

import argparse
import ast
import importlib
import importlib.util
import io
import subprocess
import sys
import traceback
from pathlib import Path

from .checks import EXERCISES, SOLUTIONS, Fail, in_file, place, run_in_thread, where

HERE = Path(__file__).resolve().parent
LOAD_LIMIT = 10  # seconds a student's file may take to load: a loop at its top never ends
SETUP = 60  # seconds an exercise's process may take beyond its checks' own limits (starting, exercise 7's copy)
PROJECT = ("clients", "servers")  # the project's own packages: they hold answers to the exercises


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
    sys.stdin = io.StringIO()  # nobody types into the checks: an input() in a student's file ends at once
    try:
        if len(numbers) == 1:
            passed = [run_exercise(numbers[0], folder)]
        else:
            options = ["--solution"] if args.solution else ["--dir", str(args.dir)]
            passed = [run_apart(number, options) for number in numbers]
    except KeyboardInterrupt:
        print("\nStopped.")
        return 1
    if len(numbers) > 1:
        print(f"\n{sum(passed)} of {len(numbers)} exercises pass.")
    return 0 if all(passed) else 1


def run_apart(number: int, options: list[str]) -> bool:
    """Exercise ``number``'s checks in a Python process of their own (``python -m exercises.check N``), its output
    shown as it comes; True if they all pass."""
    try:
        exercise = checks_of(number)
    except Fail as failure:
        report_unloadable(number, failure)
        return False
    budget = LOAD_LIMIT + SETUP + sum(check.timeout for check in exercise.CHECKS)
    sys.stdout.flush()
    with subprocess.Popen([sys.executable, "-m", f"{__package__}.check", str(number), *options],
                          stdin=subprocess.DEVNULL) as child:
        try:
            status = child.wait(budget)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            report_failure(f"exercise {number}'s checks finish", Fail(
                f"they were still running after {budget:g} seconds", "your code may wait forever: a request "
                "without a timeout, or a loop that never ends"), 0)
            return False
    if status not in (0, 1):  # the process ended some other way than the checker ends it
        report_failure(f"exercise {number}'s checks finish", Fail(
            f"the checks' process ended early (exit status {status})", "does your code end the program "
            "(os._exit(), or a crash)? Let your functions return instead"), 0)
    return status == 0


def run_exercise(number: int, folder: Path) -> bool:
    """Load the student's file and run the exercise's checks in order; True if all pass."""
    try:
        exercise = checks_of(number)
    except Fail as failure:
        report_unloadable(number, failure)
        return False
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
        if hasattr(exercise, "prepare"):
            student.close()  # what the checks started (exercise 7: the servers)
    print(f"  All {len(exercise.CHECKS)} checks pass.")
    return True


def checks_of(number: int):
    """Exercise ``number``'s checks module. It imports the project's own servers and clients (the checks run them),
    so a file there that does not load (exercise 7's work in progress, say) is a Fail naming its line."""
    try:
        return importlib.import_module(f"{__package__}.checks.{EXERCISES[number]}")
    except Exception as error:  # a SyntaxError, a NameError...: whatever the file's loading raised
        if isinstance(error, SyntaxError):
            path = Path(error.filename or "?")
            what = f"Python cannot read {_shown(path)}: {error.msg} (line {error.lineno})"
        else:
            last = [frame for frame in traceback.extract_tb(error.__traceback__)
                    if not frame.filename.startswith("<")][-1]  # the innermost line of a file, past importlib's
            path = Path(last.filename)
            what = f"{_shown(path)} raised {type(error).__name__} while loading: {error} (line {last.lineno})"
        raise Fail(what, f"exercise {number}'s checks start the project's own servers, so {_shown(path)} must load: "
                   "fix it, or, if it is exercise 7's work in progress, set that aside with 'git stash' "
                   "('git stash pop' brings it back)") from None


def report_unloadable(number: int, failure: Fail) -> None:
    print(f"\nExercise {number}")
    report_failure(f"exercise {number}'s checks load", failure, 0)


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
    """Import the student's file as a module, within LOAD_LIMIT seconds, turning whatever goes wrong (an error,
    an exit, an input(), a loop that never ends, an import of the project's own answer) into a Fail."""
    if not path.is_file():
        raise Fail(f"{_shown(path)} does not exist", "the exercise's starter file belongs there: "
                   "restore it with 'git checkout -- " + _shown(path) + "'")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    loading = run_in_thread(spec.loader.exec_module, module, name=f"loading {path.name}")
    loading.join(LOAD_LIMIT)
    on_top = "code outside functions runs as soon as the file loads"
    if loading.is_alive():
        raise Fail(f"{path.name} did not finish loading within {LOAD_LIMIT} seconds",
                   f"{on_top}: a loop there (while True:) never ends. Try your functions under "
                   "if __name__ == \"__main__\": instead, which the checks do not run")
    error = loading.error
    if isinstance(error, SyntaxError):
        raise Fail(f"Python cannot read {path.name}: {error.msg} (line {error.lineno})",
                   "look at that line and the one before it: a missing bracket, colon or quote")
    if isinstance(error, SystemExit):
        raise Fail(f"{path.name} ends the program while loading: sys.exit() or exit(){place(error, path)}",
                   f"{on_top}: remove that exit (the checks call your functions themselves)")
    if isinstance(error, EOFError) and in_file(error, path):
        print()  # after input()'s prompt
        raise Fail(f"{path.name} waits for typing while loading: input(){place(error, path)}",
                   f"{on_top}, and nobody types into the checks: remove the input(), or put your trials under "
                   "if __name__ == \"__main__\":")
    if error is not None:
        raise Fail(f"{path.name} raised an error while loading: {where(error, path)}",
                   f"fix that line; {on_top}")
    if used := project_imports(path):
        raise Fail(f"{path.name} imports the project's own code: {used}", "the exercise is to write it yourself: "
                   f"the project's {' and '.join(f'{name}/' for name in PROJECT)} hold answers, so leave them out "
                   "(the standard library, and requests, are yours to use)")
    return module


def project_imports(path: Path) -> str:
    """The first import of the project's own packages in the file at ``path`` (``from clients.wire import ...``),
    wherever it is; "" if none."""
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] in PROJECT for alias in node.names):
            return f"{ast.unparse(node)} (line {node.lineno})"
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in PROJECT:
            return f"{ast.unparse(node)} (line {node.lineno})"
    return ""


def run_check(check, student, path: Path):
    """Run one check with its time bound; errors in the student's code become a Fail."""
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
    if isinstance(error, SystemExit) and in_file(error, path):
        return Fail(f"your code ends the program: sys.exit() or exit(){place(error, path)}",
                    "return the answer instead: the checks call your function and need what it returns")
    if isinstance(error, EOFError) and in_file(error, path):
        return Fail(f"your code waits for typing: input(){place(error, path)}",
                    "nobody types into the checks: your function gets what it needs as its arguments")
    if in_file(error, path):
        return Fail(f"your code raised {where(error, path)}", "read that line: the error names what went wrong")
    return Fail(f"the check could not use what your code gave it: {type(error).__name__}: {error}",
                "compare what your code returns (or answers) with what the statement asks for: its type, its fields")


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
