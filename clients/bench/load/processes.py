"""The kinds of process a load run starts, each stopped by whoever started it:

* ``ServersProcess``: ``python -m servers`` on free loopback ports, exactly what a user runs (from this checkout,
  or from another one: ``root``), with the open-file limit the run gives it;
* ``ReferenceProcess``: the ``websockets`` reference (``reference.py``);
* ``ClientProcess``: one share of the crowd (``client_process.py``), answering one command at a time;
  ``Crowd``: several of them, each command sent to every share at once.

Each server gets a process of its own and a fresh start per scenario, so what one
scenario leaves behind (memory Python keeps, threads winding down) is not billed
to the next. Port 0 lets the system pick free ports; the servers print the ones they got.
"""

import json
import math
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from servers.serving import MAX_CONNECTIONS

from .crowd import CONNECTING_AT_ONCE, too_few_files

ROOT = Path(__file__).resolve().parents[3]  # the project: where `python -m servers` is found
HOST = "127.0.0.1"
START_TIMEOUT = 30  # seconds a process may take to say it is listening (a loaded 2-core machine is slow)
CLIENTS_PER_PROCESS = 500  # clients per asyncio process: each reads every frame of a fan-out one after the other
MOST_PROCESSES = 2 * (os.cpu_count() or 1)  # client processes at most: beyond the cores they only take turns
SPARE_CONNECTIONS = 16  # a server's connections beyond the crowd's: the run's own questions and posts, kept alive
LOG_TAIL = 200_000  # characters of a child's stderr kept for reading what went wrong


class LoadError(RuntimeError):
    """A process of the load run did not start, or a scenario failed; the message says which and why."""


class ChildProcess:
    """A child process whose stdout lines are read by a thread (pipes cannot be waited on portably),
    and whose stderr goes to a file we can quote when it fails."""

    def __init__(self, name: str, command: list[str], stdin: bool = False, cwd: Path = ROOT,
                 open_files: int | None = None) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, *command], cwd=cwd, text=True, stdout=subprocess.PIPE,
                                        stderr=self._stderr, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                        preexec_fn=_limit_open_files(open_files))
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
        tail = self.log()[-2000:].strip()
        return f":\n{tail}" if tail else ""

    def log(self) -> str:
        """What it wrote on stderr so far (the end of it, if that is long)."""
        self._stderr.seek(0, 2)
        self._stderr.seek(max(0, self._stderr.tell() - LOG_TAIL))
        return self._stderr.read().decode("utf-8", "replace")

    def ended(self) -> int | None:
        """Its exit code once it has ended (negative: the signal that ended it), else None."""
        return self.process.poll()

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
    """``python -m servers --quiet`` on two free loopback ports: ``polling_port`` and ``websocket_port``.

    ``clients``: how many the run will connect; past the servers' default cap, it asks for room for them all
    (``--max-connections``), and the servers raise their open-file limit for it as far as the system lets
    them, saying so when they cannot (``note``; ``max_connections`` is then what they took). ``open_files``
    lowers that limit (to see what running out looks like); ``root``: the checkout whose servers to run."""

    def __init__(self, clients: int = 0, open_files: int | None = None, root: Path = ROOT) -> None:
        wanted = clients + SPARE_CONNECTIONS
        room = ["--max-connections", str(wanted)] if wanted > MAX_CONNECTIONS else []
        super().__init__(f"our servers (python -m servers{' in ' + str(root) if root != ROOT else ''})",
                         ["-m", "servers", "--polling-port", "0", "--websocket-port", "0", "--quiet", *room],
                         cwd=root, open_files=open_files)
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
        self.note = next((line for line in self.log().splitlines() if line.startswith("Note:")), None)
        capped = re.search(r"at most (\d+) connections", self.note or "")
        self.max_connections = int(capped[1]) if capped else max(wanted, MAX_CONNECTIONS)


