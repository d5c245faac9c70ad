"""The light student install, offline, in a fresh virtual environment: it runs the demo and a notebook.

This is the classroom path README.md documents: the teacher builds a wheel folder
once (``make wheels``, the only step that needs the internet), and each student
installs from it (``make install WHEELS=...``), getting what the demo, the notebooks
and the exercises need and none of the test tools. The test runs exactly those two
commands into temporary folders, so it takes a minute or two (pip's cache makes the
download quick after the first time).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02-open-a-websocket-by-hand.ipynb"  # the quickest of the five


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """A fresh venv with the student install, made offline from a wheel folder made just before."""
    require_tool("make")
    folder = tmp_path_factory.mktemp("install")
    wheels, venv = folder / "wheels", folder / "venv"
    make = ["make", "--no-print-directory", "-C", str(ROOT), f"PYTHON={sys._base_executable}"]
    for target in (["wheels", f"WHEELS={wheels}"], ["install", f"VENV={venv}", f"WHEELS={wheels}"]):
        done = subprocess.run(make + target, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "--no-index --find-links" in subprocess.run(make + ["-n", "install", f"VENV={folder / 'x'}",
                                                               f"WHEELS={wheels}"], capture_output=True,
                                                       text=True).stdout  # the install did not go online
    return venv


@pytest.mark.timeout(1200)
def test_the_light_install_has_no_test_tools(light):
    python = str(light / "bin" / "python")
    for package in ("pytest", "playwright"):
        assert subprocess.run([python, "-c", f"import {package}"], capture_output=True).returncode != 0, package
    assert subprocess.run([python, "-c", "import flask, wsproto, psutil, websockets, matplotlib, jupyterlab, nbclient"],
                          capture_output=True).returncode == 0


@pytest.mark.timeout(1200)
def test_the_light_install_runs_the_demo(light):
    demo = subprocess.Popen(["make", "--silent", "--no-print-directory", "-C", str(ROOT), "demo", f"VENV={light}",
                             "ARGS=--polling-port 0 --websocket-port 0 --quiet"], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)  # its own process group: Ctrl-C reaches the demo
    try:
        lines = [demo.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("Open the side-by-side page: http://127.0.0.1:"), lines
        url = lines[0].split(": ", 1)[1].strip().rstrip("/")
        ws_url = lines[2].split("(", 1)[1].rstrip(")\n")
        python = str(light / "bin" / "python")
        for client, where in (("clients.polling_client", url), ("clients.websocket_client", ws_url)):
            done = subprocess.run([python, "-m", client, "--once", "How are you?", "--url", where], cwd=ROOT,
                                  capture_output=True, text=True, timeout=30)
            assert done.stdout == "Client:How are you?\nServer:I am fine, thanks!\n", done.stderr
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C, as in a terminal: make and the demo both get it
        rest = demo.stdout.read()
        demo.wait(15)
        demo.stdout.close()
    assert rest == "Stopped.\n"  # the demo stopped both servers cleanly (make itself dies of the SIGINT)


@pytest.mark.timeout(1200)
def test_the_light_install_executes_a_notebook(light, tmp_path):
    kernels = tmp_path / "kernels" / "python3"  # the kernel runs in the light venv, whatever else is installed
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(light / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "light install", "language": "python"}))
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path), "PATH": f"{light / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MPLBACKEND", None)
    done = subprocess.run([str(light / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                           "--output-dir", str(tmp_path), str(NOTEBOOK)], cwd=ROOT / "notebooks", env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = json.loads((tmp_path / NOTEBOOK.name).read_text())
    outputs = [output for cell in executed["cells"] for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output["output_type"] == "error"]
    assert "server stopped" in "".join(outputs[-1]["text"])


# ---- without make: README's commands, as a Windows student types them (with .venv/bin/python for .venv\Scripts) ----

def readme_commands_without_make() -> list[list[str]]:
    """The command lines of README.md's block "Without `make`", comments dropped, each split into words."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Without `make` (Windows, or by hand)", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].split() for line in block.splitlines() if line.split("#", 1)[0].strip()]


@pytest.fixture(scope="module")
def without_make(light):
    """A venv made by README's first two commands, offline from the wheel folder ``light`` made: the pip line
    with the --no-index --find-links README gives for a class without internet."""
    wheels, venv = light.parent / "wheels", light.parent / "venv-without-make"
    make_venv, install = readme_commands_without_make()[:2]
    assert make_venv == ["python3", "-m", "venv", ".venv"] and install[1:] == ["-m", "pip", "install", "-r",
                                                                                "requirements.txt"]
    for command in ([sys._base_executable, *make_venv[1:-1], str(venv)],
                    [str(venv / "bin" / "python"), *install[1:], "--no-index", "--find-links", str(wheels)]):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return venv


def started(command: list[str], ready: str, timeout: float = 60) -> str:
    """Run a command that serves until stopped; return its output up to the line containing ``ready``, then
    stop it with Ctrl-C, as its user would."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        deadline = time.monotonic() + timeout
        while ready not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"it ended: {output}"
            output += line
        assert ready in output, output
        return output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.timeout(1200)
def test_readmes_commands_without_make_run(without_make):
    python = str(without_make / "bin" / "python")
    ran = []
    for command in readme_commands_without_make()[2:]:
        assert command[:2] == [".venv/bin/python", "-m"], command
        module, args = command[2], command[3:]
        ran.append(module)
        if module == "servers":  # the demo: both servers, until Ctrl-C
            started([python, "-m", module, *args, "--polling-port", "0", "--websocket-port", "0", "--quiet"],
                    "Press Ctrl-C")
        elif module == "jupyterlab":  # JupyterLab serves the notebooks folder
            root = ["--allow-root"] if os.geteuid() == 0 else []  # as the Makefile adds it
            output = started([python, "-m", module, *args, "--no-browser", "--ServerApp.port=0", *root],
                             "/lab?token=")
            assert f"Serving notebooks from local directory: {ROOT / 'notebooks'}" in output
        elif module == "pytest":  # the test suite itself: this is it
            continue
        else:
            done = subprocess.run([python, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=300)
            assert "Traceback" not in done.stderr, done.stderr
            if module == "exercises.check":  # the starter file: it runs, and says what is not written yet
                assert done.returncode == 1 and "FAIL" in done.stdout and "0 of 3 checks pass." in done.stdout
            else:
                assert done.returncode == 0, done.stdout + done.stderr
    assert ran == ["servers", "jupyterlab", "clients.predict", "exercises.check", "pytest"]
