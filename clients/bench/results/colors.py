"""One colour per transport, the same in every notebook, every plot of the bench and the live pages.

The pages read theirs from ``servers/pages/style.css`` (``--websocket``, ``--polling``, ``--sse``);
keep the two in step. Short polling at several intervals shares its colour and differs by line style.
"""

WEBSOCKET = "#1d4ed8"  # blue
LONG_POLLING = "#c2410c"  # burnt orange: the pages' "polling" colour
SHORT_POLLING = "#d97706"  # amber
SSE = "#15803d"  # green: Server-Sent Events
REFERENCE = "#6b7280"  # grey: raw TCP, the websockets library, anything that is not one of ours

_BY_WORD = [("websocket", WEBSOCKET), ("long poll", LONG_POLLING), ("short poll", SHORT_POLLING),
            ("sse", SSE), ("server-sent", SSE), ("polling", LONG_POLLING)]


def color_of(label: str) -> str:
    """The colour of the transport a label names ("WebSocket", "short polling 100 ms", ...); grey otherwise.

    References are checked first: "websockets library echo" is a reference, not our WebSocket."""
    lowered = label.lower()
    if any(word in lowered for word in ("reference", "raw tcp", "websockets library", "websockets echo")):
        return REFERENCE
    return next((color for word, color in _BY_WORD if word in lowered), REFERENCE)
