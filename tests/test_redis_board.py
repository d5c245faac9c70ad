"""The board in Redis: what several nodes sharing it rely on, and what the servers do while Redis is down.

The contract both boards keep is tested in test_board.py, on both. Here: two RedisBoards on one Redis
act as two nodes (one sequence of ids, a reply always id + 1, a post on one wakes a waiter on the
other, ``last_id`` never behind), waiting costs one Redis connection per node however many wait, and
Redis stopped and started again: errors while it is down (``BoardUnavailable``; 503 and close 1013
from the servers), then everything works again without a restart.
"""

import json
import shutil
import threading
import time

import pytest
import redis
import requests

from clients.websocket_client import connect as open_websocket
from conftest import RawWebSocket, WatchedRedisBoard, require_tool
from servers.board import BoardUnavailable
from servers.chat import Chat
from servers.cluster.processes import RedisServer
from servers.redis_board import POOL, RedisBoard
from servers.twins import Twins


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of this test's own (it may be stopped and started again), on a free loopback port."""
    require_tool("redis-server")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def nodes(redis_server):
    """Two boards on one Redis, as two server processes would have."""
    boards = [WatchedRedisBoard(redis_server.url), WatchedRedisBoard(redis_server.url)]
    yield boards
    for board in boards:
        board.close()


