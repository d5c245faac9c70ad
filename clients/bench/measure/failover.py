"""A node lost mid-conversation: what it costs each transport's client to notice, move to another node, catch up.

Two nodes, A and B, serve one board (as a shared store, Redis, serves a cluster's nodes): each a polling server
(short and long polls, the event stream) and a WebSocket server, each behind a relay of its own (the node's
link, ``clients/lab/relay.py``). One client per transport follows the board through A, while a notification is
posted every ``gap`` seconds, before, during and after A is lost in one of two ways:

* ``KILL``, the process killed: its kernel closes every connection at once and refuses new ones; every client
  that is reading learns it at once, a short poller at its next poll;
* ``SILENT``, a pulled cable or a machine that froze: nothing passes, nothing is closed. A client learns only
  when something it was promised has not come: the server's ping on a WebSocket, the heartbeat on an event
  stream, the answer to a poll (``clients/lab/listeners.py``: ``silence``, ``grace``).

Each client then moves to node B at once and resumes after the last id it holds (``after=``), naming the board
that id belongs to (``board=``: servers/README.md, "The board's identity"), so it should lose nothing and get
nothing twice; ``costs`` says when it noticed, when it was on B, when it held everything
again, and what it missed meanwhile. ``TIMEOUTS`` are a notebook's (a second or two); ``computed`` gives the same
bounds from any timeouts, and ``client_defaults`` what the command-line clients' and the pages' own give.
"""

import threading
import time
from dataclasses import dataclass

from clients import polling_client, sse_client, websocket_client
from clients.backoff import FIRST
from clients.bench.results.stats import summarize
from clients.lab.listeners import EventStream, Poller, WebSocketListener
from clients.lab.relay import Relay
from servers import polling_server, sse, websocket_server
from servers.chat import SERVER
from servers.cluster.nginx import PING_INTERVAL as CLUSTER_PING_INTERVAL
from servers.serving import RunningServer

KILL, SILENT = "process killed", "link silent"
SETTLE = 1.0  # seconds of posting past the computed latest detection: every client has moved and caught up
CATCH_UP = 5.0  # seconds a client may still take, once the posting is over, before the run gives up on it


@dataclass(frozen=True)
class Timeouts:
    """What the servers promise and how long past a promise a client waits before it gives its connection up."""
    ping_interval: float  # the WebSocket server pings every so many seconds
    heartbeat: float  # the event stream carries a comment after so many idle seconds
    long_poll_wait: int  # the server answers a long poll within so many seconds (a whole number)
    short_interval: float  # a short poller asks every so many seconds
    grace: float  # seconds past a promise before the client gives up


TIMEOUTS = Timeouts(ping_interval=1, heartbeat=1, long_poll_wait=1, short_interval=0.25, grace=1)


class Node:
    """A polling server (which serves the event stream too) and a WebSocket server on ``chat``, each reached
    through a relay, its link, which ``fail`` ends or silences."""

    def __init__(self, chat, timeouts: Timeouts) -> None:
        polling_app = polling_server.create_app(chat)
        polling_app.config["SSE_HEARTBEAT"] = timeouts.heartbeat
        self.servers = [RunningServer(polling_app),
                        RunningServer(websocket_server.create_app(chat, ping_interval=timeouts.ping_interval))]
        self.links = [Relay(server.port) for server in self.servers]
        self.polling_url = f"http://127.0.0.1:{self.links[0].port}"
        self.ws_url = f"ws://127.0.0.1:{self.links[1].port}/ws"

    def fail(self, how: str) -> None:
        """KILL: every connection ends at once, new ones are refused; SILENT: nothing passes any more."""
        for link in self.links:
            if how == KILL:
                link.stop()
            else:
                link.freeze()

    def stop(self) -> None:
        for part in self.links + self.servers:
            part.stop()


def clients_for(timeouts: Timeouts, board: str | None) -> dict:
    """{transport: client_for(node, after)}: the lab's clients, each resuming after ``after`` on ``board`` (the
    identity of the board every node serves) and giving up as ``timeouts`` say."""
    t = timeouts
    return {"WebSocket": lambda node, after: WebSocketListener(node.ws_url, after=after, board=board,
                                                               silence=t.ping_interval + t.grace),
            "Server-Sent Events": lambda node, after: EventStream(node.polling_url, after=after, board=board,
                                                                  silence=t.heartbeat + t.grace),
            "long polling": lambda node, after: Poller(node.polling_url, after=after, board=board,
                                                       wait=t.long_poll_wait, grace=t.grace),
            "short polling": lambda node, after: Poller(node.polling_url, t.short_interval, after=after,
                                                        board=board, grace=t.grace)}


