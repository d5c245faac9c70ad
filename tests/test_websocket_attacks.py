"""A hostile class against the WebSocket server: every attack is a few lines of Python on raw sockets.

Each test runs one attack, bounded in time, and checks what the server's documented limits promise:
its memory stays within a stated bound (measured on a server in a process of its own, ``python -m
servers``, so the figure is the server's alone), a well-behaved client is served within a second
meanwhile, and the attacker gets the documented close code, or is cut off.
"""

import json
import logging
import os
import socket
import struct
import threading
import time
import zlib

import psutil
import pytest
import requests

from clients import wire
from conftest import RawWebSocket, eventually
from test_launcher import Launcher
from test_websocket_server import small_buffer_websocket

from servers import websocket_connection, websocket_server
from servers.chat import MAX_BODY
from servers.deflate import TAIL, WIRE_FACTOR
from servers.serving import RunningServer
from servers.websocket_connection import CLOSE_TIMEOUT, CLOSING_BYTES, RECEIVE_BYTES, CloseCode

MIB = 1024 * 1024
SERVED_WITHIN = 1.0  # seconds: a well-behaved client's round trip on /echo, however the attack goes
BOMB_ZEROS = 316 * MIB  # what one bomb inflates to: about 306 KiB on the wire
# Peak growth of the server's memory that each attack may cause (servers/README.md, "Limits"): a connection
# inflates at most a message (1 MiB on /echo) and one slice more, holds one message, and the rest is the
# allocator's slack; measured: about 1, 4 to 16, and 6 to 8 MiB
ONE_BOMB_RSS = 16 * MIB
EIGHT_BOMBS_RSS = 32 * MIB
NON_READING_ECHO_RSS = 32 * MIB


# --- a hostile client, by hand ------------------------------------------------------------------

