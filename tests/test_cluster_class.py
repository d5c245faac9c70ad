"""The cluster serving a room: nginx on a network address, the class view shared by every node through Redis,
and "the teacher" decided from the address nginx saw.

A student's laptop is played by a network namespace the test makes for itself: a veth pair, one end in the
namespace with the student's address, the other on this machine with the address nginx listens on (both from
198.18.0.0/15, the range set aside for tests: no other address is a target). The namespace and its link are
removed afterwards, whatever happened. Needs root (as CI runs), `ip`, redis-server and nginx.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

from conftest import eventually, require_cluster_tools, unavailable
from servers.cluster import Cluster, ToolMissing, find_tool
from servers.room import FIRST_MODE
from servers.serving import MAX_PER_CLIENT

STUDENTS = [f"student-{n}" for n in range(4)]
# Run inside the namespace: each request of a JSON list (method, url, body, headers), straight to the address
# (no proxy from the environment), answered with [status, JSON body] each.
AS_A_STUDENT = """
import json, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
answers = []
for method, url, body, headers in json.loads(sys.argv[1]):
    data = None if body is None else json.dumps(body).encode()
    headers = {**headers, **({"Content-Type": "application/json"} if data else {})}
    try:
        with opener.open(urllib.request.Request(url, data, headers, method=method), timeout=10) as response:
            answers.append([response.status, json.load(response)])
    except urllib.error.HTTPError as error:
        answers.append([error.code, json.load(error)])
