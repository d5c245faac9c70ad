"""Exercise 1, wrong: survives a cut but does nothing about a restart: after one, it asks the new board for ids
past its newest, gets an empty answer at once, and asks again, hundreds of times a second.

Fails: a restarted server (new empty board
Hint: your requests name no board
"""

import requests

WAIT = 2  # seconds each long poll may wait on the server for news (0 to 30)
RETRY = 0.5  # seconds between attempts while the server is away


def follow(url: str, deliver, stop) -> None:
    """Long-poll ``url`` and ``deliver(message)`` once per message, oldest first, until ``stop`` is set."""
    after = 0
    with requests.Session() as session:
        while not stop.is_set():
            try:
                response = session.get(f"{url}/api/messages", params={"after": after, "wait": WAIT},
                                       timeout=WAIT + 5)
                response.raise_for_status()
                answer = response.json()
            except (requests.RequestException, ValueError):  # away, or not our server's answer
                stop.wait(RETRY)
                continue
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
