"""Compression the transports can use, measured or taken from the standard's own examples.

* WebSocket: permessage-deflate (RFC 7692). A client offers it in its handshake
  (``Sec-WebSocket-Extensions``); browsers always do, and our server accepts.
  Each message is then deflated, by default with the compressor's memory of the
  earlier messages kept ("context takeover"), so messages that repeat what came
  before shrink the most. ``deflate_both_ways`` measures one client, the
  ``websockets`` library, once without the offer and once with it, receiving the
  same messages through a byte-counting relay. (The lab's WebSocket client, which
  the other byte counts use, speaks no extension and never offers it.)
* HTTP/2: HPACK (RFC 7541) codes a header field that is in a table as its index, one
  byte: the static table's 61 common fields from the first request on, and the
  fields this connection sent before (its dynamic table) from their second time.
  ``HPACK_EXAMPLES`` holds the RFC's own encoded examples (Appendix C), so their
  sizes are computed, not copied by hand, and ``hpack_fields`` takes them apart
  field by field. Our servers speak HTTP/1.1, where every poll repeats its headers
  in full.
"""

import json
import random
import string

import websockets.sync.client

from clients.lab.relay import Relay
from servers.chat import NOTIFICATION, SERVER

# RFC 7541 Appendix C.3 (requests) and C.5 (responses), without Huffman coding: hex of each header block.
HPACK_EXAMPLES = {
    "first request": ("828684410f7777772e6578616d706c652e636f6d",
                      ":method GET, :scheme http, :path /, :authority www.example.com"),
    "second request": ("828684be58086e6f2d6361636865",
                       "the same four fields, plus cache-control: no-cache"),
    "first response": ("4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a3231"
                       "20474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
                       ":status 302, cache-control private, date, location https://www.example.com"),
    "second response": ("4803333037c1c0bf", "the same fields, with :status 307"),
}


def hpack_sizes() -> dict:
    """{example: (bytes on the wire, what it holds)}, and what the RFC's second request spends on its
    four repeated fields (one byte each: 82 86 84 be, indexes into the static and dynamic tables)."""
    sizes = {name: (len(bytes.fromhex(block)), what) for name, (block, what) in HPACK_EXAMPLES.items()}
    sizes["repeated fields of the second request"] = (len(bytes.fromhex("828684be")), "four indexed fields")
    return sizes


# The entries of HPACK's static table (RFC 7541 Appendix A: 61 fields fixed by the standard) that the examples use.
STATIC_TABLE = {1: (":authority", ""), 2: (":method", "GET"), 4: (":path", "/"), 6: (":scheme", "http"),
                8: (":status", "200"), 24: ("cache-control", ""), 33: ("date", ""), 46: ("location", "")}
STATIC_TABLE_SIZE = 61  # indexes above it are the dynamic table's: the fields this connection added


def hpack_fields(blocks: list[str]) -> list[list[dict]]:
    """Each field of ``blocks`` (hex header blocks sent one after the other on one connection, without Huffman
    coding, as RFC 7541's examples), field by field: {"bytes", "field", "how"}. ``how`` says what the bytes
    hold: an index into the static table (fixed by the standard, so one byte from the first request on), an
    index into the dynamic table (a field this connection sent before), or a value spelled out, and whether it
    was added to the dynamic table for the next blocks."""
    dynamic: list[tuple[str, str]] = []  # newest first: index 62 is dynamic[0]

    def entry(index: int) -> tuple[str, str]:
        return STATIC_TABLE[index] if index <= STATIC_TABLE_SIZE else dynamic[index - STATIC_TABLE_SIZE - 1]

    decoded = []
    for block in blocks:
        data, at, fields = bytes.fromhex(block), 0, []
        while at < len(data):
            start, first = at, data[at]
            if first & 0x80:  # an indexed field: its name and value from one of the tables
                index, at = _hpack_integer(data, at, 7)
                name, value = entry(index)
                how = f"{'static' if index <= STATIC_TABLE_SIZE else 'dynamic'} table entry {index}"
            elif first & 0xE0 == 0x20:  # a dynamic table size update: no field
                _, at = _hpack_integer(data, at, 5)
                continue
            else:  # a literal value, its name from a table (or spelled out too, index 0)
                index, at = _hpack_integer(data, at, 6 if first & 0x40 else 4)
                name, at = (entry(index)[0], at) if index else _hpack_string(data, at)
                value, at = _hpack_string(data, at)
                how = "spelled out" + (", added to the dynamic table" if first & 0x40 else "")
                if first & 0x40:
                    dynamic.insert(0, (name, value))
            fields.append({"bytes": at - start, "field": f"{name}: {value}", "how": how})
        decoded.append(fields)
    return decoded