def follow(nodes, after: int, last: int, got: list, log: list, client_for, joined: str,
           deadline: float | None = None, names=("node A", "node B")) -> None:
    """Follow the board on node A up to the message ``last``; when the connection drops (or nobody listens
    there any more), switch to the other node and resume after the last id held. ``client_for(node,
    after)`` is the client for a node; ``got`` gets (arrival, id, stamp) of each message, ``log`` what
    happened: "``joined`` node A", with the handshake's bytes where there is one, "lost node A" (the nodes'
    ``names``). Past ``deadline`` (``time.monotonic()``), it gives up: "gave up"."""
    node = 0
    while after < last:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            log.append((time.time(), f"gave up on {names[node]}", 0))
            return
        client = client_for(nodes[node], after)
        try:
            client.connect()
        except OSError as error:  # nobody listens there any more
            log.append((time.time(), f"lost {names[node]} ({type(error).__name__})", 0))
            node = 1 - node
            continue
        log.append((time.time(), f"{joined} {names[node]}", getattr(client, "handshake_bytes", 0)))
        client.start()  # connected: what it reads from now on is noted after the line above
        client.wait_until(lambda: client.last_id >= last, left)
        got += [(arrival.wall, arrival.message["id"], arrival.message["time"]) for arrival in client.received]
        after = max(after, client.last_id)
        if after < last and client.ended:  # the connection dropped, or the client gave it up: the node is gone
            log.append((time.time(), f"lost {names[node]} ({type(client.error).__name__})", 0))
            node = 1 - node
        client.close()


def lose_a_node(chat, how: str, timeouts: Timeouts = TIMEOUTS, gap: float = 0.05, before: float = 0.5,
                clients: dict | None = None) -> dict:
    """One client per transport (``clients``: ``clients_for(timeouts, chat.board.identity)``) follows ``chat``'s
    board through node A while a notification is posted every ``gap`` s; ``before`` s in, A is lost (``how``: KILL
    or SILENT), and the posting goes on until every client should have noticed and moved (``computed``'s latest,
    and ``SETTLE`` s more): about 2 s (KILL) or 4 s (SILENT) at ``TIMEOUTS``, with ``CATCH_UP`` s more at most
    for a client that never catches up. Returns {"how", "timeouts", "first", "events", "failed_at", "clients":
    {transport: {"got", "log"}}}, as ``follow`` fills them (wall-clock seconds)."""
    after = max(row["latest"] for row in computed(timeouts, how).values()) + SETTLE
    events, first = round((before + after) / gap), chat.board.last_id
    clients, nodes = clients or clients_for(timeouts, chat.board.identity), []
    followed = {name: {"got": [], "log": []} for name in clients}
    try:
        for _ in "AB":
            nodes.append(Node(chat, timeouts))  # one by one: a second that fails to start leaves the first stopped
        failed_at = watch(nodes, [(clients[name], followed[name]) for name in clients], chat.board, first, events,
                          gap, before, lambda: nodes[0].fail(how), before + after + CATCH_UP)
    finally:
        for node in nodes:
            node.stop()
    return {"how": how, "timeouts": timeouts, "first": first, "events": events, "failed_at": failed_at,
            "clients": followed}


def watch(nodes, clients: list, board, first: int, events: int, gap: float, before: float, fail, seconds: float,
          names=("node A", "node B")) -> float:
    """``follow`` on a thread of its own for each of ``clients`` ((client_for, {"got", "log"}) pairs), from the
    message after ``first`` on, ``seconds`` at most; once every one is connected, ``post`` ``events``
    notifications into ``board``, ``gap`` s apart, and ``fail()`` ``before`` s in. Returns when it failed."""
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=follow, args=(nodes, first, first + events, followed["got"], followed["log"],
                                                     client_for, "connected to", deadline), kwargs={"names": names})
               for client_for, followed in clients]
    for thread in threads:
        thread.start()
    while not all(followed["log"] for _, followed in clients) and time.monotonic() < deadline:
        time.sleep(0.01)  # each client is connected (nothing to wait on: its first log line)
    failed_at = post(board, events, gap, round(before / gap), fail)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 1)
    return failed_at


