"""Both servers, twinned on one board: what ``python -m servers``, the benchmarks and the tests start.

Sharing one ``Chat`` is what lets a polling client and a WebSocket client talk
to each other. Each app is also told its twin's port, so a page served by one
may use the other (see ``origins.py``); with port 0 the WebSocket server's port
is known only once it is listening, so the polling app learns it afterwards.
With ``tls`` (an ``ssl.SSLContext``), both serve https:// and wss:// (``tls.py``).
The class view (``classroom.py``), which shows both transports and is neither, is added
here, on the polling server's port, where the students' pages are served.
Behind a proxy (``Proxy``: the cluster's nginx) the pages reach the twin through the
proxy, so that is the port each app is told, and the class view tells students the
proxy's address.
"""

import ssl
from dataclasses import dataclass

from . import classroom, polling_server, websocket_server
from .broadcast import Broadcaster
from .chat import Chat
from .serving import MAX_CONNECTIONS, MAX_PER_CLIENT, RunningServer


PROXY_TOKEN_VARIABLE = "CLUSTER_PROXY_TOKEN"  # the environment variable a node reads its proxy's secret from (not
# an option: other users of the machine can read a process's command line, not its environment)


@dataclass(frozen=True)
class Proxy:
    """A reverse proxy in front of the twins, on this machine (the cluster's nginx): where pages and students
    reach them, and the secret it adds to every request it passes on, by which the twins know its requests
    from anyone's (``web.client_address``)."""

    polling_port: int
    websocket_port: int
    host: str = "127.0.0.1"  # the address it listens on besides loopback (0.0.0.0: every address)
    token: str | None = None
    tls: bool = False  # it serves https:// and wss:// (the cluster's --tls), and passes plain HTTP on to the twins


class Twins:
    def __init__(self, chat: Chat | None = None, *, host: str = "127.0.0.1", polling_port: int = 0,
                 websocket_port: int = 0, keep_alive: bool = True, quiet: bool = True, allowed_origins=(),
                 ping_interval: float | None = None, max_connections: int = MAX_CONNECTIONS,
                 max_per_client: int = MAX_PER_CLIENT, proxy: Proxy | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.chat = chat or Chat()
        polling_app = polling_server.create_app(self.chat, allowed_origins=allowed_origins)
        classroom.register(polling_app)  # /class: before the server starts, which serves it at once
        limits = {"max_connections": max_connections, "max_per_client": max_per_client}
        self.polling = RunningServer(polling_app, host, polling_port, keep_alive=keep_alive, quiet=quiet, tls=tls,
                                     **limits)
        self.websocket = RunningServer(websocket_server.create_app(
            self.chat, twin_port=self.polling.port, allowed_origins=allowed_origins, ping_interval=ping_interval),
            host, websocket_port, keep_alive=keep_alive, quiet=quiet, tls=tls, **limits)
        pages_polling, pages_websocket = ((proxy.polling_port, proxy.websocket_port) if proxy else
                                          (self.polling.port, self.websocket.port))  # as pages reach them
        self.polling.server.app.config.update(TWIN_PORT=pages_websocket, PROXY=proxy)
        self.websocket.server.app.config.update(TWIN_PORT=pages_polling, PROXY=proxy)
        self.ws_url = self.websocket.url.replace("http", "ws", 1)  # ws://, or wss:// under TLS

    def stop(self) -> None:
        """Stop the ticker; close every WebSocket (code 1001) and event stream cleanly, waiting a moment
        for them; then stop both servers, cutting whatever connection is left, as Ctrl-C does."""
        self.chat.stop_ticker()
        for server in (self.polling, self.websocket):
            for extension in server.server.app.extensions.values():
                if isinstance(extension, Broadcaster):
                    extension.close()
        self.polling.stop()
        self.websocket.stop()

    def __enter__(self) -> "Twins":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
