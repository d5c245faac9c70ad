"""Four clients follow the same news, and we send each one its bill (notebook 05, claims 2 and 3).

A short poller, a long poller, a WebSocket client and an event stream (Server-Sent
Events) listen for ``seconds`` while the server posts a notification every ``tick``
seconds. Each talks through its own recording relay, so its requests and every byte
it moved are counted. When the news stops, every client keeps listening until it
holds the last notification (a short poller that stopped at once would miss whatever
came after its last poll, and look dearer per message than it is); then one more
message wakes a waiting long poll, the WebSocket client closes, and the event
stream is closed once that message has come down it too.
"""

import json
import threading
import time

from clients import wire
from servers.chat import SERVER

from clients.bench.measure.latency import EventStream, Poller
from clients.lab.relay import Relay

HOLD_ON = 5.0  # seconds a client may take, after the news stops, to fetch the last notification


def follow_the_news(chat, polling, websocket, seconds: float, tick: float, short_interval: float) -> dict:
    """Returns {client name: bill}; a bill has "requests" (HTTP requests made), "delivered" (notifications
    received, the closing message not counted), "notifications" (posted), "bytes" (both ways, everything)
    "headers" (HTTP headers, plus frame headers for the WebSocket and the ``id:`` and ``data:`` lines of
    each event for Server-Sent Events) and "http_headers" (up, down: for the WebSocket, its handshake;
    for the event stream, its request and the head of its response)."""
    short = f"short polling {short_interval:g} s"
    relays = {name: Relay(server.port, record=True) for name, server in
              ((short, polling), ("long polling", polling), ("WebSocket", websocket),
               ("Server-Sent Events", polling))}
    first, news_over, last_tick = chat.board.last_id, threading.Event(), [None]

    def holds_the_last(poller: Poller) -> bool:
        return news_over.is_set() and last_tick[0] in poller.arrived

    pollers = {short: Poller(f"http://127.0.0.1:{relays[short].port}", short_interval, after=first,
                             until=lambda: holds_the_last(pollers[short])),
               "long polling": Poller(f"http://127.0.0.1:{relays['long polling'].port}", None, after=first,
                                      until=lambda: holds_the_last(pollers["long polling"]))}
    sock, rfile, _, _ = wire.open_websocket("127.0.0.1", relays["WebSocket"].port, "/ws")
    frames = []

    def read_until_close() -> None:
        while (frame := wire.read_frame(rfile)).opcode != wire.CLOSE:
            frames.append(frame)

    stream = EventStream(f"http://127.0.0.1:{relays['Server-Sent Events'].port}", after=first)
    events, stream_done = [], threading.Event()

    def read_events() -> None:
        while not stream_done.is_set():
            if (message := stream.next_message(timeout=0.05)) is not None:
                events.append(message["id"])

    reader = threading.Thread(target=read_until_close, daemon=True)
    event_reader = threading.Thread(target=read_events, daemon=True)
    try:
        for poller in pollers.values():
            poller.start()
        reader.start()
        event_reader.start()
        chat.start_ticker(tick)
        time.sleep(seconds)
        chat.stop_ticker()
        time.sleep(0.05)  # a tick that had already woken posts now, not after we noted the last one
        last_tick[0] = chat.board.last_id
        news_over.set()
        deadline = time.monotonic() + HOLD_ON
        while not all(last_tick[0] in poller.arrived for poller in pollers.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        last = chat.board.post(SERVER, "end of the test").id  # wakes a long poll that is waiting again
        for poller in pollers.values():
            poller.join(5)
        deadline = time.monotonic() + HOLD_ON
        while not any(json.loads(f.payload)["message"]["id"] == last for f in frames) and time.monotonic() < deadline:
            time.sleep(0.01)
        wire.send_frame(sock, wire.CLOSE, wire.close_payload(1000))  # the reader sees the server's Close
        reader.join(5)
        while last not in events and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        chat.stop_ticker()
        stream_done.set()
        event_reader.join(5)
        stream.close()
        sock.close()
        for relay in relays.values():
            relay.stop()
    received = {short: list(pollers[short].arrived), "long polling": list(pollers["long polling"].arrived),
                "WebSocket": [json.loads(frame.payload)["message"]["id"] for frame in frames],
                "Server-Sent Events": events}
    bills = {}
    for name, relay in relays.items():
        split, totals = relay.split(), relay.totals()
        bills[name] = {"requests": split["up"]["http_messages"],  # the WebSocket's one request: its handshake
                       "delivered": len({i for i in received[name] if first < i < last}),
                       "notifications": last - first - 1, "bytes": totals["up"] + totals["down"],
                       "headers": sum(split[side][key] for side in ("up", "down")
                                      for key in ("http_headers", "frame_headers")),
                       "http_headers": (split["up"]["http_headers"], split["down"]["http_headers"])}
    return bills
