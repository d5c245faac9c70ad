"""A hostile class against the WebSocket server: every attack is a few lines of Python on raw sockets.

Each test runs one attack, bounded in time, and checks what the server's documented limits promise:
its memory stays within a stated bound (measured on a server in a process of its own, ``python -m
servers``, so the figure is the server's alone), a well-behaved client is served within a second
meanwhile, and the attacker gets the documented close code, or is cut off.
"""

import os
import socket
import struct
import threading
import time
import zlib

import psutil
import pytest

from clients import wire
from conftest import RawWebSocket, eventually
from test_launcher import Launcher
from test_websocket_server import small_buffer_websocket

from servers import websocket_connection, websocket_server
from servers.serving import RunningServer
from servers.websocket_connection import CloseCode

MIB = 1024 * 1024
SERVED_WITHIN = 1.0  # seconds: a well-behaved client's round trip on /echo, however the attack goes
BOMB_ZEROS = 316 * MIB  # what one bomb inflates to: about 306 KiB on the wire
# Peak growth of the server's memory that each attack may cause (servers/README.md, "Limits"): a connection
# inflates at most a message (1 MiB on /echo) and one slice more, holds one message, and the rest is the
# allocator's slack; measured: about 1, 4 to 8, and 6 to 8 MiB
ONE_BOMB_RSS = 16 * MIB
EIGHT_BOMBS_RSS = 32 * MIB
NON_READING_ECHO_RSS = 32 * MIB


# --- a hostile client, by hand ------------------------------------------------------------------

