"""Server-Sent Events beside the WebSocket and long polling, for notebook 06's decision guide.

Notebook 06 measures the news feed and connection set-up with every transport; what it
still needs for its guide are the two latencies notebook 04 measures at length:
``reply_and_push`` takes them on the notebook's own servers, in a few seconds. ``card``
puts them in one table with the rest, what an idle client costs priced at the project's
default intervals (``at_defaults``).

* Reply round trip: the WebSocket and the event stream in turn (one exchange each, over
  and over, so that both see the same machine load), then long polling.
* Push latency: events the server stores at random moments, to a WebSocket client, an
  event stream and a long poller, one after the other.

Every figure is a summary with its samples (``samples_ms``), ready for ``stats.compare``
and ``plots.cdf``.
"""

from clients.bench.measure import latency
from clients.bench.results.stats import milliseconds, summarize
from clients.polling_client import LONG_POLL_WAIT
from servers import sse
from servers.chat import LONGEST_WAIT
from servers.cluster.nginx import PING_INTERVAL

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


# The intervals the project runs at when nobody shortens them, for what an idle client costs: the event
# stream's heartbeat, the pings of a cluster's nodes (``python -m servers`` sends none unless told to), how long
# the project's clients let a long poll wait (the server allows up to ``chat.LONGEST_WAIT``), and a short poll a
# second, as the load run's clients and ``python -m clients.polling_client --interval 1`` ask.
DEFAULTS = {"websocket + pings": (PING_INTERVAL, f"a ping every {PING_INTERVAL} s (a cluster's nodes)"),
            "server-sent events": (sse.HEARTBEAT, f"a heartbeat every {sse.HEARTBEAT} s"),
            "long polling": (LONG_POLL_WAIT, f"a poll held {LONG_POLL_WAIT} s (the server allows {LONGEST_WAIT})"),
            "short polling": (1.0, "a poll a second")}


def at_defaults(idle: dict) -> dict:
    """{client: (one idle event's bytes, both ways; what and how often at ``DEFAULTS``; bytes per minute)} from
    ``overhead.idle_cost``'s rows (by client name), which measure each event's bytes at short intervals."""
    rows = {}
    for name, (seconds, every) in DEFAULTS.items():
        row = idle[name]
        size = row["bytes_up_per_event"] + row["bytes_down_per_event"]
        rows[name] = (size, every, size * 60 / seconds)
    return rows


def card(side: dict, bills: dict, setup: dict, idle: dict, opening_against_first: dict | None = None) -> dict:
    """The guide's table of this run's figures, one line per transport (``prose.table`` renders it).

    ``side``: ``reply_and_push``; ``bills``: ``newsfeed.follow_the_news``; ``setup``: summaries of
    ``latency.connection_setup``'s steps; ``idle``: ``overhead.idle_cost``'s rows by client name, priced at
    the project's default intervals (``at_defaults``); ``opening_against_first``: the handshake's and the
    stream's opening (by step) each compared with a first HTTP request (``stats.Comparison``), said beside them.
    Medians of a few dozen samples, to two significant figures: more digits would be noise."""
    short_bill = next(name for name in bills if name.startswith("short polling"))
    per_message = {name: bill["bytes"] / bill["delivered"] for name, bill in bills.items()}
    reply, push = ({name: f"{row['median_ms']:.2g} ms" for name, row in side[kind].items()}
                   for kind in ("reply", "push"))
    opening = {step: f"{setup[step]['median_ms']:.2g} ms" + _against_first((opening_against_first or {}).get(step))
               for step in ("websocket_handshake", "sse_stream_open", "http_request_new")}
    priced = {name: f"{size:.0f} B, {every}: {per_minute:,.0f} B a minute"
              for name, (size, every, per_minute) in at_defaults(idle).items()}
    quiet = idle["websocket"]["bytes_up_per_s"] + idle["websocket"]["bytes_down_per_s"]
    quiet = "nothing without pings" if quiet == 0 else f"{quiet:.0f} B/s without pings"
    columns = ("reply round trip", "push latency", "bytes per message", "an idle client, at the defaults",
               "connection set-up")
    half = "half its interval more (notebook 04's model, not measured here)"
    rows = {
        "WebSocket": (reply["WebSocket"], push["WebSocket"], f"{per_message['WebSocket']:.0f} B",
                      f"{quiet}; {priced['websocket + pings']}", opening["websocket_handshake"]),
        "Server-Sent Events": (reply["Server-Sent Events"], push["Server-Sent Events"],
                               f"{per_message['Server-Sent Events']:.0f} B", priced["server-sent events"],
                               opening["sse_stream_open"]),
        "long polling": (reply["long polling"], push["long polling"], f"{per_message['long polling']:.0f} B",
                         priced["long polling"], opening["http_request_new"]),
        "short polling": (half, half, f"{per_message[short_bill]:.0f} B ({_every(short_bill)})",
                          priced["short polling"], opening["http_request_new"]),
    }
    return {name: dict(zip(columns, cells)) for name, cells in rows.items()}


