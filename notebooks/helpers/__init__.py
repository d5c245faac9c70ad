"""What only the notebooks need: an experiment or a sentence each, built on ``clients/lab`` and ``clients/bench``.

* ``watch.py``: short or long polling for a few seconds, each answer recorded (notebook 01);
* ``duplex.py``, ``newsfeed.py``, ``guide.py``: notebook 06's experiments and its decision guide's table;
* ``crowd.py``: notebook 07's crowd beside a model, and a saved run of ten thousand clients;
* ``prose.py``: sentences and tables made from the figures just measured.
"""
