"""Losing a node, measured: a link that goes silent against a process that dies, for every transport.

A relay frozen passes nothing and closes nothing; a client notices only through a timeout of its own (the lab's
``silence`` and ``grace``, the command-line clients' pings and read timeouts), then moves and catches up with
nothing lost or twice. Each run here takes a few seconds, on loopback, at a notebook's short timeouts.
"""

import contextlib
import io
import socket
import threading
import time
from types import SimpleNamespace

import pytest
import requests

from clients import polling_client, sse_client, websocket_client
from clients.bench.measure import failover, scaleout
from clients.bench.results import colors, plots
from clients.lab.listeners import EventStream, Poller, WebSocketListener
from clients.lab.peers import RawEcho
from clients.lab.relay import Relay
from conftest import eventually, require_cluster_tools  # tests/ is on sys.path (rootdir conftest, no package)
from servers import polling_server, websocket_server
from servers.chat import SERVER
from servers.cluster import Cluster
from servers.serving import RunningServer

SLACK = 1.0  # seconds a loaded machine may add to a timeout before the client acts on it


def test_a_frozen_relay_holds_everything_and_closes_nothing_until_it_thaws():
    with RawEcho() as echo, Relay(echo.port) as relay:
        client = socket.create_connection(("127.0.0.1", relay.port), timeout=0.3)
        client.sendall(b"before ")
        assert client.recv(100) == b"before "
        relay.freeze()
        client.sendall(b"during")
        with pytest.raises(TimeoutError):  # neither an echo nor an end of stream: silence
            client.recv(100)
        late = socket.create_connection(("127.0.0.1", relay.port), timeout=0.3)  # the kernel accepts it...
        late.sendall(b"new")
        with pytest.raises(TimeoutError):  # ...and nothing answers
            late.recv(100)
        relay.thaw()
        client.settimeout(5)
        late.settimeout(5)
        assert client.recv(100) == b"during" and late.recv(100) == b"new"  # held, then passed on in order
        relay.stop()
        assert client.recv(100) == b""  # a stopped relay ends the connection at once, as a dead process's kernel
        client.close()
        late.close()


@pytest.fixture
def node(chat):
    """A polling server with a heartbeat every 0.5 s and a WebSocket server pinging every 0.5 s, behind relays."""
    polling_app = polling_server.create_app(chat)
    polling_app.config["SSE_HEARTBEAT"] = 0.5
    with RunningServer(polling_app) as polling, \
            RunningServer(websocket_server.create_app(chat, ping_interval=0.5)) as websocket, \
            Relay(polling.port) as polling_link, Relay(websocket.port) as websocket_link:
        yield {"polling": f"http://127.0.0.1:{polling_link.port}", "ws": f"ws://127.0.0.1:{websocket_link.port}/ws",
               "links": (polling_link, websocket_link)}


LAB_CLIENTS = {
    "WebSocket": lambda node, silence: WebSocketListener(node["ws"], after=0, silence=silence),
    "Server-Sent Events": lambda node, silence: EventStream(node["polling"], after=0, silence=silence),
    "long polling": lambda node, silence: Poller(node["polling"], after=0, wait=1, grace=silence - 1),
}


@pytest.mark.parametrize("transport", LAB_CLIENTS)
def test_a_lab_client_gives_a_silent_link_up_after_its_timeout_and_not_before(chat, node, transport):
    """Past the server's promise (a ping or a heartbeat every 0.5 s, a long poll answered within 1 s) and the
    client's grace, it gives up: not before, or it would give up on a quiet but healthy link."""
    silence = 1.5
    client = LAB_CLIENTS[transport](node, silence).start()
    chat.board.post(SERVER, "before")
    assert client.wait_until(lambda: client.last_id == 1, 5)
    time.sleep(silence + 1)  # idle for longer than ``silence``, but pinged, beating or answered: the client stays
    assert not client.ended
    frozen = time.perf_counter()
    for link in node["links"]:
        link.freeze()
    assert client.wait_until(lambda: client.ended, silence + SLACK + 1)
    assert isinstance(client.error, TimeoutError) and client.stopped - frozen >= silence - 1  # its last byte
    client.close()


@pytest.mark.parametrize("transport", ["WebSocket", "Server-Sent Events"])
def test_without_a_timeout_a_lab_client_never_notices(chat, node, transport):
    """The lesson, and the proof that the test above can fail: no timeout, no detection."""
    client = LAB_CLIENTS[transport](node, None).start()
    for link in node["links"]:
        link.freeze()
    chat.board.post(SERVER, "lost in the link")
    time.sleep(2.5)
    assert not client.ended and client.last_id == 0
    client.close()


def test_every_client_that_moves_to_another_node_names_the_board_it_resumes_on():
    """It resumes after an id of the board both nodes serve, so it names that board: a node whose board were
    another one (restarted empty) would say so, instead of taking the id as its own and skipping messages."""
    node = SimpleNamespace(polling_url="http://127.0.0.1:8001", ws_url="ws://127.0.0.1:8002/ws")
    for name, client_for in failover.clients_for(failover.TIMEOUTS, "Xy3_kQ9a").items():
        client = client_for(node, 6)
        first = client.handshake() if name == "WebSocket" else client.request()
        assert b"?after=6&board=Xy3_kQ9a" in first, name


