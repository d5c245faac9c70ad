"""Exercise 1, a solution: a long-poll follower that survives a server restart, with no loss and no duplicate."""

import requests

WAIT = 2  # seconds each long poll may wait on the server for news (0 to 30)
RETRY = 0.5  # seconds between attempts while the server is away


def follow(url: str, deliver, stop) -> None:
    """Long-poll ``url`` and ``deliver(message)`` once per message, oldest first, until ``stop`` is set.

    Two things can go wrong, and they need opposite answers:
    * the connection fails (the server is away): keep ``after`` and ask again, so that
      nothing is delivered twice;
    * the server answers with a newest id *below* ``after``: it restarted with an empty
      board, whose ids start again from 1, so start again from 0 or lose its messages.
    """
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
