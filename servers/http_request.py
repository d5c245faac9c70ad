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
  long alone, RFC 9112 section 3), after at most EMPTY_LINES empty lines (section 2.2);
* a method is one RFC 9110 defines, spelt as it does: methods are case-sensitive, ``get`` is no GET (section 9.1;
  Werkzeug would serve it as one), so another is 501 Not Implemented;
* a target is a path (``/api/status``), an absolute ``http://`` URL whose authority Python can read (Werkzeug
  splits it, and logs it, with ``urllib.parse``), or ``*`` for OPTIONS (RFC 9112 section 3.2);
* an HTTP/1.1 request names its ``Host`` once, an HTTP/1.0 one at most once (section 3.2);
* a field line is ``name: value``: whitespace before the colon, a folded line or a bare CR is refused
  (sections 2.2, 5.1, 5.2), in a chunked body's trailer section too (section 7.1.2);
* the body's length comes from one ``Transfer-Encoding: chunked`` or one ``Content-Length`` value, never
  both, never two different ones (section 6.3); a body longer than LARGEST_BODY is not read.
"""

import json
import re
from dataclasses import dataclass
from http.client import HTTPMessage
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # bytes in a request's head: its request line and every header field
MAX_FIELDS = 100  # header fields in one request
LARGEST_BODY = 64 * 1024  # bytes of a body the server reads (a chunked one with its framing); the apps' limit is lower
LONGEST_LENGTH = 18  # digits in a Content-Length we read: a larger body could not be sent anyway
EMPTY_LINES = 8  # empty lines ignored before a request line (RFC 9112 section 2.2 asks for at least one)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")  # RFC 9110, RFC 5789
ABSOLUTE_FORM = re.compile(r"https?://", re.IGNORECASE)  # a target a client would send a proxy (RFC 9112 3.2.2)
TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 section 5.6.2: a method or a field name
VISIBLE = rb"[\x21-\x7e\x80-\xff]"  # a visible character of a target or a field value (RFC 9110 section 5.5)
REQUEST_LINE = re.compile(rb"(%s) (%s+) HTTP/([0-9])\.([0-9])" % (TOKEN, VISIBLE))
FIELD_LINE = re.compile(rb"(%s):[ \t]*(%s*(?:[ \t]+%s+)*)[ \t]*" % (TOKEN, VISIBLE, VISIBLE))  # OWS around the value
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?")  # extensions (after ';') are ignored
CHUNK_LINE = 1024  # bytes of a chunk-size line, extensions included
# as RFC 9110 section 15 names them (431: RFC 6585)
REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 501: "Not Implemented",
           503: "Service Unavailable", 505: "HTTP Version Not Supported"}


class Refusal(Exception):
    """A request the server answers with an error of its own, ``{"error": code, "message": ...}``, then closes
    the connection: its framing is broken or over a bound, so where a next request would start is unknown."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

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
    """Read a request's head (skipping the few empty lines RFC 9112 lets a client send before it); None if the
    connection ended before a request began. Raises Refusal for a head the server will not serve."""
    budget = MAX_HEAD
    too_long = Refusal(414, "uri_too_long", f"a request line may have {MAX_HEAD} bytes at most")
    for _ in range(EMPTY_LINES + 1):
        if (line := _line(rfile, budget, too_long)) not in (b"\r\n", b"\n"):
            break
        budget -= len(line)
    else:
        raise Refusal(400, "invalid_request_line", f"a request line comes after {EMPTY_LINES} empty lines at most")
    if not line:
        return None
    request_line = REQUEST_LINE.fullmatch(_content(line))
    if request_line is None:
        raise Refusal(400, "invalid_request_line", "a request line is METHOD TARGET HTTP/1.1")
    method, target, major, minor = (part.decode("latin-1") for part in request_line.groups())
    if major != "1":
        raise Refusal(505, "http_version_not_supported", "this server speaks HTTP/1.1 (and HTTP/1.0)")
    if method not in METHODS:
        raise Refusal(501, "not_implemented", f"{method[:20]!r} is no method this server knows: methods are "
                      "case-sensitive (GET, not get; RFC 9110 section 9.1)")
    _check_target(method, target)
    version = "HTTP/1.0" if minor == "0" else "HTTP/1.1"
    headers = _read_fields(rfile, budget - len(line))
    _check_host(headers, version)
    return Head(method, target, version, headers, _body_length(headers, version), _keep_alive(headers, version),
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
        name, value = _field(line)
        headers[name] = value
    return headers


def _field(line: bytes) -> tuple[str, str]:
    """A header (or trailer) field line's name and value; Refusal for a line RFC 9112 refuses."""
    field = FIELD_LINE.fullmatch(_content(line))
    if field is None:
        raise Refusal(400, "invalid_header",
                      f"not a header field line (name: value, no space before the colon): {line[:60]!r}")
    name, value = field.groups()
    return name.decode("ascii"), value.decode("latin-1")


def _check_target(method: str, target: str) -> None:
    """RFC 9112 section 3.2: a path (origin-form), an absolute URL (absolute-form: Werkzeug takes its authority
    as the Host), or ``*`` for OPTIONS alone. Anything else (``api/status``, a host and port alone) is no target
    of this server."""
    if target.startswith("/") or (target == "*" and method == "OPTIONS"):
        return
    if ABSOLUTE_FORM.match(target) and (parts := _split(target)) is not None and parts.hostname:
        return
    raise Refusal(400, "invalid_request_line", "a request target is a path that starts with / (or an absolute "
                  "http:// URL whose host and port can be read)")


def _check_host(headers: HTTPMessage, version: str) -> None:
    """RFC 9112 section 3.2: an HTTP/1.1 request names its Host once (HTTP/1.0 may name none), as a host and an
    optional port; whether this server answers to that host is the apps' to say (403 forbidden_host)."""
    hosts = headers.get_all("Host", [])
    if len(hosts) > 1 or (version == "HTTP/1.1" and not hosts) or any(_split("//" + host) is None for host in hosts):
        raise Refusal(400, "invalid_host", "an HTTP/1.1 request names the host it is for in one Host header "
                      "field, as HOST or HOST:PORT (RFC 9112 section 3.2)")


def _split(url: str):
    """``url`` split by ``urllib.parse``, its port read; None when it cannot be: brackets around no IPv6 address,
    a port out of range or not a number. Werkzeug splits every target this way, and reads its port to log the
    request: where it cannot, the request would get no answer, and the log a traceback."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that cannot be read)
    except ValueError:
        return None
    return parts


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
        _field(line)  # checked as a header field line is, then dropped
        budget -= len(line)
    return bytes(body)
