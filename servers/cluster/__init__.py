"""Several server processes on one Redis board, behind nginx: ``python -m servers.cluster --nodes 2``.

Why a cluster at all: the seed article says WebSockets are hard to scale horizontally because they are
stateful. This starts the real parts so you can see what that means. Polling becomes stateless once the
board is in Redis (any node answers any poll), while a WebSocket stays pinned to the node that holds its
connection: every node follows the board (the bus), and when a node dies its clients reconnect through
nginx to another one and resume from their last id.

Everything listens on 127.0.0.1 only, unless ``host`` names an address for nginx to listen on too (a class on
the room's network: ``--host 0.0.0.0``); the nodes and Redis stay on loopback, reached through nginx alone. Every
node shares the class (its mode, its students) through Redis, as it shares the board. The configuration, logs
and Redis's data live in a temporary folder that ``stop`` removes. ``Cluster`` is what the command, the tests
and notebook 08 start.
"""

import secrets
import shutil
import tempfile
from pathlib import Path

from ..twins import Proxy
from .nginx import PING_INTERVAL, READ_TIMEOUT, Nginx
from .processes import Node, RedisServer, ToolMissing, find_tool, free_ports

__all__ = ["Cluster", "MAX_NODES", "ToolMissing", "missing_tools"]

MAX_NODES = 8  # node processes one cluster may start


def missing_tools(redis: bool = True) -> list[str]:
    """What a cluster needs and this machine lacks, each as a sentence naming its package."""
    missing = []
    for tool in (["redis-server"] if redis else []) + ["nginx"]:
        try:
            find_tool(tool)
        except ToolMissing as error:
            missing.append(str(error))
    return missing


class Cluster:
    """redis-server (unless ``redis=False``: then every node has its own board in memory), ``nodes`` node
    processes, and nginx on ``polling_port`` and ``websocket_port`` (free ports when 0), of loopback and
    ``host``. The nodes ping each WebSocket client every ``ping_interval`` s, and nginx gives up a node silent
    for ``read_timeout`` s: shorter than their defaults only for an experiment whose clients wait less.
    With ``certificates`` (``servers.certificates.make``'s, for nginx's addresses), nginx serves https:// and
    wss://, HTTP/2 included, and passes plain HTTP/1.1 on to the nodes."""

    def __init__(self, nodes: int = 2, *, redis: bool = True, polling_port: int = 0, websocket_port: int = 0,
                 host: str = "127.0.0.1", keep: int | None = None, echo=None, ping_interval: float = PING_INTERVAL,
                 read_timeout: float = READ_TIMEOUT, certificates=None) -> None:
        if read_timeout <= ping_interval:
            raise ValueError("nginx would cut every idle WebSocket: read_timeout must be above ping_interval")
        self.ping_interval, self.read_timeout = ping_interval, read_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="cluster-"))
        self.folder.chmod(0o711)  # started as root, nginx's workers run as nobody: they must reach their folders
        self.redis: RedisServer | None = None
        self.nodes: list[Node] = []
        self.nginx: Nginx | None = None
        try:
            if redis:
                self.redis = RedisServer(self.folder / "redis").start()
            ports = free_ports(2 + 2 * nodes)  # all different: nginx's two, then each node's two
            self.polling_port, self.websocket_port = polling_port or ports[0], websocket_port or ports[1]
            self.proxy = Proxy(self.polling_port, self.websocket_port, host=host, token=secrets.token_hex(16),
                               tls=certificates is not None)
            for number in range(1, nodes + 1):
                self.nodes.append(Node(number, self.folder, self.redis and self.redis.url, keep=keep, echo=echo,
                                       ping_interval=ping_interval, proxy=self.proxy,
                                       ports=tuple(ports[2 * number:2 * number + 2])))
            for node in self.nodes:  # started side by side, waited for one by one
                node.child.wait_ready()
            self.nginx = Nginx(self.folder / "nginx", self.proxy, self.nodes, echo=echo, read_timeout=read_timeout,
                               ping=ping_interval, certificate=certificates and certificates.certificate)
        except BaseException:
            self.stop()
            raise
        http, ws = ("https", "wss") if certificates else ("http", "ws")
        self.polling_url = f"{http}://127.0.0.1:{self.polling_port}"
        self.ws_url = f"{ws}://127.0.0.1:{self.websocket_port}"
        self.certificates = certificates

    def kill_node(self, index: int) -> None:
        """SIGKILL one node: it dies at once, its kernel closes its connections, and everyone learns at once."""
        self.nodes[index].child.kill()

    def freeze_node(self, index: int) -> None:
        """SIGSTOP one node: it stops and closes nothing, as a machine that froze; only timeouts tell."""
        self.nodes[index].child.freeze()

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        """Redis again, on the same port with the same data: the nodes carry on without a restart."""
        self.redis.start()

    def stop(self) -> None:
        """Everything, front to back: nginx, the nodes, Redis; then the temporary folder."""
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            node.child.stop()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
