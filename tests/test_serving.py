"""The HTTP server under faults: timeouts, a cap on connections, and who gets served when the cap is reached."""

import json
import socket
import threading
import time

import pytest
import requests

from clients import wire
from conftest import eventually
from servers import polling_server, websocket_server
from servers.serving import MAX_PER_CLIENT, RunningServer
from servers.twins import Twins

HALF_A_REQUEST = b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: the head never ends
SLOW_POST = (b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 16000\r\n\r\n{")  # the head is whole; the body comes a byte at a time, or never


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True if the server ends the connection within ``within`` seconds (reading and dropping any answer)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except (TimeoutError, ConnectionResetError):
        return False


def exchange(sock: socket.socket, port: int, path: str, headers: dict | None = None) -> wire.Response:
    rfile = sock.makefile("rb")
    return wire.http_exchange(sock, rfile, "GET", path, f"127.0.0.1:{port}", headers)[1]


@pytest.fixture
def fast_timeouts(chat):
    """Both servers with an idle timeout of 0.5 s and a request timeout of 0.5 s."""
    limits = {"idle_timeout": 0.5, "request_timeout": 0.5}
    with RunningServer(polling_server.create_app(chat), **limits) as polling, \
            RunningServer(websocket_server.create_app(chat), **limits) as websocket:
        yield polling, websocket


# --- timeouts ---------------------------------------------------------------------------------

def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(fast_timeouts):
    polling, _ = fast_timeouts
    sock = connect(polling.port)
    assert exchange(sock, polling.port, "/api/messages").status == 200
    assert closed_by_server(sock, within=3)


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": wire.new_key()}


@pytest.mark.parametrize("server, path, headers, status", [
    ("websocket", "/ws", {**UPGRADE, "Origin": "http://elsewhere.example"}, 403),
    ("websocket", "/ws", {**UPGRADE, "Sec-WebSocket-Version": "8"}, 426),
    ("websocket", "/ws", {**UPGRADE, "Sec-WebSocket-Key": "short"}, 400),
    ("websocket", "/ws?after=x", UPGRADE, 400),
    ("polling", "/api/messages", UPGRADE, 405),  # a handshake to a plain route: no WebSocket there
], ids=["403", "426", "400 key", "400 after", "plain route"])
def test_a_refused_upgrade_keeps_the_idle_timeout(fast_timeouts, server, path, headers, status):
    """Only an upgrade that happens may lift the timeout: a refused one is an ordinary keep-alive connection."""
    polling, websocket = fast_timeouts
    port = (polling if server == "polling" else websocket).port
    sock = connect(port)
    assert exchange(sock, port, path, headers).status == status
    assert closed_by_server(sock, within=3), "the connection held a server thread past the idle timeout"


def test_a_half_sent_request_is_timed_out(fast_timeouts):
    polling, _ = fast_timeouts
    sock = connect(polling.port)
    sock.sendall(HALF_A_REQUEST)
    assert closed_by_server(sock, within=3)


def trickle(sock: socket.socket, data: bytes, every: float, for_at_most: float) -> bytes:
    """Send ``data`` every ``every`` seconds, as long as the server neither answers nor closes (at most
    ``for_at_most`` seconds); what the server sent before it closed."""
    sock.settimeout(every)
    received = b""
    deadline = time.monotonic() + for_at_most
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            sock.sendall(data)
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


@pytest.mark.parametrize("first, then", [(HALF_A_REQUEST, b"X-Slow: 1\r\n"), (SLOW_POST, b" ")],
                         ids=["head", "body"])
def test_a_request_trickled_in_is_cut_at_the_request_timeout(fast_timeouts, first, then):
    """Each byte comes well within the timeout, but the request as a whole must arrive within it."""
    polling, _ = fast_timeouts
    sock = connect(polling.port)
    sock.sendall(first)
    started = time.monotonic()
    answered = trickle(sock, then, every=0.1, for_at_most=5)
    assert time.monotonic() - started < 3, "the server let the request trickle in for as long as it liked"
    head, _, body = answered.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"\r\nConnection: close" in head, answered
    assert json.loads(body)["error"] == "request_timeout"


def test_an_open_websocket_is_not_subject_to_the_http_timeouts(fast_timeouts, raw_websocket, chat):
    _, websocket = fast_timeouts
    ws = raw_websocket(websocket.port)
    time.sleep(1.5)  # three idle timeouts
    chat.board.post("ana", "still there?")
    assert json.loads(ws.read_frame()[1])["message"]["text"] == "still there?"


# --- the cap on connections -------------------------------------------------------------------

def test_half_sent_requests_beyond_the_cap_do_not_keep_a_good_client_waiting(chat):
    with RunningServer(polling_server.create_app(chat), max_connections=20) as polling:
        attackers = []
        for _ in range(100):
            sock = connect(polling.port)
            sock.sendall(HALF_A_REQUEST)
            attackers.append(sock)
        time.sleep(0.2)
        started = time.monotonic()
        response = requests.get(f"{polling.url}/api/messages", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 1
        assert len(polling.server.connections) <= 20 + 1
        for sock in attackers:
            sock.close()


def test_slow_bodies_beyond_the_cap_do_not_keep_a_good_client_waiting(chat):
    """A request still arriving is not yet being served: the server may cut it to make room."""
    with RunningServer(polling_server.create_app(chat), max_connections=5) as polling:
        attackers = [connect(polling.port) for _ in range(20)]
        stop = threading.Event()

        def one_byte_each_now_and_then() -> None:
            while not stop.wait(0.2):
                for sock in attackers:
                    try:
                        sock.sendall(b" ")
                    except OSError:  # cut to make room
                        pass

        for sock in attackers:
            sock.sendall(SLOW_POST)
        sender = threading.Thread(target=one_byte_each_now_and_then)
        sender.start()
        try:
            assert eventually(lambda: len(polling.server.connections) >= 5, 5), "timed out waiting"
            time.sleep(0.3)  # every attacker's head has arrived
            started = time.monotonic()
            response = requests.post(f"{polling.url}/api/messages", json={"text": "let me in"}, timeout=5)
            assert response.status_code == 201, response.text
            assert time.monotonic() - started < 1
        finally:
            stop.set()
            sender.join()
            for sock in attackers:
                sock.close()
    assert [m.text for m in chat.board.after(0)][0] == "let me in"


def test_when_every_connection_is_busy_a_newcomer_gets_503_then_is_served_again(chat):
    with RunningServer(polling_server.create_app(chat), max_connections=4) as polling, \
            RunningServer(websocket_server.create_app(chat), max_connections=2) as websocket:
        answers: list[int] = []
        long_polls = [threading.Thread(target=lambda: answers.append(requests.get(
            f"{polling.url}/api/messages", params={"after": 0, "wait": 10}, timeout=15).status_code))
            for _ in range(4)]
        for poll in long_polls:
            poll.start()
        sockets = [wire.open_websocket("127.0.0.1", websocket.port, "/ws") for _ in range(2)]
        assert eventually(lambda: sum(c.waiting_since is None for c in polling.server.connections) == 4, 5), \
            "timed out waiting"

        refused = requests.get(f"{polling.url}/api/messages", timeout=5)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "server_busy"
        assert refused.headers["Connection"] == "close"
        with pytest.raises(wire.HandshakeError) as handshake:  # refused before the upgrade
            wire.open_websocket("127.0.0.1", websocket.port, "/ws")
        assert handshake.value.response.status == 503
        assert json.loads(handshake.value.response.body)["error"] == "server_busy"

        chat.board.post("ana", "everyone may go now")  # the long polls answer and free their connections
        for poll in long_polls:
            poll.join(10)
        assert answers == [200] * 4
        assert eventually(lambda: len(polling.server.connections) < 4, 5), "timed out waiting"
        assert requests.get(f"{polling.url}/api/messages", timeout=5).status_code == 200
        for sock, rfile, _, _ in sockets:
            wire.close(sock, rfile)
        assert eventually(lambda: not websocket.server.connections, 5), "timed out waiting"
        sock, rfile, _, response = wire.open_websocket("127.0.0.1", websocket.port, "/ws")
        assert response.status == 101
        wire.close(sock, rfile)


def test_a_flood_beyond_the_cap_is_cut_without_a_thread_each(chat):
    with RunningServer(polling_server.create_app(chat), max_connections=2) as polling:
        busy = [threading.Thread(target=requests.get, args=(f"{polling.url}/api/messages",),
                                 kwargs={"params": {"wait": 5}, "timeout": 10}) for _ in range(2)]
        for poll in busy:
            poll.start()
        assert eventually(lambda: sum(c.waiting_since is None for c in polling.server.connections) == 2, 5), \
            "timed out waiting"
        flood = [connect(polling.port) for _ in range(100)]  # silent: each waits for its 503 in vain
        time.sleep(0.3)
        assert len(polling.server.connections) <= 2 + 32  # the busy ones, and at most 32 being refused
        for sock in flood:
            sock.close()
        chat.board.post("ana", "done")
        for poll in busy:
            poll.join(10)


# --- one client address, one share of the connections ------------------------------------------------------

def ask_for_a_stream(address: str, port: int, source: str = "") -> socket.socket:
    """A connection to ``address`` from ``source`` (this machine's own address for it, when empty) that has asked
    for an event stream."""
    sock = socket.create_connection((address, port), timeout=5, source_address=(source, 0) if source else None)
    sock.sendall(wire.request_bytes("GET", "/api/events", f"{address}:{port}"))
    return sock


def open_stream(address: str, port: int, source: str = "") -> tuple[socket.socket, bytes]:
    """An event stream asked for as ``ask_for_a_stream`` does and held open, with the head of its answer."""
    sock, answer = ask_for_a_stream(address, port, source), b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
        answer += chunk
    return sock, answer


def too_many(response: wire.Response) -> None:
    """The documented refusal of one connection too many from one address."""
    assert response.status == 429 and response.header("Retry-After") == "1", response.raw
    assert response.header("Connection") == "close" and json.loads(response.body)["error"] == "too_many_connections"


@pytest.mark.timeout(120)
def test_one_address_holds_its_share_of_the_connections_and_the_teachers_machine_is_not_counted(chat, lan_address):
    """A student's laptop (this machine's network address) opens every stream and WebSocket it may: the next one
    is refused, on each server, while the teacher's machine (loopback) is served at once, uncounted."""
    with Twins(chat, host=lan_address) as twins:
        polling, websocket = twins.polling.port, twins.websocket.port
        streams = [open_stream(lan_address, polling) for _ in range(MAX_PER_CLIENT)]
        sockets = [wire.open_websocket(lan_address, websocket, "/ws") for _ in range(MAX_PER_CLIENT)]
        try:
            assert [head[:12] for _, head in streams] == [b"HTTP/1.1 200"] * MAX_PER_CLIENT
            with ask_for_a_stream(lan_address, polling) as sock, sock.makefile("rb") as rfile:
                too_many(wire.read_response(rfile))
            with pytest.raises(wire.HandshakeError) as handshake:  # refused before the upgrade
                wire.open_websocket(lan_address, websocket, "/ws")
            too_many(handshake.value.response)

            started = time.monotonic()
            teacher, head = open_stream(lan_address, polling, source="127.0.0.1")
            teacher.close()
            assert head.startswith(b"HTTP/1.1 200") and time.monotonic() - started < 1
            assert requests.post(f"http://{lan_address}:{polling}/api/messages", json={"text": "still here"},
                                 timeout=5).status_code == 429  # a plain request from that address too

            wire.close(*sockets.pop()[:2])  # one WebSocket closed: room for another from the same address
            assert eventually(lambda: len(twins.websocket.server.connections) < MAX_PER_CLIENT, 5), "timed out"
            sockets.append(wire.open_websocket(lan_address, websocket, "/ws"))
        finally:
            for sock, _ in streams:
                sock.close()
            for sock, rfile, _, _ in sockets:
                wire.close(sock, rfile)


def test_at_its_bound_an_address_loses_its_own_longest_idle_connection_first(chat, lan_address):
    with RunningServer(polling_server.create_app(chat), host=lan_address, max_per_client=3) as polling:
        idle = socket.create_connection((lan_address, polling.port), timeout=5)
        assert exchange(idle, polling.port, "/api/messages").status == 200  # kept alive, and idle now
        streams = [open_stream(lan_address, polling.port) for _ in range(3)]
        try:
            assert [head[:12] for _, head in streams] == [b"HTTP/1.1 200"] * 3  # the third took the idle one's place
            assert closed_by_server(idle, within=3)
            with ask_for_a_stream(lan_address, polling.port) as sock, sock.makefile("rb") as rfile:
                too_many(wire.read_response(rfile))
        finally:
            for sock, _ in streams:
                sock.close()
