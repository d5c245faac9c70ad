"""Every exercise's checks fail on its untouched starter, on each wrong solution of the catalogue (with the hint
that names its mistake), and pass on its solution, run as a student runs them.

A check that passes on the starter would tell a student "done" before they start;
one that passes a wrong solution teaches the wrong thing; one that fails on the
solution would never let them finish. Each run is a real ``python -m exercises.check N``
process: real servers, real output, no traceback.

The catalogue, ``tests/wrong_solutions/NN-exercise/``, holds the mistakes a class makes, kept here rather than
beside the exercises, where students look for hints. Each is a patch of the official solution (for exercise 7, of
the servers it solves) that makes one mistake, so the diff is the mistake; above the diff it says which check
must fail (``Fails:``, the start of its description), what its hint must say (``Hint:``) and, for some, what the
check must say is wrong (``What:``) or must not give away (``Not:``).
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tool
from exercises.checks import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tests" / "wrong_solutions"
WRONG = sorted(CATALOGUE.glob("[0-9][0-9]-*/*.patch"))
AT_LEAST = 6  # plausible mistakes per exercise in the catalogue
# Wrong solutions that every check once passed, or that a check once caught with a hint naming another mistake: each
# must stay in the catalogue.
ONCE_PASSED = {"01-follow-the-board": {"off_by_one_reset", "short_polling", "retry_without_pause",
                                       "after_is_the_newest_id", "counts_messages_for_after",
                                       "catches_connection_errors_only", "no_request_timeout",
                                       "swallows_every_exception", "timeout_equal_to_wait", "time_sleep_pause",
                                       "retries_every_five_seconds", "names_the_four_exceptions",
                                       "pauses_after_every_answer", "one_try_for_the_whole_loop",
                                       "reads_an_error_answer_as_messages"},
               "02-accept-key": {"imports_the_projects_answer"},
               "03-read-a-frame": {"opcode_keeps_the_rsv_bits", "fin_is_128", "uses_the_projects_reader",
                                   "opcode_from_the_low_five_bits"},
               "04-clock-offset": {"median_of_the_offsets", "the_second_exchange", "leaves_the_first_out",
                                   "stops_at_the_first_shorter_one", "rounds_to_milliseconds",
                                   "shortest_starts_at_one_second"},
               "05-class-of-30": {"a_message_body_in_every_short_poll", "divides_by_eight", "whole_polls_per_second",
                                  "whole_messages_per_second", "one_message_per_poll_at_most"},
               "06-reconnect": {"raises_a_new_timeout_error", "counts_attempts_from_one", "passes_the_random_module",
                                "one_count_for_every_call", "catches_every_exception", "a_bell_curve",
                                "wall_clock_deadline", "deadline_from_the_first_failure",
                                "time_left_read_before_the_attempt", "retries_refusals_only",
                                "catches_connection_errors_only"},
               "07-one-feature": {"lower_not_casefold", "refuses_100_characters", "a_list_body_is_a_500",
                                  "searches_the_oldest_500_only", "matches_authors_too",
                                  "casefolds_the_messages_only", "searches_the_newest_500_only",
                                  "counts_bytes_not_characters", "a_regular_expression",
                                  "reads_the_boards_private_list",
                                  "searches_in_both_transports", "flask_get_json", "websocket_skips_read_search",
                                  "strips_the_search", "upper_not_casefold", "caches_each_search",
                                  "strips_while_searching", "casefolds_before_counting", "drops_repeated_texts",
                                  "list_body_is_invalid_search", "route_with_a_trailing_slash"}}
ONCE_MISNAMED = {"01-follow-the-board": {"asks_another_wait_than_wait", "wait_of_two_and_a_half",
                                         "no_continue_after_the_pause", "forgets_the_board_after_a_failure"},
                 "02-accept-key": {"strips_the_padding", "str_of_the_bytes", "encodebytes_adds_a_newline",
                                   "base64_of_the_hex_digest", "returns_the_header_line", "b32_not_b64",
                                   "guid_missing_a_digit", "hmac_with_the_guid", "utf16_encoding"},
                 "03-read-a-frame": {"unmasked_payload_is_a_list", "decodes_text_payloads", "needs_one_byte_more",
                                     "payload_to_the_end_of_data", "mask_bit_from_byte_0"},
                 "04-clock-offset": {"floor_division", "round_trip_as_server_minus_sent", "uncertainty_plus_a_margin",
                                     "ignores_the_clock_it_is_given", "shortest_return_leg"},
                 "05-class-of-30": {"kibibits", "megabits", "both_directions_twice"},
                 "06-reconnect": {"xor_for_power", "gives_up_when_the_draw_is_too_long", "waits_the_rest_then_raises",
                                  "rounds_to_tenths", "zero_or_the_whole_bound", "attempt_count_capped_at_five",
                                  "draws_twice"},
                 "07-one-feature": {"a_search_that_never_ends", "answers_plain_text", "answers_typed_search"}}


def check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exercises.check", *args], cwd=cwd, capture_output=True,
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


def expectation(path: Path) -> dict[str, str]:
    """What a wrong solution promises above its diff: ``Fails`` (the start of the failing check's description),
    ``Hint`` (a part of its hint), maybe ``What`` (a part of what it says is wrong) and ``Not`` (what the check must
    not give away)."""
    text = path.read_text()
    about = text[:text.index("diff --git")]
    fields = {line.partition(": ")[0]: line.partition(": ")[2] for line in about.splitlines()
              if line.startswith(("Fails: ", "Hint: ", "What: ", "Not: "))}
    assert {"Fails", "Hint"} <= set(fields), f"{path.name} says neither which check fails nor its hint"
    return fields


def wrong_copy(tmp_path: Path, path: Path) -> Path:
    """A folder to check with ``--dir``: the official solution where the student's work goes, with the mistake
    the patch ``path`` makes in it."""
    exercise = importlib.import_module(f"exercises.checks.{EXERCISES[int(path.parent.name[:2])]}")
    if hasattr(exercise, "prepare"):
        solved_servers(tmp_path)  # exercise 7: the solved servers
    else:
        (tmp_path / exercise.FOLDER).mkdir()
        shutil.copy(ROOT / "exercises" / "solutions" / exercise.FOLDER / exercise.FILE, tmp_path / exercise.FOLDER)
    applied = subprocess.run(["git", "apply", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert applied.returncode == 0, f"{path.name} no longer applies to the solution: {applied.stderr}"
    return tmp_path


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", WRONG, ids=lambda path: f"{path.parent.name[:2]}-{path.stem}")
def test_each_wrong_solution_fails_with_the_hint_that_names_its_mistake(tmp_path, path):
    promised = expectation(path)
    done = check(path.parent.name[:2].lstrip("0"), "--dir", str(wrong_copy(tmp_path, path)))
    assert_readable(done)
    assert done.returncode == 1, done.stdout
    assert f"  FAIL  {promised['Fails']}" in done.stdout, done.stdout
    said = {line.strip().partition(": ")[0]: line.strip().partition(": ")[2] for line in done.stdout.splitlines()
            if line.startswith(("        hint: ", "        what is wrong: "))}
    assert promised["Hint"] in said["hint"], done.stdout
    assert promised.get("What", "") in said["what is wrong"], done.stdout
    assert "Not" not in promised or promised["Not"] not in done.stdout, done.stdout


def test_the_catalogue_holds_enough_mistakes_for_every_exercise_and_those_that_once_passed():
    for number in EXERCISES:
        exercise = importlib.import_module(f"exercises.checks.{EXERCISES[number]}")
        names = {path.stem for path in WRONG if path.parent.name == exercise.FOLDER}
        assert len(names) >= AT_LEAST, (exercise.FOLDER, sorted(names))
        assert ONCE_PASSED.get(exercise.FOLDER, set()) | ONCE_MISNAMED.get(exercise.FOLDER, set()) <= names, \
            exercise.FOLDER
        for path in CATALOGUE.glob(f"{exercise.FOLDER}/*"):
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


def test_a_file_that_exits_waits_for_typing_or_never_loads_is_told_and_the_next_exercises_still_run(tmp_path):
    """Code at the top of a student's file runs as it loads: an exit() there once ended the checker silently, with
    status 0 and the next exercises unchecked, and a loop or an input() there hung it with nothing said."""
    write(tmp_path, "02-accept-key", "accept.py", "import sys\nprint('trying')\nsys.exit()\n")
    write(tmp_path, "03-read-a-frame", "frame.py", "def parse_frame(data):\n    return None\n\n"
          "data = input('some bytes: ')\n")
    write(tmp_path, "04-clock-offset", "offset.py", "while True:  # trying things out\n    pass\n")
    done = check("2", "3", "4", "--dir", str(tmp_path))
    assert_readable(done)
    assert done.returncode == 1, done.stdout
    assert "what is wrong: accept.py ends the program while loading: sys.exit() or exit() (accept.py, line 3" \
        in done.stdout
    assert "what is wrong: frame.py waits for typing while loading: input() (frame.py, line 4" in done.stdout
    assert "what is wrong: offset.py did not finish loading within 10 seconds" in done.stdout
    assert "\n0 of 3 exercises pass." in done.stdout


def test_an_exit_in_the_students_function_is_their_mistake_not_the_end_of_the_checks(tmp_path):
    write(tmp_path, "02-accept-key", "accept.py", "import sys\n\n\ndef accept_key(key):\n    sys.exit(key)\n")
    done = check("2", "--dir", str(tmp_path))
    assert_readable(done)
    assert done.returncode == 1
    assert "what is wrong: your code ends the program: sys.exit() or exit() (accept.py, line 5, in accept_key)" \
        in done.stdout and "0 of 3 checks pass." in done.stdout


def test_exercise_6_gives_up_on_time_where_a_refused_connection_takes_two_seconds(monkeypatch):
    """The solution passes the deadline check even where each refusal takes 2 s: the check times the waits and the
    start of each attempt, not the refusals (it once expected a refusal to be quick, and failed the solution)."""
    from exercises.checks import backoff, solution

    with backoff.SlowToRefuse(2.0) as slow:  # refuses each connection after 2 s, as Windows does on 127.0.0.1
        monkeypatch.setattr(backoff, "free_port", lambda: slow.port)  # the port where nothing ever listens, slowly
        assert backoff.gives_up(solution(backoff.FOLDER, backoff.FILE)).startswith("gave up 2.")


def test_make_check_ends_with_the_checks_words_not_makes(tmp_path):
    """A beginner reads make's own "Error 1" line as a crash: after a failing check, make says nothing more."""
    require_tool("make")
    stamp = tmp_path / "installed"  # the student install, already made: make only runs the checks
    stamp.touch()
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "check", "EX=2",
                           f"BIN={Path(sys.executable).parent}", f"STUDENT={stamp}"], capture_output=True, text=True,
                          timeout=150)
    assert "FAIL" in done.stdout and "0 of 3 checks pass." in done.stdout  # the untouched starter
    assert done.returncode == 0 and "Error" not in done.stderr, done.stderr


