"""The minimal pair: the seed article's chat on Flask in two short files, the first thing to read.

``polling_chat.py`` (HTTP short and long polling) and ``websocket_chat.py`` (flask-sock), each with its
page; ``python -m servers.minimal`` runs both. README.md, beside them, walks from here to the measured
servers one difference at a time.
"""
