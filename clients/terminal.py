"""What the three terminal clients share, so that each holds only its transport: how a message and the
server's notices are shown, how the lines you type are sent, and the HTTP session (with the CA it trusts).

``polling_client.py``, ``websocket_client.py`` and ``sse_client.py`` have the same functions in the same
order; ``diff`` any two of them and what differs is the transport.
"""

import sys

import requests

from clients import tls

RESTARTED = "[the server restarted with an empty board: reading it from the start]"


def show(message: dict) -> None:
    print(f"{message['author']}: {message['text']}")


def new_board(ours: str | None, theirs: str) -> tuple[str, int]:
    """The server named another board than ours (``theirs``: it restarted with a new one, or we had none yet).
    Returns our board and cursor from now on: ``theirs``, from its first message, which the server sends next.
    Said only when we had a board: on the very first answer, every client is told the board it is on."""
    if ours:
        print(RESTARTED, file=sys.stderr)
    return theirs, 0


def missed(notice: dict) -> None:
    """The board no longer keeps the oldest messages after our cursor (``{"count": K, "first_id": F}``)."""
    print(f"[{notice['count']} older messages are no longer kept]", file=sys.stderr)


def send_typed_lines(send, lost: tuple[type[Exception], ...] = ()) -> None:
    """Every line typed, until Ctrl-D or Ctrl-C, sent with ``send(text)``. A line that cannot go because the
    connection is gone for now (``send`` raises one of ``lost``) is said and dropped; any other failure ends
    the chat."""
    try:
        for line in sys.stdin:
            if line.strip():
                try:
                    send(line.rstrip("\n"))
                except lost:
                    print("[not connected right now: that message was not sent]", file=sys.stderr)
    except KeyboardInterrupt:
        pass


class Session(requests.Session):
    """A requests session whose own ``verify`` (a CA file) is used: requests lets REQUESTS_CA_BUNDLE, when the
    environment sets it, replace a session's ``verify`` for every request that names none itself."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        return super().merge_environment_settings(url, proxies, stream, self.verify if verify is None else verify,
                                                  cert)


def new_session(ca: str | None = None) -> requests.Session:
    """A session whose connections are kept open between requests, verifying https:// against ``ca`` (a CA file;
    None: the system's CAs)."""
    session = Session()
    session.verify = tls.verify(ca)
    return session
