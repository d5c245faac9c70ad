"""Measurements into figures: statistics (``stats.py``), the websocket.org table (``scaling.py``), reports and
files (``report.py``, ``load_report.py``), plots (``plots.py``) in one colour per transport (``colors.py``).
"""
