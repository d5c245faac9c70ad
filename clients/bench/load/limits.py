"""What a crowd needs of this machine, and, when a scenario falls short, what ran out and at how many clients.

Thousands of clients meet the machine's limits before the server's code: every connection is an open file
at both ends and an ephemeral port at the client's; each thread of a threaded server is a task the kernel
counts and a stack in memory; every handshake waits in the server's listen backlog; and two CPU cores are
shared by the server, its clients and the measurement. So a scenario that did not hold all its clients,
or lost messages, is not just "failed": ``ran_out`` names the resource from the evidence the scenario left
(its clients' errors, what the server wrote on stderr and how it ended, the kernel's count of handshakes the
backlog dropped, how busy the server's and the clients' CPUs were), and ``machine_limits`` says what the
machine allowed. Linux's ``/proc`` says the most; elsewhere what Python can see.
"""

import os
import re
from pathlib import Path

import psutil

FILES, THREADS, MEMORY, CPU, BACKLOG, PORTS = ("file descriptors", "threads", "memory", "CPU", "connect backlog",
                                               "ephemeral ports")
SERVER_BUSY = 0.75  # CPU seconds per second: a Python server runs its code on one core at a time, and thousands of
# threads taking turns on its interpreter lock spend the rest switching: this busy, it has no time to spare
CLIENTS_BUSY = 0.9  # the same for a client process (one thread: an event loop)
CROWDED = 4  # tasks waiting to run per CPU (the load average): beyond it, every process waits its turn for long
EVIDENCE = (  # (what an error or the server's log says, the resource it means)
    (re.compile(r"Too many open files|\[Errno (23|24)\]"), FILES),
    (re.compile(r"can't start new thread"), THREADS),
    (re.compile(r"MemoryError|Cannot allocate memory|\[Errno 12\]"), MEMORY),
    (re.compile(r"Cannot assign requested address|\[Errno 99\]|\[Errno 49\]"), PORTS),
)
KILLED = -9  # the exit code of a process killed by SIGKILL: what the kernel's out-of-memory killer sends


def machine_limits() -> dict:
    """What this machine lets a load run have: open files per process (soft and hard: the run's processes
    inherit the hard limit), ephemeral ports, tasks (processes and threads), memory, CPUs, the listen backlog
    cap. None where the system does not say."""
    try:
        import resource
        soft, hard = (None if value == resource.RLIM_INFINITY else value
                      for value in resource.getrlimit(resource.RLIMIT_NOFILE))
    except ImportError:  # Windows: no such limit
        soft = hard = None
    ports = _numbers("/proc/sys/net/ipv4/ip_local_port_range")
    tasks = [value for value in (_number("/proc/sys/kernel/pid_max"), _number("/proc/sys/kernel/threads-max"))
             if value is not None]
    return {"open_files": [soft, hard], "ephemeral_ports": ports[1] - ports[0] + 1 if len(ports) == 2 else None,
            "tasks": min(tasks) if tasks else None, "tasks_now": _tasks_now(),
            "memory_available": psutil.virtual_memory().available, "cpus": os.cpu_count(),
            "listen_backlog": _number("/proc/sys/net/core/somaxconn")}


