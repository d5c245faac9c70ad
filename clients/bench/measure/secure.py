"""TLS and HTTP/2 beside plain HTTP/1.1, measured: what notebook 09 and the tests run.

* ``setup_costs``: opening a connection and getting the first answer, phase by phase (TLS, then the request,
  the WebSocket handshake or the event stream's first line), in round trips through a relay that delays every
  chunk, and in bytes; TLS 1.3 and 1.2, each in full and resumed (a session ticket from an earlier connection);
  HTTP/2 through nginx. TCP's own handshake is one more round trip that the relay cannot delay (the kernel
  completes a ``connect()`` to it at once), so it is counted, not timed;
* ``poll_bytes`` and ``push_bytes``: bytes on the wire per poll and per delivered message, with ``httpx`` (the
  same HTTP client over HTTP/1.1 and HTTP/2, with and without TLS) and the ``websockets`` library;
* ``hpack_at_work``: two polls over HTTP/2, captured with tshark and decrypted with the client's key log
  (``SSLContext.keylog_filename``), header field by header field: what HPACK sends the second time;
* ``nginx_settings``: the SETTINGS frame nginx opens HTTP/2 with (RFC 8441's ENABLE_CONNECT_PROTOCOL, which a
  WebSocket inside HTTP/2 needs, is or is not among them);
* ``eavesdrop``: one capture of a password sent over ws:// and over wss://, and a foreign Origin over wss://;
* ``cpu_per_message``: what a delivered WebSocket message costs the server's CPU with and without TLS, on server
  processes of their own.

Bytes are TCP payload, as everywhere in the toolkit: under TLS, the TLS records. Every function returns plain
data (dicts and lists of numbers and strings).
"""

import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import websockets.sync.client

from clients import wire
from clients.terminal import new_session
from clients.lab.capture import Capture
from clients.lab.listeners import WebSocketListener
from clients.lab.protocol import HTTP_HEADERS, PAST_EVERY_ID
from clients.lab.relay import Relay
from servers.cluster.processes import Child, free_ports

DELAY = 0.03  # seconds the relay holds each chunk, each way: a round trip of 60 ms, far above loopback's noise
SETTLE = 0.01  # seconds for the relay to have counted a phase's last bytes before they are read
TEXT = "How are you?"  # what every measured message says (its reply comes with it)
POLL = f"/api/messages?after={PAST_EVERY_ID}"  # a poll that finds nothing: the cost of asking
WAIT = 10  # seconds any step may take before the measurement gives up
# What a poll's request carries besides the request line and Host: the command-line client's (requests') fields
REQUEST_FIELDS = [(name.lower(), value) for name, value in HTTP_HEADERS.items() if name.lower() != "connection"]


def client_context(ca: Path | str, version: ssl.TLSVersion | None = None, alpn: list[str] | None = None,
                   keylog: Path | None = None) -> ssl.SSLContext:
    """A client context that trusts ``ca`` only; ``version`` pins TLS 1.2 or 1.3; ``alpn`` offers protocols
    (["h2"] asks for HTTP/2); ``keylog`` writes the session keys there (what tshark decrypts with)."""
    context = ssl.create_default_context(cafile=str(ca))
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if alpn:
        context.set_alpn_protocols(alpn)
    if keylog is not None:
        context.keylog_filename = str(keylog)
    return context


# --- set-up: round trips and bytes ---------------------------------------------------------------

class Phases:
    """One connection through a delaying relay: each phase timed in round trips, its bytes counted."""

    def __init__(self, relay: Relay, delay: float) -> None:
        self.relay, self.delay = relay, delay
        self.rows: dict[str, dict] = {}
        self._counted = (0, 0)

    def timed(self, phase: str, action):
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
        time.sleep(SETTLE)
        connection = self.relay.connections[-1]
        up, down = connection.up - self._counted[0], connection.down - self._counted[1]
        self._counted = connection.up, connection.down
        self.rows[phase] = {"round_trips": elapsed / (2 * self.delay), "up": up, "down": down}
        return result


