"""clients/wire.py against RFC 6455's own examples, then against our real servers.

The RFC examples come first because they are independent of our code: if
these pass, the notebook that teaches the handshake and the frames byte by byte
is teaching what the standard says, not what our implementation happens to do.
"""

import json
import socket

import pytest

from clients import wire

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the masking key of the RFC's masked examples


def test_accept_key_matches_rfc_section_1_3():
    assert wire.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_new_key_is_16_random_bytes():
    import base64
    keys = {wire.new_key() for _ in range(10)}
    assert len(keys) == 10
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# RFC 6455 section 5.7, example by example: (name, frame bytes, opcode, payload, fin, mask)
RFC_EXAMPLES = [
    ("unmasked text", bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]), wire.TEXT, b"Hello", True, None),
    ("masked text", bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
     wire.TEXT, b"Hello", True, MASK),
    ("first fragment", bytes([0x01, 0x03, 0x48, 0x65, 0x6C]), wire.TEXT, b"Hel", False, None),
    ("last fragment", bytes([0x80, 0x02, 0x6C, 0x6F]), wire.CONTINUATION, b"lo", True, None),
    ("unmasked ping", bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]), wire.PING, b"Hello", True, None),
    ("masked pong", bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
     wire.PONG, b"Hello", True, MASK),
    ("256-byte binary", bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(256), wire.BINARY, bytes(256), True, None),
    ("64 KiB binary", bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + bytes(65536), wire.BINARY, bytes(65536),
     True, None),
]


