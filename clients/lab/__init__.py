"""What the measurement toolkit, the notebooks and the exercises share: the instruments of the lab.

* ``listeners.py``: the measuring clients, one per transport (``Poller`` for short and long polling,
  ``WebSocketListener``, ``EventStream`` for Server-Sent Events), each on a thread of its own;
  ``async_listeners.py``, the same three on asyncio, for a crowd; ``protocol.py``, what all of them
  say and read, once;
* ``relay.py``: a TCP relay that counts, records and delays every byte between a client and a server, and
  fails as a link does: at once, as a dead process's connections, or silently (``freeze``);
  ``bytesplit.py`` splits a recording into HTTP headers and bodies, frame headers and payloads, events;
* ``capture.py``: a tshark capture on the loopback interface, the independent witness;
* ``peers.py``: servers to compare ours with (a raw TCP echo, the ``websockets`` library's echo).
"""
