"""The relay's byte counts against an independent witness: tshark on the loopback interface.

Each test captures only the relay's and the server's ports, drives one kind of
stream through the relay (HTTP polling, then WebSocket), and compares, for every
relayed connection and both of its legs (client <-> relay, relay <-> server),
the relay's count with the TCP payload bytes tshark saw. They must be equal.

"TCP payload bytes" means distinct stream bytes, from the sequence numbers:
on a busy machine Linux now and then sends a segment twice even on loopback
(a tail loss probe when an ACK is late), and summing segment lengths would
count those bytes twice although the receiver gets them once.
"""

import json
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests
import websocket

from clients.lab.capture import loopback_interface
from clients.lab.relay import Relay
from conftest import require_tool, unavailable  # tests/ is on sys.path (rootdir conftest, no package)

CAPTURE_LIMIT = 30  # seconds: tshark stops by itself even if a test goes wrong


class Capture:
    """tshark on loopback, printing (source port, destination port, TCP payload length, sequence number) per segment.

    tshark announces "Capturing on" a little before packets really flow, so
    instead of trusting that (or sleeping), ``mark()`` opens a TCP connection
    to a probe port in the capture filter and waits until tshark prints it:
    every packet sent before a mark that has been printed has been captured.
    """

    def __init__(self, tshark: str, ports) -> None:
        self.probe = socket.create_server(("127.0.0.1", 0))
        probe_port = self.probe.getsockname()[1]
        self.probe_port = probe_port
        bpf = " or ".join(f"tcp port {port}" for port in (*ports, probe_port))
        self.process = subprocess.Popen(
            [tshark, "-i", loopback_interface(tshark) or "lo", "-f", bpf, "-a", f"duration:{CAPTURE_LIMIT}",
             "-l", "-n",
             "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.seq"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines: list[tuple[int, int, int, int]] = []  # source port, destination port, length, relative seq
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            fields = line.split()
            if len(fields) == 4:
                self.lines.append(tuple(map(int, fields)))

    def mark(self, timeout: float = 15) -> None:
        """Return once tshark has printed a packet sent now (so everything before it is captured)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen_before = len(self.lines)
            with socket.create_connection(("127.0.0.1", self.probe_port)):
                self.probe.accept()[0].close()
            for _ in range(20):
                if any(self.probe_port in packet[:2] for packet in self.lines[seen_before:]):
                    return
                if self.process.poll() is not None:
                    unavailable(f"tshark could not capture on loopback (exit {self.process.returncode})")
                time.sleep(0.05)
        pytest.fail("tshark printed nothing in time")

    def packets(self) -> list[tuple[int, int, int, int]]:
        """Every segment captured so far that carries payload (after a final mark)."""
        self.mark()
        return [packet for packet in self.lines if packet[2] > 0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        self.probe.close()


@pytest.fixture
def capture():
    """``capture(ports)`` starts tshark on loopback for those TCP ports and returns once it is capturing."""
    tshark = require_tool("tshark")
    started: list[Capture] = []

    def start(ports) -> Capture:
        started.append(Capture(tshark, ports))
        started[-1].mark()
        return started[-1]

    yield start
    for capture_ in started:
        capture_.stop()


def seen(packets, source: int, destination: int) -> int:
    """Distinct payload bytes from ``source`` to ``destination``: the sequence-number ranges their segments
    cover, a retransmitted range once, a missing one not at all."""
    segments = sorted((seq, length) for src, dst, length, seq in packets if (src, dst) == (source, destination))
    covered, end = 0, None
    for seq, length in segments:
        start = seq if end is None else max(seq, end)
        if seq + length > start:
            covered += seq + length - start
        end = seq + length if end is None else max(end, seq + length)
    return covered


def assert_counts_match(relay: Relay, server_port: int, packets) -> None:
    assert relay.connections
    for connection in relay.connections:
        legs = {"client <-> relay": (connection.client_port, relay.port),
                "relay <-> server": (connection.upstream_port, server_port)}
        for leg, (near, far) in legs.items():
            captured = (seen(packets, near, far), seen(packets, far, near))
            assert captured == (connection.up, connection.down), f"connection {connection.index}, {leg}"
    assert relay.totals()["up"] > 0 and relay.totals()["down"] > 0


def test_http_polling_stream_counts_equal_tshark(capture, polling):
    with Relay(polling.port) as relay:
        tshark = capture([relay.port, polling.port])
        url = f"http://127.0.0.1:{relay.port}"
        with requests.Session() as session:  # one keep-alive connection, many requests
            for i in range(5):
                session.post(f"{url}/api/messages", json={"text": f"How are you? #{i}"}).raise_for_status()
                session.get(f"{url}/api/messages", params={"after": 0}).raise_for_status()
        requests.get(f"{url}/api/messages", params={"after": 2}, headers={"Connection": "close"}).raise_for_status()
        assert relay.wait_closed(15), [c.to_json() for c in relay.connections]
        packets = tshark.packets()
    assert len(relay.connections) == 2, [c.to_json() for c in relay.connections]
    assert_counts_match(relay, polling.port, packets)


def test_websocket_stream_counts_equal_tshark(capture, websocket):
    with Relay(websocket.port) as relay:
        tshark = capture([relay.port, websocket.port])
        ws = websocket_client(f"ws://127.0.0.1:{relay.port}")
        for size in (10, 200, 70_000):  # the 7-bit, 16-bit and 64-bit length forms
            ws.send("x" * size)
            assert ws.recv() == "x" * size
        ws.close()
        chat_ws = websocket_client(f"ws://127.0.0.1:{relay.port}", "/ws")
        chat_ws.send(json.dumps({"type": "send", "text": "How are you?"}))
        types = [json.loads(chat_ws.recv())["type"] for _ in range(3)]
        assert sorted(types) == ["message", "message", "sent"]
        chat_ws.close()
        assert relay.wait_closed(15), [c.to_json() for c in relay.connections]
        packets = tshark.packets()
    assert len(relay.connections) == 2, [c.to_json() for c in relay.connections]
    assert_counts_match(relay, websocket.port, packets)


def websocket_client(base: str, path: str = "/echo"):
    return websocket.create_connection(base + path, timeout=5)
