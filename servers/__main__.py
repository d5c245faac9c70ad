"""python -m servers: both servers in one process, sharing one board.

A polling client on port 8001 and a WebSocket client on port 8002 see each
other's messages because both apps are handed the same ``Chat``. With
``--redis redis://HOST:PORT/DB`` that board is kept in Redis, so several such
processes serve one chat (``python -m servers.cluster`` starts them behind nginx).
"""

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from . import trust
from .board import KEEP, BoardUnavailable, MessageBoard
from .chat import TICKER_RANGE, Chat
from .classroom import certificate_names, network_urls, warn_when_reachable
from .meter import Meter
from .room import Room
from .serving import MAX_CONNECTIONS, MAX_PER_CLIENT, allow_open_files
from .stop_signals import listen_for_stop_signals
from .twins import PROXY_TOKEN_VARIABLE, Proxy, Twins

SPARE_FILES = 64  # open files the process needs besides its connections (listening sockets, pipes, modules)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    warn_when_reachable(args.host)
    fit_connections_to_open_files(args)
    board = open_board(args.redis, args.keep)
    if board is None:
        return 2
    certificates = None
    if args.tls and (certificates := make_certificates(args)) is None:
        board.close()
        return 2
    meter = Meter()
    chat = Chat(board, meter=meter, room=open_room(args.redis, meter))
    if args.ticker:
        chat.start_ticker(args.ticker)
    twins = start_twins(args, chat, certificates)
    stop_signals, _ = listen_for_stop_signals()  # before "Press Ctrl-C": a signal sent when it appears counts
    show_addresses(args, twins, certificates)
    print("Press Ctrl-C to stop both.", flush=True)

    stop_signals.recv(1)  # until Ctrl-C (SIGINT) or kill (SIGTERM)
    twins.stop()
    chat.room.close()
    board.close()
    print("Stopped.")
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m servers", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--polling-port", type=int, default=8001, help="port of the HTTP polling server (8001)")
    parser.add_argument("--websocket-port", type=int, default=8002, help="port of the WebSocket server (8002)")
    parser.add_argument("--ticker", type=_ticker_interval, metavar="SECONDS",
                        help="post a server-originated event every SECONDS, %g to %g (off by default)" % TICKER_RANGE)
    parser.add_argument("--keep", type=_at_least_one, default=KEEP, metavar="N",
                        help=f"messages the board keeps; older ones are forgotten ({KEEP:,})")
    parser.add_argument("--max-connections", type=_at_least_one, default=MAX_CONNECTIONS, metavar="N",
                        help=f"open connections per server; past it, 503 (default {MAX_CONNECTIONS:,})")
    parser.add_argument("--max-per-client", type=_at_least_one, default=MAX_PER_CLIENT, metavar="N",
                        help="open connections per server from one client address, this machine's aside; past it, "
                             f"429 (default {MAX_PER_CLIENT}; raise it for a class that reaches you through one NAT "
                             "address)")
    parser.add_argument("--no-keep-alive", action="store_true",
                        help="close the connection after every HTTP response, as 'flask run' does")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="also accept browser pages from this origin (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument("--tls", action="store_true",
                        help="serve https:// and wss:// with a certificate made now, signed by the project's own CA "
                             "(made once; the launcher prints how to trust it)")
    parser.add_argument("--tls-folder", type=Path, default=trust.FOLDER, metavar="FOLDER",
                        help="where --tls keeps the CA and the certificate (default: .tls/ in the project, which git "
                             "ignores)")
    parser.add_argument("--redis", type=_redis_url, metavar="redis://HOST:PORT/DB",
                        help="keep the board in Redis, shared with other server processes (default: in memory)")
    parser.add_argument("--ping-interval", type=_ping_interval, metavar="SECONDS",
                        help="ping each WebSocket client every SECONDS; one silent for a whole interval is closed "
                             "(off by default; a proxy in front needs pings to keep idle connections open)")
    parser.add_argument("--proxy-ports", type=_port_pair, metavar="POLLING:WEBSOCKET",
                        help="the ports a reverse proxy on this machine serves these twins on (the cluster's nginx): "
                             "each page is sent there for its twin")
    parser.add_argument("--proxy-host", default="127.0.0.1", metavar="ADDRESS",
                        help="the address that proxy listens on besides loopback: the class view shows students its "
                             f"URLs (with --proxy-ports; its secret comes in the environment, {PROXY_TOKEN_VARIABLE})")
    parser.add_argument("--proxy-tls", action="store_true",
                        help="that proxy serves https:// and wss:// (the class view shows students https:// URLs)")
    return parser.parse_args(argv)


