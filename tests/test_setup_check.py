"""The pre-class set-up check, run as a student runs it, against real servers, busy ports and wrong addresses."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from clients import setup_check
from servers.twins import Twins

ROOT = Path(__file__).resolve().parent.parent


def setup_check_run(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "clients.setup_check", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_ready_when_everything_answers():
    with Twins() as twins:
        done = setup_check_run("--url", twins.polling.url, "--ports", *map(str, free_ports(2)))
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[:3] == [f"[ok] Python: {sys.version_info[0]}.{sys.version_info[1]}",
                         f"[ok] virtual environment: {ROOT / '.venv'}",
                         "[ok] packages: all of requirements.txt, at the tested versions"]
    assert f"[ok] the teacher's polling server (127.0.0.1:{twins.polling.port}): answers" in lines
    assert (f"[ok] the teacher's WebSocket server (127.0.0.1:{twins.websocket.port}): answers, and a WebSocket "
            "opens") in lines
    assert lines[-1] == "Ready for class."


def test_a_busy_port_says_how_to_free_it_or_move():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = setup_check_run("--ports", str(port))
    assert done.returncode == 1
    assert f"[FIX] port {port}: in use by another program: if a demo already runs, stop it with Ctrl-C" in done.stdout
    assert done.stdout.rstrip().endswith("1 thing to fix (see FIX above).")


def test_the_usual_ports_suggest_another_port_for_the_demo():
    assert setup_check.PORTS == (8001, 8002)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        setup_check.PORTS, saved = (port, 8002), setup_check.PORTS  # as if 8001 were taken
        try:
            ok, _, detail = setup_check.check_port(port)
        finally:
            setup_check.PORTS = saved
    assert not ok and f'make demo ARGS="--polling-port {port + 100}"' in detail


def test_a_teacher_server_that_is_not_running_is_explained():
    with Twins() as twins:
        url = twins.polling.url
    done = setup_check_run("--url", url, "--ports", *map(str, free_ports(1)))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"nothing listens on port {url.rsplit(':', 1)[1]} of 127.0.0.1" in done.stdout
    assert "--host 0.0.0.0" in done.stdout


def test_another_program_on_the_port_is_told_apart():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        answering = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
                                     stdout=subprocess.PIPE, text=True)  # a stranger that speaks HTTP
        try:
            line = answering.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
            other = int(line.split(" port ")[1].split()[0])
            done = setup_check_run("--url", f"http://127.0.0.1:{other}", "--ports", str(port))
        finally:
            answering.terminate()
            answering.wait(5)
            answering.stdout.close()
    assert "something else answers there (HTTP 404): check the port" in done.stdout


@pytest.mark.parametrize("url", ["192.168.1.20:8001", "ws://127.0.0.1:8002/ws", "http://127.0.0.1:port"])
def test_a_malformed_url_shows_the_form_it_needs(url):
    done = setup_check_run("--url", url, "--ports", *map(str, free_ports(1)))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "is not an address like http://192.168.1.20:8001" in done.stdout


def test_python_outside_the_venv_is_told_to_use_it():
    outside = sys._base_executable  # the interpreter the venv was made from (a venv's python links to it)
    assert sys.prefix != sys.base_prefix, "these tests run in the project's virtual environment"
    done = setup_check_run("--ports", *map(str, free_ports(1)), python=outside)
    assert "[FIX] virtual environment: this Python is not in one: run make install once" in done.stdout


@pytest.mark.parametrize(("version", "ok"), [((3, 11), True), ((3, 13), True), ((3, 10), False), ((2, 7), False)])
def test_the_python_version(version, ok):
    passed, _, detail = setup_check.check_python(version)
    assert passed is ok
    if not ok:
        assert "is too old: install Python 3.11 or newer" in detail


def test_packages_are_read_from_the_pins():
    pins = dict(setup_check.pinned(ROOT / "requirements.txt"))
    assert pins["flask"] and pins["websockets"]