@pytest.mark.parametrize("name, data, opcode, payload, fin, mask", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_build_frame_matches_rfc_section_5_7(name, data, opcode, payload, fin, mask):
    assert wire.build_frame(opcode, payload, fin=fin, mask=mask) == data


@pytest.mark.parametrize("name, data, opcode, payload, fin, mask", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_parse_frame_matches_rfc_section_5_7(name, data, opcode, payload, fin, mask):
    frame, used = wire.parse_frame(data + b"next frame")
    assert (frame.opcode, frame.payload, frame.fin, frame.mask) == (opcode, payload, fin, mask)
    assert used == len(data) and frame.raw == data
    assert frame.header_size == wire.frame_header_size(len(payload), mask is not None)


@pytest.mark.parametrize("name, data, opcode, payload, fin, mask", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_frame_sizes_wait_for_the_whole_frame(name, data, opcode, payload, fin, mask):
    sizes = (wire.frame_header_size(len(payload), mask is not None), len(payload))
    assert wire.frame_sizes(data + b"next frame") == sizes
    assert wire.frame_sizes(data[:-1]) is None and wire.frame_sizes(data[:1]) is None


def test_fragments_reassemble_to_hello():
    data = bytes([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
    first, used = wire.parse_frame(data)
    last, _ = wire.parse_frame(data[used:])
    assert (first.fin, last.fin, first.payload + last.payload) == (False, True, b"Hello")


@pytest.mark.parametrize("size, header", [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_length_forms_switch_at_the_rfc_boundaries(size, header):
    assert len(wire.build_frame(wire.BINARY, bytes(size))) == header + size
    assert len(wire.build_frame(wire.BINARY, bytes(size), mask=MASK)) == header + 4 + size
    assert wire.frame_header_size(size, masked=False) == header


def test_describe_names_every_field_of_the_masked_example():
    text = wire.describe(bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]))
    for part in ("10000001", "FIN=1", "opcode=0x1 (text)", "MASK=1", "length=5", "37 fa 21 3d",
                 "7f 9f 4d 51 58", "48 65 6c 6c 6f", "'Hello'"):
        assert part in text
    assert "extended length  01 00  = 256" in wire.describe(RFC_EXAMPLES[6][1])


def test_masking_twice_unmasks():
    assert wire.apply_mask(wire.apply_mask(b"Hello, world", MASK), MASK) == b"Hello, world"


def test_incomplete_frame_is_refused():
    with pytest.raises(ValueError, match="incomplete"):
        wire.parse_frame(bytes([0x81, 0x05, 0x48]))


def test_close_payload_round_trip():
    assert wire.close_payload(1000, "bye") == b"\x03\xe8bye"
    assert wire.parse_close(b"\x03\xe8bye") == (1000, "bye")
    assert wire.parse_close(b"") == (None, "")


def test_request_bytes_are_exact():
    assert wire.request_bytes("POST", "/x", "h:1", {"A": "b"}, b"{}") == \
        b"POST /x HTTP/1.1\r\nHost: h:1\r\nA: b\r\nContent-Length: 2\r\n\r\n{}"


# --- Against our servers ------------------------------------------------------------------

def connect(server):
    sock = socket.create_connection((server.host, server.port), timeout=10)
    return sock, sock.makefile("rb")


def test_raw_http_keeps_the_connection_alive(polling):
    sock, rfile = connect(polling)
    host = f"{polling.host}:{polling.port}"
    _, posted = wire.http_exchange(sock, rfile, "POST", "/api/messages", host,
                                   {"Content-Type": "application/json"}, b'{"text": "How are you?"}')
    _, read = wire.http_exchange(sock, rfile, "GET", "/api/messages?after=0", host)  # same socket
    sock.close()
    assert posted.status == 201 and read.status == 200
    assert int(read.header("content-length")) == len(read.body)
    assert [m["text"] for m in json.loads(read.body)["messages"]] == \
        ["How are you?", "Client:How are you?\nServer:I am fine, thanks!"]


def test_handshake_accept_key_checks_out(websocket):
    sock, rfile, sent, response = wire.open_websocket(websocket.host, websocket.port, "/echo")
    key = dict(h.split(": ", 1) for h in sent.decode().split("\r\n")[1:-2])["Sec-WebSocket-Key"]
    assert response.status == 101
    assert response.header("Sec-WebSocket-Accept") == wire.accept_key(key)
    wire.close(sock, rfile)


@pytest.mark.parametrize("opcode, payload", [(wire.TEXT, "Hello".encode()), (wire.BINARY, bytes(range(256))),
                                             (wire.BINARY, bytes(65536))])
def test_echo_returns_our_masked_frames_unmasked(websocket, opcode, payload):
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/echo")
    sent = wire.send_frame(sock, opcode, payload)
    reply = wire.read_frame(rfile)
    wire.close(sock, rfile)
    assert sent[1] & 0x80 and reply.mask is None  # clients mask, servers do not
    assert (reply.opcode, reply.payload) == (opcode, payload)
    assert reply.header_size == wire.frame_header_size(len(payload), masked=False)


def test_fragmented_message_is_reassembled_by_the_server(websocket):
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/echo")
    wire.send_frame(sock, wire.TEXT, b"Hel", fin=False)
    wire.send_frame(sock, wire.CONTINUATION, b"lo")
    reply = wire.read_frame(rfile)
    wire.close(sock, rfile)
    assert (reply.opcode, reply.fin, reply.payload) == (wire.TEXT, True, b"Hello")


def test_ping_gets_pong_with_the_same_payload(websocket):
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/echo")
    wire.send_frame(sock, wire.PING, b"Hello")
    pong = wire.read_frame(rfile)
    wire.close(sock, rfile)
    assert (pong.opcode, pong.payload) == (wire.PONG, b"Hello")


def test_chat_over_hand_made_frames(websocket):
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/ws")
    wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": "How are you?"}).encode())
    events = [json.loads(wire.read_frame(rfile).payload) for _ in range(3)]  # sent + two pushes
    wire.close(sock, rfile)
    texts = {e["message"]["text"] for e in events if e["type"] == "message"}
    assert {e["type"] for e in events} == {"sent", "message"}
    assert texts == {"How are you?", "Client:How are you?\nServer:I am fine, thanks!"}


def test_closing_handshake_server_echoes_and_closes_tcp_first(websocket):
    sock, rfile, _, _ = wire.open_websocket(websocket.host, websocket.port, "/echo")
    sent, frames, server_closed_first = wire.close(sock, rfile, 1000, "bye")
    assert wire.parse_frame(sent)[0].payload == b"\x03\xe8bye"
    assert frames[-1].opcode == wire.CLOSE and wire.parse_close(frames[-1].payload)[0] == 1000
    assert server_closed_first


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Sec-WebSocket-Key": "not base64!"}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
])
def test_refused_handshakes_answer_before_upgrading(websocket, headers, status):
    sock, rfile = connect(websocket)
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": wire.new_key(),
            "Sec-WebSocket-Version": "13"}
    _, response = wire.http_exchange(sock, rfile, "GET", "/ws", f"{websocket.host}:{websocket.port}",
                                     {**base, **headers})
    sock.close()
    assert response.status == status
    assert response.header("Sec-WebSocket-Accept") is None
    assert "error" in json.loads(response.body)


def test_open_websocket_raises_on_refusal(websocket):
    with pytest.raises(wire.HandshakeError, match="403") as refused:
        wire.open_websocket(websocket.host, websocket.port, "/ws", origin="http://evil.example")
    assert refused.value.response.status == 403
