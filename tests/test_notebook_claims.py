"""What the notebooks' sentences rest on: the noise test, the byte counts they quote, the experiments of
notebooks 06 and 07, the decision guide's prices and the colours of every plot. Real servers on loopback, as
everywhere else."""

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import requests

from clients.bench.measure import compression, overhead
from clients.bench.results import colors, plots, stats
from clients.lab.relay import Relay
from clients.bench.load import run as load
from notebooks.helpers import crowd, duplex, guide, prose
from notebooks.helpers.newsfeed import follow_the_news
from servers.chat import SERVER

STYLE = Path(__file__).resolve().parent.parent / "servers" / "pages" / "style.css"


# --- stats: within noise, or not ------------------------------------------------------------------

def test_median_interval_covers_the_true_median_about_95_times_in_100():
    rng = np.random.default_rng(3)
    for n in (10, 40, 200):
        hits = sum(low <= np.log(2) <= high for low, high in
                   (stats.median_interval(rng.exponential(1, n)) for _ in range(400)))  # exponential: median ln 2
        assert 0.92 <= hits / 400 <= 0.995, n


def test_too_few_samples_give_the_whole_range():
    assert stats.median_interval([3, 1, 2, 5, 4]) == (1, 5)


def test_compare_names_a_winner_only_beyond_noise():
    rng = np.random.default_rng(4)
    same = stats.compare(rng.uniform(0, 1, 40), rng.uniform(0, 1, 40))
    assert same.within_noise and same.verdict == "within noise" and "within noise" in same.says("a", "b")
    apart = stats.compare(rng.uniform(2, 3, 40), rng.uniform(0, 1, 40))
    assert apart.higher and not apart.lower and "times" in apart.says("a", "b")
    assert stats.compare({"samples_ms": [1, 1.1, 0.9] * 10}, [5, 5.5, 4.5] * 10).lower  # summaries work too
    assert stats.compare([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]).within_noise  # 5 samples: the whole range


def test_against_model_tolerates_chance_and_catches_a_wrong_model():
    rng = np.random.default_rng(5)
    waits = rng.uniform(0, 100, 40) + 3  # half-interval model: mean 53
    assert stats.against_model(waits, 53).within_noise
    assert stats.against_model(waits, 103).lower  # "a whole interval" is wrong, and said so
    assert stats.against_model(waits, 3).higher


# --- the bytes notebook 05 quotes -------------------------------------------------------------------

def test_empty_poll_bodies_are_counted_apart_from_payload(twins):
    with Relay(twins.polling.port, record=True) as relay, requests.Session() as session:
        url, bodies = f"http://127.0.0.1:{relay.port}/api/messages", {"empty": 0, "news": 0}
        after = twins.chat.board.last_id
        for news in (False, False, True, False):
            if news:
                twins.chat.board.post(SERVER, "news")
            answer = session.get(url, params={"after": after}, timeout=5)
            bodies["news" if answer.json()["messages"] else "empty"] += len(answer.content)
            after = answer.json()["last_id"]
        session.close()
        relay.wait_closed()
    assert overhead.empty_polls(relay) == 3
    assert overhead.empty_poll_bodies(relay) == bodies["empty"] > 0


def test_short_polling_payload_leaves_empty_bodies_out(twins):
    row = overhead.delivery_bytes(twins, "polling", 6, 10, interval=0.02)  # many more polls than messages
    per = row["per_message"]
    assert row["empty_polls"] > 0 and per["empty_bodies"] > 0
    assert per["total"] == pytest.approx(per["headers"] + per["payload"] + per["empty_bodies"])
    long_polling = overhead.delivery_bytes(twins, "polling", 6, 10)["per_message"]
    assert per["payload"] == pytest.approx(long_polling["payload"], rel=0.15)  # the same messages, the same JSON


