"""Exercise 1, wrong: names its board and takes the new one when told, but keeps `after`: on a new board that
is still empty when it comes back it waits for ids past the old cursor and misses the first ones.

Fails: a restarted server (new empty board
Hint: set after = 0 before you deliver the answer's messages
"""

import requests

WAIT = 2  # seconds each long poll may wait on the server for news (0 to 30)
RETRY = 0.5  # seconds between attempts while the server is away


def follow(url: str, deliver, stop) -> None:
    """Long-poll ``url`` and ``deliver(message)`` once per message, oldest first, until ``stop`` is set."""
    after, board = 0, ""  # the id of the last message delivered, and the board it belongs to ("": none yet)
    with requests.Session() as session:
        while not stop.is_set():
            try:
                response = session.get(f"{url}/api/messages", params={"after": after, "board": board, "wait": WAIT},
                                       timeout=WAIT + 5)
                response.raise_for_status()
                answer = response.json()
            except (requests.RequestException, ValueError):  # away, or not our server's answer
                stop.wait(RETRY)
                continue
            if "board" in answer:  # another board than ours: its messages start from its first
                board = answer["board"]
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
