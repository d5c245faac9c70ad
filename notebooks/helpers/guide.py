"""Server-Sent Events beside the WebSocket and long polling, for notebook 06's decision guide.

Notebook 06 measures the news feed, connection set-up and a crowd with every transport;
what it still needs for its guide are the two latencies notebook 4 measures at length:
``reply_and_push`` takes them on the notebook's own servers, in a few seconds.

* Reply round trip: the WebSocket and the event stream in turn (one exchange each, over
  and over, so that both see the same machine load), then long polling.
* Push latency: events the server stores at random moments, to a WebSocket client, an
  event stream and a long poller, one after the other.

Every figure is a summary with its samples (``samples_ms``), ready for ``stats.compare``
and ``plots.cdf``.
"""

from clients.bench.measure import latency
from clients.bench.results.stats import milliseconds, summarize

TRANSPORTS = ("WebSocket", "Server-Sent Events", "long polling")


def reply_and_push(chat, polling, websocket, count: int = 60, rate: float = 100) -> dict:
    """{"reply": {transport: summary}, "push": {transport: summary}} for the three transports of
    ``TRANSPORTS``, ``count`` samples each (``polling`` and ``websocket``: running servers on ``chat``);
    chat messages and server events come about ``rate`` a second, at random moments."""
    ws_url = websocket.url.replace("http", "ws", 1)
    replies = latency.round_trips({"WebSocket": latency.WebSocketReply(ws_url),
                                   "Server-Sent Events": latency.SseReply(polling.url)}, count, warmup=10)
    replies["long polling"] = latency.polling_reply(polling.url, count, None, rate=rate,
                                                    after=chat.board.last_id)["samples"]
    pushes = {name: latency.push_latency(chat, transport, url, count, rate)["samples"] for name, transport, url in
              (("WebSocket", "websocket", ws_url), ("Server-Sent Events", "sse", polling.url),
               ("long polling", "polling", polling.url))}
    return {"reply": _summaries(replies), "push": _summaries(pushes)}


def _summaries(samples: dict) -> dict:
    return {name: {**summarize(values), "samples_ms": milliseconds(values)} for name, values in samples.items()}


def card(side: dict, bills: dict, setup: dict, idle: dict, crowd: dict, heartbeat: float) -> dict:
    """The guide's table of this run's figures, one line per transport (``prose.table`` renders it).

    ``side``: ``reply_and_push``; ``bills``: ``newsfeed.follow_the_news``; ``setup``: summaries of
    ``latency.connection_setup``'s steps; ``idle``: ``overhead.idle_cost``'s rows by client name;
    ``crowd``: ``load.small_load``, read at its largest number of clients; ``heartbeat``: seconds between
    an idle event stream's heartbeats on a server left at its default."""
    clients = max(row["clients"] for row in crowd["runs"])
    last = {row["label"]: row["fanout_last_client"]["median_ms"] for row in crowd["runs"] if row["clients"] == clients}
    short_load = next(label for label in last if label.startswith("short polling"))
    short_bill = next(name for name in bills if name.startswith("short polling"))
    per_message = {name: bill["bytes"] / bill["delivered"] for name, bill in bills.items()}
    ping, beat = idle["websocket + pings"], idle["server-sent events"]
    reply, push = ({name: f"{row['median_ms']:.2g} ms" for name, row in side[kind].items()}
                   for kind in ("reply", "push"))
    opening = {step: f"{setup[step]['median_ms']:.2g} ms" for step in
               ("websocket_handshake", "sse_stream_open", "http_request_new")}
    columns = ("reply round trip", "push latency", "bytes per message", "idle, per client", "connection set-up",
               f"last of {clients} clients served after")
    half = "half its interval more (notebook 4's model, not measured here)"
    quiet = idle["websocket"]["bytes_up_per_s"] + idle["websocket"]["bytes_down_per_s"]
    quiet = "nothing" if quiet == 0 else f"{quiet:.0f} B/s"  # a WebSocket with nothing to say, without pings
    rows = {
        "WebSocket": (reply["WebSocket"], push["WebSocket"], f"{per_message['WebSocket']:.0f} B",
                      f"{quiet}, or a {ping['bytes_down_per_event']:.0f} B ping and a "
                      f"{ping['bytes_up_per_event']:.0f} B pong", opening["websocket_handshake"],
                      f"{last['WebSocket']:.2g} ms"),
        "Server-Sent Events": (reply["Server-Sent Events"], push["Server-Sent Events"],
                               f"{per_message['Server-Sent Events']:.0f} B",
                               f"a {beat['bytes_down_per_event']:.0f} B heartbeat every {heartbeat:g} s",
                               opening["sse_stream_open"], f"{last['Server-Sent Events']:.2g} ms"),
        "long polling": (reply["long polling"], push["long polling"], f"{per_message['long polling']:.0f} B",
                         f"a {_exchange(idle['long polling'])} B poll per wait", opening["http_request_new"],
                         f"{last['long polling']:.2g} ms"),
        "short polling": (half, half, f"{per_message[short_bill]:.0f} B ({_every(short_bill)})",
                          f"a {_exchange(idle['short polling'])} B poll per interval", opening["http_request_new"],
                          f"{last[short_load]:.3g} ms ({_every(short_load)})"),
    }
    return {name: dict(zip(columns, cells)) for name, cells in rows.items()}


def _exchange(row: dict) -> str:
    """One idle event's bytes, both ways."""
    return f"{row['bytes_up_per_event'] + row['bytes_down_per_event']:.0f}"


def _every(label: str) -> str:
    """"short polling 0.1 s" -> "every 0.1 s"."""
    return "every " + label.removeprefix("short polling ")
