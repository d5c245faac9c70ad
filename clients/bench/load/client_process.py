"""``python -m clients.bench.load.client_process``: one share of a load run's crowd, in a process of its own.

The load run (``processes.Crowd``) starts one or several of these, a few thousand clients each (one asyncio process
may not keep up with ten thousand sockets, and would then be the slow part it measures); each holds its share on
one event loop while the run, in its own process, posts the messages and reads what the server costs. It reads
one command per line on stdin (JSON) and answers each with one line on stdout; its first line says what
open-file limit it got. The commands, in a scenario's order:

* ``{"do": "connect", "spec": {...}, "clients": N, "at_once": K, "seconds": S}``: N clients of the scenario's
  transport (``clients.lab.async_listeners``), K handshakes at a time, all within S seconds (``crowd.py``),
  each started on what it follows once connected; answers how many connected, how long it took, the errors;
* ``{"do": "counts"}``: the bytes its clients read and wrote so far, and this process's CPU time (user and
  system, ``time.process_time``: finer than the 10 ms ticks psutil reads);
* ``{"do": "wait", "last_id": L, "seconds": S}``: until each running client holds message L, or S seconds;
* ``{"do": "collect", "after": A}``: what each client received after id A, and why any stopped;
* ``{"do": "close"}``: every client's closing handshake, then a fresh start for the next scenario.

All but ``close`` take a ``group`` too: two servers measured side by side get a group of clients each, in the
same processes (``posts.posts_side_by_side``).

Its clients' tasks run between commands: stdin is read by a thread, the event loop never waits for it.
"""

import asyncio
import json
import sys
import time
import traceback

from clients.lab.async_listeners import Counts, EventStream, Poller, WebSocketListener
from clients.lab.protocol import HTTP_HEADERS

from . import crowd

COMMANDS = ("connect", "counts", "wait", "collect", "close")
WAIT_STEP = 0.02  # seconds between two looks at the clients still waiting for a message


def listeners_for(spec: dict, clients: int, counts: Counts) -> list:
    """``clients`` clients of the scenario's transport (not connected yet)."""
    host, port, client_id = spec["host"], spec["port"], spec.get("client_id", "load")
    if spec["transport"] == "websocket":
        client = None if spec["server"] == "reference" else client_id
        return [WebSocketListener(f"ws://{host}:{port}/ws", client=client, counts=counts) for _ in range(clients)]
    if spec["transport"] == "sse":
        return [EventStream(f"http://{host}:{port}", headers=HTTP_HEADERS, client=client_id, counts=counts)
                for _ in range(clients)]
    interval = spec["interval"] if spec["transport"] == "short-polling" else None
    return [Poller(f"http://{host}:{port}", interval, after=spec["after"], client=client_id, counts=counts)
            for _ in range(clients)]


class Group:
    """The clients of one server: their bytes, and the ones that connected."""

    def __init__(self) -> None:
        self.bytes = Counts()  # what its clients read and wrote
        self.connected: list = []


class Share:
    """This process's clients in the scenario under way, in groups (one per server, when two servers are measured
    side by side), and the answer to each command. ``group`` names one; the first scenario's is "crowd"."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    async def connect(self, spec: dict, clients: int, at_once: int, seconds: float, group: str = "crowd") -> dict:
        started, clients_of = time.monotonic(), self.groups.setdefault(group, Group())
        listeners = listeners_for(spec, clients, clients_of.bytes)
        connected, errors = await crowd.connect_all(listeners, at_once, started + seconds)
        for listener in connected:
            listener.start()
        clients_of.connected += connected
        return {"connected": len(connected), "seconds": time.monotonic() - started, "failures": len(errors),
                "errors": sorted(set(errors))[:5]}

    async def counts(self, group: str = "crowd") -> dict:
        bytes_ = self.groups.get(group, Group()).bytes
        return {"read": bytes_.read, "written": bytes_.written, "cpu_seconds": time.process_time()}

    async def wait(self, last_id: int, seconds: float, group: str = "crowd") -> dict:
        """Look every ``WAIT_STEP`` s, at the clients still behind only: thousands of looks would cost this
        process the CPU its clients need."""
        deadline, behind = time.monotonic() + seconds, self.groups[group].connected
        while True:
            behind = [listener for listener in behind if listener.last_id < last_id and not listener.task.done()]
            if not behind or time.monotonic() >= deadline:
                return {"behind": len(behind)}
            await asyncio.sleep(WAIT_STEP)

    async def collect(self, after: int, group: str = "crowd") -> dict:
        """Each client's deliveries after id ``after`` as (id, seconds from the server's stamp, ``perf_counter``
        on arrival), and what stopped any client early (before ``close``)."""
        connected = self.groups[group].connected
        errors = [crowd.describe(listener.error) for listener in connected if listener.error]
        return {"received": [[(arrival.message["id"], round(arrival.delay, 6), round(arrival.at, 6))
                              for arrival in listener.received if arrival.message["id"] > after]
                             for listener in connected],
                "stopped_early": sum(listener.task.done() for listener in connected),
                "closed_by_server": sum(bool(getattr(listener, "closed_by_server", None)) for listener in connected),
                "poll_failures": sum(getattr(listener, "failures", 0) for listener in connected),
                "errors": sorted(set(errors))[:5], "error_count": len(errors)}

    async def close(self) -> dict:
        """Every group's clients: the scenario is over."""
        await crowd.close_all([listener for clients_of in self.groups.values() for listener in clients_of.connected])
        self.groups = {}
        return {"closed": True}


async def serve() -> None:
    """Answer commands until stdin ends (the run is over, or went away); then close whatever is still open."""
    loop, share = asyncio.get_running_loop(), Share()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            try:
                if command.get("do") not in COMMANDS:
                    raise ValueError(f"unknown command {command.get('do')!r}: expected one of {', '.join(COMMANDS)}")
                answer = await getattr(share, command.pop("do"))(**command)
            except Exception as error:  # the run reports it: one broken command says why, in one line
                answer = {"error": crowd.describe(error), "traceback": traceback.format_exc()}
            print(json.dumps(answer), flush=True)
    finally:
        await share.close()


def main() -> int:
    soft, hard = crowd.open_file_limit()
    print(json.dumps({"ready": True, "open_files": [soft, hard]}), flush=True)
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
