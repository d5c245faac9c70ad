"""python -m servers: both servers in one process, sharing one board.

A polling client on port 8001 and a WebSocket client on port 8002 see each
other's messages because both apps are handed the same ``Chat``.
"""

import argparse
import ipaddress
import signal
import sys
import threading

from .chat import TICKER_RANGE, Chat
from .twins import Twins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--polling-port", type=int, default=8001, help="port of the HTTP polling server (8001)")
    parser.add_argument("--websocket-port", type=int, default=8002, help="port of the WebSocket server (8002)")
    parser.add_argument("--ticker", type=_ticker_interval, metavar="SECONDS",
                        help="post a server-originated event every SECONDS, %g to %g (off by default)" % TICKER_RANGE)
    parser.add_argument("--no-keep-alive", action="store_true",
                        help="close the connection after every HTTP response, as 'flask run' does")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="also accept browser pages from this origin (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)

    if not _is_loopback(args.host):
        print(f"WARNING: binding {args.host}: other machines on your network can reach these servers.\n"
              "         Do this only on a network you trust (a classroom), and stop the servers afterwards.",
              file=sys.stderr)
    chat = Chat()
    if args.ticker:
        chat.start_ticker(args.ticker)
    twins = Twins(chat, host=args.host, polling_port=args.polling_port, websocket_port=args.websocket_port,
                  keep_alive=not args.no_keep_alive, quiet=args.quiet, allowed_origins=args.allow_origin)
    polling, websocket = twins.polling, twins.websocket
    # Ctrl-C (SIGINT) and kill (SIGTERM) both stop the servers cleanly. Set up before the
    # "Press Ctrl-C" line is printed, so a signal sent the moment it appears is handled too.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 address in a URL goes in brackets
    print(f"Open the side-by-side page: http://{shown}:{polling.port}/")
    print(f"HTTP polling server:  http://{shown}:{polling.port}/pages/polling.html   (API: /api/messages)")
    print(f"WebSocket server:     http://{shown}:{websocket.port}/   (ws://{shown}:{websocket.port}/ws)")
    print("Press Ctrl-C to stop both.", flush=True)

    stop.wait()
    twins.stop()
    print("Stopped.")
    return 0


def _ticker_interval(value: str) -> float:
    low, high = TICKER_RANGE
    if not low <= float(value) <= high:
        raise argparse.ArgumentTypeError(f"the ticker interval must be {low} to {high} seconds")
    return float(value)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


if __name__ == "__main__":
    sys.exit(main())
