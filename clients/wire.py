"""HTTP and WebSocket by hand, over a plain socket: every byte written here is visible.

Libraries hide the protocol; notebooks 1 and 2 want to show it. So this module
does the few things RFC 7230 (HTTP/1.1) and RFC 6455 (WebSocket) ask of a
client, in plain Python, with nothing in between us and ``socket``:

* write an HTTP request and read the response (status line, headers, body);
* write the WebSocket ``Upgrade`` request and check the ``101 Switching Protocols``,
  including ``Sec-WebSocket-Accept``, computed from our key (section 4.2.2);
* build and parse frames: FIN, opcode, mask bit, the three length forms and
  the masking key (section 5.2);
* the closing handshake (section 7).

It is a teaching client, not a library: no extensions, no fragmentation of
outgoing messages. TLS (https://, wss://) is the standard library's, around the
same bytes: ``connect`` with an ``ssl.SSLContext``. Reading always goes through a buffered file
(``sock.makefile("rb")``) because a server may send its first frames in the
same TCP segment as the end of its ``101`` response: a bare ``recv`` would
swallow them together with the headers.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
from dataclasses import dataclass, field

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3: the same for every server
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {CONTINUATION: "continuation", TEXT: "text", BINARY: "binary",
                CLOSE: "close", PING: "ping", PONG: "pong"}


# --- HTTP/1.1 -------------------------------------------------------------------------------

@dataclass
class Response:
    """One HTTP response as it came off the wire: ``head`` is everything before the body."""
    status: int
    reason: str
    headers: list[tuple[str, str]]
    head: bytes
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (header names are case-insensitive)."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), default)

    @property
    def raw(self) -> bytes:
        return self.head + self.body


def request_bytes(method: str, path: str, host: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    """An HTTP/1.1 request, byte for byte. Only ``Host`` is mandatory (RFC 7230 section 5.4)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """Split one header block: the start line at its first two spaces, then (name, value) per header.

    A response starts ``HTTP/1.1 200 OK`` (version, code, reason: the reason may
    be empty or hold spaces), a request ``GET /path HTTP/1.1``.
    """
    start, *lines = head.decode("latin-1").rstrip("\r\n").split("\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return start.rstrip("\r").split(" ", 2), headers


def read_response(rfile) -> Response:
    """Read one response from a buffered socket file: headers up to the blank line, then the body
    (``body_size`` says how long it is)."""
    head = rfile.readline()
    if not head:
        raise ConnectionError("the server closed the connection without answering")
    while (line := rfile.readline()) not in (b"\r\n", b"\n", b""):
        head += line
    head += line
    response = response_from_head(head)
    response.body = rfile.read(body_size(response))
    return response


def response_from_head(head: bytes) -> Response:
    """A Response (without its body yet) from a whole header block, blank line included.

    ``read_response`` reads that block from a socket file; the load benchmark's asyncio
    clients read it from a stream and use this to parse it the same way."""
    status_line, headers = parse_head(head)
    return Response(int(status_line[1]), status_line[2] if len(status_line) > 2 else "", headers, head)


def body_size(response: Response) -> int:
    """How many body bytes follow the head: ``Content-Length`` (our servers always send it); a ``101``
    has none, because after it the connection speaks another protocol."""
    return 0 if response.status == 101 else int(response.header("Content-Length", "0"))


def http_exchange(sock: socket.socket, rfile, method: str, path: str, host: str,
                  headers: dict | None = None, body: bytes = b"") -> tuple[bytes, Response]:
    """Send one request on an open connection and read its response; returns (sent bytes, response)."""
    sent = request_bytes(method, path, host, headers, body)
    sock.sendall(sent)
    return sent, read_response(rfile)


# --- The opening handshake (RFC 6455 section 4) --------------------------------------------

class HandshakeError(Exception):
    """The server did not switch protocols, or answered with the wrong accept key."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 encoded (section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (section 4.2.2).

    SHA-1 of the key followed by the fixed GUID, base64 encoded. It proves the
    server read *this* handshake as a WebSocket handshake; it is not security.
    """
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(host: str, path: str, key: str, origin: str | None = None, version: str = "13") -> bytes:
    """The client's opening handshake: an ordinary GET that asks to switch protocols."""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": version}
    if origin:
        headers["Origin"] = origin
    return request_bytes("GET", path, host, headers)


def check_upgrade(response: Response, key: str) -> None:
    """Raise HandshakeError unless ``response`` is a valid ``101`` for ``key``."""
    if response.status != 101:
        raise HandshakeError(f"the server answered {response.status} {response.reason}", response)
    if response.header("Sec-WebSocket-Accept") != accept_key(key):
        raise HandshakeError("Sec-WebSocket-Accept does not match our key", response)


def connect(host: str, port: int, tls: ssl.SSLContext | None = None, timeout: float = 10) -> socket.socket:
    """A TCP connection to ``host``, inside TLS when ``tls`` is given (its certificate verified for ``host``)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def open_websocket(host: str, port: int, path: str = "/ws", origin: str | None = None,
                   tls: ssl.SSLContext | None = None):
    """Connect (over TLS: wss://), handshake, check. Returns (sock, rfile, request bytes, response)."""
    sock = connect(host, port, tls)
    rfile = sock.makefile("rb")
    key = new_key()
    sent = upgrade_request(f"{host}:{port}", path, key, origin)
    sock.sendall(sent)
    response = read_response(rfile)
    try:
        check_upgrade(response, key)
    except HandshakeError:
        rfile.close()
        sock.close()
        raise
    return sock, rfile, sent, response


# --- Frames (RFC 6455 section 5) -----------------------------------------------------------

@dataclass
class Frame:
    """One frame. ``payload`` is always the unmasked data; ``mask`` is the key it travelled with."""
    opcode: int
    payload: bytes = b""
    fin: bool = True
    mask: bytes | None = None
    header_size: int = field(default=0, compare=False)  # bytes before the payload, set by parse_frame
    raw: bytes = field(default=b"", compare=False, repr=False)  # the frame as it was on the wire

    @property
    def name(self) -> str:
        return OPCODE_NAMES.get(self.opcode, f"reserved 0x{self.opcode:x}")

    def text(self) -> str:
        """The payload of a text frame (RFC 6455 requires UTF-8)."""
        return self.payload.decode("utf-8")


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR every byte with the key, cycling through its 4 bytes. Masking twice unmasks (section 5.3)."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def frame_header_size(payload_size: int, masked: bool) -> int:
    """Bytes of framing around a payload: 2, plus 2 or 8 for longer lengths, plus 4 for a mask."""
    extra = 0 if payload_size < 126 else 2 if payload_size < 2**16 else 8
    return 2 + extra + (4 if masked else 0)


def build_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """Encode one frame. Clients must pass a 4-byte ``mask``; servers must not (section 5.1).

    The length takes the fewest bytes that hold it, as section 5.2 requires:
    7 bits up to 125, then 126 + 16 bits, then 127 + 64 bits.
    """
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 2**16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def header_size_of(data: bytes) -> int:
    """The size of the header whose first 2 bytes start ``data``: they say what follows them.

    Byte 1 holds the mask bit and a 7-bit length, where 126 and 127 mean that the
    real length follows in the next 2 or 8 bytes (section 5.2); then the 4-byte mask.
    """
    extended = {126: 2, 127: 8}.get(data[1] & 0x7F, 0)
    return 2 + extended + (4 if data[1] & 0x80 else 0)


def payload_size_of(header: bytes) -> int:
    """The payload length written in a whole frame header, in whichever of the three forms it takes."""
    length = header[1] & 0x7F
    if length < 126:
        return length
    return int.from_bytes(header[2:4 if length == 126 else 10], "big")


def frame_sizes(data: bytes) -> tuple[int, int] | None:
    """(header size, payload size) of the frame at the start of ``data``; None until all of it is there."""
    if len(data) < 2 or len(data) < (header := header_size_of(data)):
        return None
    size = payload_size_of(data)
    return (header, size) if len(data) >= header + size else None


def parse_frame(data: bytes) -> tuple[Frame, int]:
    """Decode the frame at the start of ``data``; returns it and how many bytes it used.

    Raises ValueError if ``data`` holds less than one whole frame.
    """
    sizes = frame_sizes(data)
    if sizes is None:
        raise ValueError(f"incomplete frame: {len(data)} bytes are not a whole frame")
    at, end = sizes[0], sum(sizes)
    mask = data[at - 4:at] if data[1] & 0x80 else None
    payload = data[at:end] if mask is None else apply_mask(data[at:end], mask)
    return Frame(data[0] & 0x0F, payload, bool(data[0] & 0x80), mask, at, data[:end]), end


def describe(data: bytes) -> str:
    """The fields of the frame at the start of ``data``, one per line, in wire order (section 5.2)."""
    frame, used = parse_frame(data)
    length_end = frame.header_size - (4 if frame.mask else 0)
    on_wire = data[frame.header_size:used]
    lines = [f"byte 0   {data[0]:08b}  FIN={data[0] >> 7}  RSV1-3={data[0] >> 4 & 7:03b}  "
             f"opcode={frame.opcode:#x} ({frame.name})",
             f"byte 1   {data[1]:08b}  MASK={data[1] >> 7}  length={data[1] & 0x7F}"]
    if length_end > 2:
        lines.append(f"extended length  {data[2:length_end].hex(' ')}  = {len(frame.payload)}")
    if frame.mask:
        lines.append(f"masking key      {frame.mask.hex(' ')}")
    lines.append(f"payload          {_hex(on_wire)}  ({len(on_wire)} bytes)")
    if frame.mask:
        lines.append(f"unmasked         {_hex(frame.payload)}")
    if frame.opcode == TEXT:
        lines.append(f"as UTF-8 text    {frame.text()[:60]!r}")
    return "\n".join(lines)


def _hex(data: bytes, shown: int = 16) -> str:
    return data[:shown].hex(" ") + (" ..." if len(data) > shown else "")


def read_frame(rfile) -> Frame:
    """Read exactly one frame from a buffered socket file (blocks until it is complete)."""
    def exactly(count: int) -> bytes:
        data = rfile.read(count)
        if len(data) < count:
            raise ConnectionError("the connection closed in the middle of a frame")
        return data

    data = exactly(2)
    data += exactly(header_size_of(data) - 2)  # the longer length and the mask, when there are any
    data += exactly(payload_size_of(data))
    return parse_frame(data)[0]


def send_frame(sock: socket.socket, opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """Send one client frame, masked with a fresh random key. Returns the bytes sent."""
    frame = build_frame(opcode, payload, fin=fin, mask=os.urandom(4))
    sock.sendall(frame)
    return frame


# --- The closing handshake (RFC 6455 section 7) --------------------------------------------

def close_payload(code: int = 1000, reason: str = "") -> bytes:
    """A Close frame's body: a 2-byte status code, then an optional UTF-8 reason."""
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """(code, reason) from a Close frame's body; an empty body means no code was given (1005)."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8")


def close(sock: socket.socket, rfile, code: int = 1000, reason: str = "") -> tuple[bytes, list[Frame], bool]:
    """Do the closing handshake as a client: send Close, read until the server's Close, then EOF.

    Frames the server sent before it saw our Close still arrive first; they are
    returned along with its Close (last). The third value says whether the
    server then closed TCP first, as section 7.1.1 wants, so that the client
    is not left holding the TIME_WAIT state.
    """
    sent = send_frame(sock, CLOSE, close_payload(code, reason))
    frames = [read_frame(rfile)]
    while frames[-1].opcode != CLOSE:
        frames.append(read_frame(rfile))
    server_closed_first = rfile.read(1) == b""
    rfile.close()
    sock.close()
    return sent, frames, server_closed_first


# --- Server-Sent Events (the HTML standard's event stream format) ---------------------------

@dataclass
class Event:
    """One event from an event stream: ``type`` is "message" unless the stream named it (``event:``)."""
    data: str
    type: str = "message"
    id: str | None = None  # the stream's last event id when this event arrived


class EventParser:
    """Turns the lines of a ``text/event-stream`` body into events, as EventSource does.

    A line is ``field: value`` (one space after the colon is dropped); ``data`` lines add up,
    ``event`` names the type, ``id`` sets the last event id (what a client sends back as
    ``Last-Event-ID`` when it reconnects), ``retry`` the reconnection delay in milliseconds.
    A line starting with ``:`` is a comment (a heartbeat); an empty line ends the event.
    """

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0
        self._data: list[str] = []
        self._type = ""

    def feed(self, line: str) -> Event | None:
        """One line, without its line ending; returns an event when the line completes one."""
        if not line:
            data, self._data = self._data, []
            type_, self._type = self._type or "message", ""
            return Event("\n".join(data), type_, self.last_id) if data else None
        if line.startswith(":"):
            self.comments += 1
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._type = value
        elif field == "id" and "\0" not in value:
            self.last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None
