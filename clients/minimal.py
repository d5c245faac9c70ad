"""The seed's question to the minimal pair (servers/minimal/), in a few lines per transport.

    python -m clients.minimal          # asks both, as python -m servers.minimal starts them

Over polling, ``requests``: one POST sends, one GET asks for what came after it, the reply. Over a
WebSocket, the seed article's own library, ``websockets``: one frame sends, and the reply is pushed.
"""

import sys

import requests
from websockets.sync.client import connect

POLLING_URL, WEBSOCKET_URL = "http://127.0.0.1:7001", "ws://127.0.0.1:7002/ws"


def ask_over_polling(text: str = "How are you?", url: str = POLLING_URL) -> str:
    after = requests.post(f"{url}/messages", data=text, timeout=5).json()["after"]
    return requests.get(f"{url}/messages", params={"after": after}, timeout=5).json()["messages"][0]


def ask_over_websocket(text: str = "How are you?", url: str = WEBSOCKET_URL) -> str:
    with connect(url) as ws:
        ws.send(text)
        while ws.recv(timeout=5) != text:  # everyone's messages come by: wait for ours...
            pass
        return ws.recv(timeout=5)  # ...and the reply follows it


if __name__ == "__main__":
    try:
        print(ask_over_polling())
        print(ask_over_websocket())
    except OSError as error:  # refused: requests' errors are OSErrors too
        sys.exit(f"error: {error}\nIs the minimal pair running? python -m servers.minimal starts it.")
