"""Exercise 3's checks: parse_frame on the RFC's examples (a compressed frame's too, and all RSV bits set), every
length form, cut-off data, frames back to back, and a real stream. What comes back is held to the statement's types
(fin a bool, the payload bytes), and a wrong answer is recognised by what it looks like, so that the hint names the
mistake."""

import os
import socket

from clients import wire
from servers.twins import Twins

from . import Fail, check

TITLE = "read and unmask a frame"
FOLDER, FILE = "03-read-a-frame", "frame.py"
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the key of the RFC's masked example
HINT_RESULT = "return a tuple (fin, opcode, payload, size), for example (True, 1, b'Hello', 7)"
COMPRESSED_HELLO = bytes.fromhex("c107f248cdc9c90700")  # RFC 7692, section 7.2.3.1: 'Hello' compressed, RSV1 set


def _parse(student, data: bytes):
    result = student.parse_frame(data)
    if result is not None and not (isinstance(result, tuple) and len(result) == 4):
        raise Fail(f"parse_frame returned {result!r}", HINT_RESULT)
    return result


def _expect(student, name: str, data: bytes, expected: tuple, hint: str) -> None:
    got = _parse(student, data)
    if got is None:
        whole = student.parse_frame(data + b"\x00") is not None  # one byte more, and the frame comes out
        raise Fail(f"{name}: parse_frame({_short(data)}) returned None, but that is a whole frame",
                   "data that holds exactly the whole frame is enough: return it when len(data) >= size, not >"
                   if whole else hint)
    fin, opcode, payload, size = got
    _types(name, fin, payload)
    payload = bytes(payload)
    if (fin, opcode, payload, size) != expected:
        wrong = [field for field, a, b in zip(("fin", "opcode", "payload", "size"),
                                              (fin, opcode, payload, size), expected) if a != b]
        raise Fail(f"{name}: parse_frame({_short(data)}) gave {_short_tuple(got)}, expected "
                   f"{_short_tuple(expected)} (wrong: {', '.join(wrong)})",
                   _mistake(data, payload, size, expected) or hint)


def _types(name: str, fin, payload) -> None:
    """fin a bool, the payload bytes (or bytearray, memoryview), as the statement says."""
    if not isinstance(fin, bool):
        raise Fail(f"{name}: fin came out {fin!r}, not True or False", "fin is a bool: data[0] & 0x80 is 128 or 0, "
                   "so return bool(data[0] & 0x80)")
    if isinstance(payload, str):
        raise Fail(f"{name}: the payload came out as text, {_shown(payload)}", "return the payload as bytes, not "
                   "decoded: a text message is decoded once all its frames are in (a character may be split "
                   "between two frames)")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise Fail(f"{name}: the payload came out as a {type(payload).__name__}, {_shown(payload)}",
                   f"return the payload as bytes: bytes(...) of your {type(payload).__name__} of numbers"
                   if isinstance(payload, (list, tuple)) else "return the payload as bytes")


def _mistake(data: bytes, payload, size, expected: tuple) -> str | None:
    """A hint for the usual mistakes, recognised by what the wrong answer looks like; None for others."""
    _, _, want, whole = expected
    as_sent = data[whole - len(want):whole]  # the payload as it travels: masked, if the frame is
    if payload != want and payload == as_sent:
        return "that is the payload as it travels, still masked: XOR payload byte i with key[i % 4]"
    if len(payload) > len(want) and payload.startswith(want):
        return ("the payload is the next `length` bytes, data[at:at + length], not the rest of data: the next frame "
                "may follow it")
    if payload == want and size == len(want):
        return "size is the whole frame, not only the payload: add the header (2, 4 or 10 bytes, and 4 for a mask key)"
    if payload == want and size == whole - 4 and data[1] & 0x80:
        return "size counts the 4 bytes of the masking key too: the next frame starts after them and the payload"
    return None


@check("RFC 6455's unmasked examples (section 5.7): 'Hello', a fragmented 'Hel' + 'lo', a ping; RFC 7692's "
       "compressed 'Hello' (RSV1 set); and a 'Hello' with RSV1, RSV2 and RSV3 all set", timeout=10)
def rfc_unmasked(student):
    hint = ("byte 0: FIN is its high bit (0x80), the opcode its low 4 bits; byte 1: MASK is its high bit (0x80), "
            "the length its low 7 bits")
    _expect(student, "unmasked text 'Hello'", bytes.fromhex("810548656c6c6f"), (True, 1, b"Hello", 7), hint)
    _expect(student, "first fragment 'Hel'", bytes.fromhex("010348656c"), (False, 1, b"Hel", 5), hint)
    _expect(student, "last fragment 'lo'", bytes.fromhex("80026c6f"), (True, 0, b"lo", 4), hint)
    _expect(student, "ping 'Hello'", bytes.fromhex("890548656c6c6f"), (True, 9, b"Hello", 7), hint)
    rsv_hint = ("the opcode is the low 4 bits alone (data[0] & 0x0F): the 3 bits above them are RSV1 to RSV3, which "
                "an extension sets (permessage-deflate sets RSV1 on a compressed message)")
    _expect(student, "compressed text 'Hello' (RSV1 set)", COMPRESSED_HELLO, (True, 1, COMPRESSED_HELLO[2:], 9),
            rsv_hint)
    _expect(student, "text 'Hello' with RSV1 to RSV3 set", bytes.fromhex("f10548656c6c6f"), (True, 1, b"Hello", 7),
            rsv_hint)