def test_permessage_deflate_is_measured_both_ways(twins):
    rows = compression.deflate_both_ways(twins, compression.notifications(6))
    plain, deflated = rows["without permessage-deflate"], rows["with permessage-deflate"]
    assert plain["extension"] is None and deflated["extension"].startswith("permessage-deflate")
    assert plain["data_frames"] == deflated["data_frames"] == 6
    assert plain["wire_per_message"] == plain["json_per_message"] + plain["frame_header_per_message"]
    assert deflated["wire_per_message"] < plain["wire_per_message"] / 2
    assert deflated["handshake_bytes"] > plain["handshake_bytes"]  # the offer and its acceptance


def test_hpack_figures_come_from_rfc_7541s_examples():
    sizes = {name: size for name, (size, _) in compression.hpack_sizes().items()}
    assert sizes == {"first request": 20, "second request": 14, "first response": 70, "second response": 8,
                     "repeated fields of the second request": 4}


def test_hpack_fields_show_which_fields_a_connection_sent_before():
    """RFC 7541 Appendix C.3: three of the first request's four fields are static-table entries, one byte from the
    first request on; only :authority is spelled out, then one byte from the dynamic table. C.5: a response's
    fields, spelled out once, cost a byte each the second time. A length past its prefix takes more bytes."""
    blocks = compression.HPACK_EXAMPLES
    first, second = compression.hpack_fields([blocks["first request"][0], blocks["second request"][0]])
    assert [(field["bytes"], field["how"].split(" table")[0]) for field in first] == [
        (1, "static"), (1, "static"), (1, "static"), (17, "spelled out, added to the dynamic")]
    assert first[3]["field"] == second[3]["field"] == ":authority: www.example.com"
    assert [field["bytes"] for field in second] == [1, 1, 1, 1, 10] and second[3]["how"] == "dynamic table entry 62"
    _, again = compression.hpack_fields([blocks["first response"][0], blocks["second response"][0]])
    assert [(field["field"].split(":")[0] or ":status", field["bytes"]) for field in again] == [
        (":status", 5), ("cache-control", 1), ("date", 1), ("location", 1)]
    long_value = "40" + "03" + b"abc".hex() + "7f03" + b"x".hex() * 130  # a new name; 130 = 127 + 3 (section 5.1)
    assert compression.hpack_fields([long_value]) == [[{"bytes": 137, "field": "abc: " + "x" * 130,
                                                        "how": "spelled out, added to the dynamic table"}]]


# --- notebook 06's experiments ----------------------------------------------------------------------

def test_every_follower_gets_every_notification_and_pays_for_all(twins):
    bills = follow_the_news(twins.chat, twins.polling, twins.websocket, seconds=0.8, tick=0.2, short_interval=0.1)
    posted = {bill["notifications"] for bill in bills.values()}
    assert len(posted) == 1 and posted.pop() >= 3
    assert all(bill["delivered"] == bill["notifications"] for bill in bills.values())  # the short poller's last too
    assert bills["WebSocket"]["requests"] == bills["Server-Sent Events"]["requests"] == 1
    assert bills["WebSocket"]["bytes"] < bills["long polling"]["bytes"] < bills["short polling 0.1 s"]["bytes"]
    assert bills["Server-Sent Events"]["bytes"] < bills["long polling"]["bytes"]
    assert bills["Server-Sent Events"]["headers"] > sum(bills["Server-Sent Events"]["http_headers"])  # id:, data:


def test_full_duplex_interleaves_on_one_websocket_and_http_stays_silent(twins):
    talk = duplex.full_duplex(twins.chat, twins.websocket, twins.polling, 0.05, 5, 0.06)
    sends = [t for t, direction, _ in talk["timeline"] if direction == "up"]
    assert talk["sent"] == 5 and talk["http_bytes_unasked"] == 0
    assert any(kind == "notification" and sends[0] < t < sends[-1] for t, _, kind in talk["timeline"])
    assert twins.chat.ticker_interval is None  # the ticker it started is stopped


