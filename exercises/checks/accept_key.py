"""Exercise 2's checks: Sec-WebSocket-Accept against the RFC, our server, and a real client library."""

import base64
import difflib
import hashlib
import hmac
import socket
import threading

import websocket  # websocket-client: a real peer that verifies the accept value itself

from clients import wire
from servers.twins import Twins

from . import Fail, check

TITLE = "compute Sec-WebSocket-Accept"
FOLDER, FILE = "02-accept-key", "accept.py"
RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455, section 1.3


def _diagnose(answer, key: str, student=None) -> str:
    """A hint for the usual mistakes, recognised by what the wrong answer looks like (and, for a GUID typed with a
    typo, by the strings in the student's module)."""
    digest = hashlib.sha1((key + wire.GUID).encode()).digest()
    right = base64.b64encode(digest).decode()
    if isinstance(answer, bytes):
        return "return a str, not bytes: base64.b64encode(...) gives bytes, so add .decode()"
    if answer is None:
        return "return the value: your function returned None (does it print it instead?)"
    if not isinstance(answer, str):
        return f"return a str (you returned {type(answer).__name__})"
    if answer == RFC_ACCEPT and key != RFC_KEY:
        return "you return the RFC's answer whatever the key: compute it from the key you are given"
    known = {
        digest.hex(): "that is the hash in hex: base64-encode the 20 raw bytes of .digest(), not .hexdigest()",
        base64.b64encode(digest.hex().encode()).decode():
            "that is the base64 of the hash's hex spelling: base64-encode the 20 raw bytes of .digest(), not "
            ".hexdigest()",
        str(right.encode()): "that is str() of bytes, b'...' and all: turn base64's bytes into text with .decode()",
        right.rstrip("="): "keep the '=' at the end: base64's padding is part of the value (28 characters)",
        base64.urlsafe_b64encode(digest).decode(): "use the standard base64 alphabet (+ and /): base64.b64encode, "
                                                   "not urlsafe_b64encode",
        _accept(key): "append the GUID to the key before hashing",
        _accept(wire.GUID + key): "the key comes first, then the GUID: key + GUID, not GUID + key",
        _accept(key + wire.GUID.lower()): "the GUID is written in capitals in RFC 6455 (258EAFA5-...): copy it "
                                          "exactly, letter case too",
        _accept(key + " " + wire.GUID): "key + GUID, with nothing between them",
        base64.b64encode(hashlib.sha1(base64.b64decode(key) + wire.GUID.encode()).digest()).decode():
            "use the key as the client sent it, as text: do not base64-decode it first",
        base64.b32encode(digest).decode(): "that is base32 (b32encode, 32 characters): base64.b64encode gives the "
                                           "28 characters asked for",
        base64.b64encode(hmac.new(wire.GUID.encode(), key.encode(), hashlib.sha1).digest()).decode():
            "no HMAC: the GUID is no secret (every server uses it), just text to append: hash key + GUID itself, "
            "hashlib.sha1((key + GUID).encode()).digest()",
        **{base64.b64encode(hashlib.sha1((key + wire.GUID).encode(encoding)).digest()).decode():
           f"encode key + GUID as ASCII (or UTF-8), one byte per character: .encode(), not .encode({encoding!r})"
           for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32")},
    }
    if answer in known:
        return known[answer]
    if answer != right and answer.strip() == right:
        return "return the value alone, no newline or space around it (base64.encodebytes adds a newline): " \
               "base64.b64encode(...).decode()"
    if answer != right and answer.endswith(right):
        return "return the value alone: the server writes the header's name (Sec-WebSocket-Accept:) before it"
    if len(answer) != 28:
        return (f"a SHA-1 hash is 20 bytes, 28 characters in base64; yours has {len(answer)}: "
                "did you use another hash than hashlib.sha1?")
    return _typo(student) or ("key + GUID, encoded to bytes, hashed with hashlib.sha1(...).digest(), then "
                              "base64.b64encode")


def _typo(student) -> str | None:
    """The hint for a GUID typed with a typo, found among the student's module's strings; None if there is none."""
    for value in vars(student).values() if student is not None else ():
        if isinstance(value, str) and value != wire.GUID and \
                difflib.SequenceMatcher(None, value.upper(), wire.GUID).ratio() > 0.9:
            at = next((n for n, (mine, rfc) in enumerate(zip(value, wire.GUID)) if mine != rfc),
                      min(len(value), len(wire.GUID)))
            return (f"your GUID is not RFC 6455's: compare them character by character. Yours: {value} "
                    f"({len(value)} characters); the RFC's has 36, and they differ from character {at + 1} on")
    return None


def _accept(text: str) -> str:
    """base64 of the SHA-1 of ``text``: the right recipe, on what a mistake hashes instead of key + GUID."""
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


@check("the RFC's example: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", timeout=10)
def rfc_example(student):
    answer = student.accept_key(RFC_KEY)
    if answer != RFC_ACCEPT:
        raise Fail(f"accept_key({RFC_KEY!r}) returned {answer!r}", _diagnose(answer, RFC_KEY, student))


@check("our WebSocket server answers fresh keys with the value you compute", timeout=15)
def server_agrees(student):
    with Twins() as twins:
        for _ in range(3):
            key = wire.new_key()
            with socket.create_connection(("127.0.0.1", twins.websocket.port), timeout=5) as sock:
                sock.sendall(wire.upgrade_request(f"127.0.0.1:{twins.websocket.port}", "/echo", key))
                with sock.makefile("rb") as rfile:
                    response = wire.read_response(rfile)
            served = response.header("Sec-WebSocket-Accept")
            answer = student.accept_key(key)
            if answer != served:
                raise Fail(f"for the key {key} the server answered {served}, you computed {answer!r}",
                           _diagnose(answer, key, student))
    return f"3 fresh keys, 3 matching answers (the last: {key} -> {served})"


@check("a real client (websocket-client) accepts a handshake answered with your function", timeout=15)
def library_accepts(student):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]
        keys: list[str] = []
        server = threading.Thread(target=_answer_one_handshake, args=(listener, student.accept_key, keys),
                                  daemon=True)
        server.start()
        try:
            client = websocket.create_connection(f"ws://127.0.0.1:{port}/", timeout=5, suppress_origin=True)
        except websocket.WebSocketException as error:
            raise Fail(f"websocket-client refused our server's answer: {error}",
                       _diagnose(student.accept_key(keys[0]), keys[0]) if keys else "see the first check") from None
        client.close(timeout=2)
        server.join(5)
    return f"the library's key {keys[0]} was answered {student.accept_key(keys[0])}, and it opened the connection"


def _answer_one_handshake(listener: socket.socket, accept_key, keys: list) -> None:
    """A minimal WebSocket server for one connection: 101 with the student's accept value, then echo the Close."""
    try:
        connection, _ = listener.accept()
    except OSError:
        return
    with connection, connection.makefile("rb") as rfile:
        connection.settimeout(5)
        try:
            request = _read_request(rfile)
            key = request["sec-websocket-key"]
            keys.append(key)
            try:
                accept = accept_key(key)
            except Exception:
                accept = "not-computed"
            connection.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode("latin-1", "replace"))
            while (frame := wire.read_frame(rfile)).opcode != wire.CLOSE:
                pass
            connection.sendall(wire.build_frame(wire.CLOSE, frame.payload))
        except (OSError, ValueError, KeyError, ConnectionError):
            pass


def _read_request(rfile) -> dict:
    """The request's headers, names lower-cased."""
    lines = []
    while (line := rfile.readline()) not in (b"\r\n", b""):
        lines.append(line)
    _, headers = wire.parse_head(b"".join(lines))
    return {name.lower(): value for name, value in headers}


CHECKS = [rfc_example, server_agrees, library_accepts]
