"""Every exercise's checks fail on its untouched starter, on each wrong solution of the catalogue (with the hint
that names its mistake), and pass on its solution, run as a student runs them.

A check that passes on the starter would tell a student "done" before they start;
one that passes a wrong solution teaches the wrong thing; one that fails on the
solution would never let them finish. Each run is a real ``python -m exercises.check N``
process: real servers, real output, no traceback.

The catalogue, ``tests/wrong_solutions/NN-exercise/``, holds the mistakes a class makes, kept here rather than
beside the exercises, where students look for hints: for exercises 1 to 6 each file is a whole student file;
for exercise 7, the changes (``CHANGES``) that turn the solved servers into a wrong one. Each file's docstring
says which check must fail (``Fails:``, the start of its description) and what its hint must say (``Hint:``).
"""

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exercises.checks import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tests" / "wrong_solutions"
WRONG = sorted(CATALOGUE.glob("[0-9][0-9]-*/*.py"))
AT_LEAST = 6  # plausible mistakes per exercise in the catalogue
# Wrong solutions that every check once passed: each must stay in the catalogue.
ONCE_PASSED = {"01-follow-the-board": {"off_by_one_reset", "short_polling", "retry_without_pause"},
               "04-clock-offset": {"median_of_the_offsets"},
               "05-class-of-30": {"a_message_body_in_every_short_poll", "divides_by_eight"},
               "06-reconnect": {"raises_a_new_timeout_error"},
               "07-one-feature": {"lower_not_casefold", "refuses_100_characters", "a_list_body_is_a_500",
                                  "searches_the_oldest_500_only", "matches_authors_too"}}


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exercises.check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=150)