class DeflateSocket:
    """A raw WebSocket that negotiated permessage-deflate (RFC 7692) and sends what it likes."""

    def __init__(self, port: int, path: str = "/echo") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.rfile = self.sock.makefile("rb")
        key = wire.new_key()
        self.sock.sendall(wire.request_bytes("GET", path, f"127.0.0.1:{port}", {
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Extensions": "permessage-deflate"}))
        response = wire.read_response(self.rfile)
        wire.check_upgrade(response, key)
        assert "permessage-deflate" in (response.header("Sec-WebSocket-Extensions") or "")

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, compressed: bool = False) -> None:
        frame = wire.build_frame(opcode, payload, fin=fin, mask=os.urandom(4))
        self.sock.sendall(bytes([frame[0] | (0x40 if compressed else 0)]) + frame[1:])

    def read_close(self) -> int | None:
        """The code of the server's Close (skipping what comes before it); None if TCP ends first."""
        try:
            while (frame := wire.read_frame(self.rfile)).opcode != wire.CLOSE:
                pass
        except (ConnectionError, OSError):
            return None
        return wire.parse_close(frame.payload)[0]

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def deflated(data: bytes, repeat: int = 1) -> bytes:
    """``data`` repeated ``repeat`` times, compressed as one permessage-deflate message (the tail RFC 7692 drops)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = b"".join(compressor.compress(data) for _ in range(repeat))
    return body + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]


BOMB = deflated(b"\0" * MIB, BOMB_ZEROS // MIB)


# --- the server in a process of its own, watched --------------------------------------------------

class WatchedServer(Launcher):
    """``python -m servers`` with its peak memory sampled while an attack runs, and a well-behaved client
    making an /echo round trip on a new connection every 0.1 s, its slowest one kept."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        self.wait_for("Press Ctrl-C")
        self.process_info = psutil.Process(self.process.pid)

    def rss(self) -> int:
        return self.process_info.memory_info().rss

    def cpu(self) -> float:
        times = self.process_info.cpu_times()
        return times.user + times.system

    def during(self, attack) -> dict:
        """Run ``attack()``; return the peak RSS growth and the slowest well-behaved round trip meanwhile."""
        before, peak, slowest = self.rss(), [0], [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], self.rss())
                done.wait(0.005)

        def behave() -> None:
            while not done.is_set():
                started = time.monotonic()
                ws = RawWebSocket(self.websocket_port, "/echo", timeout=10)
                ws.send_frame(ws.TEXT, b"are you there?")
                assert ws.read_frame() == (ws.TEXT, b"are you there?")
                ws.close()
                slowest[0] = max(slowest[0], time.monotonic() - started)
                done.wait(0.1)

        watchers = [threading.Thread(target=sample), threading.Thread(target=behave)]
        for watcher in watchers:
            watcher.start()
        cpu = self.cpu()
        try:
            attack()
        finally:
            done.set()
            for watcher in watchers:
                watcher.join(15)
        figures = {"rss_before_mib": before / MIB, "peak_growth_mib": (max(peak[0], self.rss()) - before) / MIB,
                   "slowest_round_trip_s": slowest[0], "cpu_s": self.cpu() - cpu}
        print(figures)
        return figures


@pytest.fixture
def server():
    started = WatchedServer()
    yield started
    started.kill()


def bomb(port: int, codes: list) -> None:
    """One compressed frame of zeros that inflates to BOMB_ZEROS bytes, then wait for the server's answer."""
    ws = DeflateSocket(port)
    try:
        ws.send_frame(wire.BINARY, BOMB, compressed=True)
    except OSError:  # the server cut us off mid-frame
        pass
    codes.append(ws.read_close())
    ws.close()


# --- decompression bombs and buffered bytes -----------------------------------------------------

def test_one_decompression_bomb_is_stopped_while_inflating(server):
    codes = []
    figures = server.during(lambda: bomb(server.websocket_port, codes))
    assert codes == [CloseCode.MESSAGE_TOO_BIG]
    assert figures["peak_growth_mib"] < ONE_BOMB_RSS / MIB
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


def test_eight_bombs_at_once_stay_within_the_bound(server):
    codes = []

    def eight() -> None:
        bombers = [threading.Thread(target=bomb, args=(server.websocket_port, codes)) for _ in range(8)]
        for bomber in bombers:
            bomber.start()
        for bomber in bombers:
            bomber.join(30)

    figures = server.during(eight)
    assert codes == [CloseCode.MESSAGE_TOO_BIG] * 8
    assert figures["peak_growth_mib"] < EIGHT_BOMBS_RSS / MIB
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


def test_a_client_that_never_reads_its_echoes_holds_one_message(server):
    """Compressed 1 MiB messages to /echo, never reading the echoes: the server stops reading once its
    answers cannot be written (TCP slows the client down), so it holds one message, not a queue of them."""
    message = deflated(b"\0" * MIB)  # about 1 KiB on the wire each
    sent = [0]

    def flood() -> None:
        ws = DeflateSocket(server.websocket_port)
        ws.sock.settimeout(0.5)
        deadline = time.monotonic() + 4
        try:
            while time.monotonic() < deadline:
                ws.send_frame(wire.BINARY, message, compressed=True)
                sent[0] += 1
        except OSError:  # TCP's window is full: the server has stopped reading
            time.sleep(max(0.0, deadline - time.monotonic()))
        ws.close()

    figures = server.during(flood)
    print(f"{sent[0]} messages of 1 MiB sent ({sent[0] * len(message) / 1024:.0f} KiB on the wire)")
    assert figures["peak_growth_mib"] < NON_READING_ECHO_RSS / MIB
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


# --- closing handshakes that never complete --------------------------------------------------------

def start_a_bomb(port: int) -> DeflateSocket:
    """A compressed message to /echo whose first frame inflates past the 1 MiB limit, and never ends: the
    server closes with 1009 (the old code did too, then read and inflated the rest without a deadline)."""
    ws = DeflateSocket(port)
    ws.send_frame(wire.BINARY, BOMB[:4096], fin=False, compressed=True)  # about 4 MiB of zeros
    return ws


def test_a_close_never_answered_is_cut_at_its_deadline_and_what_follows_is_not_inflated(server):
    """After the server's Close, the client keeps sending the message, a slice at a time, each slice a
    bomb's worth of zeros, and never its Close."""
    cut_after = []

    def attack() -> None:
        ws = start_a_bomb(server.websocket_port)
        assert ws.read_close() == CloseCode.MESSAGE_TOO_BIG
        closed = time.monotonic()
        try:
            for start in range(4096, 4096 + 50 * 1024, 1024):  # 10 KiB a second, each slice about 1 MiB inflated
                time.sleep(0.1)
                ws.send_frame(wire.CONTINUATION, BOMB[start:start + 1024], fin=False)
        except OSError:  # cut
            pass
        ws.sock.settimeout(5)
        assert ws.rfile.read() == b""  # TCP ends, with nothing after the Close
        cut_after.append(time.monotonic() - closed)
        ws.close()

    figures = server.during(attack)
    assert cut_after[0] < websocket_connection.CLOSE_TIMEOUT + 0.5
    assert figures["peak_growth_mib"] < ONE_BOMB_RSS / MIB and figures["cpu_s"] < 0.5
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


def test_clients_that_never_answer_a_close_do_not_keep_the_servers_slots():
    """Four such clients on a server that takes four connections: a newcomer is served once the
    deadline has cut them (before it, the server is full and says 503 server_busy)."""
    server = WatchedServer("--max-connections", "4")
    attackers = []
    try:
        attackers = [start_a_bomb(server.websocket_port) for _ in range(4)]
        closed = time.monotonic()
        assert [ws.read_close() for ws in attackers] == [CloseCode.MESSAGE_TOO_BIG] * 4
        assert eventually(lambda: echo_works(server.websocket_port), websocket_connection.CLOSE_TIMEOUT + 2, 0.1)
        assert time.monotonic() - closed < websocket_connection.CLOSE_TIMEOUT + 2
    finally:
        for ws in attackers:
            ws.close()
        server.kill()


def echo_works(port: int) -> bool:
    try:
        ws = RawWebSocket(port, "/echo", timeout=2)
    except (OSError, wire.HandshakeError):  # 503: the server is full
        return False
    try:
        ws.send_frame(ws.TEXT, b"hello")
        return ws.read_frame() == (ws.TEXT, b"hello")
    finally:
        ws.close()


# --- pings ------------------------------------------------------------------------------------------

def test_a_burst_of_pings_gets_every_pong_in_order(websocket, raw_websocket):
    ws = raw_websocket(websocket.port, "/echo")
    payloads = [f"ping {n}".encode() for n in range(10)]
    ws.sock.sendall(b"".join(wire.build_frame(wire.PING, payload, mask=os.urandom(4)) for payload in payloads))
    assert [ws.read_frame() for _ in payloads] == [(ws.PONG, payload) for payload in payloads]


def test_a_ping_flood_that_reads_nothing_gets_its_most_recent_ping_answered(server):
    """100,000 pings in one go, none of their pongs read until the end: the server answers while the
    socket takes its pongs, then keeps only the most recent one waiting, never a queue of them."""
    count, pongs = 100_000, []

    def flood() -> None:
        sock, rfile = small_buffer_websocket(server.websocket_port, "/echo")  # the pongs soon stop fitting
        mask = os.urandom(4)
        sock.sendall(b"".join(wire.build_frame(wire.PING, struct.pack("!I", n), mask=mask) for n in range(count)))
        sock.settimeout(10)
        while not pongs or pongs[-1] != count - 1:
            frame = wire.read_frame(rfile)
            assert frame.opcode == wire.PONG
            pongs.append(struct.unpack("!I", frame.payload)[0])
        rfile.close()
        sock.close()

    figures = server.during(flood)
    print(f"{len(pongs)} pongs for {count} pings")
    assert pongs == sorted(pongs) and pongs[-1] == count - 1 and len(pongs) <= count
    assert figures["peak_growth_mib"] < ONE_BOMB_RSS / MIB
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


# --- an endless message -------------------------------------------------------------------------------

def test_an_endless_message_of_empty_frames_is_refused(server):
    """A text message that never ends: empty continuation frames, one after another."""
    codes = []

    def endless() -> None:
        ws = DeflateSocket(server.websocket_port)
        mask = os.urandom(4)
        empty = wire.build_frame(wire.CONTINUATION, b"", fin=False, mask=mask)
        ws.send_frame(wire.TEXT, b"never", fin=False)
        try:
            for _ in range(20):  # 20 x 10,000 frames: 1.2 MB
                ws.sock.sendall(empty * 10_000)
        except OSError:  # cut: it kept sending after the server's Close
            pass
        codes.append(ws.read_close())
        ws.close()

    figures = server.during(endless)
    assert codes == [CloseCode.MESSAGE_TOO_BIG]
    assert figures["peak_growth_mib"] < ONE_BOMB_RSS / MIB and figures["cpu_s"] < 1
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


# --- clients that do not read ---------------------------------------------------------------------------

def read_until_the_end(sock: socket.socket, rfile) -> tuple[list[int], int | None]:
    """The ids of the messages pushed, then the Close's code (None: TCP ended without one, 1006)."""
    sock.settimeout(10)
    ids = []
    try:
        while (frame := wire.read_frame(rfile)).opcode != wire.CLOSE:
            ids.append(int(frame.payload.split(b'"id":', 1)[1].split(b",", 1)[0]))
    except (ConnectionError, OSError):
        return ids, None
    return ids, wire.parse_close(frame.payload)[0]


def fill_until_pushes_wait(chat, server) -> int:
    """Post messages of 10 kB, at the broadcaster's pace, until the kernel's buffers for a client that
    does not read are full and pushes wait in its mailbox; returns how many were posted."""
    broadcaster, posted = server.server.app.extensions["broadcaster"], 0
    while not max(broadcaster.backlogs(), default=0):
        chat.board.post("ana", f"{posted} " + "x" * 10_000)
        posted += 1
        time.sleep(0.001)
        assert posted < 2000, "the kernel never stopped taking the pushes"
    return posted


def test_a_client_behind_by_more_bytes_than_its_mailbox_holds_is_closed_with_1008(chat):
    """The mailbox's bound in bytes comes long before its bound in messages (1,000)."""
    with RunningServer(websocket_server.create_app(chat)) as server:
        sock, rfile = small_buffer_websocket(server.port, "/ws")
        posted = fill_until_pushes_wait(chat, server) + 50
        for n in range(50):  # 500 kB more: twice the bytes a mailbox holds, a twentieth of its messages
            chat.board.post("ana", f"then {n} " + "x" * 10_000)
        ids, code = read_until_the_end(sock, rfile)  # it reads at last: what was on its way, then the Close
        assert code == CloseCode.POLICY_VIOLATION and ids == list(range(1, len(ids) + 1)) and len(ids) < posted
        rfile.close()
        sock.close()


def test_a_client_that_reads_nothing_at_all_is_cut_after_the_write_timeout(chat, monkeypatch):
    """It falls behind, and not even the Close that says so can reach it: past the write timeout the
    connection is cut, and the client, when it looks, finds what was on its way, then TCP's end (1006)."""
    with RunningServer(websocket_server.create_app(chat)) as server:
        sock, rfile = small_buffer_websocket(server.port, "/ws")
        posted = fill_until_pushes_wait(chat, server)
        time.sleep(0.5)  # Linux enlarges the buffers of a busy connection for a moment: past that, they are full
        monkeypatch.setattr(websocket_connection, "WRITE_TIMEOUT", 0.5)  # from now on: the test is short
        posted += 50
        for n in range(50):
            chat.board.post("ana", f"then {n} " + "x" * 10_000)
        assert eventually(lambda: not server.server.connections, 3)  # the server let go of it
        ids, code = read_until_the_end(sock, rfile)
        assert code is None and ids == list(range(1, len(ids) + 1)) and len(ids) < posted
        rfile.close()
        sock.close()


def test_an_echo_client_that_never_reads_is_slowed_down_then_cut(chat, monkeypatch):
    """/echo answers every message; a client that sends and never reads fills the socket, the server
    stops reading (TCP stops the client's sends too), and past the write timeout it cuts the connection."""
    monkeypatch.setattr(websocket_connection, "WRITE_TIMEOUT", 0.5)
    with RunningServer(websocket_server.create_app(chat)) as server:
        sock, rfile = small_buffer_websocket(server.port, "/echo")
        sock.settimeout(0.2)
        message, sent = wire.build_frame(wire.BINARY, os.urandom(65536), mask=os.urandom(4)), 0
        try:
            while sent < 1000:  # 64 MB, if nothing stopped it
                sock.sendall(message)
                sent += 1
        except OSError:  # stopped: TCP's window is closed (a timeout), or the connection cut
            pass
        assert sent < 200  # the kernel's buffers both ways, not a queue in the server
        assert eventually(lambda: not server.server.connections, 3)
        assert read_until_the_end(sock, rfile)[1] is None
        rfile.close()
        sock.close()
