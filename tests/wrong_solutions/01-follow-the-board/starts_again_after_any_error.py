"""Exercise 1, wrong: starts again from 0 after any failed request, as if every error were a restart: a cut
connection delivers everything twice.

Fails: a dropped connection loses nothing and repeats nothing
Hint: after a failed request, ask again with the same `after`
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
                after = 0
                continue
            if "board" in answer:  # another board than ours: its messages start from its first
                board, after = answer["board"], 0
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
