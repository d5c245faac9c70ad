"""Exercise 2, a solution: Sec-WebSocket-Accept (RFC 6455, section 4.2.2)."""

import base64
import hashlib

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3: the same for every server


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to a client's Sec-WebSocket-Key ``key``.

    The key is used as text, exactly as sent (not base64-decoded first); SHA-1 gives
    20 raw bytes, and those bytes (not their hex spelling) are base64 encoded.
    """
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")
