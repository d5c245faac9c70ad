"""Several server processes behind nginx (``servers.cluster``), measured: what notebook 08 and the tests run.

* ``separate_boards``: two nodes without Redis, each with a board of its own: what a client sees;
* ``across_nodes``: a WebSocket client of one node, a poster on another: does the message arrive?
* ``pubsub_against_stream``: a subscriber away for a moment, with Redis pub/sub and with a Redis Stream;
* ``round_robin``: which node answers each request that nginx passes on;
* ``node_kill``: a node killed under many clients of both transports: lost, duplicated, failed requests;
* ``node_freeze``: a node that freezes instead (a machine that stops answering, nothing closed): what it costs
  the clients to notice, get past nginx to another node and catch up, at short timeouts (``describe_freeze``);
* ``node_costs``: what an open WebSocket and a waiting long poll hold on their node, and in Redis;
* ``plots.pubsub_against_stream`` and ``plots.node_costs`` (``clients/bench/results/``) draw those two.

Clients are the lab's (``clients.lab.listeners``) and ``requests``, but for ``node_kill``, which measures the
project's command-line clients (``clients.websocket_client``, ``clients.polling_client``) as a user runs them;
all run in this process, all through nginx unless a node is named.

A killed node is the best case: its kernel closes every connection, so every client and nginx learn at once.
A node that goes silent is learnt of only by timeouts (``failover.py`` measures both on one machine):
``node_freeze`` stops a node with SIGSTOP under clients whose timeouts are seconds, in a cluster started with
short ones (``Cluster(ping_interval=1, read_timeout=3)``); ``failover.client_defaults`` computes what the
command-line clients' own timeouts give, and ``describe_freeze`` prints nginx's.
"""

import contextlib
import io
import threading
import time
from types import SimpleNamespace

import redis
import requests

from clients import polling_client, websocket_client
from clients.lab.listeners import WebSocketListener
from servers import sse
from servers.cluster.nginx import FAIL_TIMEOUT, MAX_FAILS, READ_TIMEOUT
from servers.redis_board import RedisBoard

from . import failover

WAIT = 30  # seconds any step may take before the measurement gives up (loaded machine)


def node_of(response: requests.Response) -> str:
    """The node that answered, as nginx names it (``X-Upstream``: host:port; two when the first was gone)."""
    return response.headers.get("X-Upstream", "?")


def separate_boards(cluster, polls: int = 4) -> list[dict]:
    """Post one message through nginx, then ask ``polls`` times through nginx what is on the board."""
    with requests.Session() as session:
        posted = session.post(f"{cluster.polling_url}/api/messages", json={"text": "Is anyone there?"}, timeout=5)
        rows = [{"request": "POST the message", "node": node_of(posted), "messages": "stored"}]
        for _ in range(polls):
            answer = session.get(f"{cluster.polling_url}/api/messages?after=0", timeout=5)
            rows.append({"request": "GET ?after=0", "node": node_of(answer),
                         "messages": len(answer.json()["messages"])})
    return rows


def across_nodes(cluster, wait: float = 1.0) -> dict:
    """A WebSocket client of the first node listens while a polling client posts through the second one:
    what reaches the listener within ``wait`` seconds?"""
    listener_node, poster_node = cluster.nodes[0], cluster.nodes[1]
    with WebSocketListener(f"{listener_node.ws_url}/ws").start() as listener:
        posted = requests.post(f"{poster_node.polling_url}/api/messages", json={"text": "hello from the other node"},
                               timeout=5)
        posted.raise_for_status()
        listener.wait_until(lambda: len(listener.received) >= 2, wait)  # the message and its reply
    return {"listener": f"WebSocket client of node {listener_node.number}",
            "poster": f"polling client of node {poster_node.number}", "posted": 2,
            "received": [arrival.message["text"] for arrival in listener.received[:2]]}