def post(board, events: int, gap: float, fail_before: int, fail) -> float:
    """``events`` notifications on ``board``, on a fixed schedule ``gap`` s apart; ``fail()`` just before number
    ``fail_before``. Returns when it was called (wall clock)."""
    start, failed_at = time.monotonic(), None
    for n in range(events):
        if (pause := start + n * gap - time.monotonic()) > 0:
            time.sleep(pause)
        if n == fail_before:
            failed_at = time.time()
            fail()
        board.post(SERVER, f"Notification #{n}")
    return failed_at


def costs(run: dict) -> dict:
    """Per client of a ``lose_a_node`` run, ``cost``'s figures, and ``computed``'s bounds for its detection
    (``earliest_s``, ``latest_s``, ``how``)."""
    bounds = computed(run["timeouts"], run["how"])
    return {name: {**cost(client, run["failed_at"], run["events"]), "earliest_s": bounds[name]["earliest"],
                   "latest_s": bounds[name]["latest"], "how": bounds[name]["how"]}
            for name, client in run["clients"].items()}


def cost(client: dict, failed_at: float, events: int) -> dict:
    """What losing its node cost one client ({"got", "log"} as ``follow`` fills them), in seconds after
    ``failed_at``: when it noticed (``noticed_s``; None: never), when it was connected again (``moved_s``),
    when it held every notification posted before that (``has_everything_s``); how long it had gone without a
    notification when it noticed (``silent_s``: its timeout runs from the last thing it got, which may come after
    the failure, from another node); the notifications it got late
    for that (``missed``), the worst delay from posted to shown (``worst_delay_s``) and the usual one before
    the failure (``median_delay_s``); of the ``events`` posted, how many it ``lost``, got twice
    (``duplicates``), and whether in order; ``failed_again``: connections it gave up after the first."""
    got, log = client["got"], client["log"]
    ids = [message_id for _, message_id, _ in got]
    lost_at = [at for at, what, _ in log if what.startswith("lost") and at >= failed_at]
    noticed = lost_at[0] if lost_at else None
    moved = next((at for at, what, _ in log if noticed is not None and at >= noticed and not
                  what.startswith(("lost", "gave up"))), None)
    late = [at for at, _, stamp in got if moved is not None and stamp < moved <= at]
    heard = max((at for at, _, _ in got if noticed is not None and at <= noticed), default=None)
    before = summarize([at - stamp for at, _, stamp in got if stamp < failed_at])
    return {"noticed_s": None if noticed is None else noticed - failed_at,
            "moved_s": None if moved is None else moved - failed_at,
            "has_everything_s": None if moved is None else max(late, default=moved) - failed_at,
            "silent_s": None if heard is None else noticed - heard,
            "missed": len(late), "events": events, "lost": events - len(set(ids)),
            "duplicates": len(ids) - len(set(ids)), "in_order": ids == sorted(set(ids)),
            "worst_delay_s": max((at - stamp for at, _, stamp in got), default=None),
            "median_delay_s": before["median_ms"] / 1000 if before["n"] else None,
            "failed_again": max(0, len(lost_at) - 1)}


def describe_costs(rows: dict, how: str) -> str:
    """``costs`` as lines of text, one per client."""
    lines = [f"node A lost, {how}; in seconds after that:"]
    for name, row in rows.items():
        if row["noticed_s"] is None:
            lines.append(f"  {name:18} never noticed (computed {_span(row['earliest_s'], row['latest_s'])}); "
                         f"lost {row['lost']} of {row['events']} notifications")
            continue
        lines.append(f"  {name:18} noticed at {row['noticed_s']:.2f} (computed: "
                     f"{_span(row['earliest_s'], row['latest_s'])}), on node B at {row['moved_s']:.2f}, had "
                     f"everything at {row['has_everything_s']:.2f}: late, {row['missed']} "
                     f"notification{'s' * (row['missed'] != 1)}, the worst shown {row['worst_delay_s']:.2f} s after "
                     f"it was posted; {row['lost']} lost, "
                     f"{row['duplicates']} twice")
    return "\n".join(lines)


