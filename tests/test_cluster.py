"""Several server processes behind nginx, on the real parts: redis-server, nginx and ``python -m servers``
processes on free loopback ports, started and stopped by each test (servers/cluster).

First the failure a student should see (two nodes on separate in-memory boards never meet), then the
same chat on Redis: across nodes both ways, round robin, a node killed under 100 WebSocket and 100
polling clients, Redis stopped and started under the nodes, and the one command stopped by a signal.
"""

import contextlib
import json
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis
import requests

from clients import polling_client
from clients.bench.measure import scaleout
from clients.websocket_client import connect as open_websocket
from conftest import RawWebSocket, require_cluster_tools
from servers.chat import LONGEST_WAIT
from servers.cluster import Cluster, ToolMissing, find_tool, nginx
from servers.cluster.nginx import CONNECT_TIMEOUT, PING_INTERVAL, READ_TIMEOUT
from servers.serving import MAX_CONNECTIONS, REQUEST_TIMEOUT

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tools():
    require_cluster_tools()


@pytest.fixture(scope="module")
def cluster(tools):
    """Two nodes on Redis behind nginx, shared by the tests that leave it as they found it."""
    with Cluster(2) as running:
        yield running


@pytest.fixture
def own_cluster(tools):
    """A cluster for a test that kills a node or stops Redis."""
    with Cluster(2) as running:
        yield running


def test_two_nodes_on_separate_in_memory_boards_never_meet(tools):
    with Cluster(2, redis=False) as cluster:
        seen = [row["messages"] for row in scaleout.separate_boards(cluster)[1:]]  # through nginx, in turns
        assert seen in ([0, 2, 0, 2], [2, 0, 2, 0])  # the message and its reply, on one node of the two
        a, b = cluster.nodes
        listener = open_websocket(f"{a.ws_url}/ws")
        try:
            posted = requests.post(f"{b.polling_url}/api/messages", json={"text": "anyone on A?"}, timeout=5)
            assert posted.status_code == 201
            with pytest.raises(TimeoutError):  # bounded: 1 s of silence is the answer
                _receive(listener, timeout=1)
        finally:
            listener.close()
        assert "anyone on A?" not in requests.get(f"{a.polling_url}/api/messages?after=0", timeout=5).text


def test_on_redis_a_websocket_client_of_one_node_hears_a_poller_of_another_and_back(cluster):
    a, b = cluster.nodes
    listener = open_websocket(f"{a.ws_url}/ws")
    try:
        posted = requests.post(f"{b.polling_url}/api/messages", json={"text": "from B's poller"}, timeout=5).json()
        pushed = [_receive(listener)["message"] for _ in range(2)]
        assert [m["id"] for m in pushed] == [posted["message"]["id"], posted["message"]["id"] + 1]
        assert pushed[1]["text"] == "Client:from B's poller\nServer:I am fine, thanks!"
        listener.send(json.dumps({"type": "send", "text": "from A's WebSocket"}))
        sent = next(event for event in iter(lambda: _receive(listener), None) if event["type"] == "sent")["message"]
        answer = requests.get(f"{b.polling_url}/api/messages?after={sent['id'] - 1}&wait=5", timeout=10).json()
        assert [m["text"] for m in answer["messages"]][:1] == ["from A's WebSocket"]
    finally:
        listener.close()


def test_nginx_takes_the_nodes_in_turns_and_pages_find_their_twin_through_it(cluster):
    nodes = {f"127.0.0.1:{node.polling_port}" for node in cluster.nodes}
    answered = scaleout.round_robin(cluster, 6)
    assert set(answered) == nodes and all(answered[n] != answered[n + 1] for n in range(5))
    status = requests.get(f"{cluster.polling_url}/api/status", timeout=5).json()
    assert status["twin_port"] == cluster.websocket_port  # the side-by-side page's WebSocket goes through nginx
    page = RawWebSocket(cluster.websocket_port, "/ws", origin=cluster.polling_url)  # and its Origin is accepted
    page.close()


