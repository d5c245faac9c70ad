"""Split a recorded byte stream into what the protocols put there: HTTP headers and bodies,
WebSocket frame headers and payloads.

The relay records each direction of a TCP connection as one byte string; this
module walks it the way the peer would read it. HTTP messages are a header block
ending in an empty line, then ``Content-Length`` bytes of body (our servers and
clients never use chunked encoding). After a ``101 Switching Protocols`` answer
(or, on the client side, after an ``Upgrade: websocket`` request) the rest of the
stream is WebSocket frames (RFC 6455 section 5.2): 2 bytes, then 2 or 8 more
when the payload needs the 16-bit or 64-bit length form, then a 4-byte mask
when the frame comes from a client. After a ``text/event-stream`` answer (Server-Sent Events) the rest
is events, each ending in an empty line. Reading those sizes and the HTTP header block is
``clients.wire``'s job, the same code the notebooks teach with.
"""

from dataclasses import dataclass

from clients.wire import OPCODE_NAMES, frame_sizes, parse_head


@dataclass(frozen=True)
class FrameBytes:
    """What the byte count needs of a frame: no payload kept, so a long recording stays cheap to walk."""
    opcode: str
    fin: bool
    masked: bool
    header: int  # bytes of frame header, mask key included
    payload: int  # bytes of payload


@dataclass(frozen=True)
class EventBytes:
    """What the byte count needs of one Server-Sent Event: its type ("message", "missed"...; "comment" for
    a heartbeat, "retry" for the reconnection hint), the bytes of its data, and the bytes around them."""
    type: str
    framing: int  # field names, "id: 7", line ends: what the format adds to the data
    payload: int  # the data (our JSON), without "data: " and the line end


def event_bytes(block: bytes) -> EventBytes:
    """One event's bytes, up to and including the empty line that ends it."""
    lines = block.decode("utf-8", "replace").split("\n")
    data = [line[len("data:"):].removeprefix(" ") for line in lines if line.startswith("data:")]
    named = [line.partition(":")[2].strip() for line in lines if line.startswith("event:")]
    if data:
        type_ = named[0] if named else "message"
    else:
        type_ = "comment" if all(line.startswith(":") for line in lines if line) else "retry"
    payload = sum(len(line.encode()) for line in data)
    return EventBytes(type_, len(block) - payload, payload)


def frame_bytes_at(data: bytes, start: int = 0) -> FrameBytes | None:
    """The frame that begins at ``data[start]``, or None if the bytes there are not all in yet.

    Sizes come from ``clients.wire``, through a memoryview: no copy of the (possibly long) recording.
    """
    view = memoryview(data)[start:]
    sizes = frame_sizes(view)
    if sizes is None:
        return None
    opcode = view[0] & 0x0F
    return FrameBytes(OPCODE_NAMES.get(opcode, hex(opcode)), bool(view[0] & 0x80), bool(view[1] & 0x80), *sizes)


def walk(data: bytes):
    """Every whole HTTP message, frame and event in one direction's bytes, in wire order:
    ``(start, end, what)``, where ``what`` is a message's header block (bytes; its body is the rest, up
    to ``end``), a FrameBytes or an EventBytes. Stops before a cut-off tail."""
    position, mode = 0, "http"
    while position < len(data):
        if mode == "websocket":
            what = frame_bytes_at(data, position)
            if what is None:
                return
            end = position + what.header + what.payload
        elif mode == "events":
            blank = data.find(b"\n\n", position)
            if blank < 0:
                return
            end = blank + 2
            what = event_bytes(data[position:end])
        else:
            head_end = data.find(b"\r\n\r\n", position)
            if head_end < 0:
                return
            what = data[position:head_end + 4]
            length, mode = _read_head(what)
            end = head_end + 4 + length
            if end > len(data):
                return
        yield position, end, what
        position = end


def split_stream(data: bytes) -> dict:
    """Count one direction of a connection into buckets that always add up to ``len(data)``:

    http_headers, http_bodies; frame_headers and payloads of data frames;
    control_frames (close, ping, pong: header and payload); unparsed (a cut-off tail).
    Also counts http_messages, data_frames, control_frame_count, and lists every FrameBytes and EventBytes.
    Server-Sent Events count as frames do: an event's data is its payload, the rest (``id: 7``,
    ``data: ``, line ends) its frame header; heartbeats and the retry hint are control frames.
    """
    split = {"http_headers": 0, "http_bodies": 0, "frame_headers": 0, "payloads": 0, "control_frames": 0,
             "unparsed": 0, "http_messages": 0, "data_frames": 0, "control_frame_count": 0, "frame_list": []}
    position = 0
    for start, position, what in walk(data):
        if isinstance(what, bytes):
            split["http_messages"] += 1
            split["http_headers"] += len(what)
            split["http_bodies"] += position - start - len(what)
        elif isinstance(what, EventBytes) and what.type in ("comment", "retry"):
            split["control_frame_count"] += 1
            split["control_frames"] += what.framing
            split["frame_list"].append(what)
        elif isinstance(what, EventBytes):
            split["data_frames"] += 1
            split["frame_headers"] += what.framing
            split["payloads"] += what.payload
            split["frame_list"].append(what)
        elif what.opcode in ("close", "ping", "pong"):
            split["control_frame_count"] += 1
            split["control_frames"] += what.header + what.payload
            split["frame_list"].append(what)
        else:
            split["data_frames"] += 1
            split["frame_headers"] += what.header
            split["payloads"] += what.payload
            split["frame_list"].append(what)
    split["unparsed"] = len(data) - position
    return split


BYTE_BUCKETS = ("http_headers", "http_bodies", "frame_headers", "payloads", "control_frames", "unparsed")


def _read_head(head: bytes) -> tuple[int, str]:
    """(Content-Length, what follows: "http", "websocket" frames or "events") from one HTTP header block."""
    start, headers = parse_head(head)
    fields = {name.lower(): value for name, value in headers}
    response = start[0].startswith("HTTP/")
    switching = response and start[1] == "101"
    asks_upgrade = not response and fields.get("upgrade", "").lower() == "websocket"
    if switching or asks_upgrade:
        return 0, "websocket"
    if response and fields.get("content-type", "").startswith("text/event-stream"):
        return 0, "events"
    return int(fields.get("content-length", 0) or 0), "http"
