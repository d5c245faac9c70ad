"""The seed article's feature, which both twins serve: every message, then the server's reply to it."""

from ..chat import REPLY  # "Client:{text}\nServer:I am fine, thanks!": the seed's answer, exactly


def answer(text: str) -> list[str]:
    """What the server adds to the chat when a client says ``text``: the text, then the seed's reply."""
    return [text, REPLY.format(text=text)]
