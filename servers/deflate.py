"""permessage-deflate (RFC 7692), the server's side, with a bound on what one message may take and inflate to.

Why the project's own: a client that negotiated compression can send what wsproto's ``PerMessageDeflate``
cannot bound or cannot read, and it keeps its state where no subclass may reach it:

* a few hundred kilobytes of compressed zeros that inflate to hundreds of megabytes (a decompression bomb):
  wsproto inflates each piece of a frame whole and leaves the size to its caller, who can only check it once
  the memory is spent. Here each piece inflates to the message's room at most (zlib's ``max_length``), and a
  message past its limit is refused with 1009 after at most its limit, and one byte, was inflated;
* a message that never ends and inflates to nothing: empty deflate blocks (5 bytes each) one after the other,
  or a DEFLATE stream that ends at once followed by anything at all, in one frame announced as a terabyte
  long. wsproto hands what follows the end of the stream to zlib again and again, which copies all of it
  each time (``unused_data``: quadratic) and never refuses it. Here the compressed bytes of a message are
  bounded too (``WIRE_FACTOR`` times its inflated limit: 1009 past it), and data after the end of the
  stream is refused at once (1007), without inflating it;
* a ping between the fragments of a compressed message (RFC 6455 section 5.4 allows control frames there):
  wsproto forgets that the message is compressed when the ping ends, and reads the rest as it came;
* an offer it cannot parse, a quoted value included (``client_max_window_bits="15"``, legal in RFC 7692):
  wsproto raised, and the server answered 500. Here an offer that breaks RFC 6455's grammar for extensions
  (section 9.1) refuses the handshake (400), and a grammatical one RFC 7692 says to decline (an unknown
  parameter, one given twice, a value out of range) is declined: the client's next offer, or no compression.

Only wsproto's public extension API is used (``wsproto.extensions.Extension``): ``accept`` answers the
client's offers, ``frame_inbound_header``, ``frame_inbound_payload_data`` and ``frame_inbound_complete`` read
a frame, ``frame_outbound`` writes one. After the server's Close, what the client still sends is dropped
uninflated (``discarding``): the server only waits for the client's Close.
"""

import re
import zlib

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits
from wsproto.utilities import RemoteProtocolError

WIRE_FACTOR = 2  # a message's compressed bytes, at most, per byte of its inflated limit: deflate adds far less
TAIL = b"\x00\x00\xff\xff"  # the end of the empty block each message's data ends with, left off on the wire (7.2.1)
AFTER_THE_END = (b"", b"\x00")  # what may follow a final DEFLATE block in a message (RFC 7692 section 7.2.3.4)
INFLATE_BITS = 15  # the client's messages are inflated with the largest window, which reads any smaller one
DEFLATE_BITS = range(9, 16)  # windows zlib compresses with: RFC 7692 allows 8 too, which zlib refuses (declined)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 2616's token, of which RFC 6455 (9.1) builds extensions
QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # a quoted string: backslash pairs in it, written so that it never backtracks
PARAMETER = re.compile(rf"\s*;\s*({TOKEN.pattern})(?:\s*=\s*(?:({TOKEN.pattern})|{QUOTED}))?\s*")  # ; name=value
QUOTED_PAIR = re.compile(r"\\(.)")  # a backslash and the character it stands for, in a quoted value
WINDOW_BITS = re.compile("8|9|1[0-5]")  # a max_window_bits value: a whole number 8 to 15, no leading zero
FLAGS = ("client_no_context_takeover", "server_no_context_takeover")  # parameters without a value
ANSWERED = FLAGS + ("client_max_window_bits", "server_max_window_bits")  # in the order the answer names them


def read_offer(offer: str) -> list[tuple[str, str | None]]:
    """The parameters of one permessage-deflate offer, (name, value or None), in order. RemoteProtocolError when
    the offer breaks RFC 6455's grammar (section 9.1): a parameter that is not a token, ``=`` with no value, a
    quoted value that is not a token once unquoted (``"15"`` is ``15``; ``"1 5"`` is nothing)."""
    text = offer[len(offer.partition(";")[0]):]  # from the first ";" on: wsproto has read the name
    parameters, at = [], 0
    while at < len(text):
        match = PARAMETER.match(text, at)
        name, token, quoted = match.groups() if match else (None, None, None)
        value = token if quoted is None else QUOTED_PAIR.sub(r"\1", quoted)
        if match is None or (quoted is not None and not TOKEN.fullmatch(value)):
            raise RemoteProtocolError(f"a permessage-deflate offer breaks the grammar of RFC 6455 section 9.1 "
                                      f"at {text[at:at + 30]!r}")
        parameters.append((name, value))
        at = match.end()
    return parameters


def agree(parameters: list[tuple[str, str | None]]) -> bool:
    """Whether the server takes an offer with these parameters (RFC 7692 section 7): only the four it defines,
    each once, a value for the window bits only, the server's window one zlib can compress with."""
    if len({name for name, _ in parameters}) != len(parameters):
        return False
    for name, value in parameters:
        if name in FLAGS:
            if value is not None:
                return False
        elif name == "client_max_window_bits":
            if value is not None and not WINDOW_BITS.fullmatch(value):
                return False
        elif name == "server_max_window_bits":
            if value is None or not WINDOW_BITS.fullmatch(value) or int(value) not in DEFLATE_BITS:
                return False
        else:
            return False
    return True


