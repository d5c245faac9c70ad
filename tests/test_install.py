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