def pubsub_against_stream(redis_url: str, before: int = 3, away: int = 3, after: int = 3) -> dict:
    """A subscriber receives ``before`` messages, goes away while ``away`` are published, comes back for
    ``after`` more: what does it get, with pub/sub (SUBSCRIBE) and with a stream (XREAD from its last id)?"""
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    channel, stream = "demo:pubsub", "demo:stream"
    r.delete(stream)
    got = {"pub/sub": [], "stream": []}

    def publish(numbers):
        for n in numbers:
            r.publish(channel, str(n))
            r.xadd(stream, {"n": str(n)})

    def read_pubsub(subscriber, count):
        while count:
            message = subscriber.get_message(ignore_subscribe_messages=True, timeout=WAIT)
            if message is not None:
                got["pub/sub"].append(int(message["data"]))
                count -= 1

    def read_stream(last_id, count):
        while count:
            for _, entries in r.xread({stream: last_id}, block=WAIT * 1000):
                for last_id, fields in entries:
                    got["stream"].append(int(fields["n"]))
                    count -= 1
        return last_id

    subscriber = r.pubsub()
    subscriber.subscribe(channel)
    subscriber.get_message(timeout=WAIT)  # the confirmation: subscribed from here on
    publish(range(1, before + 1))
    read_pubsub(subscriber, before)
    last_id = read_stream("0", before)
    subscriber.close()  # the subscriber goes away (a node restarting, a dropped connection)
    publish(range(before + 1, before + away + 1))
    subscriber = r.pubsub()  # ...and comes back
    subscriber.subscribe(channel)
    subscriber.get_message(timeout=WAIT)
    publish(range(before + away + 1, before + away + after + 1))
    read_pubsub(subscriber, after)
    read_stream(last_id, away + after)  # from the last id it had: what it missed, then the new ones
    subscriber.close()
    r.delete(stream)
    published = list(range(1, before + away + after + 1))
    return {kind: {"received": ids, "lost": [n for n in published if n not in ids]} for kind, ids in got.items()}


def round_robin(cluster, requests_: int = 6) -> list[str]:
    """The node that answers each of ``requests_`` status requests through nginx, in order."""
    with requests.Session() as session:
        return [node_of(session.get(f"{cluster.polling_url}/api/status", timeout=5)) for _ in range(requests_)]