def test_threads_in_words():
    request = ("Werkzeug's request thread (it runs the handler: reads what the client sends and writes what waits "
               "for it)")
    assert prose.threads_in_words(Counter({"request": 50, "broadcaster": 1}), per=50) == (
        f"1.02 server threads: {request} and 0.02 × broadcaster")  # an unknown kind goes by its name
    assert prose.threads_in_words({"request": 1}) == f"1 server thread: {request}"
    assert prose.threads_in_words({"broadcaster": 2}) == "2 server threads: 2 × broadcaster"
    assert prose.listing(["a", "b", "c"]) == "a, b and c"


def test_guide_prices_an_idle_client_at_the_projects_own_intervals():
    idle = {"websocket + pings": {"bytes_up_per_event": 6, "bytes_down_per_event": 2},
            "server-sent events": {"bytes_up_per_event": 0, "bytes_down_per_event": 14},
            "long polling": {"bytes_up_per_event": 175, "bytes_down_per_event": 175},
            "short polling": {"bytes_up_per_event": 168, "bytes_down_per_event": 175}}
    priced = guide.at_defaults(idle)
    assert priced["websocket + pings"][2] == pytest.approx(8 * 60 / 20)  # a 2 B ping and a 6 B pong every 20 s
    assert priced["server-sent events"][2] == pytest.approx(14 * 60 / 15)  # sse.HEARTBEAT
    assert priced["long polling"][2] == pytest.approx(350 * 60 / 25)  # the clients' long poll
    assert priced["short polling"][2] == pytest.approx(343 * 60)
    assert "20 s" in priced["websocket + pings"][1] and "15 s" in priced["server-sent events"][1]


def test_the_verdicts_on_set_up_and_on_server_sent_events_follow_the_runs_figures():
    """Claim 4 and the Server-Sent Events verdict are worded from the comparisons, whichever way they came out:
    never "no dearer" or "moderate" for a handshake beyond twice a first request, never "the better choice" for
    an event stream that came later beyond noise or weighed more."""
    rng = np.random.default_rng(6)
    ms = lambda median: rng.normal(median, 0.02, 30)  # noqa: E731 (30 samples around a median, in ms)
    first, kept = ms(1), stats.compare(ms(1), ms(0.5))
    verdicts = {ratio: guide.setup_verdict(stats.compare(ms(ratio), first), stats.compare(ms(1), first), kept)
                for ratio in (0.5, 1, 1.5, 2.4)}
    assert "not shown dearer" in verdicts[1] and "within noise" in verdicts[1] and "no dearer" not in verdicts[1]
    wide = guide.setup_verdict(stats.compare([1.5, 3.5] * 15, [1.0, 1.8] * 15), stats.compare(ms(1), first), kept)
    assert "not shown dearer" in wide and "1.8 times what" in wide  # within noise, the medians still printed
    assert "cheaper than HTTP" in verdicts[0.5] and "contrast holds" in verdicts[0.5]
    assert "moderately dearer" in verdicts[1.5] and "1.5 times" in verdicts[1.5]
    assert "not shown by this run" in verdicts[2.4] and "no dearer" not in verdicts[2.4]
    assert all("same round trips" in verdict for verdict in verdicts.values())
    feed = {"Server-Sent Events": 189, "WebSocket": 212}
    assert "better choice" in guide.sse_verdict(stats.compare(ms(1), ms(1)), feed)
    later = guide.sse_verdict(stats.compare(ms(2), ms(1)), feed)
    heavier = guide.sse_verdict(stats.compare(ms(1), ms(1)), {**feed, "Server-Sent Events": 300})
    assert "better choice" not in later + heavier and "beyond noise" in later and "1.4 times" in heavier


def test_prose_spans_say_one_figure_when_both_ends_read_the_same():
    assert prose.span(1.96, 1.964) == "2.0 s" and prose.span(1.2, 1.96) == "1.2 to 2.0 s"
    assert prose.span(25, 40, "notifications", ".0f") == "25 to 40 notifications"


# --- notebook 07's crowd: one short poll per client and interval ------------------------------------

