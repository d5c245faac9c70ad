"""A crowd of clients in one asyncio process: connecting thousands without tripping the server's listen backlog
or waiting forever, closing them, and what they got, against what the server sent.

The clients are ``clients.lab.async_listeners``'s; each notes every message it receives with the moment it
arrived, and ``tally`` turns those notes, gathered from every process of the crowd, into lost, duplicated and
out-of-order deliveries, and the delay from the server's stamp (``time``), or from the moment a message was
posted, to the median and the last client. Thousands of sockets need as many open files: ``open_file_limit``
raises this process's limit, ``too_few_files`` says plainly when it cannot.
"""

import asyncio
import statistics
import time

from servers.serving import allow_open_files

CONNECTING_AT_ONCE = 50  # handshakes in flight at once, over the whole crowd: a burst beyond the server's listen
# backlog would be dropped by the kernel and retried a second later, and we would measure the retry
CONNECT_TIMEOUT = 10.0  # seconds one client may take to connect (its handshake, or its stream's first lines)
SPARE_FILES = 64  # open files a client process needs besides its sockets (Python, pipes, the control connection)


async def connect_all(listeners: list, at_once: int = CONNECTING_AT_ONCE,
                      deadline: float | None = None) -> tuple[list, list[str]]:
    """Connect every listener, ``at_once`` at a time, each within ``CONNECT_TIMEOUT`` s and all before
    ``deadline`` (``time.monotonic()``; None: no bound); returns (the connected ones, the errors of the others).
    A listener whose turn comes after the deadline is not tried: a server that stopped accepting cannot make
    the run hang."""
    gate = asyncio.Semaphore(at_once)

    async def connect(listener) -> None:
        async with gate:
            left = CONNECT_TIMEOUT if deadline is None else min(CONNECT_TIMEOUT, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError("not tried: the time for connecting the crowd ran out")
            try:
                await asyncio.wait_for(listener.connect(), left)
            except asyncio.TimeoutError:
                raise TimeoutError(f"not connected within {left:.1f} s") from None

    outcomes = await asyncio.gather(*(connect(listener) for listener in listeners), return_exceptions=True)
    connected = [listener for listener, outcome in zip(listeners, outcomes) if outcome is None]
    for listener, outcome in zip(listeners, outcomes):
        if outcome is not None and listener.connection is not None:
            listener.connection.close()  # a refused handshake or stream leaves its socket open: this process lives on
    errors = [describe(outcome) for outcome in outcomes if outcome is not None]
    return connected, errors


def describe(error: BaseException) -> str:
    """An error in one line, its type first (what ``limits.ran_out`` reads)."""
    return f"{type(error).__name__}: {error}"


async def close_all(listeners: list, at_once: int = 200) -> None:
    gate = asyncio.Semaphore(at_once)

    async def close(listener) -> None:
        async with gate:
            await listener.close()

    await asyncio.gather(*(close(listener) for listener in listeners), return_exceptions=True)


def tally(received: list[list], expected: range, posted: dict[int, float] | None = None) -> dict:
    """Check every client's deliveries, ``(id, delay, arrived)`` each, against the ids the server stamped
    (``expected``).

    Per client: a message seen twice is a duplicate; one whose id is below an id seen
    before it is out of order; an expected id never seen is lost; an id outside
    ``expected`` is unexpected. Returns those counts, and per expected message the
    median and the largest delay (from the server's stamp) over the clients that got it
    (the median client and the last client), in seconds. ``posted`` (id: the
    ``perf_counter`` its POST left at; ``arrived`` is on the same clock) adds the same two
    from the moment each of those messages was posted, and the last client from their stamps.
    """
    lost = duplicated = out_of_order = unexpected = 0
    delays: dict[int, list[float]] = {message_id: [] for message_id in expected}
    arrivals: dict[int, list[float]] = {message_id: [] for message_id in posted or {}}
    for deliveries in received:
        seen, highest = set(), 0
        for message_id, delay, arrived in deliveries:
            if message_id in seen:
                duplicated += 1
                continue
            seen.add(message_id)
            if message_id < highest:
                out_of_order += 1
            highest = max(highest, message_id)
            if message_id in delays:
                delays[message_id].append(delay)
                if message_id in arrivals:
                    arrivals[message_id].append(arrived)
            else:
                unexpected += 1
        lost += sum(1 for message_id in expected if message_id not in seen)
    reached = {message_id: got for message_id, got in delays.items() if got}
    counts = {"expected_per_client": len(expected), "delivered": sum(len(got) for got in delays.values()),
              "lost": lost, "duplicated": duplicated, "out_of_order": out_of_order, "unexpected": unexpected,
              "median_client": [statistics.median(got) for got in reached.values()],
              "last_client": [max(got) for got in reached.values()]}
    if posted is not None:
        counts["post_median_client"] = [statistics.median(got) - posted[message_id]
                                        for message_id, got in arrivals.items() if got]
        counts["post_last_client"] = [max(got) - posted[message_id] for message_id, got in arrivals.items() if got]
        counts["post_stamp_last_client"] = [max(delays[message_id]) for message_id in posted if delays[message_id]]
    return counts


def open_file_limit() -> tuple[int | None, int | None]:
    """Raise this process's soft limit on open files as far as the system allows (servers.serving does it, for
    the servers too); returns (soft, hard), None where the OS has no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return None, None
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = allow_open_files(hard if hard != resource.RLIM_INFINITY else 1 << 16)
    return soft, hard


def too_few_files(clients: int, soft: int | None, hard: int | None) -> str | None:
    """The sentence to print when ``clients`` sockets will not fit under the open-file limit, else None."""
    if soft is None or soft < 0 or clients + SPARE_FILES <= soft:
        return None
    hard_limit = f"{hard:,}" if hard is not None and hard >= 0 else "unlimited"
    return (f"{clients:,} clients need about {clients + SPARE_FILES:,} open files, but this system lets a process "
            f"open only {soft:,} (hard limit {hard_limit}). Raise it (for example `ulimit -n {clients * 2 + 1024}` "
            "in the shell that runs the benchmark, which may need root for a hard limit) or ask for fewer clients.")