def _request(sock: socket.socket, rfile, port: int) -> wire.Response:
    sock.sendall(wire.request_bytes("GET", POLL, f"127.0.0.1:{port}", HTTP_HEADERS))
    return wire.read_response(rfile)


def _upgrade(sock: socket.socket, rfile, port: int) -> wire.Response:
    key = wire.new_key()
    sock.sendall(wire.upgrade_request(f"127.0.0.1:{port}", "/ws", key))
    response = wire.read_response(rfile)
    wire.check_upgrade(response, key)
    return response


def _stream(sock: socket.socket, rfile, port: int) -> bytes:
    sock.sendall(wire.request_bytes("GET", "/api/events", f"127.0.0.1:{port}", HTTP_HEADERS))
    wire.read_response(rfile)
    return rfile.readline()  # the stream's first line: its retry hint


def _h2_poll(sock: ssl.SSLSocket, port: int) -> int:
    return H2(sock).get(f"127.0.0.1:{port}", POLL)[0]


FIRST_ANSWERS = {"request": _request, "handshake": _upgrade, "stream": _stream}


def open_and_ask(port: int, what: str, tls: ssl.SSLContext | None = None, *, delay: float = DELAY,
                 session: ssl.SSLSession | None = None) -> dict:
    """A new connection to ``port`` through a relay delaying ``delay`` s each way, and its first answer: ``what``
    is "request" (a poll), "handshake" (a WebSocket's), "stream" (an event stream's first line) or "h2 request"
    (a poll over HTTP/2). Returns {"phases": {"tls"?, what: {"round_trips", "up", "down"}}, "version",
    "resumed", "session"} (``session``: a ticket to resume with, from a TLS connection)."""
    with Relay(port, delay=delay) as relay:
        phases = Phases(relay, delay)
        sock = socket.create_connection(("127.0.0.1", relay.port), timeout=WAIT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if tls is not None:
                sock = phases.timed("tls", lambda: tls.wrap_socket(sock, server_hostname="127.0.0.1", session=session))
            if what == "h2 request":
                phases.timed(what, lambda: _h2_poll(sock, port))
            else:
                with sock.makefile("rb") as rfile:
                    phases.timed(what, lambda: FIRST_ANSWERS[what](sock, rfile, port))
            tls_facts = {"version": sock.version(), "resumed": sock.session_reused, "session": sock.session,
                         "alpn": sock.selected_alpn_protocol()} if tls is not None else {}
        finally:
            sock.close()
    return {"phases": phases.rows, **tls_facts}


def setup_costs(plain, secure, ca, *, nginx_port: int | None = None, delay: float = DELAY) -> dict:
    """Rows by case: what each way of opening a connection costs before its first answer (see ``open_and_ask``).
    ``plain`` and ``secure``: Twins without and with TLS; ``ca``: the CA file ``secure`` is signed by;
    ``nginx_port``: nginx's TLS port for polling, for HTTP/2 (None: no HTTP/2 row)."""
    polling, websocket = plain.polling.port, plain.websocket.port
    tls_polling, tls_websocket = secure.polling.port, secure.websocket.port
    rows = {"HTTP/1.1": open_and_ask(polling, "request", delay=delay),
            "WebSocket, ws://": open_and_ask(websocket, "handshake", delay=delay),
            "Server-Sent Events": open_and_ask(polling, "stream", delay=delay)}
    for version, name in ((ssl.TLSVersion.TLSv1_3, "TLS 1.3"), (ssl.TLSVersion.TLSv1_2, "TLS 1.2")):
        context = client_context(ca, version)
        full = rows[f"HTTP/1.1 + {name}"] = open_and_ask(tls_polling, "request", context, delay=delay)
        rows[f"HTTP/1.1 + {name}, resumed"] = open_and_ask(tls_polling, "request", context, delay=delay,
                                                           session=full["session"])
    tls13 = client_context(ca, ssl.TLSVersion.TLSv1_3)
    rows["WebSocket, wss://"] = open_and_ask(tls_websocket, "handshake", tls13, delay=delay)
    rows["Server-Sent Events + TLS 1.3"] = open_and_ask(tls_polling, "stream", tls13, delay=delay)
    if nginx_port is not None:
        rows["HTTP/2 + TLS 1.3 (nginx)"] = open_and_ask(nginx_port, "h2 request",
                                                        client_context(ca, ssl.TLSVersion.TLSv1_3, ["h2"]),
                                                        delay=delay)
    for row in rows.values():
        row.pop("session", None)
    return rows


# --- HTTP/2 by hand --------------------------------------------------------------------------------

class H2:
    """A minimal HTTP/2 client on the ``h2`` library (the protocol engine httpx uses): one connection, one
    request at a time, and the SETTINGS the server opened with."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                               header_encoding="utf-8"))
        self.connection.initiate_connection()  # the preface and our SETTINGS, sent with the first request
        self.settings: dict[str, int] = {}

    def get(self, authority: str, path: str) -> tuple[int, bytes]:
        """(status, body) of a GET, the request's fields those of a poll (``REQUEST_FIELDS``)."""
        stream = self.connection.get_next_available_stream_id()
        fields = [(":method", "GET"), (":scheme", "https"), (":authority", authority), (":path", path),
                  *REQUEST_FIELDS]
        self.connection.send_headers(stream, fields, end_stream=True)
        self.sock.sendall(self.connection.data_to_send())
        status, body, ended = 0, b"", False
        while not ended:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            for event in self.connection.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    self.settings.update({_setting_name(code): change.new_value
                                          for code, change in event.changed_settings.items()})
                elif isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    status = int(dict(event.headers)[":status"])
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    body += event.data
                    self.connection.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    ended = True
            self.sock.sendall(self.connection.data_to_send())  # our SETTINGS' acknowledgement, window updates
        return status, body


def _setting_name(code) -> str:
    try:
        return h2.settings.SettingCodes(code).name
    except ValueError:
        return f"0x{int(code):x}"


def nginx_settings(port: int, ca) -> dict:
    """The SETTINGS nginx opens an HTTP/2 connection on ``port`` with, by name, and the ALPN it chose.

    RFC 8441 lets a WebSocket travel inside an HTTP/2 stream (an extended CONNECT with ``:protocol:
    websocket``) only once the server has sent ENABLE_CONNECT_PROTOCOL = 1 among these."""
    with client_context(ca, alpn=["h2"]).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=WAIT),
                                                     server_hostname="127.0.0.1") as sock:
        client = H2(sock)
        client.get(f"127.0.0.1:{port}", "/api/status")
        return {"alpn": sock.selected_alpn_protocol(), "settings": client.settings,
                "enable_connect_protocol": client.settings.get("ENABLE_CONNECT_PROTOCOL", 0)}


