"""The pre-class set-up check, run as a student runs it, against real servers, busy ports and wrong addresses."""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clients import setup_check
from conftest import require_tool, unavailable
from servers.cluster.processes import free_ports
from servers.twins import Twins

ROOT = Path(__file__).resolve().parent.parent


def setup_check_run(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "clients.setup_check", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


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


@pytest.mark.parametrize("status", [302, 511])
def test_a_captive_portal_in_the_teachers_place_is_told_apart(status):
    """A Wi-Fi that wants a sign-in first answers every request itself: with a redirect to its login page, or
    with 511 Network Authentication Required."""
    class Portal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Location", "http://login.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Portal) as portal:
        threading.Thread(target=portal.serve_forever, daemon=True).start()
        try:
            done = setup_check_run("--url", f"http://127.0.0.1:{portal.server_address[1]}", "--ports",
                                   *map(str, free_ports(1)))
        finally:
            portal.shutdown()
    assert done.returncode == 1
    assert f"a login page answers instead of the teacher's server (HTTP {status})" in done.stdout


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
        assert "is too old: this project's packages need Python 3.11 or newer. Install one beside it:" in detail


@pytest.mark.parametrize(("platform", "advice"), [
    ("linux", "sudo apt-get install python3.11 python3.11-venv, then make install PYTHON=python3.11"),
    ("darwin", "brew install python@3.12, then make install PYTHON=python3.12"),
    ("win32", "winget install Python.Python.3.12, then py -3.12 -m venv .venv")])
def test_a_python_too_old_is_told_what_to_install_on_its_system(platform, advice):
    assert advice in setup_check.check_python((3, 10), platform)[2]


def older_python() -> str:
    """A Python older than the project needs (pyenv keeps several on the test machines), or skip (fail in CI)."""
    for candidate in sorted(Path.home().glob(".pyenv/versions/3.*/bin/python")) + [
            Path(found) for name in ("python3.10", "python3.9") if (found := shutil.which(name))]:
        version = subprocess.run([str(candidate), "-c", "import sys; print(sys.version_info[:2] < (3, 11))"],
                                 capture_output=True, text=True).stdout.strip()
        if version == "True" and not candidate.name.startswith("python2"):
            return str(candidate)
    unavailable("no Python older than 3.11 here (pyenv install 3.10 gives one)")


@pytest.mark.timeout(60)
def test_make_install_with_a_python_too_old_says_what_to_install_before_downloading_anything(tmp_path):
    old = older_python()
    venv = tmp_path / "venv"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install", f"PYTHON={old}",
                           f"VENV={venv}"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "[FIX] Python: 3." in done.stdout and "is too old" in done.stdout and "Install one beside it" in done.stdout
    assert "No matching distribution" not in done.stdout + done.stderr
    assert not venv.exists()  # stopped before the venv, let alone pip
    direct = setup_check_run("--url", "http://127.0.0.1:1", python=old)  # by hand, before any install
    assert "[FIX] Python:" in direct.stdout and "[FIX] the teacher's servers: not checked: fix Python first" in \
        direct.stdout and "Traceback" not in direct.stderr


def test_packages_are_read_from_the_pins():
    pins = dict(setup_check.pinned(ROOT / "requirements.txt"))
    assert pins["flask"] and pins["websockets"]


# ---- through a proxy, as a browser goes: tinyproxy, a real HTTP proxy, between the check and the teacher ----

class Tinyproxy:
    """tinyproxy on a free loopback port, with ``settings`` (lines of its configuration) added."""

    def __init__(self, folder: Path, *settings: str) -> None:
        self.port = free_ports(1)[0]
        config = folder / f"tinyproxy-{self.port}.conf"
        config.write_text("\n".join([f"Port {self.port}", "Listen 127.0.0.1", "Timeout 10", "LogLevel Error",
                                     "MaxClients 20", *settings]) + "\n")
        self.process = subprocess.Popen([require_tool("tinyproxy"), "-d", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.process.poll() is None, "tinyproxy did not start"
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture
def proxies(tmp_path):
    started: list[Tinyproxy] = []

    def start(*settings: str) -> Tinyproxy:
        started.append(Tinyproxy(tmp_path, *settings))
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def teacher(chat, lan_address):
    """The teacher's servers on this machine's network address: not loopback, so a browser would use a proxy."""
    with Twins(chat, host=lan_address) as twins:
        yield twins


def through(proxy_url: str, teacher, *, bypass: str = "") -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
    env.update(http_proxy=proxy_url, HTTP_PROXY=proxy_url, no_proxy=bypass, NO_PROXY=bypass)
    return subprocess.run([sys.executable, "-m", "clients.setup_check", "--url", teacher.polling.url, "--ports",
                           *map(str, free_ports(1))], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def test_through_a_proxy_that_carries_both_the_check_says_so(proxies, teacher):
    proxy = proxies()
    done = through(proxy.url, teacher)
    assert done.returncode == 0, done.stdout
    where = f"through your proxy, 127.0.0.1:{proxy.port}"
    assert f"[ok] {where}: the teacher's polling server answers, as your browser will reach it" in done.stdout
    assert f"[ok] a WebSocket {where}: opens: the proxy tunnels it" in done.stdout


def test_a_proxy_that_refuses_websockets_fails_where_a_straight_connection_passes(proxies, teacher):
    """A school proxy that tunnels only to port 443: the straight checks pass, the browser's WebSocket would not."""
    proxy = proxies("ConnectPort 443")
    done = through(proxy.url, teacher)
    assert done.returncode == 1
    assert f"[ok] the teacher's WebSocket server ({teacher.polling.host}:{teacher.websocket.port}): answers" in \
        done.stdout
    assert (f"[FIX] a WebSocket through your proxy, 127.0.0.1:{proxy.port}: your browser goes through the proxy "
            f"127.0.0.1:{proxy.port}, which will not carry a WebSocket to port {teacher.websocket.port} (HTTP 403 to "
            "CONNECT)") in done.stdout
    assert f"Ask for {teacher.polling.host} to be added to its bypass list" in done.stdout


def test_a_proxy_that_cannot_be_reached_or_is_bypassed(teacher):
    nobody = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    done = through(nobody, teacher)
    assert done.returncode == 1
    assert "[FIX] through your proxy" in done.stdout
    assert "which cannot be reached (ConnectionRefusedError" in done.stdout
    bypassed = through(nobody, teacher, bypass=teacher.polling.host)
    assert bypassed.returncode == 0, bypassed.stdout
    assert "[ok] the way your browser goes: straight to the teacher (no proxy for this address)" in bypassed.stdout