@pytest.mark.parametrize("how", [failover.KILL, failover.SILENT])
def test_losing_a_node_costs_each_client_what_its_timeouts_say_and_loses_nothing(chat, how):
    run = failover.lose_a_node(chat, how)
    rows = failover.costs(run)
    print(f"\n{failover.describe_costs(rows, how)}")
    assert set(rows) == {"WebSocket", "Server-Sent Events", "long polling", "short polling"}
    for name, row in rows.items():
        assert row["lost"] == row["duplicates"] == 0 and row["in_order"], name
        assert row["noticed_s"] is not None and row["moved_s"] >= row["noticed_s"], name
        assert row["earliest_s"] - 0.1 <= row["noticed_s"] <= row["latest_s"] + SLACK, name
        assert row["noticed_s"] <= row["has_everything_s"] <= row["latest_s"] + SLACK, name
        if how == failover.SILENT:  # notifications went on while it had not noticed: it got them late from B
            assert row["missed"] >= 10 and row["worst_delay_s"] >= row["noticed_s"] - 0.1, name
    if how == failover.KILL:  # everyone reading learns at once, a short poller at its next poll
        assert max(row["noticed_s"] for name, row in rows.items() if name != "short polling") < 0.5


def test_the_costs_show_a_client_that_never_notices_and_one_that_resumes_wrongly(chat):
    """The student's mistakes, in one run that still ends on time: no timeout (as a page's WebSocket), resuming
    from the start of the board, resuming from what is new."""
    wrong = {"WebSocket": lambda node, after: WebSocketListener(node.ws_url, after=after),
             "Server-Sent Events": lambda node, after: EventStream(node.polling_url, after=0, silence=2),
             "long polling": lambda node, after: Poller(node.polling_url, wait=1, grace=1)}
    started = time.monotonic()
    rows = failover.costs(failover.lose_a_node(chat, failover.SILENT, clients=wrong))
    assert time.monotonic() - started < 15
    assert rows["WebSocket"]["noticed_s"] is None and rows["WebSocket"]["lost"] > 0
    assert "WebSocket          never noticed" in failover.describe_costs(rows, failover.SILENT)
    assert rows["Server-Sent Events"]["duplicates"] > 0 and not rows["Server-Sent Events"]["in_order"]
    assert rows["long polling"]["lost"] > 0 and rows["long polling"]["duplicates"] == 0


def test_the_computed_bounds_come_from_the_timeouts_and_the_clients_own_constants():
    timeouts = failover.Timeouts(ping_interval=20, heartbeat=15, long_poll_wait=25, short_interval=1, grace=10)
    silent = failover.computed(timeouts)
    assert {name: (row["earliest"], row["latest"]) for name, row in silent.items()} == {
        "WebSocket": (10, 30), "Server-Sent Events": (10, 25), "long polling": (10, 35), "short polling": (10, 11)}
    assert all(row["latest"] <= 1 for row in failover.computed(timeouts, failover.KILL).values())
    real = failover.client_defaults()
    ws = real["WebSocket, python -m clients.websocket_client"]
    assert ws["latest"] == (websocket_client.PING_INTERVAL + websocket_client.PING_TIMEOUT
                            + websocket_client.CLOSE_TIMEOUT)
    assert real["long polling, python -m clients.polling_client"]["latest"] == (
        polling_client.LONG_POLL_WAIT + polling_client.ANSWER_TIMEOUT)
    assert real["Server-Sent Events, python -m clients.sse_client"]["latest"] == sse_client.STREAM_TIMEOUT
    assert real["every transport, the browser pages"]["latest"] is None
    text = failover.describe_computed(real)
    assert "30 to 50 s after the failure" in text and "no timeout of its own" in text


def test_the_delay_plot_has_a_row_per_transport_a_column_per_run_and_one_scale():
    got = [(10.0 + i * 0.1 + (0.002 if i < 5 else 1.0 - (i - 5) * 0.1), 100 + i, 10.0 + i * 0.1) for i in range(10)]
    run = {"failed_at": 10.45, "clients": {name: {"got": got, "log": [(11.45, "lost node A (TimeoutError)", 0)]}
                                           for name in ("WebSocket", "long polling")}}
    fig = plots.failure_delays({"process killed": run, "link silent": run})
    axes = fig.axes
    assert len(axes) == 4 and axes[0].get_title() == "process killed" and axes[1].get_title() == "link silent"
    line = axes[0].get_lines()[0]
    assert line.get_color() == colors.WEBSOCKET and axes[2].get_lines()[0].get_color() == colors.LONG_POLLING
    assert [round(x, 2) for x in line.get_xdata()][:2] == [-0.45, -0.35]  # seconds after the failure, posted
    assert round(max(line.get_ydata()), 3) == 1.0  # seconds from posted to shown
    assert len({ax.get_ylim() for ax in axes}) == 1, "one scale for every transport and both runs"
    assert any(vline.get_linestyle() == ":" and vline.get_xdata()[0] == pytest.approx(1.0)
               for vline in axes[0].get_lines()), "where the client noticed"
    plots.plt.close(fig)


