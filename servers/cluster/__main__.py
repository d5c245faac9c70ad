"""python -m servers.cluster: Redis, N server processes and nginx in front, on this machine, until Ctrl-C."""

import argparse
import ipaddress
import sys
from pathlib import Path

from .. import trust
from ..classroom import certificate_names, network_urls, warn_when_reachable
from ..stop_signals import listen_for_stop_signals
from . import MAX_NODES, Cluster, ToolMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=_node_count, default=2, help=f"server processes, 1 to {MAX_NODES} (2)")
    parser.add_argument("--polling-port", type=int, default=8001, help="nginx's port for HTTP polling (8001)")
    parser.add_argument("--websocket-port", type=int, default=8002, help="nginx's port for WebSockets (8002)")
    parser.add_argument("--host", default="127.0.0.1", type=_address,
                        help="an address for nginx to listen on besides loopback, 0.0.0.0 for every one: a class on "
                             "the room's network (default: loopback only)")
    parser.add_argument("--memory", action="store_true",
                        help="no Redis: each node keeps its own board in memory (to see why that fails)")
    parser.add_argument("--tls", action="store_true",
                        help="nginx serves https:// and wss:// (HTTP/2 where the client offers it) with a certificate "
                             "signed by the project's CA, and plain HTTP/1.1 to the nodes")
    parser.add_argument("--tls-folder", type=Path, default=trust.FOLDER, metavar="FOLDER",
                        help="where --tls keeps the CA and the certificate (default: .tls/ in the project)")
    args = parser.parse_args(argv)
    stop_signals, _ = listen_for_stop_signals()  # first: a Ctrl-C while the parts start counts
    warn_when_reachable(args.host)
    try:
        certificates = make_certificates(args) if args.tls else None
        cluster = Cluster(args.nodes, redis=not args.memory, polling_port=args.polling_port,
                          websocket_port=args.websocket_port, host=args.host, certificates=certificates,
                          echo=lambda line: print(line, end="", file=sys.stderr))
    except (ToolMissing, RuntimeError, ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if cluster.redis:
        print(f"Redis:  {cluster.redis.url} (pid {cluster.redis.child.pid}), the board every node shares")
    else:
        print("No Redis: every node has a board of its own, so clients of different nodes do not meet.")
    for node in cluster.nodes:
        print(f"Node {node.number}: pid {node.child.pid}, polling {node.polling_url}, WebSocket {node.ws_url}/ws")
    print(f"nginx:  round robin over the nodes (pid {cluster.nginx.child.pid}); configuration in "
          f"{cluster.nginx.config}")
    print(f"Open the side-by-side page: {cluster.polling_url}/")
    print(f"HTTP polling through nginx: {cluster.polling_url}/api/messages")
    print(f"WebSocket through nginx:    {cluster.ws_url}/ws")
    for url in network_urls(args.host, cluster.polling_port, "https" if args.tls else "http"):
        print(f"Students open:              {url}   (the class view, on this machine: {cluster.polling_url}/class)")
    if certificates:
        print(trust.instructions(certificates.ca))
    print("Kill a node (kill -9 PID) and watch its clients move to another. Ctrl-C stops everything.", flush=True)
    stop_signals.recv(1)  # until Ctrl-C (SIGINT) or kill (SIGTERM)
    cluster.stop()
    print("Stopped.")
    return 0


def make_certificates(args: argparse.Namespace):
    """A certificate for nginx's addresses, signed by the project's CA (made once)."""
    from .. import certificates  # only a cluster that serves TLS needs its library
    return certificates.make(certificate_names(args.host, []), args.tls_folder)


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise argparse.ArgumentTypeError("must be an IP address of this machine, or 0.0.0.0 for every one") from None


def _node_count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_NODES}")
    return int(value)


if __name__ == "__main__":
    sys.exit(main())