def short_polls_at_idle(clients: int, seconds: float, interval: float, polls: float) -> dict:
    """A load run's row as far as ``crowd.idle_polls`` reads it."""
    return {"connected": clients, "interval": interval,
            "idle": {"seconds": seconds, "requests_per_s": polls / seconds}}


def test_the_idle_poll_model_holds_within_rounding_and_rejects_what_it_cannot_explain():
    assert crowd.idle_polls(short_polls_at_idle(10, 0.375, 0.25, 15)).within_noise  # 1.5 intervals: 15 expected
    assert crowd.idle_polls(short_polls_at_idle(40, 0.375, 0.25, 57)).within_noise
    assert not crowd.idle_polls(short_polls_at_idle(10, 0.375, 0.25, 9)).within_noise  # 24 a second, not 40
    assert not crowd.idle_polls(short_polls_at_idle(40, 0.375, 0.25, 80)).within_noise  # a poll more each: too many
    assert crowd.idle_polls(short_polls_at_idle(10, 0.5, 0.25, 20)).within_noise  # whole intervals: no spread...
    assert not crowd.idle_polls(short_polls_at_idle(10, 0.5, 0.25, 21)).within_noise  # ...so one poll too many shows


def test_a_real_crowd_of_short_pollers_asks_once_per_interval_while_idle():
    """Ten short pollers in a client process of their own, against ``python -m servers``: the count over the idle
    window is one per client and interval within the rounding's spread, and not one per half interval."""
    run = load.run_load({"clients": [10], "messages": 2, "every": 0.1, "interval": 0.25, "idle": 0.625, "drain": 5.0},
                        ("short-polling",), say=lambda line: None)
    row = run["runs"][0]
    assert row["connected"] == 10 and crowd.idle_polls(row).within_noise, crowd.idle_polls(row).how
    assert not crowd.idle_polls({**row, "interval": 0.125}).within_noise  # a model twice too busy is rejected


def test_a_saved_run_says_what_held_and_why_a_scenario_failed():
    """A ten-thousand-client run keeps the scenarios that could not finish: the saved run's lines name the
    failure and what ran out, beside the figures of those that held."""
    held = {"label": "WebSocket", "clients": 100, "connected": 98, "lost": 0, "duplicated": 0, "out_of_order": 0,
            "fanout_last_client": {"median_ms": 12.0, "n": 20}, "threads_per_connection": 1.0,
            "rss_per_connection": 40 * 1024,
            "ran_out": [{"resource": "file descriptors", "at": 98, "evidence": "the server said so"}]}
    failed = {"label": "long polling", "clients": 100, "connected": 90, "failed": "GET /api/status: timed out\nmore",
              "ran_out": [{"resource": "CPU", "at": 90, "evidence": "the load average"}]}
    failed["tried"] = 82  # the polling server's crowd leaves room for the run's own requests
    failed["ran_out"].append({"resource": "file descriptors", "at": 98, "evidence": "the server said so"})
    meta = {"cpu_count": 2, "duration_s": 600, "settings": {"every": 1.0, "servers_root": "/a/worktree"},
            "load_average": [7.2, 118.3, 241.6]}
    text = crowd.describe_saved({"meta": meta, "runs": [held, {**held, "label": "library", "messages": 23,
                                                               "events_asked": 20, "ran_out": []}, failed]})
    assert "WebSocket                      98 of 100 connected; lost 0" in text and "12 ms after the stamp" in text
    assert "long polling                   90 of 100 connected (82 tried); failed: GET /api/status: timed out" in text
    assert "ran out: file descriptors at 98 clients" in text and "ran out: CPU at 90 clients" in text
    assert "The crowd tried 16 fewer" in text and text.count("tried 16 fewer") == 1  # only where it tried fewer
    assert "load averages before it 7, 118, 242" in text and "it took 10 minutes" in text  # all three, the time
    assert "3 more than the 20 asked" in text and "worktree" not in text and "commit" not in text
    assert "on commit abc123" in crowd.describe_saved({"meta": {**meta, "commit": "abc123"}, "runs": [held]})


# --- one colour per transport ------------------------------------------------------------------------

