"""One run of every scenario, in one process, returning plain data (what results.json holds).

``run(quick=True)`` takes seconds and suits tests and notebooks; ``run(quick=False)``
takes a few minutes and collects at least 1,000 reply round trips per transport.
Servers, reference servers and relays are started here and stopped before it returns.
"""

import time

from clients.bench.results import scaling
from clients.bench.results.report import machine
from clients.bench.results.stats import milliseconds, ratio, summarize
from clients.lab.peers import RawEcho, WebsocketsEcho
from clients.lab.relay import Relay
from servers.twins import Twins

from . import latency, overhead
from .progress import silent

QUICK = {"echo": 200, "poll_reply": 40, "rate": 100, "intervals": [0.05, 0.2],
         "push": 40, "push_rate": 100, "push_intervals": [0.1], "push_cycles": 5, "setup": 30,
         "delays": [0.01], "delay_count": 10, "delay_interval": 0.1, "delay_setup": 5,
         "delivery": 10, "delivery_rate": 20, "delivery_interval": 0.05, "reply_bytes": 10,
         "idle_seconds": 1.0, "idle_interval": 0.25, "idle_wait": 1, "ping_interval": 0.5, "keep_alive": 30}
FULL = {"echo": 2000, "poll_reply": 1000, "rate": 100, "intervals": [0.05, 0.1, 0.25, 0.5, 1.0],
        "push": 500, "push_rate": 100, "push_intervals": [0.1, 1.0], "push_cycles": 20, "setup": 300,
        "delays": [0.01, 0.05], "delay_count": 60, "delay_interval": 0.25, "delay_setup": 30,
        "delivery": 100, "delivery_rate": 10, "delivery_interval": 0.1, "reply_bytes": 100,
        "idle_seconds": 10, "idle_interval": 1.0, "idle_wait": 5, "ping_interval": 2.0, "keep_alive": 300}


def run(quick: bool = True, progress=silent, settings: dict | None = None) -> dict:
    """Run everything; returns {"meta", "references", "reply_round_trip", "push_latency",
    "connection_setup", "with_delay", "overhead", "scaling"} (latencies in ms)."""
    settings = {**(QUICK if quick else FULL), **(settings or {})}
    started = time.perf_counter()
    results = {"meta": {"mode": "quick" if quick else "full", "settings": settings, **machine()}}
    phase = Phases(results)
    with Twins() as twins, RawEcho() as raw, WebsocketsEcho() as reference:
        phase("references", lambda: references(twins, raw, reference, settings["echo"], progress))
        refs = results["references"]
        pushed_rows = [refs.pop("websocket_reply"), refs.pop("sse_reply")]
        for row in (refs["our_echo"], *pushed_rows):
            _with_ratios(row, refs)
        phase("reply_round_trip", lambda: pushed_rows + [_with_ratios(row, refs) for row in polling_round_trips(
            twins.polling.url, settings["poll_reply"], settings["intervals"], settings["rate"], progress)])
        phase("push_latency", lambda: push_latencies(twins, settings, progress))
        phase("connection_setup", lambda: summaries(latency.connection_setup(
            twins.polling.port, twins.websocket.port, settings["setup"], progress=progress)))
        phase("with_delay", lambda: [with_delay(twins, raw, delay, settings, progress)
                                     for delay in settings["delays"]])
        phase("overhead", lambda: overheads(twins, settings, progress))
    results["scaling"] = scaling_tables(results["overhead"])
    results["meta"]["duration_s"] = time.perf_counter() - started
    return results


class Phases:
    """Runs each phase of a run into ``results[name]``, timing it into ``results["meta"]["phase_seconds"]``."""

    def __init__(self, results: dict) -> None:
        self.results, self.seconds = results, results["meta"].setdefault("phase_seconds", {})

    def __call__(self, name: str, measure) -> None:
        began = time.perf_counter()
        self.results[name] = measure()
        self.seconds[name] = time.perf_counter() - began


