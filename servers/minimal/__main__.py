"""python -m servers.minimal: the minimal pair in one process, polling on port 7001 and WebSocket on 7002.

Each app runs on Werkzeug's development server, the one ``flask run`` uses, as a student's own Flask app
would, on this machine only (127.0.0.1); the ports are their own, so the pair runs beside the measured
servers (``python -m servers``, ports 8001 and 8002).
"""

import argparse
import sys
import threading

from werkzeug.serving import make_server

from ..stop_signals import listen_for_stop_signals
from . import polling_chat, websocket_chat

HOST, POLLING_PORT, WEBSOCKET_PORT = "127.0.0.1", 7001, 7002


class Running:
    """A Flask app served by Werkzeug's threaded development server, from a thread of this process."""

    def __init__(self, app, port: int = 0) -> None:
        self.server = make_server(HOST, port, app, threaded=True)
        self.port = self.server.port
        self.url = f"http://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"minimal-{self.port}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """No new connections; those still open (a WebSocket, a held long poll) end with the process."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.minimal", description=__doc__.splitlines()[0])
    parser.add_argument("--polling-port", type=int, default=POLLING_PORT, help=f"default {POLLING_PORT}")
    parser.add_argument("--websocket-port", type=int, default=WEBSOCKET_PORT, help=f"default {WEBSOCKET_PORT}")
    args = parser.parse_args(argv)
    running: list[Running] = []
    for app, port in ((polling_chat.create_app(), args.polling_port),
                      (websocket_chat.create_app(), args.websocket_port)):
        try:
            running.append(Running(app, port))
        except OSError as error:  # the port is taken, most likely
            print(f"error: port {port}: {error}", file=sys.stderr)
            for server in running:
                server.stop()
            return 1
    polling, websocket = running
    stop_signals, _ = listen_for_stop_signals()  # before "Press Ctrl-C": a signal sent when it appears counts
    print(f"The seed's chat over HTTP polling: {polling.url}/")
    print(f"The seed's chat over a WebSocket:  {websocket.url}/   (ws://{HOST}:{websocket.port}/ws)")
    print("Press Ctrl-C to stop both.", flush=True)
    stop_signals.recv(1)  # until Ctrl-C (SIGINT) or kill (SIGTERM)
    for server in running:
        server.stop()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
