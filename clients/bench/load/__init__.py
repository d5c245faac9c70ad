"""Many clients per transport on one server process, beside the ``websockets`` library: the load run.

``run.py`` runs it (``small_load()`` fits a notebook), ``command.py`` is ``python -m clients.bench load``;
``scenario.py`` is one transport with one crowd, step by step, asking the servers what they cost through
``probes.py``; ``posts.py`` times messages posted to our WebSocket server and the library's side by side;
the clients live in processes of their own (``client_process.py``; ``crowd.py`` connects them and tallies
what they got), started with the servers by ``processes.py``; ``reference.py`` is the ``websockets``
library's broadcast they are compared with; ``limits.py`` says what ran out when a crowd is too much for the
machine, and ``profile.py`` where the server's time goes in a fan-out.
"""
