"""nginx in front of the nodes: one port per transport, round robin, WebSocket upgrades passed through.

Why round robin and not ``ip_hash``: ip_hash picks a node from the first three
bytes of the client's IPv4 address, so a class on one /24 network (or every
client on 127.0.0.1, as here) would all land on one node. With the board in
Redis, any node can answer any request, so nothing needs to stick.

Why the timeouts: nginx gives a node up when it has sent nothing for ``proxy_read_timeout``: it closes
the connection, counts the node failed (``max_fails``) and, for a request it may repeat, asks the next one.
A long poll is silent for up to 30 s and an idle WebSocket until the node's next ping (20 s), so the timeout
must be above both, or nginx would cut healthy quiet connections. It must also be below the 35 s after which
the polling client gives a poll up on its own (its 25 s wait and 10 s more): a node that froze (a machine that
stops answering, closing nothing) is then given up by nginx first, which passes the poll to another node and
sends the frozen one nothing for ``FAIL_TIMEOUT`` s; a client that gave up first would leave nginx nothing to
count, and nginx would hand the frozen node a request in turn for as long as it stays frozen. The nodes run on
this machine, where a live one accepts a connection at once (and a killed one refuses it at once):
``proxy_connect_timeout`` is short, so a node that does not accept (its backlog full: frozen, or swamped) costs
a request 2 s before nginx tries the next, not nginx's default of a minute.

What nginx passes to the next node (``proxy_next_upstream error timeout``): a request whose node refused the
connection, failed it, or sent no response head within the read timeout, as long as nothing has reached the
client yet. A GET (a poll, an event stream's first request, a WebSocket handshake) is passed on in all those
cases. A POST (a message sent) is passed on only when it never reached a node (refused, or not accepted within
the connect timeout): once sent, nginx may not repeat it (the node might have stored it), and the client gets
``502`` (the node failed the connection) or ``504`` (it was silent), and sends again if it likes. Nothing is
passed on once the answer has begun: a WebSocket after its ``101``, an event stream after its head.

Why it tells the nodes who is asking: a node decides "the teacher" from the address a
request comes from (only the teacher's own machine may switch the class), and every request
through nginx comes from nginx's loopback address. So nginx passes the address it saw
(``X-Real-IP``, set by nginx itself, whatever the client sent) with a secret the cluster
gave it and the nodes (``X-Proxy-Token``), and a node believes that address only from a
request that carries the secret (``servers.web.client_address``).

With TLS (``python -m servers.cluster --tls``), nginx terminates it: browsers and clients speak https:// and
wss:// to nginx, HTTP/2 where they offer it (ALPN), and nginx speaks plain HTTP/1.1 to the nodes, on loopback.
A WebSocket stays on an HTTP/1.1 connection of its own even where the page came over HTTP/2: RFC 8441 carries a
WebSocket inside an HTTP/2 stream (an extended CONNECT) only with a server that announces it
(SETTINGS_ENABLE_CONNECT_PROTOCOL), and nginx does not (notebook 09 shows its SETTINGS, and which connection
Chromium opens). Under TLS nginx also logs each request's connection number and protocol (``access.log``).

Why nginx bounds each client itself: behind it, every connection reaches a node from nginx's loopback address, which
the nodes do not count per client (``serving.Server``). So nginx holds each client address to ``MAX_PER_CLIENT``
connections on each port, as a node does (``limit_conn``; loopback, the teacher's machine, unbounded), and answers
the next ``429 too_many_connections``. Its own connections (``worker_connections``: two per proxied connection, the
client's and the node's) are sized so that the nodes fill first: a node full answers ``503 server_busy`` itself.
nginx counts a connection for its address only once a request's head has arrived whole, so a head still arriving
is bounded by time instead: it has the nodes' own request timeout (``client_header_timeout``), and nginx's
connections are many (17,024 for two nodes), so one address must open them faster than they expire to fill them.
Whatever nginx answers itself (a connection too many, a node that failed or stayed silent, a body over its limit, a
request it refuses before any node sees it) is in the nodes' JSON shape (``ERRORS``), never nginx's HTML page.

The configuration is written into the cluster's temporary folder, readable by its owner only (it holds the
secret), with nginx's pid file and temporary files there too (its errors go to the cluster's log), so nginx
runs as any user, without root and without touching /etc/nginx or /var.
"""