def follower_of(transport: str, node: dict, stop: threading.Event, shown: list) -> threading.Thread:
    """The command-line client's follower for ``transport``, following ``node`` through its links."""
    def show(message: dict) -> None:
        shown.append(message["text"])

    if transport == "WebSocket":
        ws = websocket_client.connect(f"{node['ws']}?after=0")
        return threading.Thread(target=websocket_client.follow, args=(ws, node["ws"], stop),
                                kwargs={"on_message": show})
    if transport == "Server-Sent Events":
        return threading.Thread(target=sse_client.follow, args=(node["polling"], stop), kwargs={"on_message": show})
    return threading.Thread(target=polling_client.follow, args=(requests.Session(), node["polling"], None, stop),
                            kwargs={"on_message": show})


NOTICES = {"WebSocket": "[connection lost", "Server-Sent Events": "[stream failed", "long polling": "[poll failed"}


@pytest.mark.parametrize("transport", NOTICES)
def test_a_command_line_client_notices_a_silent_link_and_catches_up_once_it_is_back(chat, node, transport,
                                                                                    monkeypatch):
    """Its own timeouts, shortened: pings every 0.5 s answered within 0.5 s (then 0.5 s for the server's Close),
    a stream silent for 1 s (the server's heartbeat comes every 0.5 s), a long poll of 1 s answered 0.5 s late
    at most. It says so, connects again (through the same link: it knows one server), and misses nothing."""
    for module, name, value in ((websocket_client, "PING_INTERVAL", 0.5), (websocket_client, "PING_TIMEOUT", 0.5),
                                (websocket_client, "CLOSE_TIMEOUT", 0.5), (sse_client, "STREAM_TIMEOUT", 1),
                                (polling_client, "LONG_POLL_WAIT", 1), (polling_client, "ANSWER_TIMEOUT", 0.5)):
        monkeypatch.setattr(module, name, value)
    shown, stop = [], threading.Event()
    with contextlib.redirect_stderr(io.StringIO()) as said:  # the clients say what happens there
        follower = follower_of(transport, node, stop, shown)
        follower.start()
        try:
            chat.board.post(SERVER, "before")
            assert eventually(lambda: shown == ["before"], 5)
            for link in node["links"]:
                link.freeze()
            chat.board.post(SERVER, "during")
            assert eventually(lambda: NOTICES[transport] in said.getvalue(), 1.5 + SLACK), said.getvalue()
            for link in node["links"]:
                link.thaw()
            chat.board.post(SERVER, "after")
            assert eventually(lambda: len(shown) >= 3, 15), said.getvalue()
        finally:
            stop.set()
            chat.board.post(SERVER, "the end")  # a follower between two messages looks at ``stop`` after the next
            follower.join(5)
    assert shown[:3] == ["before", "during", "after"]
    assert len(shown) == len(set(shown)), "nothing twice"


def test_a_frozen_node_behind_nginx_costs_what_the_order_of_the_timeouts_says():
    """SIGSTOP a node under clients that follow through nginx. When a client gives a poll up (2 s) before nginx
    gives the node up (3 s), nginx never counts the node as failed and keeps handing it polls: the pollers
    fail again and again. When nginx gives up first (1.5 s), it passes the polls on and no poller notices."""
    require_cluster_tools()
    with pytest.raises(ValueError):
        Cluster(2, ping_interval=2, read_timeout=2)  # nginx would cut every quiet WebSocket
    results = {}
    for read_timeout in (3, 1.5):
        with Cluster(2, ping_interval=1, read_timeout=read_timeout) as cluster:
            run = scaleout.node_freeze(cluster, websocket_clients=4, polling_clients=4)
            results[read_timeout] = scaleout.freeze_costs(run)
            print(f"\n{scaleout.describe_freeze(run, results[read_timeout])}")
            assert f"proxy_read_timeout {'3s' if read_timeout == 3 else '1500ms'};" in cluster.nginx.config.read_text()
    for rows in results.values():
        for kind, row in rows.items():
            assert row["lost"] == row["duplicated"] == row["out of order"] == 0, kind
    clients_first, nginx_first = results[3], results[1.5]
    assert 0 < clients_first["WebSocket"]["noticed"] < 4  # the frozen node's clients, and only they
    assert clients_first["WebSocket"]["by its own timeout"] == clients_first["WebSocket"]["noticed"]
    for kind, row in clients_first.items():  # a timeout runs from the last notification, not from the freeze
        assert row["silent_s"][0] >= row["computed_s"] - 0.05 and row["moved_s"][0] >= row["noticed_s"][0], kind
    assert clients_first["long polling"]["noticed"] >= 1 and clients_first["long polling"]["failed_again"] >= 1
    assert nginx_first["long polling"]["noticed"] == 0