def references(twins, raw, reference, count: int, progress) -> dict:
    """The floor (raw TCP echo), the `websockets` echo server, our own /echo, and the reply round trip over
    our /ws and over Server-Sent Events, measured in turn (one round trip each, over and over) so that their
    ratios are fair."""
    samples = latency.round_trips({"raw_tcp_echo": latency.TcpEcho(raw.port),
                                   "websockets_echo": latency.WebSocketEcho(reference.url),
                                   "our_echo": latency.WebSocketEcho(f"{twins.ws_url}/echo"),
                                   "websocket_reply": latency.WebSocketReply(twins.ws_url),
                                   "sse_reply": latency.SseReply(twins.polling.url)}, count,
                                  label="echoes, WebSocket and SSE replies, in turn", progress=progress)
    rows = summaries(samples)
    rows["websocket_reply"].update(transport="WebSocket", interval_ms=None)
    rows["sse_reply"].update(transport="Server-Sent Events", interval_ms=None)
    return rows


def polling_round_trips(http_url: str, count: int, intervals, rate: float, progress=silent) -> list[dict]:
    """Reply round trip over long polling, then short polling at each interval (s)."""
    rows = [row_of("long polling", None, latency.polling_reply(http_url, count, None, rate=rate, progress=progress))]
    for interval in intervals:
        result = latency.polling_reply(http_url, count, interval, rate=rate, progress=progress)
        rows.append(row_of(f"short polling {interval * 1000:g} ms", interval, result))
    return rows


# The models' trips (in poll round trips) that follow a message's half interval of waiting, on average. A reply
# goes up with its POST and comes down with the next poll: one round trip. A pushed event starts on the server:
# only the poll's answer, half a round trip, follows the wait.
REPLY_TRIPS, PUSH_TRIPS = 1.0, 0.5


def push_latencies(twins, settings, progress, clock_offset: float = 0.0) -> list[dict]:
    """Server-originated events to a WebSocket client, a long poller and short pollers (``clock_offset``:
    the server's clock minus ours, for a server on another machine)."""
    count, rate = settings["push"], settings["push_rate"]
    rows = [row_of(name, None, latency.push_latency(twins.chat, transport, url, count, rate, progress=progress,
                                                    clock_offset=clock_offset))
            for name, transport, url in (("WebSocket", "websocket", twins.ws_url),
                                         ("Server-Sent Events", "sse", twins.polling.url),
                                         ("long polling", "polling", twins.polling.url))]
    for interval in settings["push_intervals"]:  # spread the events over at least push_cycles poll intervals
        slower = min(rate, count / (settings["push_cycles"] * interval))
        result = latency.push_latency(twins.chat, "polling", twins.polling.url, count, slower, interval,
                                      progress=progress, clock_offset=clock_offset)
        rows.append(row_of(f"short polling {interval * 1000:g} ms", interval, result, trips=PUSH_TRIPS))
    return rows


def with_delay(twins, raw, delay: float, settings, progress) -> dict:
    """Reply round trips and connection set-up through a relay set to hold data ``delay`` s each way.

    What the relay really adds is measured, not assumed: raw TCP echoes (``raw``) through
    it and straight to the server, in turn; the difference of the medians is
    ``round_trip_added_ms`` (two delays, plus the relay's own hops and its timer's lateness).
    """
    with Relay(twins.polling.port, delay=delay) as http, Relay(twins.websocket.port, delay=delay) as ws, \
            Relay(raw.port, delay=delay) as echo:
        count = settings["delay_count"]
        echoes = summaries(latency.round_trips({"direct": latency.TcpEcho(raw.port), "through the relay":
                                                latency.TcpEcho(echo.port)}, count, warmup=2,
                                               label="TCP echo with and without the relay", progress=progress))
        rows = [row_of("WebSocket", None, latency.websocket_reply(f"ws://127.0.0.1:{ws.port}", count,
                                                                  progress=progress)),
                row_of("Server-Sent Events", None, latency.sse_reply(f"http://127.0.0.1:{http.port}", count,
                                                                     progress=progress))]
        rows += polling_round_trips(f"http://127.0.0.1:{http.port}", count, [settings["delay_interval"]],
                                    min(settings["rate"], 0.5 / delay), progress)
        setup = summaries(latency.connection_setup(http.port, ws.port, settings["delay_setup"], progress=progress))
    added = echoes["through the relay"]["median_ms"] - echoes["direct"]["median_ms"]
    return {"delay_ms": delay * 1000, "round_trip_added_ms": added, "tcp_echo": echoes, "reply_round_trip": rows,
            "connection_setup": setup,
            "note": "the relay cannot delay TCP's handshake (the kernel accepts at once), so tcp_connect "
                    "stays a loopback figure; on a real network it would take one more round trip"}


