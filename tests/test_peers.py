"""Our WebSocket server with clients we did not write: ``websockets`` and ``websocket-client``.

Both must be able to chat and echo, and both must see a clean closing
handshake: the server's Close frame, then TCP closed, with no error.
"""

import json
import os
import time

import pytest
import websocket as websocket_client  # the websocket-client package
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

REPLY = "Client:{}\nServer:I am fine, thanks!"
PROMPT = 0.5  # seconds a clean close may take here, far under any library's close timeout


def connect_websockets(url: str):
    return connect(url, open_timeout=5, close_timeout=5, proxy=None)


def connect_websocket_client(url: str):
    return websocket_client.create_connection(url, timeout=5)


# --- websockets (sync client) --------------------------------------------------------------------

def test_websockets_chats(websocket):
    with connect_websockets(f"{websocket.ws_url}/ws") as ws:
        ws.send(json.dumps({"type": "send", "text": "How are you?"}))
        events = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
    assert {e["type"] for e in events} == {"sent", "message"}
    texts = [e["message"]["text"] for e in events if e["type"] == "message"]
    assert texts == ["How are you?", REPLY.format("How are you?")]


def test_websockets_echoes_text_and_binary(websocket):
    payloads = ["hi", "ü" * 40_000, os.urandom(100_000)]
    with connect_websockets(f"{websocket.ws_url}/echo") as ws:
        for payload in payloads:  # compressed on the wire: websockets negotiates permessage-deflate
            ws.send(payload)
            assert ws.recv(timeout=5) == payload
        assert ws.protocol.extensions, "permessage-deflate was negotiated"


@pytest.mark.parametrize("path", ["/ws", "/echo"])
def test_websockets_sees_a_clean_close(websocket, path):
    with connect_websockets(f"{websocket.ws_url}{path}") as ws:
        started = time.monotonic()
        ws.close()  # sends Close, waits for the server's Close, then for the server to close TCP
        assert time.monotonic() - started < PROMPT
    assert ws.protocol.close_rcvd.code == 1000
    assert ws.protocol.close_sent.code == 1000
    assert not ws.protocol.close_rcvd_then_sent  # we closed first, the server answered


def test_websockets_sees_the_server_close_a_binary_frame(websocket):
    with connect_websockets(f"{websocket.ws_url}/ws") as ws:
        ws.send(b"binary")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1003 and closed.value.sent.code == 1003
    assert closed.value.rcvd_then_sent  # the server closed first, the client answered


# --- websocket-client ----------------------------------------------------------------------------

def test_websocket_client_chats(websocket):
    ws = connect_websocket_client(f"{websocket.ws_url}/ws")
    try:
        ws.send(json.dumps({"type": "send", "text": "How are you?"}))
        events = [json.loads(ws.recv()) for _ in range(3)]
    finally:
        ws.close()
    texts = [e["message"]["text"] for e in events if e["type"] == "message"]
    assert texts == ["How are you?", REPLY.format("How are you?")]


def test_websocket_client_echoes_text_and_binary(websocket):
    ws = connect_websocket_client(f"{websocket.ws_url}/echo")
    try:
        ws.send("ünïcödé ✓")
        assert ws.recv() == "ünïcödé ✓"
        data = os.urandom(70_000)
        ws.send_binary(data)
        assert ws.recv() == data
    finally:
        ws.close()


def close_frame_then_eof(ws) -> int:
    """Read up to the server's Close frame, check TCP closes right after it; the close code."""
    while (frame := ws.recv_frame()).opcode != websocket_client.ABNF.OPCODE_CLOSE:
        pass
    started = time.monotonic()
    assert ws.sock.recv(4096) == b"", "bytes after the server's Close frame"
    assert time.monotonic() - started < PROMPT
    return int.from_bytes(frame.data[:2], "big")


@pytest.mark.parametrize("path", ["/ws", "/echo"])
def test_websocket_client_sees_a_clean_close(websocket, path):
    ws = connect_websocket_client(f"{websocket.ws_url}{path}")
    try:
        ws.send_close(1000)
        assert close_frame_then_eof(ws) == 1000
    finally:
        ws.shutdown()


def test_websocket_client_sees_the_server_close_a_binary_frame(websocket):
    ws = connect_websocket_client(f"{websocket.ws_url}/ws")
    try:
        ws.send_binary(b"binary")
        while (frame := ws.recv_frame()).opcode != websocket_client.ABNF.OPCODE_CLOSE:
            pass
        assert int.from_bytes(frame.data[:2], "big") == 1003
        ws.send_close(1003)
        started = time.monotonic()
        assert ws.sock.recv(4096) == b""
        assert time.monotonic() - started < PROMPT
    finally:
        ws.shutdown()


def test_websocket_client_close_is_quiet(websocket, caplog):
    """websocket-client's own close() logs an error for any close code but 1000: none here."""
    ws = connect_websocket_client(f"{websocket.ws_url}/ws")
    started = time.monotonic()
    ws.close(timeout=5)
    assert time.monotonic() - started < PROMPT
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
