"""The message board: ids, cursors, limits, long-poll wake-ups and concurrency, on both backends.

Every test runs twice: on the in-memory board and on the board kept in Redis (a redis-server of
its own on a free loopback port, emptied before each test), which must keep the same contract.
"""

import threading
import time

import pytest
import redis

from servers.board import KEEP, KEEP_BYTES, Message, MessageBoard, missed, other_board
from servers.chat import BOARD_ID
from servers.cluster.processes import RedisServer
from servers.redis_board import RedisBoard

from conftest import WatchedBoard, WatchedRedisBoard, require_tool


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    require_tool("redis-server")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(params=["memory", "redis"])
def new_board(request):
    """``new_board(keep=..., watched=...)``: a fresh, empty board of the backend under test."""
    boards = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()

    def make(keep: int = KEEP, watched: bool = False):
        if request.param == "memory":
            board = (WatchedBoard if watched else MessageBoard)(keep)
        else:
            board = (WatchedRedisBoard if watched else RedisBoard)(url, keep)
        boards.append(board)
        return board

    yield make
    for board in boards:
        board.close()


def test_ids_start_at_1_and_count_up(new_board):
    board = new_board()
    assert board.last_id == 0
    ids = [board.post("ana", f"message {n}").id for n in range(3)]
    assert ids == [1, 2, 3]
    assert board.last_id == 3


def test_a_message_keeps_what_was_posted(new_board):
    board = new_board()
    before = time.time()
    message = board.post("ana", "hello", reply_to=None)
    reply = board.post("server", "hi", reply_to=message.id)
    assert (message.author, message.text, message.reply_to) == ("ana", "hello", None)
    assert before <= message.time <= reply.time <= time.time()
    assert reply.to_json() == {"id": 2, "author": "server", "text": "hi", "time": reply.time, "reply_to": 1}


def test_after_returns_exactly_the_newer_messages_oldest_first(new_board):
    board = new_board()
    for n in range(1, 6):
        board.post("ana", str(n))
    assert [m.id for m in board.after(0)] == [1, 2, 3, 4, 5]
    assert [m.id for m in board.after(3)] == [4, 5]
    assert board.after(5) == []
    assert board.after(99) == []
    assert [m.id for m in board.after(-7)] == [1, 2, 3, 4, 5]  # a negative cursor means "from the start"


def test_limit_pages_through_the_board(new_board):
    board = new_board()
    for n in range(1, 8):
        board.post("ana", str(n))
    assert [m.id for m in board.after(0, limit=3)] == [1, 2, 3]
    assert [m.id for m in board.after(3, limit=3)] == [4, 5, 6]
    assert [m.id for m in board.after(6, limit=3)] == [7]
    assert board.after(0, limit=0) == []


def test_wait_after_returns_at_once_when_something_is_there(new_board):
    board = new_board()
    board.post("ana", "already here")
    started = time.monotonic()
    assert [m.text for m in board.wait_after(0, timeout=5)] == ["already here"]
    assert time.monotonic() - started < 0.5


def test_wait_after_times_out_with_nothing(new_board):
    board = new_board()
    board.post("ana", "old")
    started = time.monotonic()
    assert board.wait_after(1, timeout=0.2) == []
    assert 0.19 <= time.monotonic() - started < 1.5


def test_a_waiter_wakes_up_when_another_thread_posts(new_board):
    board = new_board(watched=True)
    board.post("ana", "old")
    result: list[list[Message]] = []
    waiter = threading.Thread(target=lambda: result.append(board.wait_after(1, timeout=10)))
    started = time.monotonic()
    waiter.start()
    assert board.waiters.acquire(timeout=5)
    board.post("bob", "new")
    waiter.join(5)
    assert not waiter.is_alive()
    assert time.monotonic() - started < 2  # woken by the post, not by the 10 s timeout
    assert [m.text for m in result[0]] == ["new"]


def test_one_post_wakes_every_waiter(new_board):
    board = new_board(watched=True)
    results: list[list[int]] = []
    waiters = [threading.Thread(target=lambda: results.append([m.id for m in board.wait_after(0, timeout=10)]))
               for _ in range(4)]
    started = time.monotonic()
    for waiter in waiters:
        waiter.start()
    for _ in waiters:
        assert board.waiters.acquire(timeout=5)
    board.post("ana", "for everyone")
    for waiter in waiters:
        waiter.join(5)
    assert time.monotonic() - started < 2
    assert results == [[1]] * 4


