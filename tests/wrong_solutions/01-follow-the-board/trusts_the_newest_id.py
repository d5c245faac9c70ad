"""Exercise 1, wrong: tells a restart by the newest id falling below `after`, as the ids alone suggest: a new board that is already past `after` when the follower comes back loses its first messages.

Fails: a restarted server whose new board is already past your `after`
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
            if answer["last_id"] < after:  # a new, empty board
                after = 0
                continue
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