def computed(timeouts: Timeouts, how: str = SILENT) -> dict:
    """{transport: {"earliest", "latest", "how"}}: when each lab client of ``lose_a_node`` gives node A up, in
    seconds after the failure, computed from ``timeouts``. With news flowing, the last byte came just before
    the failure, so the latest is what to expect; an idle client may learn sooner (its last byte was older)."""
    t = timeouts
    if how == KILL:
        return {name: {"earliest": 0.0, "latest": t.short_interval if name == "short polling" else 0.0,
                       "how": "its next poll finds the connection closed" if name == "short polling" else
                       "the kernel closed the connection: its next read ends"}
                for name in ("WebSocket", "Server-Sent Events", "long polling", "short polling")}
    return {"WebSocket": _row(t.grace, t.ping_interval + t.grace,
                              f"the server pings every {t.ping_interval:g} s; it gives up after "
                              f"{t.ping_interval + t.grace:g} s without a frame"),
            "Server-Sent Events": _row(t.grace, t.heartbeat + t.grace,
                                       f"a heartbeat comes after {t.heartbeat:g} idle s; it gives up after "
                                       f"{t.heartbeat + t.grace:g} s without a line"),
            "long polling": _row(t.grace, t.long_poll_wait + t.grace,
                                 f"the server answers within {t.long_poll_wait:g} s; it gives up "
                                 f"{t.grace:g} s after that"),
            "short polling": _row(t.grace, t.short_interval + t.grace,
                                  f"it polls every {t.short_interval:g} s and gives a poll up after {t.grace:g} s")}


def client_defaults() -> dict:
    """The same for the project's own clients at their real timeouts (computed, in seconds), and ``then``: what
    each waits before it connects again. The pages set no timeout: ``latest`` None."""
    ws, events, polls = websocket_client, sse_client, polling_client
    page = ("a browser's WebSocket neither pings nor shows the server's pings to the page, and the pages set no "
            "timeout: a page learns of a silent drop when the browser or the system gives the connection up, "
            "which is not measured here")
    return {
        "WebSocket, python -m clients.websocket_client": _row(
            ws.PING_TIMEOUT + ws.CLOSE_TIMEOUT, ws.PING_INTERVAL + ws.PING_TIMEOUT + ws.CLOSE_TIMEOUT,
            f"it pings every {ws.PING_INTERVAL} s; no pong within {ws.PING_TIMEOUT} s: it closes, waits "
            f"{ws.CLOSE_TIMEOUT} s for the server's close", FIRST),
        "WebSocket, the server's side": _row(
            CLUSTER_PING_INTERVAL, 2 * CLUSTER_PING_INTERVAL,
            f"a cluster's node pings every {CLUSTER_PING_INTERVAL} s and closes when a ping is unanswered at the "
            "next (the client may not hear of it)", None),
        "Server-Sent Events, python -m clients.sse_client": _row(
            events.STREAM_TIMEOUT - sse.HEARTBEAT, events.STREAM_TIMEOUT,
            f"a heartbeat comes after {sse.HEARTBEAT} idle s; it gives up after {events.STREAM_TIMEOUT} s "
            "without a byte", FIRST),
        "long polling, python -m clients.polling_client": _row(
            polls.ANSWER_TIMEOUT, polls.LONG_POLL_WAIT + polls.ANSWER_TIMEOUT,
            f"it asks the server to answer within {polls.LONG_POLL_WAIT} s and gives up "
            f"{polls.ANSWER_TIMEOUT} s after that", FIRST),
        "short polling, python -m clients.polling_client --interval 1": _row(
            polls.ANSWER_TIMEOUT, 1 + polls.ANSWER_TIMEOUT,
            f"it polls every second and gives a poll up after {polls.ANSWER_TIMEOUT} s", FIRST),
        "every transport, the browser pages": _row(None, None, page + f"; EventSource then waits the server's "
                                                                      f"retry: {sse.RETRY / 1000:g} s", None)}


def describe_computed(rows: dict) -> str:
    """``computed`` or ``client_defaults`` as lines of text."""
    return "\n".join(f"  {name}: {_span(row['earliest'], row['latest'])}; {row['how']}"
                     + (f"; then it waits up to {row['then']:g} s before it connects again" if row.get("then")
                        else "") for name, row in rows.items())


def _row(earliest: float | None, latest: float | None, how: str, then: float | None = None) -> dict:
    return {"earliest": earliest, "latest": latest, "how": how, "then": then}


def _span(earliest: float | None, latest: float | None) -> str:
    """When a client gives up, in words: "1 to 2 s after the failure"."""
    if latest is None:
        return "no timeout of its own"
    return f"{latest:g} s after the failure" if earliest == latest else \
        f"{earliest:g} to {latest:g} s after the failure"
