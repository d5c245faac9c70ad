"""Full duplex, shown rather than claimed (notebook 05, claim 1).

For the same stretch of time, two connections to our servers: a WebSocket on
which our client keeps sending chat messages, without waiting for answers, while
the server posts a notification every ``notify_every`` seconds; and a kept-alive
HTTP/1.1 connection that has sent one request, got its answer, and now listens.
A thread notes every frame the server sends on the WebSocket, and between two
sends we look whether anything arrived on the HTTP connection (``select``).
Everything opened here is closed before ``full_duplex`` returns.
"""

import json
import select
import socket
import threading
import time

from clients import wire
from servers.chat import SERVER

from clients.bench.results.colors import REFERENCE, WEBSOCKET

KINDS = {"our message": ("^", WEBSOCKET, 1), "notification": ("v", WEBSOCKET, 0), "answer to us": ("v", REFERENCE, 0)}


def full_duplex(chat, websocket, polling, notify_every: float, sends: int, send_every: float) -> dict:
    """Returns {"timeline": [(seconds, "up" or "down", kind)], "sent", "notifications", "http_bytes_unasked"}.

    ``websocket`` and ``polling`` are RunningServers on ``chat``; kinds are "our message", "notification"
    (the server spoke first) and "answer to us" (the server's reply to one of our messages)."""
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/ws")
    http = socket.create_connection((polling.host, polling.port), timeout=10)
    http.sendall(wire.request_bytes("GET", "/api/messages?after=0", f"{polling.host}:{polling.port}"))
    wire.read_response(http.makefile("rb"))  # the one answer it asked for
    timeline, unasked, start = [], 0, time.perf_counter()

    def read_frames() -> None:  # until the server's Close
        while (frame := wire.read_frame(rfile)).opcode != wire.CLOSE:
            message = json.loads(frame.payload)["message"]
            spoke_first = message["author"] == SERVER and message["reply_to"] is None
            timeline.append((time.perf_counter() - start, "down", "notification" if spoke_first else "answer to us"))

    reader = threading.Thread(target=read_frames, daemon=True)
    reader.start()
    chat.start_ticker(notify_every)
    try:
        for i in range(sends):
            wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": f"message {i}"}).encode())
            timeline.append((time.perf_counter() - start, "up", "our message"))
            if select.select([http], [], [], send_every)[0]:  # meanwhile: anything on the HTTP connection?
                unasked += len(http.recv(65536))
    finally:
        chat.stop_ticker()
        wire.send_frame(sock, wire.CLOSE, wire.close_payload(1000))
        reader.join(5)
        sock.close()
        http.close()
    return {"timeline": timeline, "sent": sum(kind == "our message" for _, _, kind in timeline),
            "notifications": sum(kind == "notification" for _, _, kind in timeline), "http_bytes_unasked": unasked}


def timeline_figure(timeline: list):
    """Each frame as a mark on one WebSocket connection: up is our client, down is the server."""
    import matplotlib.pyplot as plt

    from clients.bench.results.plots import LEGEND_OUTSIDE
    fig, ax = plt.subplots(figsize=(9, 2.4))
    for kind, (marker, color, row) in KINDS.items():
        at = [t for t, _, k in timeline if k == kind]
        ax.scatter(at, [row] * len(at), marker=marker, s=60, label=kind, edgecolors=color,
                   facecolors="none" if kind == "answer to us" else color)
    ax.set_yticks([0, 1], ["server -> client", "client -> server"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("seconds, one WebSocket connection")
    ax.legend(**LEGEND_OUTSIDE)
    return fig
