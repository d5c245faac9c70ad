"""Sequence diagrams from recorded traffic: one script played over each transport (``scenario.py``), the relay's
recording cut into arrows (``sequence.py``) and drawn (``draw.py``); ``python -m clients.bench diagram``.
"""
