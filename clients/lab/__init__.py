"""What the measurement toolkit, the notebooks and the exercises share: the instruments of the lab.

* ``relay.py``: a TCP relay that counts, records and delays every byte between a client and a server;
  ``bytesplit.py`` splits a recording into HTTP headers and bodies, frame headers and payloads, events;
* ``capture.py``: a tshark capture on the loopback interface, the independent witness;
* ``peers.py``: servers to compare ours with (a raw TCP echo, the ``websockets`` library's echo).
"""
