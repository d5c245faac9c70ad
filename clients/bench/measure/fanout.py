"""One message to many clients: how late each client gets it, and how many server threads the waiting costs.

``fan_out`` starts ``clients`` listeners of one transport (WebSocket clients or long
pollers, ``clients.lab.listeners``), lets the server post ``broadcasts`` messages, and
returns every delivery's delay (server stamp -> client holds it) together with the
server's threads counted while everyone listened.

Everything runs in *this* process: the servers' threads and the clients'
threads share one interpreter, hence one GIL, and here two CPU cores. So the
figures show how much work each delivery costs in total (server and client
side), queued on one machine: not a network's latency. Each client's thread goes by
a name of its own ("poller", "websocket listener"), so every thread counted below
is the server's.
"""

import threading
import time
from collections import Counter

from clients.lab.listeners import EventStream, Poller, WebSocketListener
from servers.chat import SERVER

# Server threads by the name Python gives them ("Thread-N (<target>)"), and what each one does:
THREAD_KINDS = {
    "(process_request_thread)": "request",  # Werkzeug: one per connection being served (a /ws reads and writes in it)
}


def server_threads() -> Counter:
    """Live threads of this process serving a connection, counted by kind (see THREAD_KINDS)."""
    kinds = Counter()
    for thread in threading.enumerate():
        for marker, kind in THREAD_KINDS.items():
            if thread.name.endswith(marker):
                kinds[kind] += 1
    return kinds


def fan_out(chat, transport: str, server, clients: int, broadcasts: int, gap: float = 0.1) -> dict:
    """``clients`` listeners on ``server`` (a RunningServer: WebSocket if ``transport`` is "WebSocket",
    else polling), ``broadcasts`` messages ``gap`` s apart. Returns the delays (s), each broadcast's
    spread (last delivery minus first, s) and the server threads counted while everyone listened."""
    _wait_for_idle_server()
    after = chat.board.last_id
    if transport == "WebSocket":
        listeners = [WebSocketListener(f"ws://{server.host}:{server.port}/ws") for _ in range(clients)]
    else:
        listeners = [Poller(server.url, after=after, board=chat.board.identity, until_id=after + broadcasts)
                     for _ in range(clients)]
    for listener in listeners:
        listener.start()
    _wait_until(lambda: server_threads()["request"] >= clients)  # everyone is listening
    time.sleep(gap)
    threads = server_threads()
    for n in range(broadcasts):
        chat.board.post(SERVER, f"Broadcast #{n}")
        time.sleep(gap)
    for listener in listeners:
        listener.wait_until(lambda listener=listener: listener.last_id >= after + broadcasts, 10)
        listener.close()
    arrivals = [arrival for listener in listeners for arrival in listener.received]
    by_message: dict[int, list[float]] = {}
    for arrival in arrivals:
        by_message.setdefault(arrival.message["id"], []).append(arrival.delay)
    return {"transport": transport, "clients": clients, "broadcasts": broadcasts,
            "delays": [arrival.delay for arrival in arrivals],
            "spreads": [max(delays) - min(delays) for delays in by_message.values()],
            "threads": dict(threads), "threads_per_client": sum(threads.values()) / clients}


def _wait_for_idle_server(timeout: float = 3.0) -> None:
    """Earlier connections finish winding down, so they are not counted as this run's."""
    _wait_until(lambda: not server_threads(), timeout)


def _wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def threads_of_one_websocket(server) -> Counter:
    """The server threads that one idle, open /ws connection holds, by kind."""
    _wait_for_idle_server()
    before = server_threads()
    with WebSocketListener(f"ws://{server.host}:{server.port}/ws"):
        _wait_until(lambda: all((server_threads() - before)[kind] for kind in THREAD_KINDS.values()), 2.0)
        return server_threads() - before


def threads_of_one_event_stream(server) -> Counter:
    """The server threads that one idle, open ``GET /api/events`` holds, by kind (``server``: the polling
    server; the stream is read up to its retry hint, and then left idle). The server's thread outlives the
    closed stream until it next writes to it (an event, or a heartbeat), so count other threads before
    this one."""
    _wait_for_idle_server()
    before = server_threads()
    with EventStream(server.url):
        _wait_until(lambda: (server_threads() - before)["request"] >= 1, 2.0)
        return server_threads() - before
