"""Sequence diagrams are drawn from what crossed the wire: the relay's record of a known exchange has
exactly the arrows the client saw itself, in order, byte for byte; the drawing has one arrow per
recorded arrow, where the record puts it; the scenario runs on every transport.

The expected sizes come from the client's own side of each exchange (``clients.wire`` returns the
bytes it wrote and read), an account independent of the relay.
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from matplotlib.text import Annotation

from clients import wire
from clients.bench.diagrams import command, draw, scenario, sequence
from clients.lab.relay import Relay
from servers.chat import SERVER

DELAY = 0.02  # seconds each way: every arrow must take at least this long


def recorded(relay: Relay, origin: float) -> list[tuple[str, str, int]]:
    assert relay.wait_closed(5)
    arrows = sequence.arrows(relay, origin)
    for arrow in arrows:  # every arrow slopes by the relay's delay, no more than a busy machine explains
        assert DELAY <= arrow.arrived - arrow.sent < DELAY + 0.5, arrow
    for earlier, later in zip(arrows, arrows[1:]):  # this script waits for each answer before going on
        assert later.sent >= earlier.sent, (earlier, later)
    return [(arrow.direction, arrow.label, arrow.size) for arrow in arrows]


def test_a_polling_exchange_is_recorded_arrow_by_arrow(polling):
    with Relay(polling.port, delay=DELAY, record=True) as relay:
        origin = time.perf_counter()
        sock = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        rfile, host = sock.makefile("rb"), f"127.0.0.1:{relay.port}"
        seen = [wire.http_exchange(sock, rfile, "GET", "/api/messages?after=0", host),
                wire.http_exchange(sock, rfile, "POST", "/api/messages", host, {"Content-Type": "application/json"},
                                   json.dumps({"text": "How are you?"}).encode()),
                wire.http_exchange(sock, rfile, "GET", "/api/messages?after=0", host)]
        sock.shutdown(socket.SHUT_WR)  # we leave first; the server answers our FIN with its own
        assert rfile.read() == b""
        sock.close()
        arrows = recorded(relay, origin)
    (empty_get, empty), (post, created), (news_get, news) = seen
    assert arrows == [
        ("up", "GET /api/messages?after=0", len(empty_get)),
        ("down", f"200, no messages, {len(empty.raw)} B", len(empty.raw)),
        ("up", "POST /api/messages", len(post)),
        ("down", f"201, {len(created.raw)} B", len(created.raw)),
        ("up", "GET /api/messages?after=0", len(news_get)),
        ("down", f"200, 2 messages, {len(news.raw)} B", len(news.raw)),
        ("up", "FIN", 0), ("down", "FIN", 0)]
    drawn = sequence.arrows(relay, origin)
    assert [arrow.empty for arrow in drawn[:2]] == [True, True] and not any(arrow.empty for arrow in drawn[2:])


def test_a_websocket_exchange_is_recorded_frame_by_frame(websocket, chat):
    with Relay(websocket.port, delay=DELAY, record=True) as relay:
        origin = time.perf_counter()
        sock, rfile, upgrade, switching = wire.open_websocket("127.0.0.1", relay.port, "/ws")
        sent = wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": "How are you?"}).encode())
        answers = [wire.read_frame(rfile) for _ in range(3)]  # "sent", our message, the reply: in wire order
        chat.board.post(SERVER, "Notification #1: the server speaks first")
        notification = wire.read_frame(rfile)
        ping = wire.send_frame(sock, wire.PING, b"there?")
        pong = wire.read_frame(rfile)
        close, closing, server_closed_first = wire.close(sock, rfile)
        arrows = recorded(relay, origin)
    assert server_closed_first and [frame.name for frame in closing] == ["close"]
    frames = [("down", f"text frame, {len(frame.raw)} B", len(frame.raw)) for frame in (*answers, notification)]
    assert arrows == [
        ("up", "GET /ws (Upgrade: websocket)", len(upgrade)),
        ("down", "101 Switching Protocols", len(switching.head)),
        ("up", f"text frame, {len(sent)} B", len(sent)),
        *frames,
        ("up", f"ping frame, {len(ping)} B", len(ping)),
        ("down", f"pong frame, {len(pong.raw)} B", len(pong.raw)),
        ("up", "Close 1000", len(close)),
        ("down", "Close 1000", len(closing[0].raw)),
        ("down", "FIN", 0), ("up", "FIN", 0)]  # the server closes TCP first (RFC 6455 section 7.1.1)


def test_an_event_stream_is_recorded_event_by_event(polling, chat):
    polling.server.app.config["SSE_HEARTBEAT"] = 0.2  # so that the server soon notices the client has left
    with Relay(polling.port, delay=DELAY, record=True) as relay:
        origin = time.perf_counter()
        sock = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        rfile = sock.makefile("rb")
        request = wire.request_bytes("GET", "/api/events", f"127.0.0.1:{relay.port}")
        sock.sendall(request)
        head = b""
        while (line := rfile.readline()) != b"\r\n":
            head += line
        head += line
        retry = rfile.readline() + rfile.readline()  # "retry: 2000", then the empty line that ends it
        events = []
        for n in (1, 2):
            chat.board.post(SERVER, f"Notification #{n}: the server speaks first")
            events.append(rfile.readline() + rfile.readline() + rfile.readline())  # id, data, empty line
        rfile.close()
        sock.close()  # the client leaves, as a closed EventSource does
        arrows = recorded(relay, origin)
    assert arrows[:6] == [
        ("up", "GET /api/events", len(request)),
        ("down", f"200, event stream, {len(head)} B", len(head)),
        ("down", f"retry hint, {len(retry)} B", len(retry)),
        *[("down", f"event, {len(event)} B", len(event)) for event in events],
        ("up", "FIN", 0)]
    # then only heartbeats the server wrote before it noticed, and perhaps its own FIN: the stream has ended
    assert {(direction, label.split(",")[0]) for direction, label, _ in arrows[6:]} <= {
        ("down", "heartbeat"), ("down", "FIN")}


QUICK = scenario.Script(send_at=0.2, notify_at=(0.75,), close_at=1.0)  # notify off the 0.3 s poll beat


@pytest.fixture(scope="module")
def runs():
    """The script, shortened, over every transport: about 4 seconds."""
    return scenario.run_all(script=QUICK, delay=DELAY)


def test_the_script_plays_over_every_transport(runs):
    by_name = {run.transport: run for run in runs}
    assert list(by_name) == list(scenario.TRANSPORTS)
    for run in runs:  # run() checks the client got its message, the reply and the notification
        assert [message["author"] for message in run.received][-1] == SERVER
    short, long_, ws = (by_name[name].arrows for name in ("short polling", "long polling", "WebSocket"))
    assert any(arrow.empty for arrow in short if arrow.kind == "response")  # polls that found nothing
    assert not any(arrow.empty for arrow in long_)  # a long poll is answered when there is news...
    assert [arrow.unanswered for arrow in long_ if arrow.kind == "request"][-1]  # ...and left held at the end
    assert [arrow.label for arrow in ws if arrow.kind != "frame" or arrow.label.startswith("Close")] == [
        "GET /ws (Upgrade: websocket)", "101 Switching Protocols", "Close 1000", "Close 1000", "FIN", "FIN"]
    events = [arrow.label.split(",")[0] for arrow in by_name["Server-Sent Events"].arrows if arrow.kind == "frame"]
    assert events == ["retry hint", "event", "event", "event"]  # our message, its reply, the notification
    assert "4 events" in draw.summary(by_name["Server-Sent Events"]) and "frames" in draw.summary(by_name["WebSocket"])
    assert "empty" not in draw.summary(by_name["Server-Sent Events"]) + draw.summary(by_name["WebSocket"])
    polls = [arrow for arrow in long_ if arrow.kind == "request" and arrow.label.startswith("GET /api/messages")]
    assert f"({len(polls)} polls, 0 empty)" in draw.summary(by_name["long polling"])  # the POST is no poll


def test_the_drawing_has_one_arrow_per_recorded_arrow_where_the_record_puts_it(runs, tmp_path):
    fig = draw.figure(runs)
    for ax, run in zip(fig.axes, runs):
        drawn = [(text.xyann, text.xy) for text in ax.texts if isinstance(text, Annotation)]
        lanes = {"up": (draw.CLIENT, draw.SERVER), "down": (draw.SERVER, draw.CLIENT)}
        assert drawn == [((lanes[arrow.direction][0], arrow.sent), (lanes[arrow.direction][1], arrow.arrived))
                         for arrow in run.arrows]
    fewer = [scenario.Run(run.transport, run.arrows[:-1], run.script, run.delay, run.seconds, run.received)
             for run in runs]
    assert sum(isinstance(text, Annotation) for ax in draw.figure(fewer).axes for text in ax.texts) == \
        sum(len(run.arrows) for run in fewer)
    paths = draw.save(fig, tmp_path, "three")
    assert [path.name for path in paths] == ["three.png", "three.svg"] and all(p.stat().st_size for p in paths)


def test_two_columns_fit_a_notebook_with_readable_labels_that_never_overlap(runs):
    """At a notebook's width (about 9 in) every label is at least 8 points, and no label covers another."""
    fig = draw.figure(runs, columns=2)
    assert fig.get_figwidth() <= 9.5 and len(fig.axes) == 4
    for ax in fig.axes:
        labels = [text for text in ax.texts if text.get_gid() == "label"]
        assert len(labels) >= 4 and all(text.get_fontsize() >= 8 for text in labels)
        boxes = [draw.label_boxes(text) for text in labels]
        for i, mine in enumerate(boxes):
            for other in boxes[i + 1:]:
                assert not any(a.overlaps(b) for a in mine for b in other), (ax.get_title(), labels[i].get_text())


def test_arrows_that_leave_together_share_a_label_that_says_each_kind():
    assert draw._joined(["FIN", "FIN"]) == "2 × FIN"
    assert draw._joined(["text frame, 124 B", "text frame, 153 B"]) == "2 × text frame, 124 + 153 B"
    assert draw._joined(["201, 258 B", "event, 107 B", "event, 135 B"]) == "201, 258 B · 2 × event, 107 + 135 B"
    assert draw._two_lines("201, 258 B · 2 × event, 107 + 135 B") == "201, 258 B\n2 × event, 107 + 135 B"
    assert draw._two_lines("3 × text frame, 124 + 153 + 121 B") == "3 × text frame,\n124 + 153 + 121 B"


@pytest.mark.parametrize("argv", [["--delay", "-1"], ["--delay", "soon"], ["--transports", "carrier-pigeon"]])
def test_bad_arguments_get_a_clear_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


def test_the_toolkits_command_still_draws_diagrams():
    """``python -m clients.bench diagram`` reaches the diagrams' command (here its clear error, without servers)."""
    done = subprocess.run([sys.executable, "-m", "clients.bench", "diagram", "--delay", "soon"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "python -m clients.bench diagram: error:" in done.stderr
