"""The measurement toolkit: ``python -m clients.bench`` (``__main__.py``) and four folders, one per kind of work.

* ``measure/``: latency and bytes on the wire per transport, one function per measurement, each returning
  plain data; ``measure/run.py`` runs them all (what ``python -m clients.bench`` writes);
* ``load/``: many clients per transport on a server process of their own (``python -m clients.bench load``);
* ``diagrams/``: one script played over each transport, drawn as sequence diagrams (``... diagram``);
* ``results/``: what turns measurements into figures: statistics, reports and files, plots, colours.

The clients they measure with, the relay that counts bytes and the servers measured against are in
``clients/lab/``, shared with the notebooks and the exercises.
"""
