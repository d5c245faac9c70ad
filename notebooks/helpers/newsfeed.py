"""Four clients follow the same news, and we send each one its bill (notebook 06, claims 2 and 3).

A short poller, a long poller, a WebSocket client and an event stream (Server-Sent
Events) listen for ``seconds`` while the server posts a notification every ``tick``
seconds. Each talks through its own recording relay, so its requests and every byte
it moved are counted. When the news stops, every client keeps listening until it
holds the last notification (a short poller that stopped at once would miss whatever
came after its last poll, and look dearer per message than it is); then one more
message wakes a waiting long poll, the WebSocket client closes, and the event
stream is closed once that message has come down it too.
"""

import threading
import time

from clients.lab.listeners import EventStream, Poller, WebSocketListener
from clients.lab.relay import Relay
from servers.chat import SERVER

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
    at = {name: f"127.0.0.1:{relay.port}" for name, relay in relays.items()}
    first, news_over, last_tick = chat.board.last_id, threading.Event(), []

    def holds_the_last(name: str) -> bool:  # a poller that stopped at once would miss what came after its poll
        return news_over.is_set() and last_tick[0] in clients[name].arrived

    clients = {short: Poller(f"http://{at[short]}", short_interval, after=first, until=lambda: holds_the_last(short)),
               "long polling": Poller(f"http://{at['long polling']}", after=first,
                                      until=lambda: holds_the_last("long polling")),
               "WebSocket": WebSocketListener(f"ws://{at['WebSocket']}/ws"),
               "Server-Sent Events": EventStream(f"http://{at['Server-Sent Events']}", after=first)}
    try:
        for client in clients.values():
            client.start()
        chat.start_ticker(tick)
        time.sleep(seconds)
        chat.stop_ticker()
        time.sleep(0.05)  # a tick that had already woken posts now, not after we noted the last one
        last_tick.append(chat.board.last_id)
        news_over.set()
        _hold_on(clients[short], clients["long polling"], message_id=last_tick[0])
        last = chat.board.post(SERVER, "end of the test").id  # wakes a long poll that is waiting again
        for name in (short, "long polling"):
            clients[name].join(5)
        _hold_on(clients["WebSocket"], clients["Server-Sent Events"], message_id=last)
    finally:
        chat.stop_ticker()
        for client in clients.values():
            client.close()  # the WebSocket with its closing handshake
        for relay in relays.values():
            relay.stop()
    return {name: _bill(relay, clients[name], first, last) for name, relay in relays.items()}


def _hold_on(*clients, message_id: int) -> None:
    """Wait, ``HOLD_ON`` seconds at most, until every one of ``clients`` holds ``message_id``."""
    deadline = time.monotonic() + HOLD_ON
    for client in clients:
        client.wait_until(lambda: message_id in client.arrived, max(0.0, deadline - time.monotonic()))


def _bill(relay: Relay, client, first: int, last: int) -> dict:
    """What one client's relay counted, and how many of the notifications (between ``first`` and the closing
    message ``last``) the client got."""
    split, totals = relay.split(), relay.totals()
    return {"requests": split["up"]["http_messages"],  # the WebSocket's one request: its handshake
            "delivered": len({i for i in client.arrived if first < i < last}),
            "notifications": last - first - 1, "bytes": totals["up"] + totals["down"],
            "headers": sum(split[side][key] for side in ("up", "down") for key in ("http_headers", "frame_headers")),
            "http_headers": (split["up"]["http_headers"], split["down"]["http_headers"])}