class ReferenceProcess(ChildProcess):
    """The ``websockets`` reference on free loopback ports: ``port``, its WebSockets; ``http_port``, its HTTP side."""

    def __init__(self) -> None:
        super().__init__("the websockets broadcaster", ["-m", "clients.bench.load.reference", "--host", HOST])
        try:
            self.port = int(re.search(r":(\d+)/ws", self.line(START_TIMEOUT))[1])
            self.http_port = int(re.search(r"http://[^\s/]+:(\d+)/", self.line(START_TIMEOUT))[1])
        except (LoadError, TypeError):
            self.stop()
            raise


class ClientProcess(ChildProcess):
    """One share of the crowd (``client_process.py``): ``send`` a command, then ``answer`` it."""

    def __init__(self, number: int) -> None:
        super().__init__(f"client process {number + 1}", ["-m", "clients.bench.load.client_process"], stdin=True)
        try:
            ready = json.loads(self.line(START_TIMEOUT))
        except LoadError:
            self.stop()
            raise
        self.open_files = ready["open_files"]  # [soft, hard], after it raised its soft limit; None on Windows

    def send(self, command: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except OSError as error:  # it has ended: its stderr says why
            raise LoadError(f"{self.name} cannot be told to {command['do']}: {error}{self._why()}") from None

    def answer(self, timeout: float) -> dict:
        result = json.loads(self.line(timeout))
        if "error" in result:
            raise LoadError(f"{self.name}: {result['error']}\n{result['traceback']}")
        return result


class Crowd:
    """``processes`` client processes; a scenario of N clients uses as many as it needs (``processes_for``, or
    ``per_scenario`` of them, if given), each command sent to every share it uses at once, so they work in
    parallel, and the answers gathered. Stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, processes: int, per_scenario: int | None = None) -> None:
        self.per_scenario, self.shares = per_scenario, []
        self._start(processes)

    def _start(self, processes: int) -> None:
        try:
            for number in range(processes):
                self.shares.append(ClientProcess(number))
        except LoadError:
            self.stop()
            raise
        self.using = self.shares[:1]

    def reset(self) -> None:
        """After a scenario that failed: fresh processes (a process may still be busy with a command that timed
        out, and its late answer would be read as the next one's)."""
        processes = len(self.shares)
        self.stop()
        self.shares = []
        self._start(processes)

    @property
    def open_files(self) -> list[int | None]:
        """[soft, hard]: the open-file limit each of its processes got (the same for all)."""
        return self.shares[0].open_files

    def split(self, clients: int) -> list[int]:
        """How many of ``clients`` each process takes, and from now on which processes the commands go to."""
        count = min(len(self.shares), clients, self.per_scenario or processes_for(clients))
        self.using = self.shares[:count]
        return [clients // count + (number < clients % count) for number in range(count)]

    def ask(self, command: dict, timeout: float, each: list[dict] | None = None) -> list[dict]:
        """Send ``command`` (with ``each``'s part for each process, if given) to every process in use; their
        answers, in order. LoadError if one fails or stays silent ``timeout`` s."""
        for number, share in enumerate(self.using):
            share.send({**command, **(each[number] if each else {})})
        return [share.answer(timeout) for share in self.using]

    def problem(self, clients: int) -> str | None:
        """The sentence to print when a share of ``clients`` will not fit under a process's open-file limit."""
        return too_few_files(math.ceil(clients / min(len(self.shares), self.per_scenario or processes_for(clients))),
                             *self.open_files)

    def connect_at_once(self) -> int:
        """Handshakes in flight per process: ``CONNECTING_AT_ONCE`` over the whole crowd."""
        return max(1, CONNECTING_AT_ONCE // len(self.using))

    def stop(self) -> None:
        for share in self.shares:
            share.stop()

    def __enter__(self) -> "Crowd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def processes_for(clients: int) -> int:
    """The client processes ``clients`` need: one per ``CLIENTS_PER_PROCESS``, ``MOST_PROCESSES`` at most."""
    return max(1, min(math.ceil(clients / CLIENTS_PER_PROCESS), MOST_PROCESSES))


def _limit_open_files(open_files: int | None):
    """A function that lowers the child's open-file limit to ``open_files`` before it starts (None: leave it).
    It runs between fork and exec, where nothing may be imported (another thread may hold the import lock)."""
    if open_files is None or sys.platform == "win32":
        return None
    import resource
    lowest = min(open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1])

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest, lowest))
    return limit