def checkout_copy(tmp_path: Path) -> Path:
    """What a student's checkout holds of the project (the exercises, the servers, the clients), committed in a git
    repository of its own: a tree to change as a student would."""
    copy = tmp_path / "checkout"
    for folder in ("exercises", "servers", "clients"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the project"]):
        subprocess.run(["git", "-c", "user.name=student", "-c", "user.email=student@example.com", *command],
                       cwd=copy, check=True, capture_output=True)
    return copy


def test_exercise_7_solution_is_tried_in_a_copy_whatever_the_students_servers_hold(tmp_path):
    """A student who did exercise 7 has changed servers/, so the solution's patch no longer applies to it: --solution
    tries it on a copy of the committed servers/ instead. Where it applies to neither, it says so, and never
    suggests writing a diff over the patch; either way nothing in the checkout changes."""
    require_tool("git")
    copy = checkout_copy(tmp_path)
    patch = copy / "exercises" / "solutions" / "07-one-feature" / "search.patch"
    subprocess.run(["git", "apply", str(patch)], cwd=copy, check=True)  # the student's work: the same feature
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout
    done = check("7", "--solution", cwd=copy)
    assert_readable(done)
    assert done.returncode == 0 and "checked on a copy of the committed servers/" in done.stdout, done.stdout
    assert subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout == status

    subprocess.run(["git", "-c", "user.name=student", "-c", "user.email=student@example.com", "commit", "-qam",
                    "search"], cwd=copy, check=True)  # committed: the patch applies to nothing now
    done = check("7", "--solution", cwd=copy)
    assert_readable(done)
    assert done.returncode == 1 and "the solution does not apply to servers/" in done.stdout, done.stdout
    assert "git diff" not in done.stdout and ">" not in done.stdout.split("hint:")[1]
    assert subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout == ""


def test_servers_that_do_not_load_are_one_line_for_the_exercises_that_start_them(tmp_path):
    """Halfway through exercise 7, servers/chat.py may not load; the checks of exercises 2 and 3 start the servers
    (their reference peer), and once ended in a traceback through the checker's own import instead of saying which
    file to fix, alone or among several exercises."""
    require_tool("git")
    copy = checkout_copy(tmp_path)
    chat = copy / "servers" / "chat.py"
    line = len(chat.read_text().splitlines()) + 1
    chat.write_text(chat.read_text() + "def search(text:\n")  # a student's half-written function
    for numbers in (["2"], ["2", "3"]):
        done = check(*numbers, cwd=copy)
        assert_readable(done)
        assert done.returncode == 1, done.stdout
        for number in numbers:
            assert f"  FAIL  exercise {number}'s checks load\n        what is wrong: Python cannot read " \
                f"servers/chat.py: " in done.stdout and f"(line {line})" in done.stdout, done.stdout
            assert f"hint: exercise {number}'s checks start the project's own servers, so servers/chat.py must " \
                "load: fix it" in done.stdout and "'git stash'" in done.stdout, done.stdout


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
