"""Compression the transports can use, measured or taken from the standard's own examples.

* WebSocket: permessage-deflate (RFC 7692). A client offers it in its handshake
  (``Sec-WebSocket-Extensions``); browsers always do, and our server accepts.
  Each message is then deflated, by default with the compressor's memory of the
  earlier messages kept ("context takeover"), so messages that repeat what came
  before shrink the most. ``deflate_both_ways`` measures one client, the
  ``websockets`` library, once without the offer and once with it, receiving the
  same messages through a byte-counting relay. (The lab's WebSocket client, which
  the other byte counts use, speaks no extension and never offers it.)
* HTTP/2: HPACK (RFC 7541) keeps a table of the header fields already sent on a
  connection, so a repeated field costs about one byte. ``HPACK_EXAMPLES`` holds
  the RFC's own encoded examples (Appendix C), so their sizes are computed, not
  copied by hand. Our servers speak HTTP/1.1, where every poll repeats its headers
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
