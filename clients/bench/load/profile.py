"""Where a server's time goes while one message fans out to every client: py-spy samples it from outside.

py-spy (a sampling profiler for Python, from PyPI: ``pip install py-spy``) reads a running interpreter's
stacks many times a second without changing it or its code. ``Profiler`` records our server process while
a load run posts messages to a crowd of WebSockets (``posts.py``: after the measured posts, a few more,
recorded, so the profiler's own cost never enters the goals). It samples the thread holding the
interpreter lock (``--gil``): the Python work, which one core at most can do. Reading the stacks of
thousands of threads at each sample would leave too few samples, and a fan-out is the broadcaster's work
anyway. ``fold`` puts each sample on the innermost line of the server's own code on its stack
(``servers/...``), whatever library it was in below, and shares out the CPU time the server says it spent
per post by those samples: what each step costs per post and per client. Time spent outside the lock, in
the system calls that write to the sockets, is not sampled: it goes with the lines around them.
On Linux py-spy needs the right to trace another process (ptrace): root, or ``kernel.yama.ptrace_scope`` 0.

    python -m clients.bench load --clients 1000 --only websocket,reference --profile --out results/profile

writes ``profile.txt`` (every sampled stack, with how often it was seen: a flame graph's input) and prints the
steps; load.json holds them under ``profile``.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from clients.bench.results.stats import fmt

from .processes import ROOT, LoadError

RATE = 250  # samples per second asked: enough for a few hundred samples over the posts, few enough for py-spy to
# keep up (at each sample it looks at every thread to find the lock's holder, and ours has one or two per client)
POSTS = 20  # messages posted while it records
SHOWN = 12  # steps printed; the rest are added up in one line
OWN_CODE = "servers/"  # where the server's own functions live, as py-spy names their files
STOP_TIMEOUT = 30  # seconds py-spy may take to write what it recorded


class Profiler:
    """``start(pid)`` records a process with py-spy until ``stop``; ``fold`` then makes ``summary``, the steps.
    ``root``: the checkout the server runs from, where the lines of its code are read."""

    def __init__(self, out: Path, root: Path = ROOT, rate: int = RATE, posts: int = POSTS) -> None:
        self.spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if self.spy is None:
            raise LoadError("--profile needs py-spy: python -m pip install py-spy (on Linux it needs the right to "
                            "trace another process: root, or kernel.yama.ptrace_scope 0)")
        out.mkdir(parents=True, exist_ok=True)
        self.path, self.root, self.rate, self.posts = out / "profile.txt", root, rate, posts
        self.recording: subprocess.Popen | None = None
        self.said = ""
        self.summary: dict | None = None

    def start(self, pid: int) -> None:
        self.path.unlink(missing_ok=True)
        self.recording = subprocess.Popen(
            [self.spy, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw", "--gil",
             "--nonblocking", "--output", str(self.path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def stop(self) -> None:
        """Stop recording: py-spy writes its file on SIGINT."""
        recording, self.recording = self.recording, None
        if recording.poll() is None:
            recording.send_signal(signal.SIGINT)
        try:
            self.said = recording.communicate(timeout=STOP_TIMEOUT)[0].strip()
        except subprocess.TimeoutExpired:
            recording.kill()
            self.said = recording.communicate()[0].strip()

    def fold(self, clients: int, posts: int, recorded: dict, unrecorded: dict | None) -> None:
        """The steps of what it recorded while ``posts`` messages went to ``clients`` clients; ``recorded``:
        those posts' figures (``posts.posted_figures``), ``unrecorded``: the measured posts' before them.
        Without a recording (py-spy could not read the server), ``summary`` says why: the run goes on."""
        if not self.path.is_file():
            self.summary = {"file": None, "py_spy_said": self.said[-2000:], "lines": [
                f"No profile: py-spy recorded nothing ({self.said.splitlines()[-1] if self.said else 'no word'})"]}
            return
        cpu = recorded["server_cpu_ms_per_post"]
        self.summary = summarize(self.path.read_text(), clients, posts, cpu, self.root)
        last = recorded["from_post_last_client"].get("median_ms")
        before = (unrecorded or {}).get("from_post_last_client", {}).get("median_ms")
        behind = "behind in sampling" in self.said
        self.summary.update({"file": str(self.path), "py_spy_said": self.said[-2000:], "rate": self.rate,
                             "fell_behind": behind, "last_client_ms": last, "last_client_ms_unrecorded": before})
        self.summary["lines"][0] += f" ({self.rate} samples a second asked{': py-spy fell behind' * behind})"
        self.summary["lines"].append(
            f"  While recorded, the last client held each post {fmt(last, '.1f')} ms after its POST "
            f"({fmt(before, '.1f')} ms unrecorded: py-spy slows the server it reads).")


def summarize(raw: str, clients: int, posts: int, cpu_ms_per_post: float, root: Path = ROOT) -> dict:
    """Fold py-spy's raw samples (a line per distinct stack: frames outermost first, ``;`` between them, then how
    often it was seen) into steps: each the innermost line of the server's own code on the stack, read from
    ``root``; a stack without any is the libraries' and the interpreter's own ("outside the server's code", by
    its innermost frame). Each step's share of the samples, applied to the CPU time the server spent per post
    (``cpu_ms_per_post``, as the server itself counts it), says what it cost per post and per client: shares
    hold however many samples py-spy managed to take. Returns the steps, what each was mostly in below, and
    printable lines."""
    steps: Counter = Counter()
    below: dict[str, Counter] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        depth = next((index for index in range(len(frames) - 1, -1, -1) if OWN_CODE in frames[index]), None)
        step = frames[depth] if depth is not None else f"outside the server's code: {frames[-1]}"
        callee = _function(frames[depth + 1]) if depth is not None and depth + 1 < len(frames) else "itself"
        steps[step] += int(count)
        below.setdefault(step, Counter())[callee] += int(count)
    total = sum(steps.values())
    rows = [{"step": step, "code": _source(step, root), "samples": samples, "share": samples / max(total, 1),
             "ms_per_post": samples / max(total, 1) * cpu_ms_per_post,
             "us_per_client": samples / max(total, 1) * cpu_ms_per_post * 1000 / max(clients, 1),
             "mostly_in": below[step].most_common(1)[0][0]} for step, samples in steps.most_common()]
    lines = [f"Where the server's time went while {posts} posts fanned out to {clients:,} WebSockets (two frames per "
             f"client each: the message and the server's reply): {cpu_ms_per_post:.1f} ms of CPU per post, as the "
             f"server counts it, shared out by {total:,} py-spy samples of the thread holding the interpreter lock. "
             "Each step is the innermost line of the server's own code on the stack, with what it called below "
             "(time in system calls, outside the lock, goes with the lines around them)",
             f"  {'ms/post':>8}{'us/client':>10}{'share':>7}  step"]
    for row in rows[:SHOWN]:
        code = f": {row['code']}" if row["code"] else ""
        called = f" -> {row['mostly_in']}" if row["mostly_in"] != "itself" else ""
        lines.append(f"  {row['ms_per_post']:8.2f}{row['us_per_client']:10.2f}{row['share']:7.0%}  {row['step']}{code}"
                     f"{called}")
    rest = rows[SHOWN:]
    if rest:
        lines.append(f"  {sum(row['ms_per_post'] for row in rest):8.2f}"
                     f"{sum(row['us_per_client'] for row in rest):10.2f}{sum(row['share'] for row in rest):7.0%}  "
                     f"{len(rest)} more lines")
    lines.append(f"  {cpu_ms_per_post:8.2f}{cpu_ms_per_post * 1000 / max(clients, 1):10.2f}{'100%':>7}  in all")
    return {"clients": clients, "posts": posts, "cpu_ms_per_post": cpu_ms_per_post, "samples": total, "steps": rows,
            "lines": lines}


def _function(frame: str) -> str:
    """``send (wsproto/connection.py:101)``'s function and file, without the line: what a step called."""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.rsplit(':', 1)[0]})" if where else function


def _source(frame: str, root: Path) -> str:
    """The line of code a frame ``name (servers/file.py:123)`` stands on, read from ``root``; "" if not found."""
    where = frame.rpartition(" (")[2].rstrip(")")
    path, _, number = where.rpartition(":")
    try:
        return (root / path).read_text().splitlines()[int(number) - 1].strip()
    except (OSError, ValueError, IndexError):
        return ""
