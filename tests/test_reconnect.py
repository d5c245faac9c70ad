"""A class of clients across a server restart: every client ends with every message exactly once, in order.

The teacher restarts the server (its board kept, as ``Twins`` restarted on the same ports with the same
``Chat``). Both command-line clients reconnect with exponential backoff and jitter (clients/backoff.py)
and resume from the last id they hold: 100 WebSocket clients and 100 long pollers, in this process.
"""

import threading

import requests

from clients import polling_client, websocket_client
from clients.backoff import Backoff
from conftest import eventually
from servers.chat import Chat
from servers.twins import Twins

CLIENTS = 100  # per transport
BATCH = 10  # messages posted before the stop, while the server is down, and after the restart


def test_a_class_gets_every_message_exactly_once_in_order_across_a_restart():
    chat = Chat()
    twins = Twins(chat)
    polling_port, websocket_port = twins.polling.port, twins.websocket.port
    stop = threading.Event()
    shown = {(kind, n): [] for kind in ("WebSocket", "long polling") for n in range(CLIENTS)}
    followers = []
    for n in range(CLIENTS):
        ws = websocket_client.connect(f"{twins.ws_url}/ws", 0, "")  # from the first message, no board known yet
        followers.append(threading.Thread(target=websocket_client.follow, args=(ws, f"{twins.ws_url}/ws", stop),
                                          kwargs={"on_message": shown["WebSocket", n].append, "board": ""}))
        followers.append(threading.Thread(target=polling_client.follow, args=(
            requests.Session(), twins.polling.url, None, stop),
            kwargs={"on_message": shown["long polling", n].append, "board": ""}))
    for follower in followers:
        follower.start()
    try:
        for n in range(BATCH):
            chat.board.post("server", f"before the restart #{n}")
        assert eventually(lambda: all(len(messages) == BATCH for messages in shown.values()), 15, step=0.02), \
            "timed out"
        twins.stop()
        for n in range(BATCH):
            chat.board.post("server", f"while the server is down #{n}")
        twins = Twins(chat, polling_port=polling_port, websocket_port=websocket_port)
        for n in range(BATCH):
            chat.board.post("server", f"after the restart #{n}")
        assert eventually(lambda: all(len(messages) >= 3 * BATCH for messages in shown.values()), 30, step=0.02), \
            "timed out"
    finally:
        stop.set()
        twins.stop()  # ends the long polls under way
        for follower in followers:
            follower.join(5)
    expected = list(range(1, 3 * BATCH + 1))
    wrong = {client: [m["id"] for m in messages] for client, messages in shown.items()
             if [m["id"] for m in messages] != expected}
    assert not wrong, f"{len(wrong)} clients did not get every message exactly once, in order: {wrong}"


def test_backoff_doubles_its_bound_and_spreads_clients_out():
    delays = [[Backoff(first=0.25, longest=8).next_delay() for _ in range(1)] for _ in range(30)]
    assert len({round(d[0], 3) for d in delays}) > 20  # thirty laptops do not come back at one instant
    backoff = Backoff(first=1, longest=8)
    bounds = []
    for _ in range(6):
        backoff.rng.uniform = lambda low, high: high  # the bound itself
        bounds.append(backoff.next_delay())
    assert bounds == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next_delay() == 1