def fit_connections_to_open_files(args: argparse.Namespace) -> None:
    """Each connection costs an open file, and the two servers of this process may each hold --max-connections:
    lower it until both at their cap, and ``SPARE_FILES`` besides, fit the system's limit, and say so."""
    files = allow_open_files(2 * args.max_connections + SPARE_FILES)
    if files < 2 * args.max_connections + SPARE_FILES:
        args.max_connections = max(1, (files - SPARE_FILES) // 2)
        print(f"Note: this system allows {files} open files, so each server takes at most "
              f"{args.max_connections} connections.", file=sys.stderr)


def make_certificates(args: argparse.Namespace):
    """The CA (made once) and a server certificate for every address this run is reached by; None after saying
    why there is none (``cryptography`` missing, or a name the CA may not vouch for)."""
    try:
        from . import certificates  # only the servers that serve TLS need its library
        return certificates.make(certificate_names(args.host, args.allow_origin), args.tls_folder)
    except ImportError as error:
        print(f"error: --tls needs the cryptography package ({error}): make install", file=sys.stderr)
    except ValueError as error:
        print(f"error: {error}: reach the servers by an IP address of this network, or a name under .local or "
              ".lan", file=sys.stderr)
    return None


def start_twins(args: argparse.Namespace, chat: Chat, certificates) -> Twins:
    proxy = args.proxy_ports and Proxy(*args.proxy_ports, host=args.proxy_host, tls=args.proxy_tls,
                                       token=os.environ.get(PROXY_TOKEN_VARIABLE))
    return Twins(chat, host=args.host, polling_port=args.polling_port, websocket_port=args.websocket_port,
                 keep_alive=not args.no_keep_alive, quiet=args.quiet, allowed_origins=args.allow_origin,
                 max_connections=args.max_connections, max_per_client=args.max_per_client,
                 ping_interval=args.ping_interval, proxy=proxy,
                 tls=certificates and certificates.server_context())


def show_addresses(args: argparse.Namespace, twins: Twins, certificates) -> None:
    """The URLs to open, and under TLS how to trust the CA."""
    polling, websocket = twins.polling, twins.websocket
    http, ws = ("https", "wss") if certificates else ("http", "ws")
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 address in a URL goes in brackets
    print(f"Open the side-by-side page: {http}://{shown}:{polling.port}/")
    print(f"HTTP polling server:  {http}://{shown}:{polling.port}/pages/polling.html   (API: /api/messages)")
    print(f"WebSocket server:     {http}://{shown}:{websocket.port}/   ({ws}://{shown}:{websocket.port}/ws)")
    for url in network_urls(args.host, polling.port, http):
        print(f"Students open:        {url}   "
              f"(the class view, on this machine: {http}://127.0.0.1:{polling.port}/class)")
    if certificates:
        print(trust.instructions(certificates.ca))


def open_board(redis_url: str | None, keep: int):
    """The board in this process's memory, or in Redis (checked now: a wrong address is said at once)."""
    if redis_url is None:
        return MessageBoard(keep)
    from .redis_board import RedisBoard  # only the servers that use Redis need its client library
    board = RedisBoard(redis_url, keep)
    try:
        print(f"Board: in Redis at {redis_url}, {board.last_id} messages posted so far.")
    except BoardUnavailable as error:
        board.close()
        print(f"error: {error}\nIs redis-server running there? (Debian or Ubuntu: sudo apt-get install "
              "redis-server; python -m servers.cluster starts one for you.)", file=sys.stderr)
        return None
    return board


def open_room(redis_url: str | None, meter: Meter) -> Room:
    """The class (its mode, its students) in this process, or in Redis, shared with every process on that board."""
    if redis_url is None:
        return Room(meter)
    from .redis_room import RedisRoom
    return RedisRoom(redis_url, meter)


def _ticker_interval(value: str) -> float:
    low, high = TICKER_RANGE
    if not low <= float(value) <= high:
        raise argparse.ArgumentTypeError(f"the ticker interval must be {low} to {high} seconds")
    return float(value)


def _redis_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # raises ValueError when it is not a number
    except ValueError:
        parts = None
    database = parts.path.strip("/") if parts else ""
    if parts is None or parts.scheme != "redis" or not parts.hostname or not (database.isdigit() or not database):
        raise argparse.ArgumentTypeError("expected redis://HOST:PORT/DB, for example redis://127.0.0.1:6379/0")
    return value


def _ping_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("the ping interval must be 0.1 to 3600 seconds")
    return seconds


def _port_pair(value: str) -> tuple[int, int]:
    polling, _, websocket = value.partition(":")
    if not (polling.isdigit() and websocket.isdigit() and 0 < int(polling) < 65536 and 0 < int(websocket) < 65536):
        raise argparse.ArgumentTypeError("expected two ports, POLLING:WEBSOCKET, for example 8001:8002")
    return int(polling), int(websocket)


def _at_least_one(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(value)


if __name__ == "__main__":
    sys.exit(main())
