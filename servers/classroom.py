"""The live class view: what every student's page costs the server, on the teacher's projector.

Students open the teacher's URL and join with a name (``pages/student.html``); their
page bills everything it does to ``?client=NAME``, so the server's own meter
(``meter.py``) counts each one's requests, TCP connections, bytes each way and the
messages the transports delivered to it. ``/class`` shows those figures for every
connected client, totals per transport and what the server process costs, live.

From the class view the teacher switches every student page at once between short
polling every 100 ms, long polling, a WebSocket and Server-Sent Events, starts and
stops the server's ticker, and the room watches the cost change. Only the teacher's
own machine may switch: a request from a loopback address (students reach the server
through the network, never through 127.0.0.1; behind the cluster's nginx, the address
nginx saw, see ``web.client_address``). The student pages learn the mode by asking
``/api/class/mode`` once a second and read their own figures from ``/api/status``:
those control requests are billed apart (``meter.py``), so each row shows what its
transport costs and the control requests are shown beside it.

The mode and the list of students belong to the room (``room.py``): this process's, or,
behind nginx, one that every node shares through Redis (``redis_room.py``).
"""

import socket
import sys
import time
from urllib.parse import urlsplit

import psutil
from flask import Flask, current_app, request, send_from_directory

from . import process, trust, web
from .chat import LONGEST_WAIT, BadInput
from .origins import is_loopback
from .room import MODES

CONNECTED = LONGEST_WAIT + 5  # seconds since a client's last request (or an open stream) for the view to list it:
# a long poll held as long as it may be, and the client's next request
MAX_ROWS = 100  # clients the class view lists: a class of 30 with a few tabs each; the rest are counted in the totals
ROW = ("requests", "connections", "bytes_to_client", "bytes_from_client", "messages_delivered", "control_requests",
       "control_bytes_to_client", "control_bytes_from_client")  # the figures added up per transport


def register(app: Flask) -> None:
    app.add_url_rule("/class", "class_view", class_view)
    app.add_url_rule("/api/class", "class_report", class_report)
    app.add_url_rule("/api/class/mode", "class_mode", class_mode)
    app.add_url_rule("/api/class/mode", "switch_mode", switch_mode, methods=["POST"])


def class_view():
    """/class: the page for the projector."""
    return send_from_directory(web.PAGES, "class.html")


def class_report():
    """GET /api/class: every connected client's figures, totals per transport, the server process, the mode."""
    chat = current_app.extensions["chat"]
    connected = [{"client": client, **row} for client, row in chat.room.clients(CONNECTED).items()]
    totals: dict[str, dict] = {}
    for row in connected:
        total = totals.setdefault(row["transport"] or "sending only", {"clients": 0, **dict.fromkeys(ROW, 0)})
        total["clients"] += 1
        for name in ROW:
            total[name] += row[name]
    return {"time": time.time(), "mode": chat.room.mode, "teacher": web.from_this_machine(),
            "ticker": chat.ticker_interval, "listed_for": CONNECTED,
            "join": join_urls(), "process": process.usage(), "connected": len(connected),
            "clients": listed(connected), "totals": totals}


def listed(connected: list[dict]) -> list[dict]:
    """The MAX_ROWS rows the class view shows: those with a stream open, then those seen last. Bounded, so the
    answer the projector asks for every second stays small (names are 40 characters at most) however many names
    clients make up."""
    return sorted(connected, key=lambda row: (row["streams"] > 0, row["seen"]), reverse=True)[:MAX_ROWS]


@web.control
def class_mode():
    """GET /api/class/mode: what the student pages should use now."""
    return {"mode": current_app.extensions["chat"].room.mode}


def switch_mode():
    """POST /api/class/mode {"mode": "short" | "long" | "websocket" | "sse"}: from the teacher's machine only."""
    web.require_teacher("only the teacher's own machine may switch the class: open the class view there, as "
                        "http://127.0.0.1:PORT/class")
    payload = web.read_json()
    mode = payload.get("mode") if isinstance(payload, dict) else None
    if mode not in MODES:
        raise BadInput("invalid_mode", f"\"mode\" must be one of {', '.join(MODES)}")
    current_app.extensions["chat"].room.switch(mode)
    return {"mode": mode}


def join_urls() -> list[str]:
    """What students open: this server's URL by each address of this machine it listens on, loopback aside
    (none when it listens on loopback only, as it does unless started with --host 0.0.0.0); behind the
    cluster's nginx, nginx's."""
    proxy = current_app.config["PROXY"]
    if proxy is not None:
        return network_urls(proxy.host, proxy.polling_port, "https" if proxy.tls else "http")
    return network_urls(request.environ.get("SERVER_NAME", ""), request.environ.get("SERVER_PORT"), request.scheme)


def network_addresses(host: str) -> list[str]:
    """The addresses other machines can reach a server bound to ``host`` by (none for loopback)."""
    if host in ("0.0.0.0", "::"):
        hosts = [address.address for addresses in psutil.net_if_addrs().values() for address in addresses
                 if address.family == socket.AF_INET]
    else:
        hosts = [host]
    return [host for host in hosts if not is_loopback(host)]


def network_urls(host: str, port, scheme: str = "http") -> list[str]:
    """http://ADDRESS:PORT/ (https:// under TLS) for every address other machines can reach a server bound to
    ``host`` by."""
    return [f"{scheme}://{address}:{port}/" for address in network_addresses(host)]


def warn_when_reachable(host: str) -> None:
    """Say so, before anything starts, when a launcher binds an address other machines can reach."""
    if not is_loopback(host):
        print(f"WARNING: binding {host}: other machines on your network can reach these servers.\n"
              "         Do this only on a network you trust (a classroom), and stop the servers afterwards.",
              file=sys.stderr)


def certificate_names(host: str, allowed_origins: list[str]) -> list[str]:
    """What the server certificate names: loopback, localhost, the addresses other machines reach ``host`` by,
    and the hosts of --allow-origin. The CA vouches for private names only (``trust.private``): an address
    named with --host must be one; of every address (0.0.0.0), the others are left out, and said so."""
    reached = network_addresses(host)
    if host in ("0.0.0.0", "::") and (public := [address for address in reached if not trust.private(address)]):
        print(f"Note: the certificate leaves out {', '.join(public)}: the project's CA vouches for private "
              "addresses only.", file=sys.stderr)
        reached = [address for address in reached if trust.private(address)]
    names = ["127.0.0.1", "::1", "localhost", *reached]
    return names + [name for origin in allowed_origins if (name := urlsplit(origin).hostname) and name not in names]
