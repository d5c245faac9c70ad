"""Exercise 1, wrong: tries again at once after a failed request: against a server that is away, a loop of
connection attempts (1,500 a second and more).

Fails: a server away for 2 s is asked again after a pause
Hint: wait a moment after a failed request
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
                continue
            if "board" in answer:  # another board than ours: its messages start from its first
                board, after = answer["board"], 0
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