def _hpack_integer(data: bytes, at: int, prefix: int) -> tuple[int, int]:
    """(value, where the next byte is) of an integer with a ``prefix``-bit prefix (RFC 7541 section 5.1): a
    prefix full of ones says that more bytes follow, 7 bits each, until one whose top bit is clear."""
    limit = (1 << prefix) - 1
    value, at = data[at] & limit, at + 1
    if value < limit:
        return value, at
    shift = 0
    while True:
        byte, at = data[at], at + 1
        value, shift = value + ((byte & 0x7F) << shift), shift + 7
        if not byte & 0x80:
            return value, at


def _hpack_string(data: bytes, at: int) -> tuple[str, int]:
    """(text, where the next byte is) of a string literal; a Huffman-coded one is shown as its size."""
    huffman = data[at] & 0x80
    size, at = _hpack_integer(data, at, 7)
    return (f"<{size} bytes, Huffman-coded>" if huffman else data[at:at + size].decode("latin-1")), at + size


def notifications(count: int) -> list[str]:
    """Texts like the ones the other byte counts push: each repeats most of the one before."""
    return [NOTIFICATION.format(count=n + 1) for n in range(count)]


def random_texts(count: int, length: int = 40, seed: int = 7) -> list[str]:
    """Texts as long as a notification, of random letters: nothing in them repeats."""
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_letters, k=length)) for _ in range(count)]


def deflate_both_ways(twins, texts: list[str]) -> dict[str, dict]:
    """The server posts ``texts`` to one ``websockets`` client, without and then with permessage-deflate.

    Returns {"without permessage-deflate": row, "with permessage-deflate": row}; each row has the JSON
    bytes the client got per message, the bytes on the wire per message (server frames: header +
    payload, compressed or not), the handshake bytes both ways, and the extension the server accepted.
    """
    rows = {}
    for name, compression in (("without permessage-deflate", None), ("with permessage-deflate", "deflate")):
        json_bytes = 0
        with Relay(twins.websocket.port, record=True) as relay:
            with websockets.sync.client.connect(f"ws://127.0.0.1:{relay.port}/ws", compression=compression,
                                                proxy=None, open_timeout=5, close_timeout=5) as ws:
                accepted = ws.response.headers.get("Sec-WebSocket-Extensions")
                for text in texts:  # one at a time, as news comes: each is a message of its own
                    twins.chat.board.post(SERVER, text)
                    received = ws.recv(timeout=5)
                    json_bytes += len(received.encode())
                    assert json.loads(received)["message"]["text"] == text
            relay.wait_closed()
            split = relay.split()
        down, up = split["down"], split["up"]
        rows[name] = {"messages": len(texts), "data_frames": down["data_frames"],
                      "json_per_message": json_bytes / len(texts),
                      "wire_per_message": (down["frame_headers"] + down["payloads"]) / len(texts),
                      "frame_header_per_message": down["frame_headers"] / len(texts),
                      "handshake_bytes": up["http_headers"] + down["http_headers"],
                      "extension": accepted}
    return rows