def test_everything_listens_on_loopback_with_timeouts_above_the_ping_and_the_longest_poll(cluster):
    """nginx waits for a silent node longer than a healthy one is ever silent (the longest long poll, the ping
    interval), and less than the polling client waits for its poll: a frozen node is given up by nginx first."""
    assert redis.Redis.from_url(cluster.redis.url).config_get("bind") == {"bind": "127.0.0.1"}
    config = cluster.nginx.config.read_text()
    assert "ip_hash" not in config and config.count("listen 127.0.0.1:") == 2
    assert f"proxy_read_timeout {READ_TIMEOUT}s" in config and READ_TIMEOUT > max(PING_INTERVAL, LONGEST_WAIT)
    assert READ_TIMEOUT < polling_client.LONG_POLL_WAIT + polling_client.ANSWER_TIMEOUT
    assert f"proxy_connect_timeout {CONNECT_TIMEOUT}s" in config and CONNECT_TIMEOUT <= 2
    assert "proxy_set_header Upgrade $http_upgrade" in config
    for process in _children():
        for connection in process.net_connections("tcp"):
            if connection.status == psutil.CONN_LISTEN:
                assert connection.laddr.ip == "127.0.0.1", f"{process.name()} listens on {connection.laddr}"


def test_nginx_passes_a_poll_on_from_a_frozen_or_killed_node_and_a_message_sent_only_if_no_node_got_it(tools):
    """Round robin starts at node 0 (frozen: SIGSTOP), then node 1 (killed), then node 2. A poll (GET) that node 0
    leaves unanswered for the read timeout, or that node 1 refuses, goes on to the next node; a message sent (POST)
    goes on from a node that refused it, never from one that received it and stayed silent (it may have stored
    it): that one is answered 504. In-memory boards: which node stored what does not matter here."""
    def ask(cluster, method: str, path: str, **options) -> tuple[int, int, float]:
        """Status, how many nodes nginx asked (``X-Upstream`` lists them), seconds."""
        started = time.monotonic()
        response = requests.request(method, f"{cluster.polling_url}{path}", timeout=10, **options)
        return response.status_code, len(scaleout.node_of(response).split(", ")), time.monotonic() - started

    for method, path, options, expected in (
            ("GET", "/api/messages?after=0", {}, [(200, 3)]),  # frozen, then killed, then answered by node 2
            ("POST", "/api/messages", {"json": {"text": "hi"}}, [(504, 1), (201, 2)])):
        with Cluster(3, redis=False, ping_interval=1, read_timeout=1.5) as cluster:
            cluster.freeze_node(0)
            cluster.kill_node(1)
            answers = [ask(cluster, method, path, **options) for _ in expected]
        assert [(status, nodes) for status, nodes, _ in answers] == expected, (method, answers)
        assert answers[0][2] >= 1.5  # node 0 was given up after the read timeout


def test_a_killed_node_loses_no_message_for_100_websocket_and_100_polling_clients(own_cluster):
    result = scaleout.node_kill(own_cluster, websocket_clients=100, polling_clients=100)
    print(f"\nnode kill: {json.dumps(result)}")
    assert result["recovered"]
    websocket, polling = result["websocket"], result["polling"]
    assert websocket["lost"] == websocket["duplicated"] == websocket["out of order"] == 0
    assert 0 < websocket["reconnected"] < 100  # the killed node's clients, and only they, moved
    assert polling["lost"] == polling["duplicated"] == polling["out of order"] == 0
    assert polling["failed requests (most for one client)"] <= 1
    assert not own_cluster.nodes[0].alive and own_cluster.nodes[1].alive


