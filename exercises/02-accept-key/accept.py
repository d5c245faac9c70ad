"""Exercise 2: compute Sec-WebSocket-Accept (notebook 02). The statement is README.md beside this file.

Check your work with:  make check EX=2   (or: python -m exercises.check 2)
"""

import base64  # noqa: F401  (you will need these two)
import hashlib  # noqa: F401

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3: the same for every server


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to a client's Sec-WebSocket-Key ``key``."""
    raise NotImplementedError("accept_key(key) is not written yet")