# --- bytes per poll and per message ---------------------------------------------------------------

def _httpx(ca, http2: bool, keylog: Path | None = None) -> httpx.Client:
    """httpx with the command-line client's request headers, trusting ``ca`` (a context of its own: httpx sets
    its ALPN offer on the context it is given)."""
    return httpx.Client(http2=http2, verify=client_context(ca, keylog=keylog) if ca else True,
                        headers=dict(REQUEST_FIELDS), timeout=WAIT)


def _counted(relay: Relay) -> int:
    time.sleep(SETTLE)
    totals = relay.totals()
    return totals["up"] + totals["down"]


def poll_bytes(url: str, ca=None, *, http2: bool = False, polls: int = 10) -> dict:
    """Bytes per poll on one kept-alive connection through a counting relay to ``url`` (https:// with ``ca``):
    the first (with the connection's set-up), and the mean of the next ``polls``; the HTTP version spoken."""
    scheme, port = url.split("://")[0], int(url.rsplit(":", 1)[1])
    with Relay(port) as relay, _httpx(ca, http2) as client:
        base = f"{scheme}://127.0.0.1:{relay.port}"
        version = client.get(base + POLL).http_version
        first = _counted(relay)
        for _ in range(polls):
            client.get(base + POLL).raise_for_status()
        return {"http": version, "first": first, "per_poll": (_counted(relay) - first) / polls}


