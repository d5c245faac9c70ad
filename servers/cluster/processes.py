"""The programs a cluster runs, each as a child process we start, wait for, and stop: redis-server, the
nodes (``python -m servers --redis ...``) and nginx (see nginx.py).

Every child's output goes to a log file in the cluster's folder, copied there by a thread of ours
(a pipe nobody reads would fill and stop the child). Starting waits until the child says it is ready,
or fails with the end of its log, so a mistake is shown, not hidden in a file.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..twins import PROXY_TOKEN_VARIABLE, Proxy

START_TIMEOUT = 15  # seconds a child may take to become ready (a node imports Flask; nginx checks its config)
STOP_TIMEOUT = 5  # seconds a child may take to stop before it is killed
TAIL = 15  # lines of a child's log shown when it did not start
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # nginx lives here, outside an ordinary user's PATH
PROJECT = Path(__file__).resolve().parents[2]  # where ``python -m servers`` finds the package


class ToolMissing(RuntimeError):
    """A program the cluster needs is not installed; the message names the package that brings it."""


def find_tool(name: str, package: str | None = None) -> str:
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SYSTEM_DIRS))
    if path is None:
        raise ToolMissing(f"{name} is not installed. On Debian or Ubuntu: sudo apt-get install {package or name} "
                          "(tests/install-tools.sh, run by `make test`, installs it when you are root)")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports of 127.0.0.1 that nobody listens on right now. The probes stay open
    until all are chosen: one closed before the next is asked for could be handed out again, and two
    programs told the same port would find it taken when the second starts."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    """One TCP port of 127.0.0.1 that nobody listens on right now."""
    return free_ports(1)[0]


class Child:
    """One running program, its output copied line by line to ``log``; ready once a line contains ``ready``."""

    def __init__(self, name: str, argv: list[str], log: Path, ready: str | None = None, echo=None,
                 env: dict | None = None) -> None:
        self.name, self.log = name, log
        self._ready_text, self._echo = ready, echo
        self._ready, self._said_ready = threading.Event(), False
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=PROJECT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self._copier = threading.Thread(target=self._copy, name=f"log:{name}", daemon=True)
        self._copier.start()

    def wait_ready(self) -> None:
        """Until the program prints its ``ready`` line; if it ends or stays silent, stop it and say why."""
        self._ready.wait(START_TIMEOUT)
        if not self._said_ready:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _copy(self) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if self._echo and (self._said_ready or not self._ready_text):  # what it says once started
                    self._echo(f"{self.name}: {line}")
                if self._ready_text and self._ready_text in line:
                    self._said_ready = True
                    self._ready.set()
        self._ready.set()  # the program ended: whoever waits for it to be ready learns so at once

    def tail(self) -> str:
        """The last TAIL lines of the program's log: what to show when it did not start."""
        try:
            return "".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-TAIL:])
        except OSError:
            return ""

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Ask it to stop (SIGTERM by default), kill it if it does not within STOP_TIMEOUT; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.send_signal(signal.SIGCONT)  # a frozen program acts on the signal once it runs again
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._copier.join(STOP_TIMEOUT)
        self.process.stdout.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the program dies at once, and the kernel closes its connections for it: whoever is at the
        other end of one learns it at once (a crashed process; a machine that fails says nothing: ``freeze``)."""
        self.stop(signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP: the program runs no more and closes nothing, as on a machine that froze; its kernel still
        completes new connections' handshakes (up to the listening socket's backlog), and nothing answers."""
        self.process.send_signal(signal.SIGSTOP)


def wait_for_file(path: Path, child: Child) -> None:
    """Until ``child`` creates ``path`` (for programs that do not say when they are ready: nginx writes its
    pid file once it listens). Nothing to block on here, so it looks every 20 ms, for START_TIMEOUT at most."""
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if child.process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"{child.name} did not start:\n{child.tail()}")
        time.sleep(0.02)


class RedisServer:
    """redis-server on 127.0.0.1 only, its data (an append-only file) in ``folder``: stopped and started
    again on the same port, it comes back with the board it had."""

    def __init__(self, folder: Path, port: int | None = None, echo=None) -> None:
        self.folder, self.port, self.echo = Path(folder), port or free_port(), echo
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.child: Child | None = None

    def start(self) -> "RedisServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [find_tool("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes",
                "--dir", str(self.folder), "--appendonly", "yes", "--save", "", "--logfile", "", "--daemonize", "no"]
        self.child = Child("redis", argv, self.folder / "redis.log", ready="Ready to accept connections",
                           echo=self.echo)
        self.child.wait_ready()
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Node:
    """``python -m servers --redis URL`` (or its in-memory board, without one): the twins, in a process, on
    ``ports`` (polling, WebSocket; two free ones without). Started here; ``child.wait_ready()`` waits for it
    (so several nodes start side by side)."""

    def __init__(self, number: int, folder: Path, redis_url: str | None, *, ping_interval: float,
                 proxy: Proxy | None = None, keep: int | None = None, echo=None,
                 ports: tuple[int, int] | None = None) -> None:
        self.number = number
        self.polling_port, self.websocket_port = ports or free_ports(2)
        argv = [sys.executable, "-m", "servers", "--quiet", "--polling-port", str(self.polling_port),
                "--websocket-port", str(self.websocket_port), "--ping-interval", str(ping_interval)]
        argv += ["--redis", redis_url] if redis_url else []
        if proxy:
            argv += ["--proxy-ports", f"{proxy.polling_port}:{proxy.websocket_port}", "--proxy-host", proxy.host]
            argv += ["--proxy-tls"] if proxy.tls else []
        argv += ["--keep", str(keep)] if keep else []
        self.child = Child(f"node {number}", argv, Path(folder) / f"node-{number}.log", ready="Press Ctrl-C",
                           echo=echo, env={PROXY_TOKEN_VARIABLE: proxy.token} if proxy and proxy.token else None)
        self.polling_url = f"http://127.0.0.1:{self.polling_port}"
        self.ws_url = f"ws://127.0.0.1:{self.websocket_port}"

    @property
    def alive(self) -> bool:
        return self.child.process.poll() is None