def assert_readable(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize("number", EXERCISES)
def test_the_checks_fail_on_the_untouched_starter(number):
    done = check(str(number))
    assert_readable(done)
    assert done.returncode == 1, done.stdout
    assert "FAIL" in done.stdout and "what is wrong: " in done.stdout and "hint: " in done.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("number", EXERCISES)
def test_the_checks_pass_on_the_solution(number):
    done = check(str(number), "--solution")
    assert_readable(done)
    assert done.returncode == 0, done.stdout
    assert "FAIL" not in done.stdout and "checks pass." in done.stdout


@pytest.mark.parametrize("number", EXERCISES)
def test_every_exercise_has_a_statement_a_starter_and_a_solution(number):
    exercise = __import__(f"exercises.checks.{EXERCISES[number]}", fromlist=["FOLDER"])
    folder = ROOT / "exercises" / exercise.FOLDER
    assert folder.name.startswith(f"{number:02d}-")
    assert (folder / "README.md").is_file()
    if hasattr(exercise, "prepare"):  # the starter is the servers themselves; the solution, a patch of them
        assert all((ROOT / name).is_file() for name in exercise.FILES)
        assert (ROOT / "exercises" / "solutions" / exercise.FOLDER / exercise.SOLUTION).is_file()
    else:
        assert (folder / exercise.FILE).is_file()
        assert (ROOT / "exercises" / "solutions" / exercise.FOLDER / exercise.FILE).is_file()
    assert f"make check EX={number}" in (folder / "README.md").read_text()
    assert f"{exercise.FOLDER}/README.md" in (ROOT / "exercises" / "README.md").read_text()


def expectation(path: Path) -> tuple[str, str]:
    """What a wrong solution's docstring promises: the check that fails (the start of its description) and a part
    of the hint it must get."""
    lines = ast.get_docstring(ast.parse(path.read_text())).splitlines()
    fields = {line.partition(": ")[0]: line.partition(": ")[2] for line in lines if line.startswith(("Fails: ",
                                                                                                    "Hint: "))}
    return fields["Fails"], fields["Hint"]


def wrong_copy(tmp_path: Path, path: Path) -> Path:
    """A folder to check with ``--dir``, holding the wrong solution ``path`` where the student's work goes."""
    number = int(path.parent.name[:2])
    exercise = importlib.import_module(f"exercises.checks.{EXERCISES[number]}")
    if not hasattr(exercise, "prepare"):
        return write(tmp_path, exercise.FOLDER, exercise.FILE, path.read_text())
    servers = solved_servers(tmp_path)  # exercise 7: the solved servers, changed as the file says
    changes = {}
    exec(compile(path.read_text(), str(path), "exec"), changes)
    for name, edits in changes["CHANGES"].items():
        source = (servers / name).read_text()
        for old, new in edits:
            assert source.count(old) == 1, f"{path.name}: {old!r} is not in the solved {name} exactly once"
            source = source.replace(old, new)
        (servers / name).write_text(source)
    return tmp_path


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", WRONG, ids=lambda path: f"{path.parent.name[:2]}-{path.stem}")
def test_each_wrong_solution_fails_with_the_hint_that_names_its_mistake(tmp_path, path):
    fails, hint = expectation(path)
    done = check(path.parent.name[:2].lstrip("0"), "--dir", str(wrong_copy(tmp_path, path)))
    assert_readable(done)
    assert done.returncode == 1, done.stdout
    assert f"  FAIL  {fails}" in done.stdout, done.stdout
    hints = [line for line in done.stdout.splitlines() if line.startswith("        hint: ")]
    assert len(hints) == 1 and hint in hints[0], done.stdout


def test_the_catalogue_holds_enough_mistakes_for_every_exercise_and_those_that_once_passed():
    for number in EXERCISES:
        exercise = importlib.import_module(f"exercises.checks.{EXERCISES[number]}")
        names = {path.stem for path in WRONG if path.parent.name == exercise.FOLDER}
        assert len(names) >= AT_LEAST, (exercise.FOLDER, sorted(names))
        assert ONCE_PASSED.get(exercise.FOLDER, set()) <= names, exercise.FOLDER
        for path in CATALOGUE.glob(f"{exercise.FOLDER}/*.py"):
            expectation(path)  # every one says what must fail, and how


def write(tmp_path: Path, folder: str, name: str, text: str) -> Path:
    (tmp_path / folder).mkdir()
    (tmp_path / folder / name).write_text(text)
    return tmp_path


def test_a_file_python_cannot_read_is_one_line_not_a_traceback(tmp_path):
    write(tmp_path, "02-accept-key", "accept.py", "def accept_key(key)\n    return key\n")
    done = check("2", "--dir", str(tmp_path))
    assert_readable(done)
    assert done.returncode == 1
    assert "Python cannot read accept.py: expected ':' (line 1)" in done.stdout


def test_an_error_in_the_students_code_names_their_line(tmp_path):
    write(tmp_path, "02-accept-key", "accept.py", "def accept_key(key):\n    return key + 1\n")
    done = check("2", "--dir", str(tmp_path))
    assert_readable(done)
    assert "your code raised TypeError: " in done.stdout and "(accept.py, line 2, in accept_key)" in done.stdout


def test_a_wrong_answer_gets_a_hint_for_that_mistake(tmp_path):
    write(tmp_path, "02-accept-key", "accept.py", "import hashlib\n\ndef accept_key(key):\n    return hashlib.sha1("
          "(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).hexdigest()\n")
    done = check("2", "--dir", str(tmp_path))
    assert "hint: that is the hash in hex" in done.stdout
    assert "0 of 3 checks pass." in done.stdout


def test_an_unknown_exercise_is_refused_with_the_list(tmp_path):
    done = check("9")
    assert done.returncode == 2 and "there is no exercise '9': choose from 1, 2, 3, 4, 5, 6, 7" in done.stderr


def solved_servers(tmp_path: Path) -> Path:
    """A copy of servers/ with exercise 7's solution applied, in tmp_path/servers, for a test to break."""
    from exercises.checks import feature

    solved = feature.prepare(ROOT / "exercises" / "solutions")
    try:
        shutil.copytree(solved.root / "servers", tmp_path / "servers")
    finally:
        solved.close()
    return tmp_path / "servers"


def move_search_after_read_messages(source: str) -> str:
    start, end = source.index("\n\ndef search_messages("), source.index("\n\ndef read_messages(")
    search, rest = source[start:end], source[:start] + source[end:]
    later = rest.index("\n\ndef page(")
    return rest[:later] + search + rest[later:]


@pytest.mark.parametrize("breaking, fail, what", [
    (lambda s: s.replace("chat.search(read_search(web.read_json()))", "chat.search(read_serch(web.read_json()))"),
     "POST /api/search finds", "POST /api/search answered 500: your server raised NameError: name 'read_serch' "
                               "is not defined (polling_server.py, line "),
    (lambda s: s.replace("def send_message():", "def send_message()"), "your servers start",
     "your servers did not start: SyntaxError: expected ':' (polling_server.py, line "),
    (move_search_after_read_messages, "diff servers/polling_server.py servers/websocket_server.py still shows only",
     "the functions both files have come in another order"),
    (lambda s: s.replace("    found = chat.search(read_search(web.read_json()))\n",
                         "    wanted = read_search(web.read_json()).casefold()\n    found = [message for message in "
                         "chat.board.after(0) if wanted in message.text.casefold()][-20:]\n"),
     "diff servers/polling_server.py servers/websocket_server.py still shows only",
     "in polling_server.py, no function calls the core's search")],
    ids=["a-bug-in-a-view", "a-syntax-error", "out-of-order", "searching-in-the-transport"])
def test_exercise_7_catches_what_breaks_the_servers_or_the_twins(tmp_path, breaking, fail, what):
    """Its last check reads the twins: a search that works over both transports, but out of step, does not pass."""
    servers = solved_servers(tmp_path)
    source = (servers / "polling_server.py").read_text()
    assert breaking(source) != source
    (servers / "polling_server.py").write_text(breaking(source))
    done = check("7", "--dir", str(tmp_path))
    assert_readable(done)
    assert done.returncode == 1
    assert f"FAIL  {fail}" in done.stdout and f"what is wrong: {what}" in done.stdout, done.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")), ids=lambda p: p.stem)
def test_every_notebooks_try_it_points_to_its_exercise(path):
    import nbformat

    cells = [cell.source for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "markdown" and "## Try it" in cell.source]
    assert len(cells) == 1
    links = [link for link in (ROOT / "notebooks").glob("../exercises/*/README.md")
             if f"../exercises/{link.parent.name}/README.md" in cells[0]]
    assert links, "the Try it cell links no exercise"
    for link in links:
        assert f"make check EX={int(link.parent.name[:2])}" in cells[0]