def push_bytes(url: str, post, ca=None, *, transport: str, http2: bool = False, posts: int = 10) -> dict:
    """Bytes per delivered message (its message and the server's reply each count) over a WebSocket or an event
    stream through a counting relay to ``url``, once the connection is open and has received a first exchange.
    ``post(text)`` stores a message (and its reply) on the server's board; ``transport``: "websocket" or "sse"."""
    scheme, port = url.split("://")[0], int(url.rsplit(":", 1)[1])
    with Relay(port) as relay:
        base = f"{scheme}://127.0.0.1:{relay.port}"
        receiver = (_WebSocketReceiver(base + "/ws", ca) if transport == "websocket" else
                    _StreamReceiver(base + "/api/events", ca, http2))
        with receiver:
            post(TEXT)
            receiver.take(2)
            before = _counted(relay)
            for _ in range(posts):  # one exchange at a time, as in a chat: each written as it comes
                post(TEXT)
                receiver.take(2)
            delivered = _counted(relay) - before
    return {"http": receiver.version, "per_message": delivered / (2 * posts), "messages": 2 * posts,
            "payload": receiver.payload / receiver.count}


class _WebSocketReceiver:
    """The websockets library's client (no compression: every frame as it is), counting what it receives."""

    def __init__(self, url: str, ca) -> None:
        self.ws = websockets.sync.client.connect(url, compression=None, max_queue=None,
                                                 ssl=client_context(ca) if url.startswith("wss") else None)
        self.version, self.count, self.payload = "HTTP/1.1", 0, 0

    def take(self, count: int) -> None:
        for _ in range(count):
            frame = self.ws.recv(timeout=WAIT)
            self.count, self.payload = self.count + 1, self.payload + len(json.dumps(json.loads(frame)["message"],
                                                                                      separators=(",", ":")))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.ws.close()


class _StreamReceiver:
    """httpx reading ``GET /api/events`` (HTTP/1.1 or HTTP/2), counting the messages as they come."""

    def __init__(self, url: str, ca, http2: bool) -> None:
        self.client = _httpx(ca if url.startswith("https") else None, http2)
        self.stream = self.client.stream("GET", url)
        self.response = self.stream.__enter__()
        self.version, self.count, self.payload = self.response.http_version, 0, 0
        self._chunks, self._pending = self.response.iter_raw(), b""

    def take(self, count: int) -> None:
        wanted = self.count + count
        while self.count < wanted:
            self._pending += next(self._chunks)
            *events, self._pending = self._pending.split(b"\n\n")
            for event in events:
                data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
                if data and b'"id"' in data[0]:
                    self.count, self.payload = self.count + 1, self.payload + len(data[0])

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stream.__exit__(None, None, None)
        self.client.close()


def streams_on_connections(url: str, ca=None, *, http2: bool = False, streams: int = 10) -> dict:
    """``streams`` event streams opened at once by one httpx client through a counting relay to ``url``: how many
    TCP connections carried them, and how many streams received their first line."""
    scheme, port = url.split("://")[0], int(url.rsplit(":", 1)[1])
    with Relay(port) as relay, _httpx(ca if scheme == "https" else None, http2) as client:
        opened = [client.stream("GET", f"{scheme}://127.0.0.1:{relay.port}/api/events") for _ in range(streams)]
        responses = [stream.__enter__() for stream in opened]
        receiving = sum(next(response.iter_raw()).startswith(b"retry:") for response in responses)
        version = responses[0].http_version
        for stream in opened:
            stream.__exit__(None, None, None)
        return {"http": version, "streams": streams, "receiving": receiving,
                "connections": relay.totals()["connections"]}