def test_while_redis_is_down_the_nodes_refuse_clearly_and_recover_without_a_restart(own_cluster):
    pids = [node.child.pid for node in own_cluster.nodes]
    api = f"{own_cluster.polling_url}/api/messages"
    assert requests.post(api, json={"text": "before"}, timeout=5).status_code == 201
    listeners = [RawWebSocket(own_cluster.websocket_port, "/ws?after=2") for _ in range(2)]  # one on each node
    own_cluster.stop_redis()
    assert [listener.read_close() for listener in listeners] == [1013, 1013]
    handshake_url = f"http://127.0.0.1:{own_cluster.websocket_port}/ws"
    for response in (requests.get(f"{api}?after=0", timeout=5), requests.post(api, json={"text": "x"}, timeout=5),
                     requests.get(handshake_url, headers=_handshake(), timeout=5)):
        assert response.status_code == 503 and response.json()["error"] == "board_unavailable", response.text
        assert response.headers["Retry-After"] == "1"

    own_cluster.start_redis()
    assert requests.post(api, json={"text": "after"}, timeout=5).status_code == 201
    resumed = open_websocket(f"{own_cluster.ws_url}/ws?after=2")
    try:
        assert [_receive(resumed)["message"]["id"] for _ in range(2)] == [3, 4]
    finally:
        resumed.close()
    assert [m["id"] for m in requests.get(f"{api}?after=0", timeout=5).json()["messages"]] == [1, 2, 3, 4]
    assert [node.child.pid for node in own_cluster.nodes] == pids and all(node.alive for node in own_cluster.nodes)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_one_command_starts_the_cluster_and_a_signal_stops_all_of_it(tools, signum):
    command = subprocess.Popen([sys.executable, "-m", "servers.cluster", "--nodes", "2", "--polling-port", "0",
                                "--websocket-port", "0"], cwd=PROJECT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        while "Ctrl-C stops everything" not in output:
            line = command.stdout.readline()
            assert line, f"the cluster ended before it started: {output}"
            output += line
        children = psutil.Process(command.pid).children(recursive=True)
        names = sorted(child.name() for child in children)
        assert any("redis-server" in name for name in names) and "nginx" in names, names
        assert len([child for child in children if "servers" in " ".join(child.cmdline())]) == 2
        folder = Path(next(line for line in output.splitlines() if "configuration in" in line).split()[-1]).parents[1]
        command.send_signal(signum)
        assert command.wait(20) == 0
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"still running: {alive}"
        assert not folder.exists()
    finally:
        if command.poll() is None:
            command.kill()
        command.stdout.close()


def test_a_port_in_use_or_a_missing_tool_is_a_clear_error(tools):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "servers.cluster", "--polling-port", str(taken.getsockname()[1]),
                                 "--websocket-port", "0"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "error: nginx did not start" in result.stderr and "Address already in use" in result.stderr
    with pytest.raises(ToolMissing, match="sudo apt-get install redis-tools"):
        find_tool("redis-cli-of-another-name", package="redis-tools")


def _receive(ws, timeout: float = 5) -> dict:
    return json.loads(ws.recv(timeout=timeout))  # TimeoutError when nothing came


def _handshake() -> dict:
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def test_nginx_has_a_connection_for_each_the_nodes_can_hold_and_answers_its_own_refusals_in_json(tools):
    connections, files = nginx.capacity(2)
    assert connections >= 2 * 2 * 2 * MAX_CONNECTIONS or files == resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with Cluster(2, redis=False) as cluster:
        too_long = requests.post(f"{cluster.polling_url}/api/messages", data=b"x" * (nginx.BODY_LIMIT + 1),
                                 headers={"Content-Type": "application/json"}, timeout=10)
        with socket.create_connection(("127.0.0.1", cluster.polling_port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")
            unreadable = sock.makefile("rb").read()
        ports = (cluster.polling_port, cluster.websocket_port)
        refused = {request: [_raw_answer(port, request) for port in ports] for request in NGINX_REFUSES}
        internal = {_raw_answer(port, f"GET {nginx.ERROR_PAGES}{status} HTTP/1.1\r\n".encode())
                    for status in nginx.ERRORS for port in ports}
        for node in range(2):
            cluster.kill_node(node)
        no_node = requests.get(f"{cluster.polling_url}/api/messages", timeout=10)
        log = (cluster.folder / "nginx" / "nginx.log").read_text()
    assert (too_long.status_code, too_long.json()["error"]) == (413, "body_too_large")
    assert unreadable.startswith(b"HTTP/1.1 400") and b'"error": "bad_request"' in unreadable
    assert (no_node.status_code, no_node.json()["error"]) == (502, "bad_gateway")
    assert refused == {request: [expected] * 2 for request, expected in NGINX_REFUSES.items()}
    assert internal == {(404, "not_found")}  # its own answers' paths, asked for straight: as any unknown path
    assert "setrlimit" not in log  # nginx was given no more open files than it may have
    for status, (answered, code, message) in nginx.ERRORS.items():
        assert "'" not in message and (status == answered or status in (494, 497, 500))


def test_nginx_gives_a_request_as_long_to_arrive_as_a_node_does(cluster):
    """A head that stops (on either port) or comes a byte a second, and a body that stops: nginx closes each
    REQUEST_TIMEOUT s after the request began, as a node would. A connection whose head is still arriving is not
    counted against its address's share (nginx counts a connection once its head is whole), so this is what frees
    it; nginx closes it without an answer (a node would answer 408)."""
    head = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    body = b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n\r\n{"  # 1 byte of 9
    started = time.monotonic()
    stalled = {"head": (cluster.polling_port, head), "head of a handshake": (cluster.websocket_port, head),
               "head, a byte a second": (cluster.polling_port, b""), "body": (cluster.polling_port, body)}
    sockets = {name: socket.create_connection(("127.0.0.1", port), timeout=5) for name, (port, _) in stalled.items()}
    trickle = iter(head + b"X-Slow: " + b"x" * 60)
    closed, answered = {}, {}
    with selectors.DefaultSelector() as selector:
        for name, sock in sockets.items():
            sock.sendall(stalled[name][1])
            selector.register(sock, selectors.EVENT_READ, name)
        while len(closed) < len(sockets) and time.monotonic() - started < REQUEST_TIMEOUT + 10:
            for key, _ in selector.select(timeout=1):
                answered[key.data] = _answer_or_reset(key.fileobj)
                closed[key.data] = round(time.monotonic() - started, 1)
                selector.unregister(key.fileobj)
            if "head, a byte a second" not in closed:
                with contextlib.suppress(OSError):  # closed by nginx meanwhile: the selector says so next
                    sockets["head, a byte a second"].sendall(bytes([next(trickle)]))
    for sock in sockets.values():
        sock.close()
    assert set(closed) == set(sockets), f"still open after {REQUEST_TIMEOUT + 10} s: {set(sockets) - set(closed)}"
    assert all(REQUEST_TIMEOUT - 0.5 <= seconds <= REQUEST_TIMEOUT + 5 for seconds in closed.values()), closed
    assert set(answered.values()) == {b""}, answered


def _answer_or_reset(sock: socket.socket) -> bytes:
    """What the peer sent, or b"" when it closed or reset the connection (a close with bytes unread is a reset)."""
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


# Requests nginx refuses itself (the nodes never see them), with what it answers: what the nodes would.
NGINX_REFUSES = {
    b"TRACE / HTTP/1.1\r\n": (405, "method_not_allowed"),
    b"POST /api/messages HTTP/1.1\r\nTransfer-Encoding: gzip\r\n": (501, "unsupported_transfer_encoding"),
    b"POST /api/messages HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n": (501, "unsupported_transfer_encoding"),
    b"GET /api/status HTTP/2.0\r\n": (505, "http_version_not_supported"),
    b"GET /api/status HTTP/3.0\r\n": (505, "http_version_not_supported"),
}


def _raw_answer(port: int, request_line_and_fields: bytes) -> tuple[int, str]:
    """Status and error code of what nginx answers a request written by hand (Host and the end of the head added);
    an AssertionError when the answer is not in the nodes' JSON shape (nginx's own HTML page)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_line_and_fields + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head, body = sock.makefile("rb").read().split(b"\r\n\r\n", 1)
    assert b"\r\nContent-Type: application/json\r\n" in head, head
    return int(head.split()[1]), json.loads(body)["error"]
