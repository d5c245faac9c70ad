"""A server dies mid-conversation: a WebSocket client and a long poller move to another node and resume.

Each follower reads messages from node A, and when its connection drops (or
nobody listens there any more) switches to the other node and resumes after
the last id it holds, so nothing should be lost or repeated. ``drop_a_node``
runs both followers while the board gets ``events`` notifications and node A
stops before notification ``kill_before``. A node is anything with
``.websocket`` and ``.polling`` RunningServers sharing one board.
"""

import threading
import time

from clients.bench.results.stats import summarize
from clients.lab.listeners import Poller, WebSocketListener
from servers.chat import SERVER

NAMES = "AB"


def follow(nodes, after: int, last: int, got: list, log: list, client_for, joined: str) -> None:
    """Follow the board on node A up to the message ``last``; when the connection drops (or nobody listens
    there any more), switch to the other node and resume after the last id held. ``client_for(node,
    after)`` is the client for a node; ``got`` gets (arrival, id, stamp) of each message, ``log`` what
    happened: "``joined`` node A", with the handshake's bytes where there is one, "lost node A"."""
    node = 0
    while after < last:
        try:
            client = client_for(nodes[node], after).start()
        except OSError as error:  # nobody listens there any more
            log.append((time.time(), f"lost node {NAMES[node]} ({type(error).__name__})", 0))
            node = 1 - node
            continue
        log.append((time.time(), f"{joined} node {NAMES[node]}", getattr(client, "handshake_bytes", 0)))
        client.wait_until(lambda: client.last_id >= last, None)
        got += [(arrival.wall, arrival.message["id"], arrival.message["time"]) for arrival in client.received]
        after = max(after, client.last_id)
        if after < last:  # the connection dropped before the end: the node is gone
            log.append((time.time(), f"lost node {NAMES[node]} ({type(client.error).__name__})", 0))
            node = 1 - node
        client.close()


def follow_websocket(nodes, after: int, last: int, got: list, log: list) -> None:
    """Read pushed messages; on a dropped connection, reconnect to the other node with ?after=."""
    follow(nodes, after, last, got, log, lambda node, after: WebSocketListener(
        f"ws://127.0.0.1:{node.websocket.port}/ws", after=after), "connected to")


def follow_long_polling(nodes, after: int, last: int, got: list, log: list) -> None:
    """Long-poll; a failed request means "try the other node", from the last id held."""
    follow(nodes, after, last, got, log, lambda node, after: Poller(node.polling.url, after=after, until_id=last),
           "polling")


FOLLOWERS = {"WebSocket": follow_websocket, "long polling": follow_long_polling}


def drop_a_node(chat, node_a, node_b, events: int, kill_before: int, gap: float) -> dict:
    """Both followers on node A; ``events`` notifications ``gap`` s apart; node A stops before number
    ``kill_before``. Returns {"followers": {name: {"got", "log"}}, "t0", "killed_at"} (wall-clock seconds)."""
    first = chat.board.last_id
    followers = {name: {"got": [], "log": []} for name in FOLLOWERS}
    runners = [threading.Thread(target=follower, args=((node_a, node_b), first, first + events,
                                                       followers[name]["got"], followers[name]["log"]))
               for name, follower in FOLLOWERS.items()]
    for runner in runners:
        runner.start()
    time.sleep(0.3)  # both are connected and waiting
    t0, killed_at = time.time(), None
    for n in range(events):
        if n == kill_before:
            killed_at = time.time()
            node_a.polling.stop()
            node_a.websocket.stop()
        chat.board.post(SERVER, f"Notification #{n}")
        time.sleep(gap)
    for runner in runners:
        runner.join(15)
    return {"followers": followers, "t0": t0, "killed_at": killed_at}


def summary(drop: dict, events: int) -> dict:
    """Per follower of a ``drop_a_node`` run: notifications received (distinct) and repeated, the median and
    worst delay (ms), how long after node A stopped it noticed (ms), whether it moved to node B, its log."""
    rows = {}
    for name, follower in drop["followers"].items():
        ids = [message_id for _, message_id, _ in follower["got"]]
        delays = summarize([t - stamped for t, _, stamped in follower["got"]])  # seconds in, ms out
        lost = [at for at, what, _ in follower["log"] if what.startswith("lost")]
        rows[name] = {"received": len(set(ids)), "duplicates": len(ids) - len(set(ids)), "events": events,
                      "median_ms": delays.get("median_ms"), "worst_ms": delays.get("max_ms"),
                      "noticed_ms": (lost[0] - drop["killed_at"]) * 1000 if lost else None,
                      "moved": any("node B" in what for _, what, _ in follower["log"]), "log": follower["log"]}
    return rows


def describe(rows: dict, t0: float) -> str:
    """``summary`` as lines of text: one per follower, then its log, seconds since ``t0``."""
    lines = []
    for name, row in rows.items():
        lines.append(f"{name}: {row['received']} of {row['events']} notifications, {row['duplicates']} duplicates, "
                     f"worst delay {row['worst_ms']:.1f} ms (median {row['median_ms']:.1f} ms), noticed the drop "
                     f"{row['noticed_ms']:.0f} ms after node A stopped")
        lines += [f"    {at - t0:7.3f} s  {what}" + (f", handshake {size} bytes" if size else "")
                  for at, what, size in row["log"]]
    return "\n".join(lines)
