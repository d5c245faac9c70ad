"""Exercise 3: read and unmask a WebSocket frame (notebook 02). The statement is README.md beside this file.

Check your work with:  make check EX=3   (or: python -m exercises.check 3)
"""


def parse_frame(data: bytes):
    """Read the frame at the start of ``data``.

    Returns ``(fin, opcode, payload, size)``: ``fin`` a bool, ``opcode`` an int
    (1 text, 2 binary, 8 close, 9 ping, 10 pong, 0 continuation), ``payload`` the
    payload as bytes, unmasked if the frame was masked, and ``size`` how many bytes
    of ``data`` the whole frame takes (header and payload), so that the next frame
    starts at ``data[size:]``. Returns None if ``data`` holds less than one whole frame.
    """
    if len(data) < 2:
        return None
    fin = bool(data[0] & 0x80)  # byte 0: FIN, three reserved bits, then the opcode in the low 4 bits
    opcode = data[0] & 0x0F
    length = data[1] & 0x7F  # byte 1: the MASK bit, then a 7-bit length
    # TODO: the MASK bit (the high bit of byte 1).
    # TODO: lengths 126 and 127: the real length follows in the next 2 or 8 bytes (big-endian).
    # TODO: a masked frame has a 4-byte masking key before the payload: XOR payload byte i with key[i % 4].
    # TODO: return None when data is shorter than the whole frame.
    raise NotImplementedError("parse_frame reads the first two bytes; the lengths and the mask are still to do")
