"""Exercise 3, a solution: read and unmask a WebSocket frame (RFC 6455, section 5.2)."""


def parse_frame(data: bytes):
    """Read the frame at the start of ``data``: ``(fin, opcode, payload, size)``, or None if incomplete."""
    if len(data) < 2:
        return None
    fin = bool(data[0] & 0x80)
    opcode = data[0] & 0x0F
    masked = bool(data[1] & 0x80)
    length = data[1] & 0x7F
    at = 2
    if length == 126:  # the length is in the next 2 bytes
        if len(data) < 4:
            return None
        length, at = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:  # ... or in the next 8
        if len(data) < 10:
            return None
        length, at = int.from_bytes(data[2:10], "big"), 10
    key = b""
    if masked:
        key, at = data[at:at + 4], at + 4
    size = at + length
    if len(data) < size:
        return None
    payload = data[at:size]
    if masked:
        payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    return fin, opcode, payload, size
