"""Exercise 1: a long-poll follower that survives a server restart (notebooks 01, 03, 07 and 08).
The statement is README.md beside this file.

Check your work with:  make check EX=1   (or: python -m exercises.check 1)
"""

import requests

WAIT = 2  # seconds each long poll may wait on the server for news: a whole number, 1 to 5 here


def follow(url: str, deliver, stop) -> None:
    """Long-poll the polling server at ``url`` (for example http://127.0.0.1:8001) and call
    ``deliver(message)`` exactly once for every message on its board, oldest first, until ``stop``
    (a threading.Event) is set."""
    after = 0  # the id of the last message delivered
    with requests.Session() as session:
        while not stop.is_set():
            response = session.get(f"{url}/api/messages", params={"after": after, "wait": WAIT},
                                   timeout=WAIT + 5)
            answer = response.json()
            for message in answer["messages"]:
                deliver(message)
                after = message["id"]
            # TODO 1: when the server goes away for a moment (a restart, a connection cut, a proxy's 502 page), the
            #         request above raises requests.RequestException (call response.raise_for_status() so that
            #         an error status does too): wait a little (stop.wait(0.5)) and try again, without losing
            #         your place. Catch nothing else: an error in deliver() must come out of follow().
            # TODO 2: a server that restarted has a new board, and its ids start again from 1: your `after` means
            #         nothing there, and the ids cannot show it (the new board may already be past your `after`).
            #         Name the board `after` belongs to in every request ("board": board in the params, "" at
            #         first). An answer with a "board" field comes from another board: take it as yours, and set
            #         after = 0 before you deliver its messages (they start from that board's first).