import json
from pathlib import Path

from ..chat import LONGEST_WAIT
from ..origins import is_loopback
from ..serving import IDLE_TIMEOUT, MAX_CONNECTIONS, MAX_PER_CLIENT, REQUEST_TIMEOUT, open_files_within_reach
from ..twins import Proxy
from ..web import PROXY_TOKEN_HEADER
from ..websocket_connection import WRITE_TIMEOUT
from .processes import Child, find_tool, wait_for_file

PING_INTERVAL = 20  # seconds between the nodes' pings to each WebSocket client (python -m servers --ping-interval)
# Seconds of silence from a node before nginx gives it up: above the longest long poll and the ping interval, below
# the polling client's own give-up (35 s: clients.polling_client's LONG_POLL_WAIT and ANSWER_TIMEOUT). See above.
READ_TIMEOUT = max(PING_INTERVAL, LONGEST_WAIT) + 2
CONNECT_TIMEOUT = 2  # seconds for a node on this machine to accept a connection before nginx tries the next
SPARE_CONNECTIONS = 1024  # nginx's connections beyond what the nodes can hold: idle keep-alives, refusals
SPARE_FILES = 64  # nginx's files besides its connections: listening sockets, logs
BODY_LIMIT = 1024 * 1024  # bytes: nginx's own bound on a request body, far above the nodes' (64 KiB), who refuse first
# What nginx answers itself, by status: the nodes' JSON error shape, with a documented code (servers/README.md).
# Its 500 (it could not take a connection to a node) is told as the nodes' 503: busy, try again; its 494 (a header
# line too long) and 497 (plain HTTP to a TLS port) are its own names for what the nodes answer 431 and 400.
ERRORS = {
    400: (400, "bad_request", "nginx could not read this request"),
    404: (404, "not_found", "no page here: nginx keeps this path for its own answers"),  # asked for straight
    405: (405, "method_not_allowed", "nginx answers no TRACE request"),
    413: (413, "body_too_large", f"nginx takes request bodies of {BODY_LIMIT:,} bytes at most"),
    414: (414, "uri_too_long", "the request line is too long"),
    429: (429, "too_many_connections", f"one address may hold {MAX_PER_CLIENT} connections to this port at most, and "
                                       "each of yours is busy: close one (a tab, a client), then try again"),
    494: (431, "headers_too_large", "the request header fields are too long"),
    497: (400, "https_required", "this port speaks HTTPS: use https:// (wss:// for a WebSocket)"),
    500: (503, "server_busy", "the cluster is serving as many connections as it may: try again"),
    501: (501, "unsupported_transfer_encoding", "nginx decodes no transfer coding but chunked"),
    502: (502, "bad_gateway", "the server node failed the request: send it again"),
    503: (503, "server_busy", "the cluster is serving as many connections as it may: try again"),
    504: (504, "gateway_timeout", "the server node did not answer in time: send it again"),
    505: (505, "http_version_not_supported", "nginx reads HTTP/1.1 and HTTP/1.0 request lines (HTTP/2 is never "
                                             "named in one)"),
}
# Where nginx finds those answers: internal locations, so a client that asks for one straight gets nginx's 404,
# which is in the list too.
ERROR_PAGES = "/.nginx-error/"
RETRY_AFTER = {429, 503}  # statuses that tell the client when to try again (in a second)
# A node that fails a request (refused, or silent for the read timeout) gets no request for FAIL_TIMEOUT s.
MAX_FAILS, FAIL_TIMEOUT = 1, 10

