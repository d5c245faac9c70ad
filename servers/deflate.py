"""permessage-deflate (RFC 7692) with a bound on what one message may inflate to, checked while inflating.

Why: a client that negotiated compression can send a few hundred kilobytes of compressed zeros that
inflate to hundreds of megabytes. wsproto's ``PerMessageDeflate`` inflates each piece of a frame
whole and leaves the size to its caller, who can only check it afterwards, once the memory is spent.
This subclass hands each piece to wsproto's inflater in slices small enough that no slice can
inflate past the message's limit by much, counts what comes out, and stops at the limit: the
message is refused with close code 1009 after at most the limit (plus one slice) was inflated.

A slice's size follows from deflate's largest expansion, 1032 to 1 (zlib's technical notes: one
input bit can stand for up to 258 bytes), so a slice of ``room // 1032`` bytes cannot inflate to
much more than ``room``. After the server's Close, what the client still sends is dropped
uninflated (``discarding``): the server only waits for the client's Close.

Only wsproto's public extension API is used: the hooks ``frame_inbound_header``,
``frame_inbound_payload_data`` and ``frame_inbound_complete``, each calling the parent's.
"""

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode

LARGEST_EXPANSION = 1032  # bytes one byte of deflate data can inflate to, at most
SMALLEST_SLICE = 64  # bytes of compressed data inflated in one go, at least: a slice inflates to 66 KiB at most


class BoundedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate, inflating each message to ``max_message`` bytes at most."""

    def __init__(self, max_message: int) -> None:
        super().__init__()
        self.max_message = max_message
        self.discarding = False  # set once the server has sent its Close: data frames are dropped uninflated
        self._data_frame = False  # whether the frame being read carries data (not a control frame)
        self._compressed = False  # whether the message being read is compressed (its first frame's RSV1)
        self._inflated = 0  # bytes of the message being read, inflated so far

    def frame_inbound_header(self, proto, opcode: Opcode, rsv, payload_length: int):
        self._data_frame = not opcode.iscontrol()
        if opcode in (Opcode.TEXT, Opcode.BINARY):  # a new message
            self._compressed, self._inflated = rsv.rsv1, 0
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(self, proto, data: bytes):
        if not self._data_frame or not self._compressed:
            return super().frame_inbound_payload_data(proto, data)  # as it came: the connection counts it
        if self.discarding:
            return b""
        pieces, start = [], 0
        while start < len(data):
            room = self.max_message - self._inflated
            end = start + max(SMALLEST_SLICE, room // LARGEST_EXPANSION)
            piece = super().frame_inbound_payload_data(proto, data[start:end])
            if isinstance(piece, CloseReason):
                return piece
            self._inflated += len(piece)
            if self._inflated > self.max_message:
                return CloseReason.MESSAGE_TOO_BIG
            pieces.append(piece)
            start = end
        return b"".join(pieces)

    def frame_inbound_complete(self, proto, fin: bool):
        if self._data_frame and self._compressed and self.discarding:
            return None  # nothing of it was inflated, so there is nothing to finish
        rest = super().frame_inbound_complete(proto, fin)
        if self._data_frame and self._compressed and isinstance(rest, bytes):
            self._inflated += len(rest)
            if self._inflated > self.max_message:
                return CloseReason.MESSAGE_TOO_BIG
        return rest
