"""``python -m servers`` as a user runs it: both servers, one board, a clean stop on Ctrl-C."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from clients.websocket_client import connect as open_websocket
from servers.cluster.processes import free_ports

ROOT = Path(__file__).resolve().parent.parent
REPLY = "Client:{}\nServer:I am fine, thanks!"


class Launcher:
    """``python -m servers`` in a subprocess, with its output lines collected as they come."""

    def __init__(self, *args: str) -> None:
        self.polling_port, self.websocket_port = free_ports(2)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "servers", "--polling-port", str(self.polling_port),
             "--websocket-port", str(self.websocket_port), "--quiet", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr)):
            threading.Thread(target=self._collect, args=(name, stream), daemon=True).start()

    def _collect(self, name: str, stream) -> None:
        for line in stream:
            getattr(self, name).append(line)
            self.lines.put((name, line))

    def wait_for(self, text: str, timeout: float = 15) -> str:
        """The first output line containing ``text`` (stdout or stderr)."""
        deadline = time.monotonic() + timeout
        for line in self.stdout + self.stderr:
            if text in line:
                return line
        while (left := deadline - time.monotonic()) > 0:
            try:
                _, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; stdout={self.stdout} stderr={self.stderr}")

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def launch():
    started: list[Launcher] = []

    def start(*args: str) -> Launcher:
        started.append(Launcher(*args))
        started[-1].wait_for("Press Ctrl-C")
        return started[-1]

    yield start
    for launcher in started:
        launcher.kill()


def test_prints_both_urls_and_a_polling_and_a_websocket_client_chat(launch):
    servers = launch()
    polling_url = f"http://127.0.0.1:{servers.polling_port}"
    assert polling_url in servers.wait_for("HTTP polling server:")
    assert f"ws://127.0.0.1:{servers.websocket_port}/ws" in servers.wait_for("WebSocket server")
    ws = open_websocket(f"ws://127.0.0.1:{servers.websocket_port}/ws")
    try:
        with requests.Session() as session:
            sent = session.post(f"{polling_url}/api/messages", json={"text": "from polling", "author": "pat"},
                                timeout=5).json()["message"]
            pushed = [json.loads(ws.recv(timeout=5))["message"] for _ in range(2)]
            assert [(m["author"], m["text"]) for m in pushed] == [
                ("pat", "from polling"), ("server", REPLY.format("from polling"))]
            ws.send(json.dumps({"type": "send", "text": "from websocket", "author": "wes"}))
            polled: list[dict] = []
            while len(polled) < 2:  # long polls: each returns as soon as something is new
                after = polled[-1]["id"] if polled else sent["id"] + 1
                polled += session.get(f"{polling_url}/api/messages", params={"after": after, "wait": 5},
                                      timeout=10).json()["messages"]
            assert [(m["author"], m["text"], m["reply_to"]) for m in polled] == [
                ("wes", "from websocket", None), ("server", REPLY.format("from websocket"), polled[0]["id"])]
    finally:
        ws.close()
    assert servers.stop(signal.SIGINT) == 0
    assert servers.wait_for("Stopped.")


def test_sigterm_stops_it_even_with_clients_connected(launch):
    servers = launch()
    ws = open_websocket(f"ws://127.0.0.1:{servers.websocket_port}/ws")
    outcome: list = []
    session = requests.Session()
    url = f"http://127.0.0.1:{servers.polling_port}/api/messages"
    session.get(url, timeout=5)  # the connection is open and being served before the long poll goes out

    def long_poll() -> None:
        try:
            outcome.append(session.get(url, params={"wait": 30}, timeout=15))
        except requests.RequestException as error:
            outcome.append(error)

    poll = threading.Thread(target=long_poll)
    poll.start()  # a long poll the server is holding open when the signal comes
    try:
        started = time.monotonic()
        assert servers.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
        poll.join(15)
        assert isinstance(outcome[0], requests.ConnectionError), outcome  # cut off, not left hanging
        with pytest.raises(ConnectionClosed):  # the WebSocket client learns the server is gone
            ws.recv(timeout=5)
    finally:
        ws.close()
        session.close()


def test_options_ticker_and_no_keep_alive(launch):
    servers = launch("--ticker", "0.1", "--no-keep-alive")
    url = f"http://127.0.0.1:{servers.polling_port}/api/messages"
    response = requests.get(url, params={"after": 0, "wait": 5}, timeout=10)
    assert response.headers["Connection"] == "close"
    event = response.json()["messages"][0]
    assert event["author"] == "server" and event["text"].startswith("Notification #1:")
    assert servers.stop() == 0


def test_binding_every_interface_prints_a_warning(launch):
    servers = launch("--host", "0.0.0.0")
    assert "WARNING" in servers.wait_for("other machines on your network")
    assert f"http://127.0.0.1:{servers.polling_port}/" in servers.wait_for("HTTP polling server")
    response = requests.get(f"http://127.0.0.1:{servers.polling_port}/api/messages", timeout=5)
    assert response.json() == {"messages": [], "last_id": 0}
    assert servers.stop() == 0


def test_loopback_prints_no_warning(launch):
    servers = launch()
    assert servers.stop() == 0
    assert not any("WARNING" in line for line in servers.stderr)


SIGNAL_PAIRS = [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM),
                (signal.SIGTERM, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM)]
ROUNDS = 20
STOP_WITHIN = 2  # seconds, from the signals to the exit


def test_any_mix_of_two_signals_at_once_stops_it_within_2_seconds(launch):
    """Two signals back to back (a closing terminal, or make passing on its process group's SIGTERM) used to
    deadlock the launcher inside its own signal handler; its handlers now take no lock."""
    for round_ in range(ROUNDS):
        servers = launch()
        first, second = SIGNAL_PAIRS[round_ % len(SIGNAL_PAIRS)]
        os.kill(servers.process.pid, first)
        os.kill(servers.process.pid, second)
        started = time.monotonic()
        try:
            code = servers.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"round {round_}: still running {STOP_WITHIN} s after {first!r} and {second!r}")
        assert code == 0, (round_, servers.stderr)
        assert servers.wait_for("Stopped.", timeout=1)
        assert time.monotonic() - started < STOP_WITHIN


def test_a_burst_of_signals_stops_it_within_2_seconds(launch):
    servers = launch()
    for n in range(50):
        os.kill(servers.process.pid, SIGNAL_PAIRS[n % 4][n % 2])
    assert servers.process.wait(timeout=STOP_WITHIN) == 0
    assert servers.wait_for("Stopped.", timeout=1)


def test_make_demo_stops_when_its_process_group_gets_sigterm():
    """What a process manager or a closing terminal does to ``make demo``: SIGTERM to the whole group, so
    the launcher gets two (one from the sender, one passed on by make)."""
    make = shutil.which("make")
    assert make, "make is not installed"
    for round_ in range(ROUNDS):
        polling_port, websocket_port = free_ports(2)
        demo = subprocess.Popen([make, "--no-print-directory", "demo",
                                 f"ARGS=--polling-port {polling_port} --websocket-port {websocket_port} --quiet"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            output = ""
            while "Press Ctrl-C" not in output:
                line = demo.stdout.readline()
                assert line, f"round {round_}: make demo ended before the servers started: {output}"
                output += line
            os.killpg(demo.pid, signal.SIGTERM)
            started = time.monotonic()
            rest, _ = demo.communicate(timeout=STOP_WITHIN)
            assert time.monotonic() - started < STOP_WITHIN
            assert "Stopped." in rest, (round_, rest)
            assert "Error" not in rest, (round_, rest)  # make reports a recipe that failed (exit code not 0)
            assert not _group_alive(demo.pid), f"round {round_}: a process of the group is still running"
        except subprocess.TimeoutExpired:
            raise AssertionError(f"round {round_}: make demo still running {STOP_WITHIN} s after SIGTERM")
        finally:
            if _group_alive(demo.pid):
                os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
