"""A server dies mid-conversation: a WebSocket client and a long poller move to another node and resume.

Each follower reads messages from node A, and when its connection drops (or
nobody listens there any more) switches to the other node and resumes after
the last id it holds, so nothing should be lost or repeated. ``drop_a_node``
runs both followers while the board gets ``events`` notifications and node A
stops before notification ``kill_before``. A node is anything with
``.websocket`` and ``.polling`` RunningServers sharing one board.
"""

import json
import threading
import time

import requests

from clients import wire
from clients.polling_client import poll
from servers.chat import SERVER

from .latency import LONG_POLL_WAIT  # the toolkit's: the news always comes sooner
from clients.bench.results.stats import summarize

NAMES = "AB"


def follow_websocket(nodes, after: int, last: int, got: list, log: list) -> None:
    """Read pushed messages; on a dropped connection, reconnect to the other node with ?after=."""
    node = 0
    while after < last:
        try:
            sock, rfile, sent, response = wire.open_websocket("127.0.0.1", nodes[node].websocket.port,
                                                              f"/ws?after={after}")
            log.append((time.time(), f"connected to node {NAMES[node]}", len(sent) + len(response.head)))
            while after < last:
                frame = wire.read_frame(rfile)
                if frame.opcode == wire.CLOSE:
                    raise ConnectionError("closed by the server")
                message = json.loads(frame.payload)["message"]
                got.append((time.time(), message["id"], message["time"]))
                after = message["id"]
            wire.close(sock, rfile)
        except OSError as error:  # the connection dropped, or nobody listens there any more
            log.append((time.time(), f"lost node {NAMES[node]} ({type(error).__name__})", 0))
            node = 1 - node


def follow_long_polling(nodes, after: int, last: int, got: list, log: list) -> None:
    """Long-poll; a failed request means "try the other node", from the last id held."""
    node = 0
    log.append((time.time(), "polling node A", 0))
    with requests.Session() as session:
        while after < last:
            try:
                for message in poll(session, nodes[node].polling.url, after, wait=LONG_POLL_WAIT):
                    got.append((time.time(), message["id"], message["time"]))
                    after = message["id"]
            except requests.RequestException as error:
                log.append((time.time(), f"lost node {NAMES[node]} ({type(error).__name__})", 0))
                node = 1 - node
                log.append((time.time(), f"polling node {NAMES[node]}", 0))


FOLLOWERS = {"WebSocket": follow_websocket, "long polling": follow_long_polling}


def drop_a_node(chat, node_a, node_b, events: int, kill_before: int, gap: float) -> dict:
    """Both followers on node A; ``events`` notifications ``gap`` s apart; node A stops before number
    ``kill_before``. Returns {"followers": {name: {"got", "log"}}, "t0", "killed_at"} (wall-clock seconds)."""
    first = chat.board.last_id
    followers = {name: {"got": [], "log": []} for name in FOLLOWERS}
    runners = [threading.Thread(target=follow, args=((node_a, node_b), first, first + events,
                                                     followers[name]["got"], followers[name]["log"]))
               for name, follow in FOLLOWERS.items()]
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
