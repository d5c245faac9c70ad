"""Messages posted as a page posts them, to our WebSocket server and to the library's side by side: how long from the
moment each POST leaves to the median and the last client holding the message.

Both servers are up at once, each with a crowd of the same size in the same client processes (a group of clients
each), and the posts go to one and to the other in turn, which one first alternating: whatever else the machine
does meanwhile falls on both alike, as ``measure.latency.round_trips`` does for round trips. Each post waits
until every client of its crowd holds the message and its reply (the servers answer every post, as the seed's
does) and comes at least ``every / 2`` s after the one before, so no two fan-outs overlap. What each post cost
its server (by the server's own CPU clock, read before and after) and the clients (their processes' CPU time) is
added up per server. With a profiler, more posts go to our server alone afterwards while it records.
"""

import time
from contextlib import ExitStack

from clients.bench.results.stats import milliseconds, summarize

from . import crowd as crowds
from .probes import OurServer, ReferenceServer
from .processes import HOST, ROOT, START_TIMEOUT, Crowd, ReferenceProcess, ServersProcess
from .scenario import ANSWER_MARGIN, close_seconds, connect, connect_seconds, crowd_counts

SIDES = ("websocket", "reference")  # the transports posted to: ours, then the library's
WAIT = 10.0  # seconds every client may take to hold a posted message and its reply
TEXT = "Load #{number}: one message for every client"


def bound(posts: int, every: float) -> float:
    """The longest ``posts`` posts may take, in seconds."""
    return posts * (every / 2 + WAIT)


def step_bound(clients: int, settings: dict, sides: int) -> float:
    """The longest ``posts_side_by_side`` may take with ``sides`` servers, in seconds."""
    return (sides * (START_TIMEOUT + connect_seconds(clients)) + settings["idle"]
            + bound(settings["posts"] * sides, settings["every"]) + 2 * close_seconds(clients) + START_TIMEOUT)


def posts_side_by_side(crowd: Crowd, clients: int, settings: dict, sides=SIDES, profiler=None) -> dict:
    """``settings["posts"]`` posts to each of ``sides`` (of ``SIDES``), ``clients`` clients each; returns
    {transport: figures} (``posted_figures``), and ``profiler`` (``profile.Profiler``), if given, holds the
    profile of our server's posts recorded after them."""
    every, posts = settings["every"], settings["posts"]
    with ExitStack() as stack:
        servers = {}
        if "websocket" in sides:
            ours = stack.enter_context(ServersProcess(clients, settings.get("server_files"),
                                                      settings.get("servers_root") or ROOT))
            servers["websocket"] = (ours, OurServer(HOST, ours.polling_port, "load-posts"), ours.websocket_port,
                                    "ours")
        if "reference" in sides:
            library = stack.enter_context(ReferenceProcess())
            servers["reference"] = (library, ReferenceServer(HOST, library.http_port, library.pid), library.port,
                                    "reference")
        for _, probe, _, _ in servers.values():
            stack.callback(probe.close)
        shares, started = crowd.split(clients), time.monotonic()
        connected = {transport: connect(crowd, {"transport": "websocket", "server": kind, "host": HOST, "port": port,
                                                "client_id": "load-posts", "clients": clients, "interval": None},
                                        shares, started, group=transport)
                     for transport, (_, _, port, kind) in servers.items()}
        time.sleep(settings["idle"])
        accounts = {transport: Account(probe.status()["last_id"]) for transport, (_, probe, _, _) in servers.items()}
        order, due = list(servers), time.monotonic()
        for number in range(1, posts + 1):
            for transport in order if number % 2 else reversed(order):
                time.sleep(max(0.0, due - time.monotonic()))
                due = time.monotonic() + every / 2
                accounts[transport].post(servers[transport][1], crowd, transport, number)
        profiled = None
        if profiler is not None and "websocket" in servers:  # more posts, recorded: its cost stays out of the above
            profiled = Account(accounts["websocket"].last_id)
            profiler.start(servers["websocket"][0].pid)
            try:
                for number in range(1, profiler.posts + 1):
                    time.sleep(max(0.0, due - time.monotonic()))
                    due = time.monotonic() + every / 2
                    profiled.post(servers["websocket"][1], crowd, "websocket", posts + number)
            finally:
                profiler.stop()
        received = {transport: [client for answer in crowd.ask({"do": "collect", "after": account.first_id,
                                                                "group": transport},
                                                               ANSWER_MARGIN + clients / 1000)
                                for client in answer["received"]] for transport, account in accounts.items()}
        crowd.ask({"do": "close"}, ANSWER_MARGIN + 2 * close_seconds(clients))
    figures = {transport: {**posted_figures(received[transport], account), "clients": clients,
                           "connected": connected[transport]["connected"],
                           "connect_errors": connected[transport]["errors"]}
               for transport, account in accounts.items()}
    if profiled is not None:
        profiler.fold(connected["websocket"]["connected"], len(profiled.posted),
                      posted_figures(received["websocket"], profiled), figures["websocket"])
    return figures


class Account:
    """The posts to one server: {message id: ``perf_counter`` as its POST left}, the ids they span, and what they
    cost the server and the clients."""

    def __init__(self, last_id: int) -> None:
        self.first_id = self.last_id = last_id
        self.posted: dict[int, float] = {}
        self.server_cpu, self.client_cpu, self.client_processes = 0.0, 0.0, 0

    def post(self, probe, crowd: Crowd, group: str, number: int) -> None:
        """One post, and the wait until every client of ``group`` holds it and its reply (or ``WAIT`` s)."""
        server_before, clients_before = probe.status()["process"]["cpu_seconds"], crowd_counts(crowd, group)
        sent, message = probe.post(TEXT.format(number=number))
        self.posted[message["id"]] = sent
        crowd.ask({"do": "wait", "last_id": message["id"] + 1, "seconds": WAIT, "group": group}, WAIT + ANSWER_MARGIN)
        status, clients_after = probe.status(), crowd_counts(crowd, group)
        self.last_id = status["last_id"]
        self.server_cpu += status["process"]["cpu_seconds"] - server_before
        self.client_cpu += sum(clients_after["client_cpu"]) - sum(clients_before["client_cpu"])
        self.client_processes = len(clients_after["client_cpu"])


def posted_figures(received: list[list], account: Account) -> dict:
    """The fan-out of one server's posts: from the moment each POST left, and from the server's stamp, to the
    median and the last client; every message (the posts and their replies) checked for loss, duplicates and
    order; what the server and the clients spent per post."""
    after, last = account.first_id, account.last_id
    tallied = crowds.tally([[delivery for delivery in client if after < delivery[0] <= last] for client in received],
                           range(after + 1, last + 1), account.posted)
    posts = max(len(account.posted), 1)
    return {"posts": len(account.posted), "messages": tallied["expected_per_client"],
            "delivered": tallied["delivered"],
            **{key: tallied[key] for key in ("lost", "duplicated", "out_of_order", "unexpected")},
            "from_post_last_client": summarize(tallied["post_last_client"]),
            "from_post_median_client": summarize(tallied["post_median_client"]),
            "from_stamp_last_client": summarize(tallied["post_stamp_last_client"]),
            "from_post_last_client_ms": milliseconds(tallied["post_last_client"]),
            "from_stamp_last_client_ms": milliseconds(tallied["post_stamp_last_client"]),
            "server_cpu_ms_per_post": account.server_cpu * 1000 / posts,
            "client_cpu_ms_per_post": account.client_cpu * 1000 / posts, "client_processes": account.client_processes}