def test_two_nodes_share_one_sequence_of_ids(nodes):
    a, b = nodes
    posted = []

    def post_many(board, name):
        for n in range(100):
            posted.append(board.post(name, str(n)).id)

    threads = [threading.Thread(target=post_many, args=(board, f"{name}{i}"))
               for i in range(2) for name, board in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(posted) == list(range(1, 401))
    assert a.after(0) == b.after(0) and [m.id for m in a.after(0)] == list(range(1, 401))
    assert a.last_id == b.last_id == 400


def test_a_reply_is_always_its_message_id_plus_one_across_nodes(nodes):
    pairs = []

    def send_many(board, name):
        for n in range(100):
            pairs.append(board.post_with_reply(name, str(n), "server", f"re {n}"))

    threads = [threading.Thread(target=send_many, args=(board, f"{i}")) for i in range(4) for board in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(pairs) == 800 and all(reply.id == message.id + 1 == reply.reply_to + 1 for message, reply in pairs)
    stored = {m.id: m for m in nodes[0].after(0)}
    for message, reply in pairs:  # what the script stored is what post_with_reply returned
        assert stored[message.id] == message and stored[reply.id] == reply


def test_a_waiter_on_one_node_wakes_for_a_post_on_the_other(nodes):
    a, b = nodes
    got = []
    waiter = threading.Thread(target=lambda: got.append(a.wait_after(0, timeout=10)))
    started = time.monotonic()
    waiter.start()
    assert a.waiters.acquire(timeout=5)
    b.post("bob", "from the other node")
    waiter.join(5)
    assert time.monotonic() - started < 2  # woken by the post on b, not by the 10 s timeout
    assert [m.text for m in got[0]] == ["from the other node"]


def test_last_id_is_never_behind_redis(nodes):
    a, b = nodes
    for _ in range(50):
        posted = b.post("bob", "x")
        assert a.last_id == posted.id  # read from Redis: no follower lag


def test_two_hundred_waiters_cost_one_redis_connection_per_node(nodes, redis_server):
    a, b = nodes
    got = []
    waiters = [threading.Thread(target=lambda: got.append(len(a.wait_after(0, timeout=10)))) for _ in range(200)]
    for waiter in waiters:
        waiter.start()
    for _ in waiters:
        assert a.waiters.acquire(timeout=10)
    admin = redis.Redis.from_url(redis_server.url)
    clients = admin.info("clients")["connected_clients"]  # the follower, a's pool (at most POOL), b's, admin
    blocked = [client for client in admin.client_list() if client["cmd"] == "xread"]
    assert len(blocked) == 1  # all two hundred wait on the one follower of their node
    b.post("bob", "for all two hundred")
    for waiter in waiters:
        waiter.join(10)
    assert got == [1] * 200
    assert clients <= 1 + POOL + POOL + 1, f"{clients} Redis connections for 200 waiting threads"
    print(f"\n200 waiting threads on one node: {clients} Redis connections in all")


def test_the_stream_holds_the_messages_as_redis_sees_them(redis_server):
    board = RedisBoard(redis_server.url, keep=3)
    try:
        for n in range(5):
            board.post_with_reply("ana", f"hello {n}", "server", f"re {n}")
        admin = redis.Redis.from_url(redis_server.url, decode_responses=True)
        assert admin.xlen(board.stream) == 3  # MAXLEN: Redis keeps only the newest `keep`
        entries = admin.xrange(board.stream)
        assert [entry_id for entry_id, _ in entries] == ["8-0", "9-0", "10-0"]
        assert entries[-1][1]["reply_to"] == "9" and entries[-1][1]["text"] == "re 4"
        assert admin.get(board.counter) == "10"
    finally:
        board.close()


def test_every_node_shares_the_identity_kept_in_redis_until_redis_loses_its_data(redis_server):
    """The board's identity lives in Redis beside the messages: another node, a node restarted, Redis restarted
    with its append-only file, all see one board. A Redis that lost its data lost the identity too: the next one
    made is new, and a client naming the old one is read the new board from its first message."""
    node, other = RedisBoard(redis_server.url), RedisBoard(redis_server.url)
    twins = Twins(Chat(other))
    try:
        identity = node.identity
        assert other.identity == identity == RedisBoard(redis_server.url).identity  # a third node, say restarted
        for n in range(3):
            node.post_with_reply("ana", f"old #{n}", "server", "re")  # ids 1-6
        redis_server.stop()
        redis_server.start()  # same port, same data
        assert node.identity == identity
        redis_server.stop()
        shutil.rmtree(redis_server.folder)
        redis_server.start()  # same port, nothing kept: ids start from 1 again
        for n in range(4):
            node.post_with_reply("bob", f"new #{n}", "server", "re")  # ids 1-8, past a cursor at 6
        new = other.identity
        assert new != identity and node.identity == new
        answer = requests.get(f"{twins.polling.url}/api/messages", params={"after": 6, "board": identity},
                              timeout=5).json()
        assert answer["board"] == new and [m["id"] for m in answer["messages"]] == list(range(1, 9))
    finally:
        twins.stop()
        node.close()
        other.close()


def test_nodes_asking_at_once_on_an_empty_redis_agree_on_one_identity(nodes):
    seen = []
    threads = [threading.Thread(target=lambda board=board: seen.append(board.identity)) for board in nodes * 10]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 20 and len(set(seen)) == 1


def test_while_redis_is_down_every_call_says_so_at_once_and_then_works_again(redis_server):
    board = RedisBoard(redis_server.url)
    try:
        board.post("ana", "before")
        redis_server.stop()
        for call in (lambda: board.post("ana", "lost"), lambda: board.after(0), lambda: board.last_id,
                     lambda: board.wait_after(1, timeout=5), lambda: board.post_with_reply("a", "b", "c", "d")):
            started = time.monotonic()
            with pytest.raises(BoardUnavailable):
                call()
            assert time.monotonic() - started < 1
        redis_server.start()  # same port, same data (the append-only file)
        assert [m.text for m in board.after(0)] == ["before"]
        assert board.post("ana", "after").id == 2
    finally:
        board.close()


def test_a_waiting_thread_is_told_at_once_when_redis_goes_away(redis_server):
    board = WatchedRedisBoard(redis_server.url)
    outcome = []

    def wait():
        try:
            outcome.append(board.wait_after(0, timeout=30))
        except BoardUnavailable as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        assert board.waiters.acquire(timeout=5)
        time.sleep(0.2)  # the follower is blocked in XREAD by now
        stopped = time.monotonic()
        redis_server.stop()
        waiter.join(5)
        assert isinstance(outcome[0], BoardUnavailable)
        assert time.monotonic() - stopped < 3  # not the 30 s of the wait
    finally:
        board.close()


def test_the_servers_refuse_clearly_while_redis_is_down_and_recover_without_a_restart(redis_server):
    board = RedisBoard(redis_server.url)
    twins = Twins(Chat(board))
    api = f"{twins.polling.url}/api/messages"
    try:
        assert requests.post(api, json={"text": "before"}, timeout=5).status_code == 201
        listener = RawWebSocket(twins.websocket.port, "/ws?after=2")
        long_poll = []
        poller = threading.Thread(target=lambda: long_poll.append(requests.get(f"{api}?after=2&wait=20", timeout=25)))
        poller.start()
        time.sleep(0.3)  # the long poll waits on the follower; the listener's broadcaster too
        redis_server.stop()

        assert listener.read_close() == 1013  # the WebSocket is closed: try again later
        poller.join(10)
        assert long_poll[0].status_code == 503 and long_poll[0].json()["error"] == "board_unavailable"
        for response in (requests.get(f"{api}?after=0", timeout=5), requests.post(api, json={"text": "x"}, timeout=5),
                         requests.get(f"{twins.polling.url}/api/status", timeout=5),
                         requests.get(f"{twins.websocket.url}/ws", headers=_handshake(), timeout=5)):
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "board_unavailable" and response.headers["Retry-After"] == "1"

        redis_server.start()  # the same servers, no restart
        assert requests.post(api, json={"text": "after"}, timeout=5).status_code == 201
        ws = open_websocket(f"{twins.ws_url}/ws?after=2")
        try:
            assert [_text(ws) for _ in range(2)] == ["after", "Client:after\nServer:I am fine, thanks!"]
        finally:
            ws.close()
        assert [m["id"] for m in requests.get(f"{api}?after=0", timeout=5).json()["messages"]] == [1, 2, 3, 4]
    finally:
        twins.stop()
        board.close()


def _handshake() -> dict:
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def _text(ws) -> str:
    return json.loads(ws.recv(timeout=5))["message"]["text"]
