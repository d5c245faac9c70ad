"""The Autobahn TestSuite's ``wstest`` in a Python 2.7 virtualenv of its own: where it lives and how it gets there.

Why a second Python: the suite (``autobahntestsuite`` on PyPI), the conformance suite most WebSocket
implementations are checked against, is Python 2.7 code, up to its latest release. Debian 12 no longer packages
Python 2, so the interpreter is one that pyenv built (``pyenv install 2.7.18``; found in ``$PYENV_ROOT/versions``)
or the one ``PYTHON2=/path/to/python2.7`` names. Everything else comes from PyPI at the versions
requirements-wstest.txt pins, into ``.wstest/``, never into ``.venv``: virtualenv 16 (the project's own pip fetches
it; it runs on Python 2.7 and brings pip and setuptools for it) makes the environment, whose pip installs the suite.

``python tests/autobahn_suite.py`` installs it (``make test`` and ``make conformance`` run it); once done, it
returns at once. Without Python 2.7 it says what to install and exits 0, so that ``make test`` goes on and only
the conformance check skips (in CI it fails); ``--require`` makes that an error, as ``make conformance`` wants.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".wstest"  # the virtualenv; delete it to start over
WSTEST = HOME / "bin" / "wstest"
REQUIREMENTS = ROOT / "requirements-wstest.txt"
VIRTUALENV = "virtualenv==16.7.12"  # the last virtualenv that runs on Python 2.7 with no other package
STAMP = HOME / "installed"  # what was installed and with which Python: an unchanged second run returns at once
INSTALL_TIMEOUT = 900  # seconds a step may take: the suite compiles Twisted and C accelerators (about 2 minutes)


class NotInstallable(Exception):
    """Why the suite cannot be installed here, in words that say what to do."""


def python27() -> str:
    """The path of a Python 2.7 interpreter: ``$PYTHON2``, else ``python2.7`` or ``python2`` on the PATH, else the
    newest one pyenv built. A pyenv shim that is on the PATH but not selected does not count: it cannot run."""
    if named := os.environ.get("PYTHON2"):
        if not runs_python27(named):
            raise NotInstallable(f"PYTHON2={named} is not a Python 2.7 interpreter that runs")
        return named
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    built = sorted(pyenv.glob("versions/2.7.*/bin/python2.7"), key=patch_level, reverse=True)
    for candidate in [shutil.which("python2.7"), shutil.which("python2"), *map(str, built)]:
        if candidate and runs_python27(candidate):
            return candidate
    raise NotInstallable("the Autobahn TestSuite needs a Python 2.7 interpreter, and none was found (Debian 12 no "
                         "longer packages one): `pyenv install 2.7.18`, or name one with PYTHON2=/path/to/python2.7")


def patch_level(python: Path) -> int:
    """18 for .../versions/2.7.18/bin/python2.7, so that 2.7.18 comes before 2.7.9 (0 for 2.7.18-debug and such)."""
    found = re.fullmatch(r"2\.7\.(\d+)", python.parent.parent.name)
    return int(found.group(1)) if found else 0


def runs_python27(python: str) -> bool:
    """Whether ``python`` runs and says it is 2.7 (an exit code alone would take ``true`` for one)."""
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "2.7"


def fingerprint(python: str) -> str:
    """What an installation is made of: a change to any of it (not to a comment) means installing again."""
    lines = (line.strip() for line in REQUIREMENTS.read_text().splitlines())
    pins = hashlib.sha256("\n".join(line for line in lines if line and not line.startswith("#")).encode())
    return f"{python}\n{VIRTUALENV}\nrequirements-wstest.txt {pins.hexdigest()}\n"


def installed() -> bool:
    """Whether ``.wstest`` holds the suite as requirements-wstest.txt pins it today (and its Python still runs)."""
    if not (STAMP.is_file() and WSTEST.is_file()):
        return False
    stamp = STAMP.read_text()
    return stamp == fingerprint(stamp.split("\n", 1)[0]) and runs_python27(str(HOME / "bin" / "python"))


def missing() -> str | None:
    """Why ``wstest`` cannot run here, or None when it can: what a test that needs it tells."""
    if installed():
        return None
    try:
        python27()
    except NotInstallable as why:
        return str(why)
    return ("the Autobahn TestSuite is not installed in .wstest/: `make test` installs it "
            "(or `.venv/bin/python tests/autobahn_suite.py`, which says what went wrong)")


def install(python: str) -> None:
    """Make ``.wstest`` from scratch with ``python`` (2.7): virtualenv, then the pinned suite (``--no-deps``: nothing
    unpinned can come in), then ``pip check`` (the pins are complete and agree). Raises NotInstallable on failure."""
    shutil.rmtree(HOME, ignore_errors=True)  # an outdated or half-made one: start over
    quiet = {**os.environ, "PIP_NO_PYTHON_VERSION_WARNING": "1"}  # pip on 2.7 would say at every step that 2.7 is old
    with tempfile.TemporaryDirectory() as bootstrap:
        step("fetch virtualenv", [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                  bootstrap, VIRTUALENV])
        step("make the Python 2.7 virtualenv", [python, "-m", "virtualenv", "--quiet", "--no-download", str(HOME)],
             env={**quiet, "PYTHONPATH": bootstrap})
    pip = [str(HOME / "bin" / "python"), "-m", "pip"]
    step("install requirements-wstest.txt", pip + ["install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)], quiet)
    step("check that the pins agree", pip + ["check"], quiet)
    STAMP.write_text(fingerprint(python))


def step(what: str, command: list[str], env: dict | None = None) -> None:
    """Run one step of the installation; only a failure shows what it printed (pip's last lines)."""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NotInstallable(f"could not {what}: {error}") from error
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise NotInstallable(f"could not {what}: `{' '.join(command)}` exited with {done.returncode}:\n"
                             + "\n".join(said))


def main(argv: list[str]) -> int:
    if installed():
        return 0
    try:
        python = python27()
        print(f"Installing the Autobahn TestSuite (the RFC 6455 conformance check) into {HOME.name}/, for {python}...")
        install(python)
    except NotInstallable as why:
        if "--require" in argv:
            print(f"Not installed: {why}", file=sys.stderr)
            return 1
        print(f"Not installed: {why}\nThe conformance check (tests/test_conformance.py) is skipped here "
              "(when CI is set it fails instead).", file=sys.stderr)
        return 0
    print(f"Installed: {WSTEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
