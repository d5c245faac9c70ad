"""One message to many clients: how late each client gets it, and how many server threads the waiting costs.

``fan_out`` starts ``clients`` listeners of one transport (WebSocket clients
reading frames, or long pollers), lets the server post ``broadcasts`` messages,
and returns every delivery's delay (server stamp -> client holds it) together
with the server's threads counted while everyone listened.

Everything runs in *this* process: the servers' threads and the clients'
threads share one interpreter, hence one GIL, and here two CPU cores. So the
figures show how much work each delivery costs in total (server and client
side), queued on one machine: not a network's latency. Clients use raw sockets
(``clients.wire``) or ``requests``, which start no threads of their own, so every
thread counted below is the server's.
"""

import json
import socket
import threading
import time
from collections import Counter

import requests

from clients import wire
from clients.polling_client import poll
from servers.chat import SERVER

from .latency import LONG_POLL_WAIT, read_stream_opening  # the toolkit's wait: a broadcast always comes sooner

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


def websocket_listener(host: str, port: int, count: int, deliveries: list) -> threading.Thread:
    """A client (not started) that reads ``count`` pushed messages from /ws, noting (id, delay s) of each."""
    sock, rfile, _, _ = wire.open_websocket(host, port, "/ws")

    def listen() -> None:
        for _ in range(count):
            message = json.loads(wire.read_frame(rfile).payload)["message"]
            deliveries.append((message["id"], time.time() - message["time"]))
        wire.close(sock, rfile)
    return threading.Thread(target=listen)


def long_poll_listener(url: str, after: int, count: int, deliveries: list) -> threading.Thread:
    """A client (not started) that long-polls until it holds ``count`` messages after ``after``."""
    def listen(after: int = after) -> None:
        last = after + count
        with requests.Session() as session:
            while after < last:
                for message in poll(session, url, after, wait=LONG_POLL_WAIT):
                    deliveries.append((message["id"], time.time() - message["time"]))
                    after = message["id"]
    return threading.Thread(target=listen)


def fan_out(chat, transport: str, server, clients: int, broadcasts: int, gap: float = 0.1) -> dict:
    """``clients`` listeners on ``server`` (a RunningServer: WebSocket if ``transport`` is "WebSocket",
    else polling), ``broadcasts`` messages ``gap`` s apart. Returns the delays (s), each broadcast's
    spread (last delivery minus first, s) and the server threads counted while everyone listened."""
    _wait_for_idle_server()
    deliveries: list[tuple[int, float]] = []
    if transport == "WebSocket":
        listeners = [websocket_listener(server.host, server.port, broadcasts, deliveries) for _ in range(clients)]
    else:
        listeners = [long_poll_listener(server.url, chat.board.last_id, broadcasts, deliveries)
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
        listener.join(10)
    by_message: dict[int, list[float]] = {}
    for message_id, delay in deliveries:
        by_message.setdefault(message_id, []).append(delay)
    return {"transport": transport, "clients": clients, "broadcasts": broadcasts,
            "delays": [delay for _, delay in deliveries],
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
    """The server threads that one idle, open /ws connection holds, by kind (opened with raw sockets)."""
    _wait_for_idle_server()
    before = server_threads()
    sock, rfile, _, _ = wire.open_websocket(server.host, server.port, "/ws")
    try:
        _wait_until(lambda: all((server_threads() - before)[kind] for kind in THREAD_KINDS.values()), 2.0)
        return server_threads() - before
    finally:
        wire.close(sock, rfile)


def threads_of_one_event_stream(server) -> Counter:
    """The server threads that one idle, open ``GET /api/events`` holds, by kind (``server``: the polling
    server; the stream is read on a raw socket, up to its ``retry:`` hint, and then left idle). The server's
    thread outlives the closed stream until it next writes to it (an event, or a heartbeat), so count
    other threads before this one."""
    _wait_for_idle_server()
    before = server_threads()
    sock = socket.create_connection((server.host, server.port), timeout=10)
    try:
        sock.sendall(wire.request_bytes("GET", "/api/events", f"{server.host}:{server.port}"))
        read_stream_opening(sock)
        _wait_until(lambda: (server_threads() - before)["request"] >= 1, 2.0)
        return server_threads() - before
    finally:
        sock.close()
