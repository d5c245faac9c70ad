"""The measurement toolkit measures what it says: exact byte splits, consistent scenario results."""

import json
import os
import socket

import numpy as np
import pytest

from clients import wire
from clients.bench.measure import latency
from clients.bench.measure.run import run
from clients.bench.results import plots, report, scaling, stats
from clients.bench.results.stats import MIN_SAMPLES, fmt, summarize
from clients.lab.bytesplit import frame_bytes_at, split_stream
from clients.lab.relay import Relay
from clients.wire import frame_header_size

HANDSHAKE = wire.upgrade_request("127.0.0.1", "/echo", "dGhlIHNhbXBsZSBub25jZQ==")
SIZES = (0, 125, 126, 65535, 65536, 70_000)  # the edges of the 7-bit, 16-bit and 64-bit length forms


def client_frame(payload: bytes, opcode: int = wire.TEXT) -> bytes:
    """A masked client frame, as clients.wire builds it (tests/test_wire.py checks that against the RFC)."""
    return wire.build_frame(opcode, payload, mask=os.urandom(4))


@pytest.mark.parametrize(("size", "server", "client"), [(0, 2, 6), (125, 2, 6), (126, 4, 8), (65535, 4, 8),
                                                        (65536, 10, 14), (70_000, 10, 14)])
def test_frame_header_size_follows_the_three_length_forms(size, server, client):
    assert frame_header_size(size, masked=False) == server
    assert frame_header_size(size, masked=True) == client
    frame = frame_bytes_at(client_frame(b"a" * size))
    assert (frame.header, frame.payload, frame.masked, frame.opcode) == (client, size, True, "text")


def test_frame_bytes_wait_for_the_whole_frame():
    frame = client_frame(b"a" * 200)
    assert frame_bytes_at(frame[:3]) is None
    assert frame_bytes_at(frame[:-1]) is None
    assert frame_bytes_at(frame).payload == 200


def test_split_is_exact_on_the_wire_for_every_length_form(websocket):
    """Hand-made frames through the relay to /echo: every byte lands in the bucket it belongs to."""
    payloads = [b"x" * size for size in SIZES if size]  # non-empty: the echo of an empty frame is a no-op
    with Relay(websocket.port, record=True) as relay:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
            sock.sendall(HANDSHAKE)
            received = b""
            while b"\r\n\r\n" not in received:  # a client waits for the 101 before framing (RFC 6455 4.1)
                received += sock.recv(65536)
            for payload in payloads:
                sock.sendall(client_frame(payload))
            while split_stream(received)["data_frames"] < len(payloads):  # every echo back before we close
                chunk = sock.recv(65536)
                assert chunk, f"the server closed early: {received[-40:]!r}"
                received += chunk
            sock.sendall(client_frame(wire.close_payload(1000), opcode=wire.CLOSE))
            while chunk := sock.recv(65536):
                received += chunk
        assert relay.wait_closed()
        split = relay.connections[0].split()
    up, down = split["up"], split["down"]
    assert up["http_headers"] == len(HANDSHAKE) and up["http_bodies"] == 0
    assert down["http_headers"] == received.index(b"\r\n\r\n") + 4
    assert up["data_frames"] == down["data_frames"] == len(payloads)
    assert up["frame_headers"] == sum(frame_header_size(len(p), masked=True) for p in payloads)
    assert down["frame_headers"] == sum(frame_header_size(len(p), masked=False) for p in payloads)
    assert up["payloads"] == down["payloads"] == sum(map(len, payloads))
    assert up["control_frames"] == 6 + 2 and down["control_frames"] == 2 + 2  # Close with its 2-byte code
    assert all(frame.masked for frame in up["frame_list"]) and not any(f.masked for f in down["frame_list"])
    for side in (up, down):
        assert side["unparsed"] == 0
    assert sum(up[key] for key in ("http_headers", "frame_headers", "payloads", "control_frames")) == \
        relay.connections[0].up