# --- HPACK, decrypted from a key log --------------------------------------------------------------

def hpack_at_work(port: int, ca, polls: int = 2) -> list[dict]:
    """``polls`` polls over HTTP/2 to nginx's ``port``, captured on loopback by tshark and decrypted with the key
    log the client wrote: one row per HEADERS frame, in order ({"direction", "stream", "block_bytes",
    "fields": [(name, value, representation)]}). Empty if tshark cannot capture (``Capture.reason``)."""
    keylog = Path(tempfile.mkdtemp()) / "keys.log"
    with Capture(port) as capture:
        if not capture.ok:
            return []
        with _httpx(ca, True, keylog) as client:
            for _ in range(polls):
                client.get(f"https://127.0.0.1:{port}{POLL}").raise_for_status()
    fields = ("tcp.srcport", "http2.streamid", "http2.type", "http2.length", "http2.header.name",
              "http2.header.value", "http2.header.repr")
    out = subprocess.run([capture.tshark, "-r", str(capture.file), "-d", f"tcp.port=={port},tls",
                          "-o", f"tls.keylog_file:{keylog}", "-Y", "http2.type == 1", "-T", "fields",
                          "-E", "occurrence=a", "-E", "aggregator=\x1f", *[arg for f in fields for arg in ("-e", f)]],
                         capture_output=True, text=True, timeout=30).stdout
    rows = []
    for line in out.splitlines():
        source, streams, types, lengths, names, values, reprs = (column.split("\x1f") for column in line.split("\t"))
        headers_frames = [i for i, kind in enumerate(types) if kind == "1"]  # a packet may hold other frames
        for name_group in _split_fields(names, values, reprs, len(headers_frames)):
            index = headers_frames.pop(0)
            rows.append({"direction": "request" if int(source[0]) != port else "response",
                         "stream": int(streams[index]), "block_bytes": int(lengths[index]), "fields": name_group})
    return rows


def _split_fields(names, values, reprs, frames: int) -> list[list[tuple]]:
    """Header fields of the HEADERS frames of one packet, one list per frame (a new frame starts at ``:method``
    or ``:status``, which HTTP/2 puts first)."""
    groups: list[list[tuple]] = []
    for field in zip(names, values, reprs):
        if field[0] in (":method", ":status") or not groups:
            groups.append([])
        groups[-1].append(field)
    return groups[:frames]


# --- the "secure" claim ---------------------------------------------------------------------------

SECRET = "my password is hunter2"


def eavesdrop(plain_port: int, secure_port: int, ca) -> dict:
    """The seed's "secure" claim, one capture: a password sent over ws:// (to ``plain_port``) and over wss://
    (``secure_port``), and what a packet capture of loopback reads of it; then a page of a foreign Origin asking
    for a wss:// handshake. {"captured": bool, "reason", "ws": [texts read], "wss": [texts read], "wss_bytes",
    "secret_in_wss_bytes": bool, "foreign_origin": (status, message)}."""
    with Capture(plain_port, also=(secure_port,)) as capture:
        for port, tls in ((plain_port, None), (secure_port, client_context(ca))):
            sock, rfile, _, _ = wire.open_websocket("127.0.0.1", port, "/ws", tls=tls)
            wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": SECRET}).encode())
            wire.read_frame(rfile)
            wire.close(sock, rfile)
    result = {"captured": capture.ok, "reason": capture.reason}
    if capture.ok:
        for name, port in (("ws", plain_port), ("wss", secure_port)):
            result[name] = [text for text in capture.read("-Y", f"websocket and tcp.port == {port}", "-T", "fields",
                                                         "-e", "websocket.payload.text").splitlines() if text]
        payload = capture.read("-Y", f"tcp.port == {secure_port}", "-T", "fields", "-e", "tcp.payload").split()
        wire_bytes = b"".join(bytes.fromhex(chunk) for chunk in payload)
        result["wss_bytes"], result["secret_in_wss_bytes"] = len(wire_bytes), SECRET.encode() in wire_bytes
    evil = "https://evil.example"
    try:
        wire.close(*wire.open_websocket("127.0.0.1", secure_port, "/ws", origin=evil, tls=client_context(ca))[:2])
        result["foreign_origin"] = (101, "accepted")
    except wire.HandshakeError as refused:
        result["foreign_origin"] = (refused.response.status, json.loads(refused.response.body)["message"])
    return result


