"""Exercise 5: predict the bandwidth of a class of 30, then measure it (notebook 05).
The statement is README.md beside this file.

Check your work with:  make check EX=5   (or: python -m exercises.check 5)
"""

# Step 1, before anything else: your guess. A class of 30 has a page open on the teacher's server, which
# sends one notification a second (about 100 bytes of JSON each). How many kilobits per second
# (1 kbit = 1,000 bits) cross the teacher's Wi-Fi for the whole class, both directions, on each transport?
MY_GUESS_KBPS = {"WebSocket": None, "long polling": None, "short polling every 0.1 s": None}


def frame_bytes(payload_size: int, masked: bool) -> int:
    """Bytes one WebSocket frame takes on the wire: its header (2 bytes, plus 2 or 8 more for longer
    payloads), the 4-byte masking key if ``masked`` (client frames), and the payload."""
    raise NotImplementedError("frame_bytes(payload_size, masked) is not written yet")


def bits_per_second(transport: str, clients: int, messages_per_second: float, sizes: dict,
                    poll_interval: float | None = None) -> float:
    """What ``clients`` clients of ``transport`` cost on the wire, both directions, in bits per second,
    while the server sends ``messages_per_second`` messages a second to each of them.

    ``transport`` is "WebSocket", "long polling", or "short polling" (one poll every ``poll_interval``
    seconds). ``sizes`` holds bytes that the check measures and passes in:
      "push_payload":     the JSON text of one pushed message (a WebSocket frame's payload)
      "request_headers":  one poll's request (GET, no body)
      "response_headers": one poll's response headers
      "empty_body":       the body of an answer that has no message in it
      "message_body":     the body of an answer that carries one message
    """
    raise NotImplementedError("bits_per_second(...) is not written yet")
