"""Watch a polling server for a while: when each poll came back, with how many messages, and how late they were.

Notebook 1 uses it to compare short polling at several intervals with long polling.
"""

import time

import numpy as np
import requests

from clients.polling_client import poll

from clients.lab.relay import Relay


def watch(port: int, board, interval: float | None, seconds: float, long_wait: float = 1) -> dict:
    """Poll the polling server on ``port`` for ``seconds``: every ``interval`` seconds, or by long polling
    (each request waits on the server at most ``long_wait`` seconds) when ``interval`` is None.

    Starts after the last message on ``board`` (the server's board); all traffic goes through a
    ``Relay`` so its bytes are counted. Returns {"polls": array of (seconds since start when the answer
    came, messages in it), "delays": array of seconds from the server storing a message to us holding it
    (both clocks this machine's), "bytes": the relay's totals {"up", "down"}}.
    """
    rows, delays = [], []
    with Relay(port) as relay, requests.Session() as session:
        url, after = f"http://127.0.0.1:{relay.port}", board.last_id
        start = next_poll = time.monotonic()
        while time.monotonic() < start + seconds:
            messages = poll(session, url, after, wait=0 if interval else long_wait)
            got = time.time()
            rows.append((time.monotonic() - start, len(messages)))
            delays += [got - message["time"] for message in messages]
            after = messages[-1]["id"] if messages else after
            if interval:
                next_poll += interval
                time.sleep(max(0.0, next_poll - time.monotonic()))
    return {"polls": np.array(rows), "delays": np.array(delays), "bytes": relay.totals()}