print(json.dumps(answers))
"""


@dataclass
class StudentNetwork:
    namespace: str
    host_address: str  # this machine's end: nginx listens here
    student_address: str  # the namespace's end: where a student's requests come from

    def requests(self, *asked: tuple) -> list[tuple[int, dict]]:
        """[(status, JSON body)] of each (method, url, body, headers) sent from the student's address, in turn."""
        done = subprocess.run(["ip", "netns", "exec", self.namespace, sys.executable, "-c", AS_A_STUDENT,
                               json.dumps(asked)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [tuple(answer) for answer in json.loads(done.stdout)]


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([find_tool("ip", "iproute2"), *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def student_network():
    """A namespace and a veth pair of their own, named and numbered after this process; removed at the end."""
    if os.geteuid() != 0:
        unavailable("a network namespace needs root")
    try:
        find_tool("ip", "iproute2")
    except ToolMissing as missing:
        unavailable(str(missing))
    require_cluster_tools()
    pid = os.getpid()
    name, host_link, student_link = f"pvw{pid}", f"pvw{pid}h", f"pvw{pid}s"
    base = f"198.{18 + (pid >> 14) % 2}.{(pid >> 6) % 256}.{(pid % 64) * 4}"  # a /30 of its own
    prefix, last = base.rsplit(".", 1)
    network = StudentNetwork(name, f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}")
    try:
        for step in (["netns", "add", name], ["link", "add", host_link, "type", "veth", "peer", "name", student_link],
                     ["link", "set", student_link, "netns", name],
                     ["addr", "add", f"{network.host_address}/30", "dev", host_link], ["link", "set", host_link, "up"],
                     ["-n", name, "addr", "add", f"{network.student_address}/30", "dev", student_link],
                     ["-n", name, "link", "set", student_link, "up"]):
            done = ip(*step)
            if done.returncode:
                unavailable(f"ip {' '.join(step)} failed: {done.stderr.strip()}")
        yield network
    finally:
        ip("link", "del", host_link)  # the pair goes with it, at once (a namespace is removed in the background)
        ip("netns", "del", name)


@pytest.mark.timeout(180)
def test_the_cluster_serves_a_room_and_only_the_teachers_machine_may_switch(student_network):
    with Cluster(2, host=student_network.host_address) as cluster:
        config = cluster.nginx.config.read_text()
        assert f"listen {student_network.host_address}:{cluster.polling_port};" in config
        assert f"listen 127.0.0.1:{cluster.polling_port};" in config  # the teacher's own machine, too
        outside = f"http://{student_network.host_address}:{cluster.polling_port}"
        teacher = cluster.polling_url  # http://127.0.0.1:PORT, through nginx

        # Four students join from their own address, through nginx: two polls each, so every node serves them.
        polls = [("GET", f"{outside}/api/messages?after=0&client={name}", None, {}) for name in STUDENTS * 2]
        forged = {"X-Real-IP": "127.0.0.1", "X-Forwarded-For": "127.0.0.1", "X-Proxy-Token": "a guess"}
        answers = student_network.requests(
            *polls, *[("POST", f"{outside}/api/class/mode", {"mode": "short"}, forged)] * 2,
            *[("POST", f"{outside}/api/ticker", {"interval": 0.1}, forged)] * 2,
            *[("GET", f"{outside}/api/class", None, forged)] * 2)
        assert [status for status, _ in answers[:len(polls)]] == [200] * len(polls)
        refusals = answers[len(polls):len(polls) + 4]
        assert [(status, body["error"]) for status, body in refusals] == [(403, "teacher_only")] * 4  # both nodes
        seen_by_students = [body for _, body in answers[-2:]]
        assert [view["teacher"] for view in seen_by_students] == [False, False]
        assert {tuple(view["join"]) for view in seen_by_students} == {(f"{outside}/",)}  # what students open
        assert {requests.get(f"{teacher}/api/class/mode", timeout=5).json()["mode"] for _ in range(4)} == {FIRST_MODE}
        assert requests.get(f"{teacher}/api/status", timeout=5).json()["ticker"] is None

        # The teacher, on this machine: through nginx from loopback, every node agrees.
        for _ in range(2):  # one request per node, in turns
            assert requests.get(f"{teacher}/api/class", timeout=5).json()["teacher"] is True
        switched = requests.post(f"{teacher}/api/class/mode", json={"mode": "websocket"}, timeout=5)
        assert switched.status_code == 200, switched.text
        through_nginx = [requests.get(f"{teacher}/api/class/mode", timeout=5).json()["mode"] for _ in range(4)]
        from_each_node = [requests.get(f"{node.polling_url}/api/class/mode", timeout=5).json()["mode"]
                          for node in cluster.nodes]
        from_the_room = [body["mode"] for _, body in student_network.requests(
            *[("GET", f"{outside}/api/class/mode", None, {})] * 4)]
        assert through_nginx + from_each_node + from_the_room == ["websocket"] * 10

        # Each node lists the whole class, with every request each student made, wherever it landed.
        def listed(node) -> dict:
            return {row["client"]: row for row in requests.get(f"{node.polling_url}/api/class", timeout=5).json()[
                "clients"]}

        for node in cluster.nodes:
            assert eventually(lambda: set(STUDENTS) <= set(listed(node)), 5), (node.number, listed(node))
            class_ = listed(node)
            assert {name: class_[name]["requests"] for name in STUDENTS} == dict.fromkeys(STUDENTS, 2)
            assert {class_[name]["transport"] for name in STUDENTS} == {"short polling"}


@pytest.mark.timeout(120)
def test_a_node_believes_the_address_nginx_saw_only_from_its_own_nginx(student_network):
    """Straight to a node, headers claiming to be nginx's count for nothing: its own peer address decides; and
    through nginx a student cannot pass a secret along, because nginx writes both headers itself."""
    with Cluster(1, host=student_network.host_address) as cluster:
        node = cluster.nodes[0].polling_url
        for token in ("not the cluster's", "\u00e9" * 32):  # a wrong secret, and bytes no secret is made of
            claim = {"X-Real-IP": student_network.student_address, "X-Proxy-Token": token}
            view = requests.get(f"{node}/api/class", headers=claim, timeout=5)
            assert view.status_code == 200 and view.json()["teacher"] is True  # loopback, whatever the headers say
        assert requests.post(f"{node}/api/class/mode", json={"mode": "sse"}, headers=claim, timeout=5).ok
        outside = f"http://{student_network.host_address}:{cluster.polling_port}"
        claim = {"X-Proxy-Token": cluster.proxy.token[::-1], "X-Real-IP": "127.0.0.1"}
        [(status, body)] = student_network.requests(("POST", f"{outside}/api/class/mode", {"mode": "long"}, claim))
        assert (status, body["error"]) == (403, "teacher_only")
        assert requests.get(f"{cluster.polling_url}/api/class/mode", timeout=5).json()["mode"] == "sse"


# Run inside the namespace: COUNT connections to HOST:PORT, each asking for PATH (a WebSocket handshake when told);
# prints each answer's status line, then the last answer whole, as JSON; holds them all until its stdin closes.
HOLD_CONNECTIONS = """
import json, socket, sys
host, port, path, count, upgrade = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
extra = "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n" \\
        "Sec-WebSocket-Version: 13\\r\\n" if upgrade else ""
held, heads, last = [], [], b""
for _ in range(count):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n{extra}\\r\\n".encode())
    answer = b""
    while b"\\r\\n\\r\\n" not in answer and (chunk := sock.recv(65536)):
        answer += chunk
    held.append(sock)
    heads.append(answer.split(b"\\r\\n", 1)[0].decode())
    last = answer
sock = held[-1]
sock.settimeout(2)
try:
    while chunk := sock.recv(65536):
        last += chunk
except OSError:
    pass
print(json.dumps({"heads": heads, "last": last.decode("utf-8", "replace")}), flush=True)
sys.stdin.read()
"""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("port, path, upgrade", [("polling_port", "/api/events", False),
                                                 ("websocket_port", "/ws", True)], ids=["event streams", "WebSockets"])
def test_behind_nginx_one_address_holds_its_share_of_the_connections(student_network, port, path, upgrade):
    """A student's laptop opens every stream nginx lets one address hold, and one more: that one is refused by nginx
    in the nodes' JSON shape (429 too_many_connections, Retry-After), while the teacher is served at once."""
    with Cluster(2, host=student_network.host_address) as cluster:
        laptop = subprocess.Popen(
            ["ip", "netns", "exec", student_network.namespace, sys.executable, "-c", HOLD_CONNECTIONS,
             student_network.host_address, str(getattr(cluster, port)), path, str(MAX_PER_CLIENT + 1),
             "1" if upgrade else "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            held = json.loads(laptop.stdout.readline())
            served = "HTTP/1.1 101 Switching Protocols" if upgrade else "HTTP/1.1 200 OK"
            assert held["heads"] == [served] * MAX_PER_CLIENT + ["HTTP/1.1 429 Too Many Requests"], held["heads"]
            head, body = held["last"].split("\r\n\r\n", 1)
            assert "Content-Type: application/json" in head and "Retry-After: 1" in head, head
            assert json.loads(body)["error"] == "too_many_connections"
            started = time.monotonic()
            assert requests.get(f"{cluster.polling_url}/api/status", timeout=5).status_code == 200
            assert time.monotonic() - started < 1
        finally:
            laptop.stdin.close()
            laptop.wait(30)
            laptop.stdout.close()
