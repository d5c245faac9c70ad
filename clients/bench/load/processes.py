"""The three kinds of process a load run starts, each stopped by whoever started it:

* ``ServersProcess``: ``python -m servers`` on free loopback ports, exactly what a user runs;
* ``ReferenceProcess``: the ``websockets`` reference (``reference.py``);
* ``ClientProcess``: the asyncio crowd (``client_process.py``), which runs one scenario per request.

Each server gets a process of its own and a fresh start per scenario, so what one
scenario leaves behind (memory Python keeps, threads winding down) is not billed
to the next. Port 0 lets the system pick free ports; the servers print the ones they got.
"""

import json
import queue
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the project: where `python -m servers` is found
HOST = "127.0.0.1"
START_TIMEOUT = 30  # seconds a process may take to say it is listening (a loaded 2-core machine is slow)


class LoadError(RuntimeError):
    """A process of the load run did not start, or a scenario failed; the message says which and why."""


class ChildProcess:
    """A child process whose stdout lines are read by a thread (pipes cannot be waited on portably),
    and whose stderr goes to a file we can quote when it fails."""

    def __init__(self, name: str, command: list[str], stdin: bool = False) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, *command], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                        stderr=self._stderr, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.pid = self.process.pid
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, name=f"{name} stdout", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # EOF

    def line(self, timeout: float) -> str:
        """The next line it prints; LoadError if it ends first or stays silent ``timeout`` s."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise LoadError(f"{self.name} said nothing for {timeout:g} s{self._why()}") from None
        if line is None:
            raise LoadError(f"{self.name} ended (exit code {self.process.wait()}){self._why()}")
        return line

    def _why(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].strip()
        return f":\n{tail}" if tail else ""

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (the servers stop cleanly on it; on Windows this terminates), then kill if it lingers."""
        if self.process.poll() is None:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ServersProcess(ChildProcess):
    """``python -m servers --quiet`` on two free loopback ports: ``polling_port`` and ``websocket_port``."""

    def __init__(self) -> None:
        super().__init__("our servers (python -m servers)",
                         ["-m", "servers", "--polling-port", "0", "--websocket-port", "0", "--quiet"])
        printed = ""
        try:
            while "ctrl-c" not in printed.lower():
                printed += self.line(START_TIMEOUT)
            self.polling_port = int(re.search(r"http://[^\s/]+:(\d+)/pages/polling\.html", printed)[1])
            self.websocket_port = int(re.search(r"ws://[^\s/]+:(\d+)/ws", printed)[1])
        except (LoadError, TypeError) as error:  # TypeError: a URL missing from what it printed
            self.stop()
            raise LoadError(f"could not read the ports from what python -m servers printed:\n{printed}"
                            f"\n{error if isinstance(error, LoadError) else ''}") from None


class ReferenceProcess(ChildProcess):
    """The ``websockets`` reference on a free loopback port."""

    def __init__(self) -> None:
        super().__init__("the websockets broadcaster", ["-m", "clients.bench.load.reference", "--host", HOST])
        try:
            self.port = int(re.search(r":(\d+)/ws", self.line(START_TIMEOUT))[1])
        except (LoadError, TypeError):
            self.stop()
            raise


class ClientProcess(ChildProcess):
    """The crowd: ``run(spec)`` sends it one scenario and returns the result (see ``client_process.py``)."""

    def __init__(self) -> None:
        super().__init__("the client process", ["-m", "clients.bench.load.client_process"], stdin=True)
        try:
            ready = json.loads(self.line(START_TIMEOUT))
        except LoadError:
            self.stop()
            raise
        self.open_files = ready["open_files"]  # [soft, hard], after it raised its soft limit; None on Windows

    def run(self, spec: dict, timeout: float) -> dict:
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.line(timeout))
        if "error" in result:
            raise LoadError(f"{spec['label']}, {spec['clients']} clients: {result['error']}\n{result['traceback']}")
        return result
