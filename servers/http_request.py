"""One HTTP/1.1 request read off a connection, whole, before any app sees it: RFC 9112's framing, bounded.

Why the server reads the whole request first: an app that reads its body from the socket waits for the
client, so a client that sends one byte every few seconds holds a server thread for as long as it likes,
and the server cannot tell it from one being served. Read here first, a request is either whole (and
served) or still arriving (and may be cut to make room, or timed out: see serving.py). The app gets the
body from memory.

Why not the standard library's parser (``http.server``, which Werkzeug's server uses): it keeps up to
100 header lines of 64 kB each (6 MB for one connection that never ends its head), reads a line with
whitespace before the colon as the end of the head (the rest of the head becomes a body, or a second
request: "request smuggling"), lets the last of two different ``Content-Length`` values win, and leaves
``Transfer-Encoding`` to the app. Here each rule of RFC 9112 that decides where a request ends is one
check with one documented answer:

* the head (request line and header fields) has at most MAX_HEAD bytes and MAX_FIELDS fields (RFC 9110
  section 5.4; past them, 431 Request Header Fields Too Large from RFC 6585, or 414 for a request line that
  long alone, RFC 9112 section 3);
* a field line is ``name: value``: whitespace before the colon, a folded line or a bare CR is refused
  (sections 2.2, 5.1, 5.2);
* the body's length comes from one ``Transfer-Encoding: chunked`` or one ``Content-Length`` value, never
  both, never two different ones (section 6.3); a body longer than LARGEST_BODY is not read.
"""

import json
import re
from dataclasses import dataclass
from http.client import HTTPMessage

MAX_HEAD = 64 * 1024  # bytes in a request's head: its request line and every header field
MAX_FIELDS = 100  # header fields in one request
LARGEST_BODY = 64 * 1024  # bytes of a body the server reads (a chunked one with its framing); the apps' limit is lower
LONGEST_LENGTH = 18  # digits in a Content-Length we read: a larger body could not be sent anyway
TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 section 5.6.2: a method or a field name
VISIBLE = rb"[\x21-\x7e\x80-\xff]"  # a visible character of a target or a field value (RFC 9110 section 5.5)
REQUEST_LINE = re.compile(rb"(%s) (%s+) HTTP/([0-9])\.([0-9])" % (TOKEN, VISIBLE))
FIELD_LINE = re.compile(rb"(%s):[ \t]*(%s*(?:[ \t]+%s+)*)[ \t]*" % (TOKEN, VISIBLE, VISIBLE))  # OWS around the value
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?")  # extensions (after ';') are ignored
CHUNK_LINE = 1024  # bytes of a chunk-size line, extensions included
REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}  # as RFC 9110 section 15 names them (431: RFC 6585)


class Refusal(Exception):
    """A request the server answers with an error of its own, ``{"error": code, "message": ...}``, then closes
    the connection: its framing is broken or over a bound, so where a next request would start is unknown."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def reason(self) -> str:
        return REASONS[self.status]

    def body(self) -> bytes:
        return json.dumps({"error": self.code, "message": self.message}).encode()


def _incomplete() -> Refusal:
    return Refusal(400, "incomplete_request", "the connection ended before the request was whole")


def _body_too_large() -> Refusal:
    return Refusal(413, "body_too_large", f"a request body may have {LARGEST_BODY} bytes at most")


@dataclass
class Head:
    """What the request line and header fields say; ``length`` is the body's, None for a chunked one."""
    method: str
    target: str
    version: str
    headers: HTTPMessage
    length: int | None
    keep_alive: bool
    expects_continue: bool

    @property
    def request_line(self) -> str:
        return f"{self.method} {self.target} {self.version}"


def read_head(rfile) -> Head | None:
    """Read a request's head (skipping the empty lines RFC 9112 lets a client send before it); None if the
    connection ended before a request began. Raises Refusal for a head the server will not serve."""
    budget = MAX_HEAD
    too_long = Refusal(414, "uri_too_long", f"a request line may have {MAX_HEAD} bytes at most")
    while (line := _line(rfile, budget, too_long)) in (b"\r\n", b"\n"):
        budget -= len(line)
    if not line:
        return None
    request_line = REQUEST_LINE.fullmatch(_content(line))
    if request_line is None:
        raise Refusal(400, "invalid_request_line", "a request line is METHOD TARGET HTTP/1.1")
    method, target, major, minor = request_line.groups()
    if major != b"1":
        raise Refusal(505, "http_version_not_supported", "this server speaks HTTP/1.1 (and HTTP/1.0)")
    version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"
    headers = _read_fields(rfile, budget - len(line))
    return Head(method.decode("latin-1"), target.decode("latin-1"), version, headers,
                _body_length(headers, version), _keep_alive(headers, version),
                version == "HTTP/1.1" and headers.get("Expect", "").lower() == "100-continue")


