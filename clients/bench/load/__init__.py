"""Many clients per transport on one server process, beside the ``websockets`` library: the load run.

``run.py`` runs it (``small_load()`` fits a notebook), ``command.py`` is ``python -m clients.bench load``;
the clients live in a process of their own (``client_process.py``), started with the servers by
``processes.py``; ``reference.py`` is the ``websockets`` library's broadcast they are compared with.
"""
