"""Exercise 1, wrong: starts again from 0 whenever the newest id is not above `after` (`<=` for `<`), so every
empty long poll on an idle board delivers everything again (against a real server: ids 1-6 three times in 5 s).

Fails: it long-polls
Hint: an empty long poll comes back with last_id equal to your `after`
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
            if answer["last_id"] <= after:  # a new, empty board
                after = 0
                continue
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
