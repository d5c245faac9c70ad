"""Fixtures: real servers on ephemeral loopback ports, started and stopped by each test."""

import os
import shutil

import pytest

from servers import polling_server, websocket_server
from servers.chat import Chat
from servers.serving import RunningServer


def require_tool(name: str) -> str:
    """The path of a system tool; skip without it, but fail in CI, where it must be installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (tests/install-tools.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def chat():
    chat = Chat()
    yield chat
    chat.stop_ticker()


@pytest.fixture
def polling(chat):
    """The polling server, sharing ``chat`` with the ``websocket`` fixture."""
    with RunningServer(polling_server.create_app(chat)) as server:
        yield server


@pytest.fixture
def websocket(chat):
    """The WebSocket server; ``websocket.ws_url`` is its ws:// base URL."""
    with RunningServer(websocket_server.create_app(chat)) as server:
        server.ws_url = server.url.replace("http://", "ws://", 1)
        yield server
