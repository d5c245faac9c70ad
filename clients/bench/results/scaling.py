"""The websocket.org table ("HTML5 Web Sockets: A Quantum Leap in Scalability for the Web"),
recomputed from its own assumptions and then from bytes measured here.

The paper's assumptions: every client receives one message per second; a poll
costs 871 bytes of HTTP request and response headers; a WebSocket message costs
the 2-byte header of a frame from the server (payloads under 126 bytes, unmasked);
bodies and payloads are left out on both sides, as are TCP/IP headers and the
client's frames (which would be masked: 4 bytes more each). Its "Mbps" is
bits per second divided by 2**20; ``paper_table`` shows that decimal megabits
would not give the published figures.
"""

PAPER_POLL_HEADER_BYTES = 871
PAPER_FRAME_HEADER_BYTES = 2
CLIENTS = (1_000, 10_000, 100_000)
# The paper's published figures, as printed, so we can check them against the computation.
PAPER_PUBLISHED = {1_000: ("6.6", "0.015"), 10_000: ("66", "0.153"), 100_000: ("665", "1.526")}


def mbps(bytes_per_message: float, clients: int, messages_per_second: float = 1.0, mega: int = 2 ** 20) -> float:
    """Bandwidth for ``clients`` each receiving ``messages_per_second`` messages of that overhead."""
    return bytes_per_message * 8 * clients * messages_per_second / mega


def agrees(computed: float, printed: str) -> bool:
    """True if ``printed`` is ``computed`` rounded to the digits it shows."""
    decimals = len(printed.partition(".")[2])
    return abs(computed - float(printed)) <= 0.5 * 10 ** -decimals + 1e-12


def paper_table() -> list[dict]:
    """The paper's figures recomputed from 871 and 2 bytes, in 2**20 and in 10**6 megabits."""
    rows = []
    for clients in CLIENTS:
        polling, frames = mbps(PAPER_POLL_HEADER_BYTES, clients), mbps(PAPER_FRAME_HEADER_BYTES, clients)
        printed_polling, printed_frames = PAPER_PUBLISHED[clients]
        rows.append({"clients": clients, "polling_mbps": polling, "websocket_mbps": frames,
                     "published_polling": printed_polling, "published_websocket": printed_frames,
                     "agrees": agrees(polling, printed_polling) and agrees(frames, printed_frames),
                     "polling_decimal_mbps": mbps(PAPER_POLL_HEADER_BYTES, clients, mega=10 ** 6),
                     "websocket_decimal_mbps": mbps(PAPER_FRAME_HEADER_BYTES, clients, mega=10 ** 6)})
    return rows


def measured_table(measured: dict) -> list[dict]:
    """The same table from bytes measured in this run (``measured`` maps a column name to bytes per message)."""
    columns = {"paper_polling": PAPER_POLL_HEADER_BYTES, "paper_websocket": PAPER_FRAME_HEADER_BYTES, **measured}
    return [{"clients": clients, **{name: mbps(size, clients) for name, size in columns.items()}}
            for clients in CLIENTS]
