"""Exercise 1, wrong: sets `after` to 0 after delivering the messages of an answer that names a new board,
instead of before (the first answer names one too): the next request brings them all again.

Fails: every message is delivered once
Hint: set after = 0 before you deliver them
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
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
            if "board" in answer:  # another board than ours
                board, after = answer["board"], 0
