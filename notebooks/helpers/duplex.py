"""Full duplex, shown rather than claimed (notebook 06, claim 1).

For the same stretch of time, two connections to our servers: a WebSocket on
which our client keeps sending chat messages, without waiting for answers, while
the server posts a notification every ``notify_every`` seconds; and a kept-alive
HTTP/1.1 connection that has sent one request, got its answer, and now listens.
The WebSocket client's thread notes every frame the server sends, and between two
sends we look whether anything arrived on the HTTP connection (``select``).
Everything opened here is closed before ``full_duplex`` returns; ``plots.duplex_timeline`` draws it.
"""

import select
import time

from clients.lab.listeners import Poller, WebSocketListener
from servers.chat import SERVER


def full_duplex(chat, websocket, polling, notify_every: float, sends: int, send_every: float) -> dict:
    """Returns {"timeline": [(seconds, "up" or "down", kind)], "sent", "notifications", "http_bytes_unasked"}.

    ``websocket`` and ``polling`` are RunningServers on ``chat``; kinds are "our message", "notification"
    (the server spoke first) and "answer to us" (the server's reply to one of our messages, or its
    confirmation that it stored one)."""
    ws = WebSocketListener(f"ws://{websocket.host}:{websocket.port}/ws").start()
    http = Poller(polling.url, after=0, wait=None, headers={})
    http.poll()  # the one answer it asked for
    ups, unasked, start = [], 0, time.perf_counter()
    chat.start_ticker(notify_every)
    try:
        for i in range(sends):
            ws.send_event({"type": "send", "text": f"message {i}"})
            ups.append(time.perf_counter())
            if select.select([http.connection.sock], [], [], send_every)[0]:  # meanwhile: anything over HTTP?
                unasked += len(http.connection.sock.recv(65536))
    finally:
        chat.stop_ticker()
        ws.close()  # its thread reads up to the server's Close
        http.close()
    downs = [(arrival.at, "notification" if arrival.message["author"] == SERVER and arrival.message["reply_to"] is None
              else "answer to us") for arrival in ws.received] + [(at, "answer to us") for at, _ in ws.events]
    timeline = sorted([(at - start, "up", "our message") for at in ups] +
                      [(at - start, "down", kind) for at, kind in downs])
    return {"timeline": timeline, "sent": len(ups),
            "notifications": sum(kind == "notification" for _, _, kind in timeline), "http_bytes_unasked": unasked}