def listen_overflows() -> int | None:
    """How many handshakes the kernel has dropped so far because a listen backlog was full (all sockets of the
    machine: Linux's TcpExt ListenOverflows), None where it does not say."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:]))
            return int(counters["ListenOverflows"]) if "ListenOverflows" in counters else None
    return None


def pressure(server_pid: int | None) -> dict:
    """How loaded the machine is now: the load average over the last minute (tasks running or waiting to run),
    the CPUs, and how many threads the server process has (None where the system does not say)."""
    try:
        threads = psutil.Process(server_pid).num_threads() if server_pid else None
    except psutil.Error:  # it has ended
        threads = None
    return {"load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None, "cpus": os.cpu_count(),
            "server_threads": threads}


def ran_out(row: dict, server_log: str = "", server_note: str | None = None,
            exit_code: int | None = None) -> list[dict]:
    """What ran out in one scenario (``row``, a scenario's figures or a failed one's), each as
    ``{"resource", "at", "evidence"}``: ``at`` is how many clients the server held when it ran out (for its
    open files, the connections it said it would take at most: ``row["server_cap"]``).
    ``server_log``: what the server process wrote on stderr; ``server_note``: what it said on starting
    about its own limit; ``exit_code``: how it ended, if it did (None: it was still running)."""
    found: dict[str, dict] = {}
    held, wanted = row.get("connected", 0), row["clients"]

    def note(resource: str, evidence: str, at: int = held) -> None:
        found.setdefault(resource, {"resource": resource, "at": at, "evidence": evidence})

    errors = (row.get("connect_errors") or []) + (row.get("client_errors") or [])
    for pattern, resource in EVIDENCE:
        said = next((error for error in errors if pattern.search(error)), None)
        if said:
            note(resource, f"a client: {said}")
        logged = pattern.search(server_log)
        if logged:
            note(resource, f"the server: {_line_of(server_log, logged)}")
    if exit_code == KILLED:
        note(MEMORY, "the server process was killed by SIGKILL, as the kernel's out-of-memory killer does")
    refused = any("503" in error for error in errors)  # the server's answer at its cap: server_busy
    if server_note and held < wanted and (row.get("tried", wanted) < wanted or refused):
        note(FILES, f"the server said: {server_note.strip()}", row.get("server_cap") or held)
    if row.get("listen_overflows") and any("TimeoutError" in error for error in row.get("connect_errors") or []):
        note(BACKLOG, f"the kernel dropped {row['listen_overflows']:,} handshakes a full listen backlog had no "
                      "room for, while the clients connected, and some clients gave up")
    cpu = (row.get("events") or {}).get("cpu_per_s")
    # behind: the last client got an event after the next one was due (a short poller may wait an interval more)
    late = row.get("lost", 0) or row.get("stopped_early", 0) or (row.get("fanout_last_client") or {}).get(
        "median_ms", 0) > 1000 * (row.get("every", 1) + (row.get("interval") or 0))
    asked, stamped = row.get("events_asked"), row.get("messages")
    if asked and stamped is not None and stamped < asked:
        note(CPU, f"the server's own ticker stamped {stamped} of the {asked} events it was asked for before the run "
                  "stopped waiting for them: it had no time to spare")
    if cpu is not None and cpu >= SERVER_BUSY and late:
        note(CPU, f"the server used {cpu:.2f} CPU seconds per second while the events flowed, and the clients "
                  "fell behind: a Python server runs its code on one core at a time")
    crowded = row.get("pressure") or {}
    if "failed" in row and crowded.get("load_average") and crowded["load_average"] >= CROWDED * crowded["cpus"]:
        threads = f", {crowded['server_threads']:,} of them the server's threads" if crowded["server_threads"] else ""
        note(CPU, f"{crowded['load_average']:,.0f} tasks running or waiting to run on {crowded['cpus']} CPUs "
                  f"(the load average){threads}: the clients and the run waited their turn too long")
    if (row.get("client_busiest") or 0) >= CLIENTS_BUSY:
        note(CPU, f"the clients: their busiest process used {row['client_busiest']:.2f} CPU seconds per second "
                  "(add client processes, or a machine of their own)")
    if held < wanted and not found:
        said = "; ".join(errors[:2]) or "no error said why"
        note("unknown", f"{held:,} of {wanted:,} connected: {said}")
    return list(found.values())


def _line_of(text: str, match: re.Match) -> str:
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start:end if end >= 0 else len(text)].strip()[:300]


def _number(path: str) -> int | None:
    numbers = _numbers(path)
    return numbers[0] if numbers else None


def _numbers(path: str) -> list[int]:
    try:
        return [int(part) for part in Path(path).read_text().split()]
    except (OSError, ValueError):
        return []


def _tasks_now() -> int | None:
    """Processes and threads on the machine now (Linux), what counts against ``tasks``."""
    try:
        return sum(process.info["num_threads"] or 0 for process in psutil.process_iter(["num_threads"]))
    except psutil.Error:
        return None