@check("a masked frame is unmasked: the RFC's masked 'Hello', then random keys", timeout=10)
def masked(student):
    hint = ("byte 1's high bit says the frame is masked; the 4 key bytes follow the length; "
            "payload byte i is XOR-ed with key[i % 4]")
    _expect(student, "masked text 'Hello'", bytes.fromhex("818537fa213d7f9f4d5158"), (True, 1, b"Hello", 11), hint)
    for size in (1, 4, 7, 100):
        payload = os.urandom(size)
        _expect(student, f"masked binary frame of {size} bytes", wire.build_frame(wire.BINARY, payload,
                mask=os.urandom(4)), (True, 2, payload, 6 + size), hint)


@check("the 16-bit and 64-bit length forms: 126, 256, 65,535, 65,536 and 70,000 bytes", timeout=20)
def long_lengths(student):
    hint = ("a length field of 126 means: the length is the next 2 bytes, big-endian "
            "(int.from_bytes(data[2:4], 'big')); 127 means the next 8; the mask key and payload come after")
    _expect(student, "the RFC's 256-byte binary frame", bytes.fromhex("827e0100") + b"x" * 256,
            (True, 2, b"x" * 256, 260), hint)
    for size in (126, 65535, 65536, 70_000):
        payload = os.urandom(size)
        for mask in (None, os.urandom(4)):
            header = wire.frame_header_size(size, masked=mask is not None)
            what = f"{'masked' if mask else 'unmasked'} frame of {size:,} bytes"
            _expect(student, what, wire.build_frame(wire.BINARY, payload, mask=mask), (True, 2, payload,
                                                                                       header + size), hint)


@check("less than a whole frame gives None; size says where the next frame starts", timeout=10)
def cut_off_and_back_to_back(student):
    frame = wire.build_frame(wire.TEXT, b"x" * 300, mask=MASK)
    for cut in (0, 1, 3, 7, len(frame) - 1):
        got = _parse(student, frame[:cut])
        if got is not None:
            raise Fail(f"the first {cut} bytes of a {len(frame)}-byte frame gave {_short_tuple(got)}, not None",
                       "check len(data) against the header (2, 4 or 10 bytes, plus 4 for a mask) and then "
                       "against the whole frame, and return None when it is shorter")
    two = wire.build_frame(wire.TEXT, b"first") + wire.build_frame(wire.TEXT, b"second", mask=MASK)
    _expect(student, "the first of two frames back to back", two, (True, 1, b"first", 7),
            "size is the header plus the payload length: the bytes this frame takes")
    _expect(student, "the second of two frames", two[7:], (True, 1, b"second", 12), "see above")


@check("the bytes our server really sends: /echo answers 5, 300 and 70,000 bytes, read from the raw stream")
def real_stream(student):
    sizes = (5, 300, 70_000)
    with Twins() as twins:
        sock, rfile, _, _ = wire.open_websocket("127.0.0.1", twins.websocket.port, "/echo")
        try:
            sent = [os.urandom(size).hex()[:size].encode() for size in sizes]  # text frames, as a chat sends
            for payload in sent:
                wire.send_frame(sock, wire.TEXT, payload)
            stream, got = b"", []
            sock.settimeout(5)
            while len(got) < len(sizes):
                result = _parse(student, stream)
                if result is None:
                    chunk = rfile.read1(65536)
                    if not chunk:
                        raise Fail("the server's stream ended before your parser found three frames",
                                   "return a frame as soon as data holds all of it")
                    stream += chunk
                    continue
                got.append(result)
                stream = stream[result[3]:]
        except socket.timeout:
            raise Fail(f"your parser found {len(got)} of 3 frames in {len(stream):,} bytes of the server's stream",
                       "return None only while data is shorter than the whole frame") from None
        finally:
            sock.close()
            rfile.close()
    for (fin, opcode, payload, size), expected in zip(got, sent):
        if (bool(fin), opcode, bytes(payload)) != (True, 1, expected):
            raise Fail(f"a {len(expected):,}-byte echo came out as {_short_tuple((fin, opcode, payload, size))}",
                       "the server's frames are not masked: their payload follows the length directly")
    return "frames of " + ", ".join(f"{len(p):,} bytes (size {s:,})" for (_, _, p, s) in got)


def _short(data: bytes) -> str:
    shown = data[:12].hex(" ")
    return f"{shown}{' ...' if len(data) > 12 else ''} ({len(data):,} bytes)"


def _short_tuple(result) -> str:
    fin, opcode, payload, size = result
    return f"({fin}, {opcode}, {_shown(payload)}, {size})"


def _shown(payload) -> str:
    """The payload as Python writes it, its first 8 items only when it is longer than 12."""
    try:
        if len(payload) <= 12:
            return repr(payload)
    except TypeError:  # no len(): not a sequence at all
        return repr(payload)
    unit = "bytes" if isinstance(payload, (bytes, bytearray, memoryview)) else "items"
    return f"{bytes(payload[:8]) if unit == 'bytes' else payload[:8]!r}... ({len(payload):,} {unit})"


CHECKS = [rfc_unmasked, masked, long_lengths, cut_off_and_back_to_back, real_stream]