# --- CPU per delivered message --------------------------------------------------------------------

class ServerProcess:
    """``python -m servers`` (with ``--tls`` and the CA folder ``tls_folder``, if given) on ``ports`` (polling,
    WebSocket; two free ones without), in a process of its own, so that its CPU time is the server's alone
    (``/api/status`` reports it)."""

    def __init__(self, tls_folder: Path | None = None, ports: list[int] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="server-"))
        self.polling_port, self.websocket_port = ports or free_ports(2)
        argv = [sys.executable, "-m", "servers", "--quiet", "--polling-port", str(self.polling_port),
                "--websocket-port", str(self.websocket_port)]
        argv += ["--tls", "--tls-folder", str(tls_folder)] if tls_folder else []
        self.child = Child("server" + (" (TLS)" if tls_folder else ""), argv, self.folder / "server.log",
                           ready="Press Ctrl-C")
        http, ws = ("https", "wss") if tls_folder else ("http", "ws")
        self.url, self.ws_url = (f"{http}://127.0.0.1:{self.polling_port}",
                                 f"{ws}://127.0.0.1:{self.websocket_port}/ws")
        self.ca = tls_folder / "ca.pem" if tls_folder else None

    def cpu_seconds(self, session) -> float:
        return session.get(self.url + "/api/status", timeout=WAIT).json()["process"]["cpu_seconds"]

    def stop(self) -> None:
        self.child.stop()


def cpu_per_message(tls_folder: Path, clients: int = 20, posts: int = 25) -> dict:
    """CPU time of the server process per WebSocket message delivered, without TLS and with it: ``clients``
    WebSocket clients of a server process each, ``posts`` messages posted (each with its reply), every client
    receiving every one. {"ws": {...}, "wss": {...}}, each {"cpu_seconds", "delivered", "us_per_message"}."""
    ports = free_ports(4)  # chosen together, so the two servers cannot be told the same port
    servers = {"ws": ServerProcess(ports=ports[:2]), "wss": ServerProcess(tls_folder, ports[2:])}
    try:
        for server in servers.values():  # started side by side, waited for one by one
            server.child.wait_ready()
        return {name: _crowd_cost(server, clients, posts) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def _crowd_cost(server: ServerProcess, clients: int, posts: int) -> dict:
    context = client_context(server.ca) if server.ca else None
    with new_session(server.ca and str(server.ca)) as session:
        listeners = [WebSocketListener(server.ws_url, tls=context).start() for _ in range(clients)]
        try:
            before = server.cpu_seconds(session)
            for _ in range(posts):
                session.post(server.url + "/api/messages", json={"text": TEXT}, timeout=WAIT).raise_for_status()
            for listener in listeners:
                listener.wait_until(lambda listener=listener: len(listener.received) >= 2 * posts, WAIT)
            spent = server.cpu_seconds(session) - before
            delivered = sum(len(listener.received) for listener in listeners)
        finally:
            threads = [threading.Thread(target=listener.close) for listener in listeners]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    return {"cpu_seconds": spent, "delivered": delivered, "us_per_message": spent / delivered * 1e6}