def overheads(twins, settings, progress, in_process: bool = True) -> dict:
    """Bytes per delivered message, per chat exchange, per handshake, per idle second, per poll.

    ``in_process`` False (servers elsewhere): no pinging server for the idle cost, and the
    client, not a second server, closes the connection after each poll."""
    count, rate = settings["delivery"], settings["delivery_rate"]
    delivery = [overhead.delivery_bytes(twins, "websocket", count, rate, progress=progress),
                overhead.delivery_bytes(twins, "sse", count, rate, progress=progress),
                overhead.delivery_bytes(twins, "polling", count, rate, progress=progress),
                overhead.delivery_bytes(twins, "polling", count, rate, settings["delivery_interval"],
                                        progress=progress)]
    for row, name in zip(delivery, ("WebSocket", "Server-Sent Events", "long polling",
                                    f"short polling {settings['delivery_interval'] * 1000:g} ms")):
        row["label"] = name
    keep_alive = overhead.keep_alive_vs_new_connection(twins, settings["keep_alive"], progress=progress,
                                                       client_closes=not in_process)
    for row in keep_alive:
        row.update(summarize(row.pop("poll_times")))
    return {"delivery": delivery, "reply": overhead.reply_bytes(twins, settings["reply_bytes"], progress=progress),
            "handshake": overhead.handshake_bytes(twins),
            "idle": overhead.idle_cost(twins, settings["idle_seconds"], settings["idle_interval"],
                                       settings["idle_wait"], settings["ping_interval"] if in_process else None),
            "keep_alive": keep_alive}


def scaling_tables(overheads_: dict) -> dict:
    """The paper's table recomputed, and the same table from this run's bytes."""
    by_label = {row["label"]: row for row in overheads_["delivery"]}
    short = next(row for label, row in by_label.items() if label.startswith("short"))
    measured_bytes = {
        "polling_headers": short["headers_per_request"],  # one poll: request + response headers
        "websocket_frame_header": by_label["WebSocket"]["server_frame_header"],
        "long_polling_total": by_label["long polling"]["per_message"]["total"],  # headers + body, per message
        "websocket_total": by_label["WebSocket"]["per_message"]["total"],  # frame header + payload
    }
    return {"unit": "Mbps = bits per second / 2**20 (as the paper)", "messages_per_client_per_second": 1,
            "paper": scaling.paper_table(), "measured_bytes": measured_bytes,
            "measured": scaling.measured_table(measured_bytes),
            "assumptions": ["one message per client per second; polling: one poll per second",
                            "polling_headers: request + response headers of one short poll, measured",
                            "websocket_frame_header: the server's frame header per pushed message, measured "
                            "(2 bytes below 126 bytes of payload, 4 up to 65535)",
                            "*_total columns add the body or payload: our JSON message",
                            "client frames (masked, 4 bytes more) and TCP/IP headers are left out, as in the paper"]}


def row_of(transport: str, interval: float | None, result: dict, trips: float = REPLY_TRIPS) -> dict:
    """One transport's samples (s) as a row of the results: the summary (ms), the samples (ms), the poll round
    trips and the half-interval model where there are any, and the measurement's other figures."""
    samples = result.pop("samples")
    row = {"transport": transport, "interval_ms": interval * 1000 if interval else None,
           **summarize(samples), "samples_ms": milliseconds(samples)}
    poll_times = result.pop("poll_round_trips", None)
    if poll_times:
        row["poll_round_trip"] = summarize(poll_times)
        if interval:  # the model: a message waits half an interval on average, then ``trips`` poll round trips
            row["model_mean_ms"] = interval * 1000 / 2 + trips * row["poll_round_trip"]["mean_ms"]
            row["model_trips"] = trips
    row.update({key: value for key, value in result.items() if key != "interval"})
    return row


def _with_ratios(row: dict, refs: dict) -> dict:
    row["ratio_to_raw_tcp"] = ratio(row, refs["raw_tcp_echo"])
    row["ratio_to_websockets"] = ratio(row, refs["websockets_echo"])
    return row


def summaries(samples: dict) -> dict:
    """{name: samples in s} as {name: summary in ms, with the samples in ms}."""
    return {name: {**summarize(values), "samples_ms": milliseconds(values)} for name, values in samples.items()}
