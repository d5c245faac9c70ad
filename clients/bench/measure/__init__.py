"""Latency and bytes on the wire, per transport: each measurement a function returning plain data.

``run.run()`` runs them all on servers of its own (``remote.run_remote()`` against servers elsewhere);
``command.py`` is ``python -m clients.bench``. Latencies in seconds, summaries in milliseconds.
"""
