"""Exercise 1, a solution: a long-poll follower that survives a server restart, with no loss and no duplicate."""

import requests

WAIT = 2  # seconds each long poll may wait on the server for news: a whole number, 1 to 5 here
RETRY = 0.5  # seconds between attempts while the server is away


def follow(url: str, deliver, stop) -> None:
    """Long-poll ``url`` and ``deliver(message)`` once per message, oldest first, until ``stop`` is set.

    Two things can go wrong, and they need opposite answers:
    * the request fails (the server is away, frozen past the timeout, or a proxy answers an error page): keep
      ``after`` and ask again after a pause, so that nothing is delivered twice and a restarting server is not
      hammered; any other error (in ``deliver``, say) is a bug, and goes out to the caller;
    * the answer names a board (a ``"board"`` field): the board ``after`` belongs to is not the server's
      (it restarted with a new board, whose ids start again from 1; or this is our first answer), so its
      messages start from its first: start again from 0 on that board, or lose them. The ids alone cannot
      tell: by the time we come back, the new board's newest id may be past ``after`` already.
    """
    after, board = 0, ""  # the id of the last message delivered, and the board it belongs to ("": none yet)
    with requests.Session() as session:
        while not stop.is_set():
            try:
                response = session.get(f"{url}/api/messages", params={"after": after, "board": board, "wait": WAIT},
                                       timeout=WAIT + 5)
                response.raise_for_status()
                answer = response.json()
            except requests.RequestException:  # away, frozen, or not our server's answer (an error status, not JSON)
                stop.wait(RETRY)
                continue
            if "board" in answer:  # another board than ours: its messages start from its first
                board, after = answer["board"], 0
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