TEMPLATE = """\
# Generated by servers/cluster/nginx.py: {nodes} nodes, round robin.
daemon off;
worker_processes 1;  # one worker: round robin in strict turns, and a 2-core machine
worker_rlimit_nofile {files};
pid {folder}/nginx.pid;
error_log stderr warn;  # into our pipe, then nginx.log
events {{ worker_connections {connections}; }}  # two per proxied connection: above what the nodes can hold

http {{
{access_log}
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_body_buffer_size 32k;  # above the nodes' 16 KiB bodies: no temporary files
    client_max_body_size {body_limit};
    # A request has as long to arrive as at a node (servers/serving.py): its head {request_timeout} from the
    # connection's start (or its first byte after a keep-alive wait), its body {request_timeout} between two reads;
    # then nginx closes the connection without an answer.
    client_header_timeout {request_timeout};
    client_body_timeout {request_timeout};
    keepalive_timeout {idle_timeout};  # between two requests, as at a node
    # Each client address holds {max_per_client} connections per port at most, counted once a request's head is whole
    # (one still arriving has client_header_timeout); loopback (the teacher's) is not counted.
    map $remote_addr $per_client {{ "~^127\\." ""; "::1" ""; "~^::ffff:127\\." ""; default $binary_remote_addr; }}
    limit_conn_zone $per_client zone=polling_clients:1m;
    limit_conn_zone $per_client zone=websocket_clients:1m;
    limit_conn_status 429;
    limit_conn_log_level warn;
    proxy_buffering off;  # answers go straight to the client
    proxy_connect_timeout {connect_timeout};  # the nodes are on this machine: a live one accepts at once
    # A node silent so long is given up (pings every {ping} s, polls {longest_wait} s at most; the polling client
    # gives up at 35 s): see servers/cluster/nginx.py.
    proxy_read_timeout {read_timeout};
    proxy_send_timeout {read_timeout};
    # A node refused, failed or silent: the request goes to the next, unless the client has had a byte of the
    # answer; a POST only if it never reached the node (once sent, it may have been stored: 502 or 504).
    proxy_next_upstream error timeout;
    add_header X-Upstream $upstream_addr always;  # which node answered (two, when the first was gone)
{tls}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}

    upstream polling {{
{polling_servers}
        keepalive 64;  # connections to the nodes are reused from one poll to the next
    }}
    upstream websocket {{
{websocket_servers}
    }}

    server {{
{polling_listen}
        limit_conn polling_clients {max_per_client};
        send_timeout {request_timeout};  # an answer the client stops reading is cut, as a node cuts it
{errors}
        location / {{
            proxy_pass http://polling;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;  # the nodes check Host and Origin against what the browser used
            proxy_set_header Connection "";  # keep-alive to the nodes
            proxy_set_header X-Real-IP $remote_addr;  # who asked, as nginx saw it, whatever the client wrote there
            proxy_set_header {token_header} "{token}";  # the cluster's secret: this request came through its nginx
        }}
    }}
    server {{
{websocket_listen}
        limit_conn websocket_clients {max_per_client};
        send_timeout {write_timeout};  # a WebSocket client that stops reading is cut, as a node cuts it
{errors}
        location / {{
            proxy_pass http://websocket;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;  # the handshake's two hop-by-hop headers, passed on
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Real-IP $remote_addr;  # (proxy_set_header is not inherited by a location that
            proxy_set_header {token_header} "{token}";  # sets headers of its own: every location names all of them)
        }}
    }}
}}
"""


TLS = """\
    ssl_certificate {certificate};  # key and certificate in one file, made by servers/certificates.py
    ssl_certificate_key {certificate};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:1m;  # TLS 1.2's resumption by session id (tickets need no cache)
"""
PROTOCOL_LOG = """\
    log_format protocols '$connection $server_protocol $request_method $uri $status';
    access_log {folder}/access.log protocols;  # which connection, which HTTP: the answer to "did it use HTTP/2?"
"""