def test_split_counts_http_headers_and_bodies():
    request = b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    response = b"HTTP/1.1 201 CREATED\r\nContent-Length: 2\r\n\r\n{}"
    assert split_stream(request * 2 + request[:10]) | {"frame_list": None} == {
        "http_headers": 2 * (len(request) - 5), "http_bodies": 10, "frame_headers": 0, "payloads": 0,
        "control_frames": 0, "unparsed": 10, "http_messages": 2, "data_frames": 0, "control_frame_count": 0,
        "frame_list": None}
    assert split_stream(response)["http_bodies"] == 2


def test_relay_delay_adds_two_one_way_delays(websocket):
    with Relay(websocket.port, delay=0.02) as relay:
        samples = latency.websocket_echo(f"ws://127.0.0.1:{relay.port}/echo", 5, warmup=1)
    assert min(samples) >= 0.04


def test_short_polling_latency_lies_between_a_round_trip_and_an_interval(polling):
    interval = 0.1
    result = latency.polling_reply(polling.url, 30, interval, rate=30, warmup=3)
    samples, rtts = result["samples"], result["poll_round_trips"]
    assert len(samples) == 30 and result["replies_received"] == result["messages"] and result["duplicates"] == 0
    assert abs(result["polls"] - result["duration"] / interval) <= 1  # one poll per interval, on schedule
    assert min(rtts) <= sorted(samples)[len(samples) // 2] <= interval + sorted(rtts)[len(rtts) // 2] + 0.025
    bound = interval + sorted(rtts)[int(len(rtts) * 0.99)] + 0.025
    assert sum(sample <= bound for sample in samples) >= 0.9 * len(samples)


def test_every_pushed_message_is_delivered_once(chat, polling, websocket):
    for transport, url, interval in (("websocket", websocket.url.replace("http", "ws"), None),
                                     ("polling", polling.url, None), ("polling", polling.url, 0.05)):
        result = latency.push_latency(chat, transport, url, 15, rate=50, interval=interval, warmup=2)
        assert result["delivered"] == result["events"] == 17 and result["duplicates"] == 0
        assert len(result["samples"]) == 15 and all(sample >= 0 for sample in result["samples"])


@pytest.fixture(scope="module")
def tiny_run():
    """The whole pipeline with tiny samples: a few seconds."""
    return run(quick=True, settings={
        "echo": 20, "poll_reply": 12, "rate": 60, "intervals": [0.05], "push": 10,
        "push_intervals": [0.05], "setup": 5, "delays": [0.005], "delay_count": 5, "delay_interval": 0.05,
        "delay_setup": 3, "delivery": 8, "delivery_rate": 40, "reply_bytes": 5, "idle_seconds": 0.5,
        "idle_interval": 0.1, "idle_wait": 1, "ping_interval": 0.2, "keep_alive": 5})


def test_run_results_are_well_formed(tiny_run, tmp_path):
    results = json.loads(json.dumps(tiny_run, default=report._plain))  # plain data, as results.json holds
    assert {"meta", "references", "reply_round_trip", "push_latency", "connection_setup", "with_delay",
            "overhead", "scaling"} <= set(results)
    assert results["meta"]["versions"]["websockets"] and results["meta"]["cpu_count"]
    distributions = [*results["references"].values(), *results["reply_round_trip"], *results["push_latency"],
                     *results["connection_setup"].values()]
    for row in distributions:
        assert row["n"] == len(row["samples_ms"]) > 0
        assert 0 <= row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert row["p99_ms"] is None  # tiny samples: no tail figure at all
        assert (row["p90_ms"] is None) == (row["n"] < 10)
    counts = {row["transport"]: row["n"] for row in results["reply_round_trip"]}
    assert counts == {"WebSocket": 20, "Server-Sent Events": 20, "long polling": 12, "short polling 50 ms": 12}
    for row in results["reply_round_trip"]:
        assert row["ratio_to_raw_tcp"] > 0 and row["ratio_to_websockets"] > 0
    paths = report.write(tiny_run, tmp_path) + plots.save_all(tiny_run, tmp_path)
    assert all(path.stat().st_size > 0 for path in paths)
    assert "Scaling" in report.summary(tiny_run)


def test_each_delivered_message_is_counted_once(tiny_run):
    delivery = {row["label"]: row for row in tiny_run["overhead"]["delivery"]}
    for row in delivery.values():
        assert row["delivered"] == row["events"] and row["duplicates"] == 0
    websocket_row = delivery["WebSocket"]
    assert websocket_row["data_frames_down"] == websocket_row["delivered"]  # one frame per message
    assert websocket_row["server_frame_header"] in (2, 4)  # our messages are under 64 KiB
    events = delivery["Server-Sent Events"]
    assert events["data_frames_down"] == events["delivered"] and events["requests"] == 0  # one event each, one GET
    assert events["server_frame_header"] == pytest.approx(len("id: \ndata: \n\n") + 2, abs=2)  # a 1-3 digit id
    long_polling = delivery["long polling"]
    assert long_polling["requests"] >= long_polling["delivered"] / 2  # at most a few messages share a response
    reply = tiny_run["overhead"]["reply"]["websocket"]
    assert reply["client_frame_header"] == 6  # "How are you? #N" in JSON: 2 bytes + the 4-byte mask


def test_idle_websocket_without_pings_costs_nothing(tiny_run):
    idle = {row["client"]: row for row in tiny_run["overhead"]["idle"]}
    assert idle["websocket"]["bytes_up_per_s"] == idle["websocket"]["bytes_down_per_s"] == 0
    assert idle["short polling"]["requests_per_s"] > 0 and idle["websocket + pings"]["bytes_down_per_s"] > 0


def test_idle_cost_is_cost_per_event_times_the_schedule(tiny_run):
    """Not bytes in a short window (2 or 3 pings, depending on where it starts): whole events times their rate."""
    settings = tiny_run["meta"]["settings"]
    idle = {row["client"]: row for row in tiny_run["overhead"]["idle"]}
    pings = idle["websocket + pings"]
    assert pings["events"] >= 1
    assert (pings["bytes_down_per_event"], pings["bytes_up_per_event"]) == (2, 6)  # empty ping; masked empty pong
    assert pings["bytes_down_per_s"] == pytest.approx(2 / settings["ping_interval"])
    short = idle["short polling"]
    assert short["requests_per_s"] == pytest.approx(1 / settings["idle_interval"])
    assert short["bytes_up_per_s"] == pytest.approx(short["bytes_up_per_event"] / settings["idle_interval"])
    assert idle["long polling"]["bytes_down_per_event"] > 0  # at least one whole long poll came back
    beats = idle["server-sent events"]
    assert beats["events"] >= 1 and beats["bytes_down_per_event"] == len(": still here\n\n")  # one comment each
    assert beats["bytes_up_per_s"] == 0 and beats["bytes_down_per_s"] == pytest.approx(14 / settings["ping_interval"])


def test_relay_delay_is_measured_not_assumed(tiny_run):
    delayed = tiny_run["with_delay"][0]
    assert set(delayed["tcp_echo"]) == {"direct", "through the relay"}
    assert delayed["round_trip_added_ms"] >= 2 * delayed["delay_ms"]  # two delays, plus the relay's own hops
    assert delayed["round_trip_added_ms"] < 2 * delayed["delay_ms"] + 20


def test_model_mean_uses_the_mean_poll_round_trip(tiny_run):
    """A reply waits half an interval, then one poll round trip (its POST up, the poll's answer down); a pushed
    event starts on the server, so only the answer's half of the round trip follows its wait."""
    short = next(row for row in tiny_run["reply_round_trip"] if row["interval_ms"])
    assert short["model_mean_ms"] == pytest.approx(short["interval_ms"] / 2 + short["poll_round_trip"]["mean_ms"])
    pushed = next(row for row in tiny_run["push_latency"] if row["interval_ms"])
    assert pushed["model_mean_ms"] == pytest.approx(
        pushed["interval_ms"] / 2 + pushed["poll_round_trip"]["mean_ms"] / 2)


def test_percentiles_need_enough_samples():
    """With 10 samples a p99 is just the maximum: it is left out (None) and printed as "–"."""
    assert summarize([0.001] * (MIN_SAMPLES["p90_ms"] - 1))["p90_ms"] is None
    few = summarize([i / 1000 for i in range(MIN_SAMPLES["p90_ms"])])
    assert few["p90_ms"] is not None and few["p99_ms"] is None
    many = summarize([i / 1000 for i in range(MIN_SAMPLES["p99_ms"])])
    assert many["p90_ms"] <= many["p99_ms"] <= many["max_ms"]
    assert fmt(None, "8.3f") == "       –" and fmt(1.5, "8.3f") == "   1.500"
    assert "–" in report.table({"tiny": few})


def test_medians_are_printed_as_precisely_as_their_samples_allow():
    """Three significant figures, two for fewer samples than a p90 needs: 5 samples cannot tell microseconds."""
    assert [report.significant(v) for v in (24.376, 0.03771, 1234.5, 252.0)] == ["24.4", "0.0377", "1230", "252"]
    five = report.table({"five": summarize([0.026091, 0.0262, 0.0251, 0.0303, 0.0274])}).splitlines()[1]
    assert five.split()[1:3] == ["5", "26ms"]
    forty = report.table({"forty": summarize([0.0241 + i / 100_000 for i in range(40)])}).splitlines()[1]
    assert forty.split()[1:3] == ["40", "24.3ms"]


def test_keep_alive_uses_one_connection_and_closing_one_per_poll(tiny_run):
    modes = {row["mode"]: row for row in tiny_run["overhead"]["keep_alive"]}
    assert modes["keep-alive"]["connections"] == 1
    assert modes["new connection per poll"]["connections"] == modes["new connection per poll"]["polls"]


def test_paper_figures_follow_from_871_and_2_bytes_in_binary_megabits():
    for row in scaling.paper_table():
        assert row["agrees"]
        assert not scaling.agrees(row["polling_decimal_mbps"], row["published_polling"])
    assert scaling.mbps(871, 1000) == 871 * 8 * 1000 / 2 ** 20


def test_fan_out_counts_every_server_thread_of_a_websocket(chat, polling, websocket):
    """One per WebSocket client (the request's thread, which reads and writes), one per waiting long poll
    and one per event stream."""
    from clients.bench.measure import fanout
    assert dict(fanout.threads_of_one_websocket(websocket)) == {"request": 1}
    for transport, server, per_client in (("WebSocket", websocket, 1), ("long polling", polling, 1)):
        result = fanout.fan_out(chat, transport, server, clients=4, broadcasts=3, gap=0.05)
        assert len(result["delays"]) == 4 * 3 and len(result["spreads"]) == 3
        assert result["threads_per_client"] == per_client
    # last: the stream's thread outlives the client until the server next writes to it
    assert dict(fanout.threads_of_one_event_stream(polling)) == {"request": 1}  # the thread that writes the events


def test_half_interval_rows_match_the_model_and_plot(tiny_run):
    replies = {row["transport"]: row for row in tiny_run["reply_round_trip"]}
    rows = plots.half_interval_rows(replies)
    short = [row for row in replies.values() if row["interval_ms"]]
    assert [row["transport"] for row in rows] == [row["transport"] for row in short]
    for row, source in zip(rows, short):
        error = np.std(source["samples_ms"], ddof=1) / source["n"] ** 0.5  # the samples' own spread
        assert row["standard_errors"] == pytest.approx((source["mean_ms"] - source["model_mean_ms"]) / error, rel=1e-3)
        assert (row["verdict"] == "within noise") == (abs(row["standard_errors"]) < stats.NOISE_Z)
    fig = plots.model_vs_measured(replies)
    assert len(fig.axes) == len(short)
    plots.plt.close(fig)


def test_watch_counts_polls_and_bytes(chat, polling):
    from notebooks.helpers.watch import watch
    chat.board.post("someone", "before the watch")  # not counted: watch starts after the last id
    result = watch(polling.port, chat.board, 0.05, 0.3)
    assert len(result["polls"]) >= 3 and result["polls"][:, 1].sum() == 0 and len(result["delays"]) == 0
    assert result["bytes"]["up"] > 0 and result["bytes"]["down"] > 0
