"""Split a recorded byte stream into what the protocols put there: HTTP headers and bodies,
WebSocket frame headers and payloads.

The relay records each direction of a TCP connection as one byte string; this
module walks it the way the peer would read it. HTTP messages are a header block
ending in an empty line, then ``Content-Length`` bytes of body (our servers and
clients never use chunked encoding). After a ``101 Switching Protocols`` answer
(or, on the client side, after an ``Upgrade: websocket`` request) the rest of the
stream is WebSocket frames (RFC 6455 section 5.2): 2 bytes, then 2 or 8 more
when the payload needs the 16-bit or 64-bit length form, then a 4-byte mask
when the frame comes from a client.
"""

from dataclasses import dataclass

OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


def frame_header_size(payload_length: int, masked: bool) -> int:
    """Bytes of frame header RFC 6455 needs for a payload of this size (masked: sent by a client)."""
    extended = 0 if payload_length < 126 else 2 if payload_length < 65536 else 8
    return 2 + extended + (4 if masked else 0)


@dataclass(frozen=True)
class Frame:
    opcode: str
    fin: bool
    masked: bool
    header: int  # bytes of frame header, mask key included
    payload: int  # bytes of payload


def parse_frame(data: bytes, start: int = 0) -> Frame | None:
    """The frame that begins at ``data[start]``, or None if the bytes there are not all in yet."""
    if len(data) - start < 2:
        return None
    first, second = data[start], data[start + 1]
    masked, length = bool(second & 0x80), second & 0x7F
    extended = {126: 2, 127: 8}.get(length, 0)
    header = 2 + extended + (4 if masked else 0)
    if len(data) - start < header:
        return None
    if extended:
        length = int.from_bytes(data[start + 2:start + 2 + extended], "big")
    if len(data) - start < header + length:
        return None
    return Frame(OPCODES.get(first & 0x0F, hex(first & 0x0F)), bool(first & 0x80), masked, header, length)


def split_stream(data: bytes) -> dict:
    """Count one direction of a connection into buckets that always add up to ``len(data)``:

    http_headers, http_bodies; frame_headers and payloads of data frames;
    control_frames (close, ping, pong: header and payload); unparsed (a cut-off tail).
    Also counts http_messages, data_frames, control_frame_count, and lists every Frame.
    """
    split = {"http_headers": 0, "http_bodies": 0, "frame_headers": 0, "payloads": 0, "control_frames": 0,
             "unparsed": 0, "http_messages": 0, "data_frames": 0, "control_frame_count": 0, "frame_list": []}
    position, websocket = 0, False
    while position < len(data):
        if websocket:
            frame = parse_frame(data, position)
            if frame is None:
                break
            if frame.opcode in ("close", "ping", "pong"):
                split["control_frame_count"] += 1
                split["control_frames"] += frame.header + frame.payload
            else:
                split["data_frames"] += 1
                split["frame_headers"] += frame.header
                split["payloads"] += frame.payload
            split["frame_list"].append(frame)
            position += frame.header + frame.payload
            continue
        end = data.find(b"\r\n\r\n", position)
        if end < 0:
            break
        head = data[position:end + 4]
        length, websocket = _read_head(head)
        if end + 4 + length > len(data):
            break
        split["http_messages"] += 1
        split["http_headers"] += len(head)
        split["http_bodies"] += length
        position = end + 4 + length
    split["unparsed"] = len(data) - position
    return split


BYTE_BUCKETS = ("http_headers", "http_bodies", "frame_headers", "payloads", "control_frames", "unparsed")


def _read_head(head: bytes) -> tuple[int, bool]:
    """(Content-Length, whether WebSocket frames follow) from one HTTP header block."""
    lines = head.decode("latin-1").split("\r\n")
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    start = lines[0].split(" ")
    switching = start[0].startswith("HTTP/") and start[1] == "101"
    asks_upgrade = not start[0].startswith("HTTP/") and fields.get("upgrade", "").lower() == "websocket"
    return int(fields.get("content-length", 0) or 0), switching or asks_upgrade