def config(folder: Path, proxy: Proxy, nodes, read_timeout: float = READ_TIMEOUT, ping: float = PING_INTERVAL,
           certificate: Path | None = None) -> str:
    """nginx.conf for ``nodes`` (each with ``polling_port`` and ``websocket_port``), as ``proxy`` says; nginx
    waits ``read_timeout`` s for a node that is silent. With ``certificate`` (key and certificate in one file),
    it serves TLS and HTTP/2 on both ports."""
    def servers(ports):
        return "\n".join(f"        server 127.0.0.1:{port} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT}s;"
                         for port in ports)

    connections, files = capacity(len(nodes))
    return TEMPLATE.format(folder=folder, nodes=len(nodes), files=files, connections=connections,
                           body_limit=BODY_LIMIT, max_per_client=MAX_PER_CLIENT, errors=error_pages(),
                           connect_timeout=duration(CONNECT_TIMEOUT), read_timeout=duration(read_timeout),
                           request_timeout=duration(REQUEST_TIMEOUT), idle_timeout=duration(IDLE_TIMEOUT),
                           write_timeout=duration(WRITE_TIMEOUT),
                           longest_wait=LONGEST_WAIT, ping=f"{ping:g}",
                           polling_servers=servers(node.polling_port for node in nodes),
                           websocket_servers=servers(node.websocket_port for node in nodes),
                           polling_listen=listen(proxy.host, proxy.polling_port, certificate is not None),
                           websocket_listen=listen(proxy.host, proxy.websocket_port, certificate is not None),
                           token_header=PROXY_TOKEN_HEADER, token=proxy.token,
                           tls=TLS.format(certificate=certificate) if certificate else "",
                           access_log=PROTOCOL_LOG.format(folder=folder) if certificate else "    access_log off;\n")


def capacity(nodes: int) -> tuple[int, int]:
    """nginx's worker_connections and open files for ``nodes`` nodes: two connections for each one the nodes' twins
    can hold (MAX_CONNECTIONS each), and some to spare, so that the nodes fill first and say so (503); within the
    open-file limit this process may give nginx (``ulimit -Hn``), where the nodes fill first too, or nginx answers
    the one too many with the same 503."""
    files = open_files_within_reach(2 * (2 * nodes * MAX_CONNECTIONS) + SPARE_CONNECTIONS + SPARE_FILES)
    return files - SPARE_FILES, files


def error_pages() -> str:
    """A server block's answers to what nginx refuses itself: each in the JSON shape, from an internal location
    (a named one cannot answer a request line nginx could not read)."""
    lines = []
    for status, (answered, code, message) in ERRORS.items():
        body = json.dumps({"error": code, "message": message})
        retry = "add_header Retry-After 1 always; " if answered in RETRY_AFTER else ""
        lines += [f"        error_page {status} = {ERROR_PAGES}{status};",
                  f"        location = {ERROR_PAGES}{status} {{ internal; default_type application/json; {retry}"
                  f"return {answered} '{body}'; }}"]
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """A time as nginx reads it: "60s", or "1500ms" for a fraction of a second."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def listen(host: str, port: int, tls: bool = False) -> str:
    """nginx's listen lines: loopback always (the teacher's own machine), and ``host`` (0.0.0.0: every address);
    with ``tls``, TLS and HTTP/2 on them (nginx 1.22 names both on the listen line)."""
    options = " ssl http2" if tls else ""
    if host == "0.0.0.0":
        return f"        listen {port}{options};"
    if host == "::":
        return f"        listen [::]:{port} ipv6only=off{options};"
    addresses = ["127.0.0.1"] + ([host] if not is_loopback(host) else [])
    shown = [f"[{address}]" if ":" in address else address for address in addresses]  # IPv6 in brackets
    return "\n".join(f"        listen {address}:{port}{options};" for address in shown)


class Nginx:
    def __init__(self, folder: Path, proxy: Proxy, nodes, echo=None, read_timeout: float = READ_TIMEOUT,
                 ping: float = PING_INTERVAL, certificate: Path | None = None) -> None:
        self.folder, self.polling_port, self.websocket_port = Path(folder), proxy.polling_port, proxy.websocket_port
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "nginx.conf"
        self.config.touch(0o600)  # before the secret is written into it
        self.config.write_text(config(self.folder, proxy, nodes, read_timeout, ping, certificate))
        self.access_log = self.folder / "access.log"  # written under TLS only
        argv = [find_tool("nginx"), "-p", str(self.folder), "-c", str(self.config), "-e", "stderr"]
        self.child = Child("nginx", argv, self.folder / "nginx.log", echo=echo)
        wait_for_file(self.folder / "nginx.pid", self.child)  # written once nginx listens on both ports

    def stop(self) -> None:
        self.child.stop()