def _against_first(comparison) -> str:
    """An opening's median beside a first HTTP request's: within noise, or how many times it, beyond noise."""
    if comparison is None:
        return ""
    if comparison.within_noise:
        return " (within noise of a first request)"
    return f" ({comparison.ratio:.2g} times a first request, beyond noise)"


def _every(label: str) -> str:
    """"short polling 0.1 s" -> "every 0.1 s"."""
    return "every " + label.removeprefix("short polling ")


MODERATE = 2  # times a first HTTP request: below this, or within noise of it, an opening's overhead is moderate


def setup_verdict(handshake, stream, kept) -> str:
    """Claim 4's verdict, from this run's comparisons (``stats.Comparison``s of medians in ms): the WebSocket
    handshake and the event stream's opening against a first HTTP request, and that first request against one on
    a kept-alive connection. Worded for whichever way each comparison came out: on loopback each step is about a
    millisecond of the server's work, and the ratio moves from run to run (two runs on one machine have fallen
    on either side of ``MODERATE``)."""
    if handshake.within_noise:
        head, cost = "true, and not shown dearer than HTTP", f"cost, by its median, {handshake.ratio:.2g} times what"
    elif handshake.lower:
        head, cost = "true, and cheaper than HTTP here", f"cost {handshake.ratio:.2g} times what"
    elif handshake.ratio < MODERATE:
        head, cost = "true, moderately dearer than HTTP here", f"cost {handshake.ratio:.2g} times what"
    else:
        head, cost = "not shown by this run on loopback", f"cost {handshake.ratio:.2g} times what"
    text = (f"**Verdict: {head}.** A WebSocket handshake {cost} a first HTTP request on a fresh connection costs "
            f"({handshake.verdict}: {handshake.how}; moderate: less than {MODERATE} times, or within noise), once "
            "per connection; opening an event stream, an ordinary request, cost "
            + (f"{stream.ratio:.2g} times (within noise) what" if stream.within_noise else
               f"{stream.ratio:.2g} times what") + " the first request did. "
            f"On loopback these medians are {min(handshake.a, handshake.b, stream.a):.2g} to "
            f"{max(handshake.a, handshake.b, stream.a):.2g} ms of the server's work, and another run may land on the "
            "other side of that line (notebook 04 times the same steps); what does not change is that a handshake "
            "is one HTTP request and response on a new connection, as a first request is, so on a real network it "
            "costs the same round trips. ")
    text += ("The article's contrast holds on loopback in this run: but a handshake is still an HTTP "
             "request, and what takes time on a network is the new connection under it"
             if handshake.lower else
             "The article's contrast does not hold: a handshake is an HTTP request, and what takes time on a network "
             "is the new connection under it, whichever protocol then uses it")
    if kept.higher:
        return text + f" (here a first request cost {kept.ratio:.2g} times one on a kept-alive connection)."
    if kept.within_noise:
        return text + ("; on loopback even that is small (here a first request and one on a kept-alive connection "
                       "were within noise of each other), and notebook 04 shows it with a network's delay.")
    return text + ("; here, on loopback, a first request even came back sooner than one on a kept-alive "
                   "connection; notebook 04 shows the difference with a network's delay.")


def sse_verdict(beside_frames, per_message: dict) -> str:
    """Where Server-Sent Events fit, in bold, from this run: ``beside_frames`` compares the event's push latency
    with a WebSocket frame's (``stats.Comparison``), ``per_message`` is the news feed's bytes per message by
    transport. "The better choice" is said only when the event stream is neither later (beyond noise) nor
    heavier; otherwise the price is named."""
    sse_bytes, ws_bytes = per_message["Server-Sent Events"], per_message["WebSocket"]
    prices = (["later than a WebSocket frame, beyond noise"] if beside_frames.higher else []) + \
        ([f"{sse_bytes / ws_bytes:.2g} times the WebSocket's bytes per message"] if sse_bytes > ws_bytes * 1.1 else [])
    if not prices:  # bytes are counted, not sampled: 10 % is past any framing detail
        return "**Server-Sent Events are the better choice when the server talks and the client listens**"
    return ("**Server-Sent Events fit when the server talks and the client listens, at a price this run measured "
            f"({' and '.join(prices)})**")