class CountingSession(requests.Session):
    """A ``requests.Session`` that counts the requests that failed (no answer, or a 5xx one), and those that
    nginx passed to a second node because the first was gone (``X-Upstream`` then names two)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = self.passed_on = 0

    def request(self, *args, **kwargs):
        try:
            response = super().request(*args, **kwargs)
        except requests.RequestException:
            self.failures += 1
            raise
        self.failures += response.status_code >= 500
        self.passed_on += "," in node_of(response)
        return response


class Inbox:
    """What one client was shown, in order; ``done`` wakes whoever waits for everyone to have ``count``."""

    def __init__(self, done: threading.Condition) -> None:
        self.ids: list[int] = []
        self.connections = 1
        self._done = done

    def show(self, message: dict) -> None:
        with self._done:
            self.ids.append(message["id"])
            self._done.notify_all()

    def reconnected(self, _ws) -> None:
        self.connections += 1


class Followers:
    """The command-line clients' followers (``websocket_client.follow``, ``polling_client.follow``), many of
    each through nginx, each showing what it gets to an ``Inbox``, every poller on a ``CountingSession``;
    from the message after ``first`` of ``board`` (the board's identity) on. They run while the block does;
    ``everyone_has`` waits for them."""

    def __init__(self, cluster, first: int, board: str, websocket_clients: int, polling_clients: int) -> None:
        self.first, self.done, self.stop = first, threading.Condition(), threading.Event()
        self.websocket = [Inbox(self.done) for _ in range(websocket_clients)]
        self.polling = [Inbox(self.done) for _ in range(polling_clients)]
        self.sessions = [CountingSession() for _ in range(polling_clients)]
        url = f"{cluster.ws_url}/ws"
        self.threads = [threading.Thread(target=websocket_client.follow, daemon=True, args=(
            websocket_client.connect(url, first, board), url, self.stop, first),
            kwargs={"on_message": inbox.show, "connected": inbox.reconnected, "board": board})
            for inbox in self.websocket]
        self.threads += [threading.Thread(target=polling_client.follow, daemon=True, args=(
            session, cluster.polling_url, None, self.stop, first), kwargs={"on_message": inbox.show, "board": board})
            for inbox, session in zip(self.polling, self.sessions)]

    def __enter__(self) -> "Followers":
        for thread in self.threads:
            thread.start()
        return self

    def everyone_has(self, count: int) -> bool:
        with self.done:
            return self.done.wait_for(lambda: all(len(inbox.ids) >= count for inbox in self.websocket + self.polling),
                                      WAIT)

    def __exit__(self, *exc) -> None:
        """Stop every follower (a message posted meanwhile ends the long polls under way)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        for session in self.sessions:
            session.close()

    def tally(self, last: int) -> dict:
        """Lost, duplicated and out of order, of the messages after ``first`` up to ``last``, per transport."""
        expected = set(range(self.first + 1, last + 1))

        def count(inboxes):
            shown = [[i for i in inbox.ids if i <= last] for inbox in inboxes]
            return {"clients": len(inboxes), "lost": sum(len(expected - set(ids)) for ids in shown),
                    "duplicated": sum(len(ids) - len(set(ids)) for ids in shown),
                    "out of order": sum(ids != sorted(ids) for ids in shown)}

        return {"websocket": {**count(self.websocket),
                              "reconnected": sum(inbox.connections > 1 for inbox in self.websocket)},
                "polling": {**count(self.polling), "failed requests (most for one client)":
                            max((session.failures for session in self.sessions), default=0),
                            "clients with a failed request": sum(session.failures > 0 for session in self.sessions),
                            "polls nginx passed to another node": sum(session.passed_on for session in self.sessions)}}


def node_kill(cluster, websocket_clients: int = 100, polling_clients: int = 100, sends: int = 5,
              kill: int = 0) -> dict:
    """``websocket_clients`` WebSocket clients and ``polling_clients`` long pollers follow the board through
    nginx; a client of the last node sends ``sends`` messages (each with its reply); node ``kill`` is killed
    (SIGKILL); ``sends`` more are sent. Every client must be shown all of them once, in order."""
    poster = next(node for number, node in enumerate(cluster.nodes) if number != kill)
    status = requests.get(f"{poster.polling_url}/api/status", timeout=5).json()
    first, board = status["last_id"], status["board"]  # from here on, on this board
    complaints = io.StringIO()  # what the clients print while they reconnect
    with contextlib.redirect_stderr(complaints), requests.Session() as sender:
        def send(count: int) -> None:
            for n in range(count):
                response = sender.post(f"{poster.polling_url}/api/messages", json={"text": f"message {n}"}, timeout=5)
                response.raise_for_status()

        with Followers(cluster, first, board, websocket_clients, polling_clients) as followers:
            send(sends)
            assert followers.everyone_has(2 * sends), "the clients did not get the first messages"
            killed = time.monotonic()
            cluster.kill_node(kill)
            send(sends)
            recovered = followers.everyone_has(4 * sends)
            recovery = time.monotonic() - killed
            followers.stop.set()
            send(1)  # ends the long polls under way, so the pollers notice ``stop``
    return {"messages": 4 * sends, "recovered": recovered, "seconds to recover": recovery,
            **followers.tally(first + 4 * sends), "client messages": complaints.getvalue().count("\n")}


def node_freeze(cluster, websocket_clients: int = 4, polling_clients: int = 4, freeze: int = 0, gap: float = 0.05,
                before: float = 0.5, grace: float = 1.0) -> dict:
    """``websocket_clients`` WebSocket clients and ``polling_clients`` long pollers (1 s polls), the lab's, follow
    the board through nginx while a notification is posted into it every ``gap`` s; ``before`` s in, node
    ``freeze`` stops (SIGSTOP) and stays stopped. A client gives up ``grace`` s past what it was promised (a
    ping every ``cluster.ping_interval`` s, an answer within the poll's wait) and reconnects through nginx,
    which may hand it to the frozen node again: then nginx gives up after ``cluster.read_timeout`` s, or the
    client first. About ``before`` + ``read_timeout`` + 4 s. Returns {"timeouts", "read_timeout", "events",
    "failed_at", "clients": [{"transport", "got", "log"}]}."""
    timeouts = failover.Timeouts(ping_interval=cluster.ping_interval, heartbeat=sse.HEARTBEAT, long_poll_wait=1,
                                 short_interval=1, grace=grace)
    front = SimpleNamespace(polling_url=cluster.polling_url, ws_url=f"{cluster.ws_url}/ws")
    detection = failover.computed(timeouts)
    after = max(detection[kind]["latest"] for kind in ("WebSocket", "long polling")) + cluster.read_timeout \
        + failover.SETTLE
    followed = [{"transport": kind, "got": [], "log": []}
                for kind in ["WebSocket"] * websocket_clients + ["long polling"] * polling_clients]
    board = RedisBoard(cluster.redis.url)
    try:
        first, events = board.last_id, round((before + after) / gap)
        make = failover.clients_for(timeouts, board.identity)  # every client names the board it resumes on
        failed_at = failover.watch((front, front), [(make[client["transport"]], client) for client in followed],
                                   board, first, events, gap, before, lambda: cluster.freeze_node(freeze),
                                   before + after + failover.CATCH_UP, names=("nginx", "nginx"))
    finally:
        board.close()
    return {"timeouts": timeouts, "read_timeout": cluster.read_timeout, "events": events, "failed_at": failed_at,
            "clients": followed}


def freeze_costs(run: dict) -> dict:
    """Per transport of a ``node_freeze`` run: its clients; those that noticed (gave a connection up, or had it
    cut: nginx gives up too) and how many of them by their own timeout; the first and last to notice, how long
    they had then gone without a notification (their timeout runs from that, not from the freeze), when they
    were connected again and when all held everything again (seconds after the freeze); connections given up
    after that (nginx handed them to the frozen node again); the worst delay from posted to shown; lost,
    duplicated, out of order; and the
    client's computed latest detection."""
    rows = {}
    for kind in dict.fromkeys(client["transport"] for client in run["clients"]):
        clients = [client for client in run["clients"] if client["transport"] == kind]
        costs = [failover.cost(client, run["failed_at"], run["events"]) for client in clients]
        noticed = [cost for cost in costs if cost["noticed_s"] is not None]
        first_losses = [next((what for at, what, _ in client["log"] if what.startswith("lost")
                              and at >= run["failed_at"]), "") for client in clients]
        rows[kind] = {"clients": len(costs), "noticed": len(noticed),
                      "by its own timeout": sum("TimeoutError" in what for what in first_losses),
                      "noticed_s": [min((c["noticed_s"] for c in noticed), default=None),
                                    max((c["noticed_s"] for c in noticed), default=None)],
                      "silent_s": [min((c["silent_s"] for c in noticed if c["silent_s"] is not None), default=None),
                                   max((c["silent_s"] for c in noticed if c["silent_s"] is not None), default=None)],
                      "moved_s": [min((c["moved_s"] for c in noticed if c["moved_s"] is not None), default=None),
                                  max((c["moved_s"] for c in noticed if c["moved_s"] is not None), default=None)],
                      "has_everything_s": max((c["has_everything_s"] or float("inf") for c in noticed),
                                              default=None),
                      "failed_again": sum(c["failed_again"] for c in costs),
                      "worst_delay_s": max(c["worst_delay_s"] or 0 for c in costs),
                      "lost": sum(c["lost"] for c in costs), "duplicated": sum(c["duplicates"] for c in costs),
                      "out of order": sum(not c["in_order"] for c in costs),
                      "computed_s": failover.computed(run["timeouts"])[kind]["latest"]}
    return rows


def describe_freeze(run: dict, rows: dict) -> str:
    """``freeze_costs`` and the timeouts that made them, as lines of text."""
    t = run["timeouts"]
    lines = [f"timeouts: the nodes ping every {t.ping_interval:g} s; a client gives up {t.grace:g} s past a "
             f"ping or a poll's answer due; nginx gives a silent node up after {run['read_timeout']:g} s (the "
             f"cluster's default: {READ_TIMEOUT} s), then sends it nothing for {FAIL_TIMEOUT} s "
             f"(max_fails={MAX_FAILS}); the node froze and stayed frozen"]
    for kind, row in rows.items():
        first = row["noticed_s"][0]
        lines.append(f"  {kind}: {row['noticed']} of {row['clients']} clients noticed"
                     + ("" if first is None else
                        f" ({row['by its own timeout']} by their own timeout), {_span(*row['noticed_s'])} after the "
                        f"freeze, having gone {_span(*row['silent_s'])} without a notification (their timeout: "
                        f"{row['computed_s']:g} s after the last one, plus the moment a thread takes to wake); "
                        f"connected again {_span(*row['moved_s'])} after the freeze, all had everything "
                        f"again {row['has_everything_s']:.2f} s after it; then {row['failed_again']} more "
                        "connections given up")
                     + f"; worst delay {row['worst_delay_s']:.2f} s; lost {row['lost']}, duplicated "
                       f"{row['duplicated']}, out of order {row['out of order']}")
    return "\n".join(lines)


def _span(first: float | None, last: float | None) -> str:
    """"2.01 to 2.13 s", or "2.01 s" when both read the same."""
    return "–" if first is None else f"{last:.2f} s" if f"{first:.2f}" == f"{last:.2f}" else \
        f"{first:.2f} to {last:.2f} s"


def node_costs(cluster, clients: int = 50) -> list[dict]:
    """What the nodes hold (threads, resident memory) and what Redis serves (connections, commands) while
    ``clients`` WebSocket clients are connected, then while ``clients`` long polls wait, against the same
    nodes idle; and the Redis commands one message to all of them costs. The clients connect to the nodes
    directly, in turns, so that nginx's pooled connections to the nodes do not blur the thread counts."""
    admin = redis.Redis.from_url(cluster.redis.url)
    nodes = [node for node in cluster.nodes if node.alive]

    def snapshot() -> dict:
        usage = [requests.get(f"{node.polling_url}/api/status", timeout=5).json()["process"] for node in nodes]
        return {"threads": sum(u["threads"] for u in usage), "rss_bytes": sum(u["rss_bytes"] for u in usage),
                "redis_connections": admin.info("clients")["connected_clients"] - 1}  # less this one

    def post_and_count(receive) -> int:
        """Redis commands run from one message posted until every client has it (and its reply)."""
        before = admin.info("stats")["total_commands_processed"]
        answer = requests.post(f"{nodes[0].polling_url}/api/messages", json={"text": "to everyone"}, timeout=5)
        answer.raise_for_status()
        receive()
        return admin.info("stats")["total_commands_processed"] - before - 1  # the first INFO counts itself after

    rows = []
    idle = snapshot()
    sockets = [WebSocketListener(f"{nodes[n % len(nodes)].ws_url}/ws").connect() for n in range(clients)]
    held = _settled(snapshot, lambda now: now["threads"] >= idle["threads"] + 2 * clients)

    def receive_all():
        for ws in sockets:
            while ws.next_event(timeout=WAIT)["message"]["reply_to"] is None:
                pass

    commands = post_and_count(receive_all)
    for ws in sockets:
        ws.close()
    rows.append(_costs("WebSocket (open)", clients, idle, held, commands))

    idle = _settled(snapshot, lambda now: now["threads"] <= idle["threads"])  # the sockets' threads have ended
    last_id = requests.get(f"{nodes[0].polling_url}/api/status", timeout=5).json()["last_id"]
    barrier = threading.Barrier(clients + 1)

    def long_poll(node):
        with requests.Session() as session:
            barrier.wait(WAIT)
            session.get(f"{node.polling_url}/api/messages?after={last_id}&wait=20", timeout=WAIT).raise_for_status()

    pollers = [threading.Thread(target=long_poll, args=(nodes[n % len(nodes)],)) for n in range(clients)]
    for poller in pollers:
        poller.start()
    barrier.wait(WAIT)
    held = _settled(snapshot, lambda now: now["threads"] >= idle["threads"] + clients)

    def receive_answers():
        for poller in pollers:
            poller.join(WAIT)

    commands = post_and_count(receive_answers)
    rows.append(_costs("long poll (waiting)", clients, idle, held, commands))
    return rows


def _settled(snapshot, done, timeout: float = 5) -> dict:
    """A snapshot once ``done(snapshot)`` holds (threads start and end a moment after their sockets do);
    nothing to block on, so it looks every 50 ms, for ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while not done(now := snapshot()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def _costs(kind: str, clients: int, idle: dict, held: dict, commands: int) -> dict:
    return {"transport": kind, "clients": clients,
            "threads per client": (held["threads"] - idle["threads"]) / clients,
            "KiB per client": (held["rss_bytes"] - idle["rss_bytes"]) / clients / 1024,
            "Redis connections": held["redis_connections"],
            "Redis commands per broadcast": commands}