class BoundedDeflate(Extension):
    """permessage-deflate, inflating each message to ``max_message`` bytes at most, from ``WIRE_FACTOR`` times
    that many compressed bytes at most."""

    name = "permessage-deflate"

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.max_compressed = WIRE_FACTOR * max_message  # bytes of one message on the wire, compressed
        self.discarding = False  # set once the server has sent its Close: data frames are dropped uninflated
        self.refusal: str | None = None  # why a message's data was refused (1007), for the Close's reason
        self._enabled = False  # an offer was accepted
        self._agreed: dict[str, str | None] = {}  # the accepted offer's parameters
        self._inflater = None  # zlib's decompressor for the client's messages (kept between them, unless told)
        self._deflater = None  # zlib's compressor for the server's messages (the same)
        self._data_frame = False  # whether the frame being read carries data (not a control frame)
        self._compressed = False  # whether the message being read is compressed (its first frame's RSV1)
        self._received = 0  # compressed bytes of the message being read, so far
        self._inflated = 0  # bytes of the message being read, inflated so far
        self._after_end: bytes | None = None  # what followed the end of the DEFLATE stream in this message

    def enabled(self) -> bool:
        return self._enabled

    def offer(self) -> bool:
        """A server answers offers; it makes none."""
        return False

    def accept(self, offer: str) -> str | None:
        """The answer to one of the client's offers (wsproto asks for each, in order): the first the server can
        take is accepted, the others declined (None). Raises RemoteProtocolError for an offer that breaks the
        grammar: nothing is written yet, and the connection refuses the handshake (400 invalid_handshake)."""
        parameters = read_offer(offer)
        if self._enabled or not agree(parameters):
            return None
        self._enabled, self._agreed = True, dict(parameters)
        answer = {name: value or str(INFLATE_BITS) for name, value in parameters}  # a bare window bits: ours
        return "; ".join(name if name in FLAGS else f"{name}={answer[name]}" for name in ANSWERED if name in answer)

    # --- reading the client's frames ----------------------------------------------------------

    def frame_inbound_header(self, proto, opcode: Opcode, rsv: RsvBits, payload_length: int):
        self._data_frame = not opcode.iscontrol()
        if opcode is Opcode.CONTINUATION and rsv.rsv1:
            return CloseReason.PROTOCOL_ERROR  # only a message's first frame says whether it is compressed
        if opcode in (Opcode.TEXT, Opcode.BINARY):  # a new message; a control frame changes nothing
            self._compressed, self._received, self._inflated, self._after_end = rsv.rsv1, 0, 0, None
        return RsvBits(self._data_frame, False, False)  # RSV1 on a control frame: wsproto refuses it (1002)

    def frame_inbound_payload_data(self, proto, data: bytes):
        if not self._data_frame or not self._compressed:
            return data  # as it came: the connection counts it
        if self.discarding:
            return b""
        piece = self._inflate(data)  # at most the message's room and a byte
        self._received += len(data)
        if self._received > self.max_compressed and not isinstance(piece, CloseReason):  # data refused: that first
            return CloseReason.MESSAGE_TOO_BIG
        return piece

    def frame_inbound_complete(self, proto, fin: bool):
        if not self._data_frame or not self._compressed or not fin or self.discarding:
            return None  # the message goes on, or nothing of it was inflated
        rest = self._inflate(TAIL) if self._after_end is None else b""
        if isinstance(rest, bytes):
            if self._after_end is not None or "client_no_context_takeover" in self._agreed:
                self._inflater = None  # the stream ended, or each message starts afresh: a new one next time
            self._compressed = False
        return rest

    def _inflate(self, data: bytes):
        """Inflate a piece of the message: at most its room and one byte, however much ``data`` holds."""
        if self._after_end is not None:
            return self._follow_the_end(data)
        if self._inflater is None:
            self._inflater = zlib.decompressobj(-INFLATE_BITS)
        room = self.max_message - self._inflated
        try:
            piece = self._inflater.decompress(data, room + 1)
        except zlib.error as error:
            return self._refuse(f"compressed data that is not DEFLATE ({error})")
        self._inflated += len(piece)
        if self._inflated > self.max_message:
            return CloseReason.MESSAGE_TOO_BIG
        if self._inflater.eof:  # a final block: what follows it in this message must be nothing, or almost
            self._after_end = b""
            after = self._follow_the_end(self._inflater.unused_data)
            if isinstance(after, CloseReason):
                return after
        return piece

    def _follow_the_end(self, data: bytes):
        """What follows the end of the DEFLATE stream in this message, never handed to zlib: RFC 7692 allows one
        byte there, the first of an empty block whose rest is the tail (section 7.2.3.4); anything more is refused."""
        self._after_end += data
        if self._after_end not in AFTER_THE_END:
            return self._refuse("compressed data after the end of its DEFLATE stream")
        return b""

    def _refuse(self, why: str) -> CloseReason:
        self.refusal = why
        return CloseReason.INVALID_FRAME_PAYLOAD_DATA

    # --- writing the server's frames ----------------------------------------------------------

    def frame_outbound(self, proto, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool):
        if opcode.iscontrol():
            return rsv, data
        if opcode is not Opcode.CONTINUATION:
            rsv = RsvBits(True, rsv.rsv2, rsv.rsv3)  # RSV1: this message is compressed
        if self._deflater is None:
            bits = int(self._agreed.get("server_max_window_bits") or max(DEFLATE_BITS))
            self._deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
        data = self._deflater.compress(data)
        if fin:
            data = (data + self._deflater.flush(zlib.Z_SYNC_FLUSH))[:-len(TAIL)]
            if "server_no_context_takeover" in self._agreed:
                self._deflater = None
        return rsv, data