def read_body(rfile, head: Head) -> bytes:
    """The request's body, whole; raises Refusal if it breaks its framing or ends before it is whole."""
    if head.length is None:
        return _read_chunked(rfile)
    body = rfile.read(head.length)
    if len(body) < head.length:
        raise _incomplete()
    return body


def _read_fields(rfile, budget: int) -> HTTPMessage:
    """Header field lines up to the empty line, each checked, within ``budget`` bytes and MAX_FIELDS fields."""
    too_large = Refusal(431, "headers_too_large",
                        f"a request's head may have {MAX_HEAD} bytes and {MAX_FIELDS} header fields at most")
    headers = HTTPMessage()
    while (line := _line(rfile, budget, too_large)) not in (b"\r\n", b"\n"):
        if not line:
            raise _incomplete()
        budget -= len(line)
        if len(headers) == MAX_FIELDS:
            raise too_large
        field = FIELD_LINE.fullmatch(_content(line))
        if field is None:
            raise Refusal(400, "invalid_header",
                          f"not a header field line (name: value, no space before the colon): {line[:60]!r}")
        name, value = field.groups()
        headers[name.decode("ascii")] = value.decode("latin-1")
    return headers


def _line(rfile, budget: int, too_long: Refusal) -> bytes:
    """One line, ending in LF, of at most ``budget`` bytes; b"" at the end of the connection."""
    line = rfile.readline(budget + 1)
    if len(line) > budget:
        raise too_long
    if line and not line.endswith(b"\n"):
        raise _incomplete()
    return line


def _content(line: bytes) -> bytes:
    """A line without its end: CRLF, or a lone LF, which RFC 9112 section 2.2 lets a server accept."""
    return line.removesuffix(b"\n").removesuffix(b"\r")


def _body_length(headers: HTTPMessage, version: str) -> int | None:
    """RFC 9112 section 6.3: the body's length from Content-Length, None for chunked, 0 for neither."""
    if "Transfer-Encoding" in headers:
        codings = [coding.strip().lower() for field in headers.get_all("Transfer-Encoding")
                   for coding in field.split(",") if coding.strip()]
        if "Content-Length" in headers or version == "HTTP/1.0" or codings[-1:] != ["chunked"] \
                or codings.count("chunked") > 1:
            raise Refusal(400, "invalid_transfer_encoding",
                          "frame a body with Content-Length, or with Transfer-Encoding: chunked alone")
        if codings != ["chunked"]:
            raise Refusal(501, "unsupported_transfer_encoding", "this server decodes no transfer coding but chunked")
        return None
    lengths = {length.strip() for field in headers.get_all("Content-Length", []) for length in field.split(",")}
    if not all(length.isascii() and length.isdigit() for length in lengths):
        raise Refusal(400, "invalid_content_length", "Content-Length must be a whole number of bytes")
    if any(len(length) > LONGEST_LENGTH for length in lengths):
        raise _body_too_large()
    if len({int(length) for length in lengths}) > 1:
        raise Refusal(400, "invalid_content_length", "two different Content-Length values: which one is the body's?")
    length = int(lengths.pop()) if lengths else 0
    if length > LARGEST_BODY:
        raise _body_too_large()
    return length


def _keep_alive(headers: HTTPMessage, version: str) -> bool:
    """HTTP/1.1 keeps the connection unless told ``close``; HTTP/1.0 closes it unless told ``keep-alive``."""
    options = {option.strip().lower() for field in headers.get_all("Connection", []) for option in field.split(",")}
    return "keep-alive" in options if version == "HTTP/1.0" else "close" not in options


def _read_chunked(rfile) -> bytes:
    """A chunked body (RFC 9112 section 7.1), decoded; its trailer fields are read and dropped. At most
    LARGEST_BODY bytes of it are read, chunk-size lines and trailer fields included."""
    broken = Refusal(400, "invalid_chunk", "the chunked body breaks its framing (RFC 9112 section 7.1)")
    budget, body = LARGEST_BODY, bytearray()
    while True:
        line = _line(rfile, CHUNK_LINE, broken)
        size = CHUNK_SIZE.fullmatch(_content(line))
        if size is None:
            raise broken if line else _incomplete()
        size = int(size.group(1), 16)
        budget -= len(line) + size
        if budget < 0:
            raise _body_too_large()
        if size == 0:
            break
        chunk, end = rfile.read(size), rfile.readline(2)
        if len(chunk) < size or not end:
            raise _incomplete()
        if end not in (b"\r\n", b"\n"):
            raise broken
        body += chunk
        budget -= len(end)
    while (line := _line(rfile, budget + 2, _body_too_large())) not in (b"\r\n", b"\n"):  # trailer fields
        if not line:
            raise _incomplete()
        budget -= len(line)
    return bytes(body)