class DeflateSocket:
    """A raw WebSocket that negotiated permessage-deflate (RFC 7692) and sends what it likes."""

    def __init__(self, port: int, path: str = "/echo", offer: str = "permessage-deflate") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.rfile = self.sock.makefile("rb")
        key = wire.new_key()
        self.sock.sendall(wire.request_bytes("GET", path, f"127.0.0.1:{port}", {
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Extensions": offer}))
        response = wire.read_response(self.rfile)
        wire.check_upgrade(response, key)
        assert "permessage-deflate" in (response.header("Sec-WebSocket-Extensions") or "")
        self.inflater = zlib.decompressobj(-15)  # the server's messages, with its window kept between them

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, compressed: bool = False) -> None:
        frame = wire.build_frame(opcode, payload, fin=fin, mask=os.urandom(4))
        self.sock.sendall(bytes([frame[0] | (0x40 if compressed else 0)]) + frame[1:])

    def read_message(self) -> bytes:
        """The next data frame's payload, inflated (the server compresses every message it sends)."""
        while (frame := wire.read_frame(self.rfile)).opcode not in (wire.TEXT, wire.BINARY):
            pass
        assert frame.raw[0] & 0x40, "RSV1: the message is compressed"
        return self.inflater.decompress(frame.payload + TAIL)

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


# --- an endless compressed frame -------------------------------------------------------------------------

# The head of one compressed text frame a terabyte long, masked with a zero key (the masked bytes are the bytes)
ENDLESS_HEAD = bytes([0x80 | 0x40 | wire.TEXT, 0x80 | 127]) + struct.pack("!Q", 2**40) + b"\0\0\0\0"
ENDLESS = {  # what a compressed frame a terabyte long carries: its first bytes, then one piece over and over
    "empty deflate blocks": (b"", b"\x00\x00\x00\xff\xff" * 13107, CloseCode.MESSAGE_TOO_BIG),
    "anything after the end of the stream": (b"\x03\x00", b"A" * 65536, CloseCode.INVALID_PAYLOAD_DATA)}
ENDLESS_SECONDS = 5  # how long each attacker sends, if nothing stops it
ENDLESS_CPU = 1.0  # CPU seconds the server may spend on the attack (measured: 0.01 to 0.06; 5 to 12 unbounded)
# What the server reads of one attacker on /ws, at most: the compressed bound, the read that passes it, then
# what it reads and drops after its Close, and the read that passes that; the handshake
ENDLESS_READ = WIRE_FACTOR * MAX_BODY + RECEIVE_BYTES + CLOSING_BYTES + RECEIVE_BYTES + 1024


def endless_frame(port: int, account: str, variant: str, outcomes: list) -> None:
    """One endless compressed frame, sent until the server cuts the connection; records when sending ended, and
    the server's close code."""
    start, piece, _ = ENDLESS[variant]
    ws = DeflateSocket(port, f"/ws?client={account}")
    ws.sock.settimeout(ENDLESS_SECONDS + 5)
    codes: list = []
    reader = threading.Thread(target=lambda: codes.append(ws.read_close()))
    reader.start()
    sender = ws.sock.dup()
    sender.settimeout(1)
    started = time.monotonic()
    try:
        sender.sendall(ENDLESS_HEAD + start)
        while time.monotonic() - started < ENDLESS_SECONDS:
            try:
                sender.sendall(piece)
            except TimeoutError:  # the server reads nothing for a second: go on
                continue
    except OSError:  # cut
        pass
    outcomes.append((time.monotonic() - started, codes))
    reader.join(ENDLESS_SECONDS + 5)
    sender.close()
    ws.close()


@pytest.mark.parametrize("connections", [1, 16])
@pytest.mark.parametrize("variant", ENDLESS)
def test_an_endless_compressed_frame_is_refused_within_its_bounds(server, variant, connections):
    """One frame that never ends and inflates to nothing: empty deflate blocks, or a DEFLATE stream that ends
    at once followed by anything at all. The server refuses it after at most twice the message limit of
    compressed bytes (1009), or at the first byte after the end of the stream (1007), then cuts it."""
    account, outcomes = f"endless-{connections}", []

    def attack() -> None:
        attackers = [threading.Thread(target=endless_frame, args=(server.websocket_port, account, variant, outcomes))
                     for _ in range(connections)]
        for attacker in attackers:
            attacker.start()
        for attacker in attackers:
            attacker.join(2 * ENDLESS_SECONDS + 10)

    figures = server.during(attack)
    status = requests.get(f"http://127.0.0.1:{server.websocket_port}/api/status", params={"clients": account},
                          timeout=10).json()
    read = status["clients"][account]["bytes_from_client"]
    print(f"{variant}, {connections} connections: the server read {read} bytes, spent {figures['cpu_s']:.2f} "
          f"CPU-s and {figures['peak_growth_mib']:.1f} MiB; sending ended after "
          f"{max(ended for ended, _ in outcomes):.2f} s; a well-behaved round trip took "
          f"{figures['slowest_round_trip_s'] * 1000:.0f} ms at most")
    assert [codes for _, codes in outcomes] == [[ENDLESS[variant][2]]] * connections
    assert all(ended < CLOSE_TIMEOUT + SERVED_WITHIN for ended, _ in outcomes)
    assert read <= connections * ENDLESS_READ
    assert figures["cpu_s"] < ENDLESS_CPU
    assert figures["peak_growth_mib"] < (ONE_BOMB_RSS if connections == 1 else EIGHT_BOMBS_RSS) / MIB
    assert figures["slowest_round_trip_s"] < SERVED_WITHIN


def test_a_compressed_message_may_end_its_deflate_stream(websocket):
    """RFC 7692 section 7.2.3.4: a message may end with a final DEFLATE block (BFINAL set) and one byte, the
    first of an empty block; its next message is a new DEFLATE stream. The RFC's own example, "Hello"."""
    ws = DeflateSocket(websocket.port)
    for _ in range(2):
        ws.send_frame(wire.TEXT, bytes.fromhex("f3 48 cd c9 c9 07 00 00"), compressed=True)
        assert ws.read_message() == b"Hello"
    ws.close()


# --- control frames between the fragments of a compressed message -------------------------------------------

def test_pings_between_the_fragments_of_a_compressed_message_are_answered_and_change_nothing(websocket):
    """RFC 6455 section 5.4: control frames may come between the fragments of a message. A ping there is
    answered, and the rest of the message is still inflated (only its first frame says it is compressed)."""
    message = b"How are you? " * 50
    data = deflated(message)
    ws = DeflateSocket(websocket.port)
    third = len(data) // 3
    ws.send_frame(wire.TEXT, data[:third], fin=False, compressed=True)
    ws.send_frame(wire.PING, b"one")
    ws.send_frame(wire.CONTINUATION, data[third:2 * third], fin=False)
    ws.send_frame(wire.PING, b"two")
    ws.send_frame(wire.CONTINUATION, data[2 * third:])
    pongs = [wire.read_frame(ws.rfile) for _ in range(2)]
    assert [(frame.opcode, frame.payload) for frame in pongs] == [(wire.PONG, b"one"), (wire.PONG, b"two")]
    assert ws.read_message() == message
    ws.close()


# --- handshakes ----------------------------------------------------------------------------------------------

def raw_handshake(port: int, request_line: bytes = b"GET /ws HTTP/1.1", fields: bytes = b"") -> wire.Response:
    """A WebSocket handshake written byte for byte (``fields``: more header lines, each ending in CRLF), and the
    head of the answer, with its JSON body when it has one (the answer to a HEAD request has none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, sock.makefile("rb") as rfile:
        sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     + fields + b"\r\n")
        head = b""
        while (line := rfile.readline()) not in (b"\r\n", b""):
            head += line
        response = wire.response_from_head(head + b"\r\n")
        if response.status != 101 and not request_line.startswith(b"HEAD"):
            response.body = rfile.read(wire.body_size(response))
        return response


def assert_invalid_handshake(response: wire.Response) -> None:
    assert response.status == 400, response.head
    assert not response.body or json.loads(response.body)["error"] == "invalid_handshake"


@pytest.mark.parametrize("request_line", [b"HEAD /ws HTTP/1.1", b"GET /ws HTTP/1.0", b"OPTIONS /ws HTTP/1.1",
                                          b"HEAD /echo HTTP/1.1", b"GET /echo HTTP/1.0"])
def test_a_handshake_that_is_not_an_http_1_1_get_is_refused(websocket, request_line):
    """RFC 6455 section 4.1: the handshake is a GET request, HTTP/1.1 or later."""
    response = raw_handshake(websocket.port, request_line)
    assert_invalid_handshake(response)
    assert request_line.startswith(b"HEAD") or response.body


OFFERS = {  # Sec-WebSocket-Extensions: the server's Sec-WebSocket-Extensions (None: the offer is declined)
    'permessage-deflate; client_max_window_bits="15"': "permessage-deflate; client_max_window_bits=15",
    "permessage-deflate ; client_max_window_bits = 10": "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; client_max_window_bits": "permessage-deflate; client_max_window_bits=15",
    "permessage-deflate; client_max_window_bits=8": "permessage-deflate; client_max_window_bits=8",
    # RFC 7692 section 7: an offer with a parameter it does not define, one given twice, or a value out of range
    # is declined; the client's next offer is taken, if any
    "permessage-deflate; client_max_window_bits=abc": None,
    "permessage-deflate; client_max_window_bits=" + "9" * 5000: None,
    "permessage-deflate; client_max_window_bits=16": None,
    "permessage-deflate; client_max_window_bits=015": None,
    "permessage-deflate; client_no_context_takeover=1": None,
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover": None,
    "permessage-deflate; foo": None,
    "permessage-deflate; server_max_window_bits=8": None,  # zlib cannot compress with a window that small
    "permessage-deflate; server_max_window_bits=8, permessage-deflate": "permessage-deflate",
    "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits=10":
        "permessage-deflate; server_no_context_takeover",
    "x-webkit-deflate-frame": None}
BROKEN_OFFERS = [  # against RFC 6455's grammar for extensions (section 9.1): the handshake is refused
    b"permessage-deflate; client_max_window_bits=", b'permessage-deflate; client_max_window_bits="1 5"',
    b'permessage-deflate; client_max_window_bits="15', b"permessage-deflate;;", b"permessage-deflate;",
    b"permessage-deflate; client_max_window_bits=\xff", b"permessage-deflate; a=b=c"]


@pytest.mark.parametrize("offer", OFFERS)
def test_each_deflate_offer_is_accepted_or_declined_as_rfc_7692_says(websocket, offer):
    response = raw_handshake(websocket.port, fields=f"Sec-WebSocket-Extensions: {offer}\r\n".encode())
    assert response.status == 101, response.raw
    assert response.header("Sec-WebSocket-Extensions") == OFFERS[offer]


@pytest.mark.parametrize("offer", BROKEN_OFFERS)
def test_an_offer_that_breaks_the_grammar_gets_400(websocket, offer):
    assert_invalid_handshake(raw_handshake(websocket.port, fields=b"Sec-WebSocket-Extensions: " + offer + b"\r\n"))


@pytest.mark.parametrize("field", [b"Connection: Upgrade, \xff", b"Sec-WebSocket-Protocol: \xe9chat"])
def test_a_handshake_field_that_is_not_ascii_gets_400(websocket, field):
    assert_invalid_handshake(raw_handshake(websocket.port, fields=field + b"\r\n"))


def test_a_quoted_window_size_compresses_as_any_other(websocket):
    """``client_max_window_bits="15"``: RFC 6455's grammar allows a quoted value; RFC 7692 reads it as 15."""
    ws = DeflateSocket(websocket.port, offer='permessage-deflate; client_max_window_bits="15"')
    for _ in range(2):  # the second one inflates with the first one's window
        ws.send_frame(wire.TEXT, deflated(b"hello " * 100), compressed=True)
        assert ws.read_message() == b"hello " * 100
    ws.close()


def test_clients_that_reset_their_handshake_leave_no_traceback_and_no_500(chat, capfd, caplog):
    """A client that resets the connection right after its handshake, before or while the 101 is written:
    the server lets the connection go, and logs it as any WebSocket (101), once."""
    with RunningServer(websocket_server.create_app(chat), quiet=False) as server, caplog.at_level(logging.INFO):
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(wire.upgrade_request(f"127.0.0.1:{server.port}", "/ws", wire.new_key()))
            time.sleep(0.002)  # the server has read the handshake, or is about to
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close: a reset
            sock.close()
        assert echo_works(server.port)
        assert eventually(lambda: len(server.server.connections) == 0, 5)
    lines = [record.getMessage() for record in caplog.records]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], lines
    assert not [line for line in lines if '" 500 ' in line], lines
    assert "Traceback" not in capfd.readouterr().err


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