def test_the_pages_colours_are_the_plots_colours():
    variables = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", STYLE.read_text()))
    expected = {"polling": colors.LONG_POLLING, "websocket": colors.WEBSOCKET, "sse": colors.SSE}
    assert {"polling", "websocket"} <= set(variables)
    for name, value in variables.items():
        if name in expected:
            assert value.lower() == expected[name].lower(), name


def test_plots_draw_each_transport_in_its_colour_with_legends_off_the_data():
    rows = {name: {"samples_ms": [1.0, 2.0, 3.0], "median_ms": 2.0, "n": 3}
            for name in ("WebSocket", "long polling", "short polling 50 ms", "short polling 100 ms", "raw TCP echo")}
    fig, ax = plots.plt.subplots()
    plots.cdf(ax, rows, "test")
    lines = {line.get_label().split(" (")[0]: line for line in ax.get_lines()}
    for name, line in lines.items():
        assert line.get_color() == colors.color_of(name)
    assert lines["short polling 50 ms"].get_linestyle() != lines["short polling 100 ms"].get_linestyle()
    assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1  # right of the axes
    plots.plt.close(fig)


@pytest.mark.parametrize("low, high", [(0.3, 5.0), (0.2, 30.0), (0.5, 900.0)])
def test_log_axes_say_plain_numbers_that_never_collide(low, high):
    """Within a decade or two the minor ticks need numbers too (2 and 5); across more they would crowd."""
    rows = {"WebSocket": {"samples_ms": list(np.geomspace(low, high, 40)), "median_ms": 1.0, "n": 40}}
    fig, ax = plots.plt.subplots(figsize=(9, 3))
    plots.cdf(ax, rows, "test")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = [tick.label1 for tick in ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
             if tick.label1.get_visible() and tick.label1.get_text()
             and low / 1.01 <= tick.get_loc() <= high * 1.01]
    texts = [tick.get_text() for tick in ticks]
    assert len(texts) >= 2 and not any("10^" in text or "$" in text for text in texts), texts
    boxes = sorted((tick.get_window_extent(renderer) for tick in ticks), key=lambda box: box.x0)
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), texts
    plots.plt.close(fig)


def test_the_pubsub_plots_legend_marks_are_its_dots():
    result = {"pub/sub": {"received": [1, 2, 3, 7], "lost": [4, 5, 6]}, "stream": {"received": list(range(1, 8)),
                                                                                   "lost": []}}
    fig = plots.pubsub_against_stream(result, away=range(4, 7))
    ax = fig.axes[0]
    legend = ax.get_legend()
    colours = {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    assert set(colours) == {"received", "lost"}
    for collection in ax.collections:
        if not len(collection.get_offsets()):
            continue
        kind = "lost" if collection.get_facecolor().size == 0 or collection.get_facecolor()[0][3] == 0 else "received"
        mark = colours[kind]
        assert np.allclose(collection.get_edgecolor()[0], mark.get_edgecolor()[0]), kind
        assert np.allclose(collection.get_facecolor(), mark.get_facecolor()), kind
    plots.plt.close(fig)


def test_bar_charts_label_their_values():
    fig = plots.parts_per_message({"WebSocket": {"a": 1.0, "b": 2.0}, "long polling": {"a": 300.0, "b": 20.0}},
                                  log=True)
    texts = [text.get_text().strip() for text in fig.axes[0].texts]
    assert texts == ["3", "320"] and fig.axes[0].get_xscale() == "log"
    plots.plt.close(fig)
    fig = plots.node_costs([{"transport": "WebSocket (open)", "clients": 60, "threads per client": 62 / 60,
                             "Redis commands per broadcast": 10},
                            {"transport": "long poll (waiting)", "clients": 60, "threads per client": 1.0,
                             "Redis commands per broadcast": 142}])
    assert [[text.get_text().strip() for text in ax.texts] for ax in fig.axes] == [["1.03", "1"], ["10", "142"]]
    plots.plt.close(fig)