def test_concurrent_posts_lose_nothing_and_ids_stay_contiguous(new_board):
    board = new_board()
    threads, per_thread = 8, 200
    start = threading.Barrier(threads)

    def post_many(name: str) -> None:
        start.wait(5)
        for n in range(per_thread):
            board.post(name, str(n))

    workers = [threading.Thread(target=post_many, args=(f"t{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
    messages = board.after(0)
    assert [m.id for m in messages] == list(range(1, threads * per_thread + 1))
    assert board.last_id == threads * per_thread
    assert len({(m.author, m.text) for m in messages}) == threads * per_thread  # no duplicates
    for i in range(threads):  # each thread's messages are stored in the order it posted them
        assert [m.text for m in messages if m.author == f"t{i}"] == [str(n) for n in range(per_thread)]


def test_the_board_keeps_the_newest_messages_and_ids_go_on(new_board):
    board = new_board(keep=3)
    for n in range(1, 8):
        board.post("ana", str(n))
    assert [m.id for m in board.after(0)] == [5, 6, 7]
    assert [m.id for m in board.after(5)] == [6, 7]
    assert board.last_id == 7 and board.post("ana", "8").id == 8
    assert [m.id for m in board.after(0, limit=2)] == [6, 7]


def test_the_board_in_memory_keeps_no_more_than_its_bytes_of_the_longest_messages():
    """A student posting only the longest messages (12 kB of JSON each, as many for the reply) fills the bytes
    first: the oldest go, ids go on, and what is kept stays within KEEP_BYTES."""
    board, longest = MessageBoard(), "\U0001F600" * 1000
    for _ in range(1000):
        board.post_with_reply("ana", longest, "server", longest)
    kept = board.after(0)
    assert sum(len(message.encoded) for message in kept) <= KEEP_BYTES and len(kept) <= KEEP_BYTES // 12_000
    assert [m.id for m in kept] == list(range(kept[0].id, 2001))  # the newest, and ids go on
    assert missed(0, kept) == kept[0].id - 1
    tiny = MessageBoard(keep_bytes=10)  # one message always stays, however long
    tiny.post("ana", longest)
    assert [m.text for m in tiny.after(0)] == [longest]


def test_missed_counts_what_is_no_longer_kept_after_a_cursor(new_board):
    board = new_board(keep=3)
    for n in range(10):
        board.post("ana", str(n))
    assert missed(0, board.after(0)) == 7  # ids 1..7 are gone; 8 comes first
    assert missed(6, board.after(6)) == 1
    assert missed(7, board.after(7)) == 0
    assert missed(10, board.after(10)) == 0  # nothing newer: nothing missed


def test_a_message_and_its_reply_share_one_wake_up(new_board):
    board = new_board(watched=True)
    got: list[list[int]] = []
    waiter = threading.Thread(target=lambda: got.append([m.id for m in board.wait_after(0, timeout=5)]))
    waiter.start()
    assert board.waiters.acquire(timeout=5)
    message, reply = board.post_with_reply("ana", "hi", "server", "hello")
    waiter.join(5)
    assert (message.id, reply.id, reply.reply_to) == (1, 2, 1)
    assert got == [[1, 2]]  # woken once, both there


def test_a_board_has_one_identity_and_tells_a_client_naming_another(new_board):
    board = new_board()
    identity = board.identity
    assert BOARD_ID.fullmatch(identity) and len(identity) == 8 and board.identity == identity
    board.post("ana", "an identity does not change with what is posted")
    assert board.identity == identity
    assert other_board(board, None) is None  # a client that names no board: its cursor is taken as it is
    assert other_board(board, identity) is None  # this board: read on
    assert other_board(board, "") == other_board(board, "Xy3_kQ9a") == identity  # none yet, or another: this one


def test_a_new_board_in_memory_is_another_board():
    """What a restarted ``python -m servers`` has: a board of its own, whatever the one before it was."""
    assert len({MessageBoard().identity for _ in range(100)}) == 100
