"""Watch a polling server for a while: when each poll came back, with how many messages, and how late they were.

Notebook 1 uses it to compare short polling at several intervals with long polling.
"""

import numpy as np

from clients.lab.listeners import Poller
from clients.lab.relay import Relay


def watch(port: int, board, interval: float | None, seconds: float, long_wait: float = 1) -> dict:
    """Poll the polling server on ``port`` for ``seconds``: every ``interval`` seconds, or by long polling
    (each request waits on the server at most ``long_wait`` seconds) when ``interval`` is None.

    Starts after the last message on ``board`` (the server's board), naming it; all traffic goes through a
    ``Relay`` so its bytes are counted. Returns {"polls": array of (seconds since start when the answer
    came, messages in it), "delays": array of seconds from the server storing a message to us holding it
    (both clocks this machine's), "round_trips": array of each poll's seconds from request to answer,
    "bytes": the relay's totals {"up", "down"}}.
    """
    with Relay(port) as relay:
        poller = Poller(f"http://127.0.0.1:{relay.port}", interval, deadline=seconds, after=board.last_id,
                        board=board.identity, wait=long_wait).start()
        poller.join()
    if poller.error is not None:
        raise RuntimeError(f"the poller stopped: {poller.error!r}")
    return {"polls": np.array([(at - poller.started, count) for at, count in poller.answers]),
            "delays": np.array([arrival.delay for arrival in poller.received]),
            "round_trips": np.array(poller.polls), "bytes": relay.totals()}
