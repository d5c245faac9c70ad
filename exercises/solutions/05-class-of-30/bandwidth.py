"""Exercise 5, a solution: a bandwidth model per transport, from the bytes of one message and one poll."""

# Guessed before measuring (with notebook 05 in mind: about 200 bytes of headers per poll, 2 per frame);
# the check shows the measured figures beside them. A guess is not graded.
MY_GUESS_KBPS = {"WebSocket": 30, "long polling": 100, "short polling every 0.1 s": 600}


def frame_bytes(payload_size: int, masked: bool) -> int:
    """Header (2, 4 or 10 bytes by length form), masking key (4) if masked, payload (RFC 6455, section 5.2)."""
    header = 2 if payload_size < 126 else 4 if payload_size < 2**16 else 10
    return header + (4 if masked else 0) + payload_size


def bits_per_second(transport: str, clients: int, messages_per_second: float, sizes: dict,
                    poll_interval: float | None = None) -> float:
    """Bytes per second per client, times clients, times 8 bits.

    WebSocket: one server frame per message, nothing else.
    Long polling: one poll per message (the server holds each poll until the next message), so each
    message costs a request, response headers and a body that carries it.
    Short polling: a poll every interval whatever happens, each an empty answer, except that an answer
    that carries a message has a bigger body.
    """
    poll = sizes["request_headers"] + sizes["response_headers"]
    if transport == "WebSocket":
        per_client = messages_per_second * frame_bytes(sizes["push_payload"], masked=False)
    elif transport == "long polling":
        per_client = messages_per_second * (poll + sizes["message_body"])
    elif transport == "short polling":
        per_client = ((poll + sizes["empty_body"]) / poll_interval
                      + messages_per_second * (sizes["message_body"] - sizes["empty_body"]))
    else:
        raise ValueError(f"unknown transport {transport!r}")
    return 8 * clients * per_client
