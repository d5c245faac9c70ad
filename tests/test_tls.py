"""TLS on our servers and on the cluster's nginx: the seed's question over all four transports with the
certificate verified (the project's CA trusted by the client, never verification turned off), honest byte
counts, HTTP/2 really negotiated through nginx, and certificates refused with a message that says what to do."""

import datetime
import json
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from clients import polling_client, sse_client, terminal, websocket_client, wire
from clients.bench.measure import secure
from clients.lab.relay import Relay
from servers import certificates, tls
from servers.chat import Chat
from servers.cluster import Cluster
from servers.meter import Account
from servers.twins import Twins

from conftest import WatchedBoard, eventually, require_cluster_tools

ROOT = Path(__file__).resolve().parent.parent
REPLY = "Client:How are you?\nServer:I am fine, thanks!"
LONG_TEXT = "x" * 15000  # a message of 15 kB, about one TLS record (the board takes any size: the chat's limit is
# for clients)
CLOSE_NOTIFY = 24  # bytes of TLS 1.3's closing alert: a 5-byte header, 2 bytes of alert, its type byte, a 16-byte tag


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return certificates.make(["127.0.0.1", "::1", "localhost"], tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_twins(certs):
    with Twins(tls=certs.server_context()) as twins:
        yield twins


def run_client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_seed_question_over_all_four_transports_with_the_certificate_verified(tls_twins, certs):
    ca = str(certs.ca)
    session = terminal.new_session(ca)
    assert polling_client.ask(session, tls_twins.polling.url, "ada", "How are you?") == REPLY  # long polling
    sent = polling_client.send(session, tls_twins.polling.url, "ada", "How are you?")
    short = polling_client.read(session, tls_twins.polling.url, sent["id"], wait=0)  # short polling
    assert short["messages"][0]["text"] == REPLY
    assert sse_client.ask(session, tls_twins.polling.url, "ada", "How are you?") == REPLY
    ws = websocket_client.connect(tls_twins.ws_url + "/ws", ca=ca)
    try:
        assert websocket_client.ask(ws, "ada", "How are you?") == REPLY
        assert ws.socket.version() in ("TLSv1.3", "TLSv1.2")
    finally:
        ws.close()


def test_the_command_line_clients_take_the_ca(tls_twins, certs):
    for client, url in (("clients.polling_client", tls_twins.polling.url),
                        ("clients.sse_client", tls_twins.polling.url),
                        ("clients.websocket_client", tls_twins.ws_url + "/ws")):
        done = run_client(client, "--url", url, "--ca", str(certs.ca), "--once", "How are you?")
        assert done.returncode == 0 and done.stdout.strip() == REPLY, done.stderr


def test_the_meter_counts_the_tls_records_on_the_wire(tls_twins, certs):
    """What the server bills a client is what a relay on the path counts: handshake, records and all."""
    with Relay(tls_twins.polling.port) as relay:
        session = terminal.new_session(str(certs.ca))
        url = f"https://127.0.0.1:{relay.port}"
        for _ in range(3):
            session.get(f"{url}/api/messages?after=0&client=counted", timeout=5).raise_for_status()
        session.close()
        assert relay.wait_closed()
        totals = relay.totals()
    billed = tls_twins.chat.meter.report(["counted"])["counted"]
    # all of it, but the close_notify alert that ends the connection after its last request, billed to nobody
    assert (billed["bytes_to_client"], billed["bytes_from_client"]) == (totals["down"] - CLOSE_NOTIFY, totals["up"])
    assert totals["down"] > 3 * 500  # the certificate and the records: more than the plain answers would be


def test_a_wss_client_that_reads_late_gets_every_push_whole_then_falls_behind(certs):
    """The broadcaster pushes while the client reads nothing: the server's socket fills, a record written in part
    waits for room, then goes on whole and in order (a TLS stream with a record cut short or sent twice fails its
    authentication), until the client has fallen behind by more than its mailbox holds and is closed with 1008.

    The pushes come one at a time until the socket is full, each written before the next is posted, and only then
    in a burst: a burst while the connection's own thread still holds the write lock (its "sent" answer just out)
    would wait in the mailbox, and fill it before anything reached the socket: that client falls behind too, but
    with nothing written, which is not what this test is about."""
    chat = Chat(WatchedBoard())
    with Twins(chat, tls=certs.server_context()) as twins:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
        raw.connect(("127.0.0.1", twins.websocket.port))
        sock = secure.client_context(certs.ca).wrap_socket(raw, server_hostname="127.0.0.1")
        sock.settimeout(10)
        rfile = sock.makefile("rb")
        key = wire.new_key()
        sock.sendall(wire.upgrade_request(f"127.0.0.1:{twins.websocket.port}", "/ws?client=late", key))
        wire.check_upgrade(wire.read_response(rfile), key)
        wire.send_frame(sock, wire.TEXT, json.dumps({"type": "send", "text": "How are you?"}).encode())
        while json.loads(wire.read_frame(rfile).payload)["type"] != "sent":  # live: the broadcaster pushes to it
            pass
        watchman = twins.websocket.server.app.extensions["watchman"]
        posted = []
        while not watchman.watching:  # until the socket is full: the watchman waits for room in it
            assert len(posted) < 1000, "the socket never filled"  # 15 MB: more than the kernel buffers
            posted.append(chat.board.post("server", LONG_TEXT).id)
            assert eventually(lambda: chat.meter.report(["late"])["late"]["messages_delivered"] == posted[-1], 10)
        written = len(posted)  # on the wire, or the rest of the last one waiting for room
        posted += [chat.board.post("server", LONG_TEXT).id for _ in range(400)]  # 6 MB, the mailbox holds 256 KiB
        assert eventually(lambda: chat.board.waited_after == posted[-1], 30)  # all offered, none read yet
        ids, frame = [], wire.read_frame(rfile)
        while frame.opcode == wire.TEXT:
            message = json.loads(frame.payload)["message"]
            assert message["text"] == LONG_TEXT
            ids.append(message["id"])
            frame = wire.read_frame(rfile)
        assert frame.opcode == wire.CLOSE and wire.parse_close(frame.payload)[0] == 1008
        assert len(ids) >= written and ids == posted[:len(ids)]  # in order from the first, none lost or twice
        rfile.close()
        sock.close()


def test_a_record_the_socket_takes_in_part_is_finished_before_send_counts_it(certs):
    """What the WebSocket test above relies on, forced: a non-blocking ``TLSSocket`` whose client reads late fills
    up. ``send`` takes as many whole records as the socket takes, like a plain socket (one record per call would
    leave a WebSocket's pushes waiting for the watchman with room in the socket), and counts only those: the part
    of a record the socket took when it filled is on the wire (the meter counts it) but not in ``send``'s answer
    (or ``send`` raises BlockingIOError); called again with the data that follows the count, once there is room,
    it finishes that record before it counts it sent. The client decrypts every byte in order: a record cut short
    or sent twice would fail TLS's authentication, a count too high would lose data, one too low send it twice."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10)
        raw.connect(listener.getsockname())
        accepted, _ = listener.accept()
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # the kernel holds little: it fills soon
    server, client = tls.TLSSocket(accepted, certs.server_context()), []
    handshake = threading.Thread(target=lambda: client.append(
        secure.client_context(certs.ca).wrap_socket(raw, server_hostname="127.0.0.1")))
    handshake.start()
    server.handshake()
    handshake.join()
    data = b"".join(n.to_bytes(4, "big") for n in range(250_000))  # 1 MB, every 4 bytes different
    received = bytearray()

    def read_all() -> None:
        client[0].settimeout(10)
        while len(received) < len(data) and (chunk := client[0].recv(65536)):
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    account, marks = Account(), []  # after each call: (bytes on the wire, bytes of data counted sent)
    server.bill(account)  # counts what reaches the wire
    server.setblocking(False)
    view = memoryview(data)
    while view:
        try:
            sent = server.send(view)
        except BlockingIOError:
            marks.append((account.sent, len(data) - len(view)))
            if reader.ident is None:
                reader.start()  # late: the first time the socket is full
            assert select.select([], [server], [], 10)[1]
            continue
        assert sent, "a non-blocking send that takes nothing raises BlockingIOError"
        view = view[sent:]
        marks.append((account.sent, len(data) - len(view)))
    reader.join(10)
    assert bytes(received) == data
    records = -(-len(data) // tls.RECORD_BYTES)  # every record full but the last: each call counts whole ones
    per_record = (account.sent - len(data)) / records  # what TLS adds to each (a header, a tag)
    assert marks[0][1] > tls.RECORD_BYTES  # the first call took several records
    assert any(wire_bytes > counted + per_record * -(-counted // tls.RECORD_BYTES) for wire_bytes, counted in marks)
    client[0].close()
    server.close()


def test_plain_http_to_a_tls_port_is_told_to_use_https(tls_twins):
    port = tls_twins.polling.port
    sock = wire.connect("127.0.0.1", port)
    with sock, sock.makefile("rb") as rfile:
        _, response = wire.http_exchange(sock, rfile, "GET", "/api/status", f"127.0.0.1:{port}")
    assert response.status == 400
    body = json.loads(response.body)
    assert body["error"] == "https_required" and f"https://127.0.0.1:{port}/" in body["message"]


def test_a_certificate_from_another_ca_is_refused_with_what_to_do(tls_twins, tmp_path):
    other = certificates.make(["127.0.0.1"], tmp_path)
    for client, url in (("clients.polling_client", tls_twins.polling.url),
                        ("clients.websocket_client", tls_twins.ws_url + "/ws")):
        done = run_client(client, "--url", url, "--ca", str(other.ca), "--once", "How are you?")
        assert done.returncode == 1
        assert "signed by a CA you do not trust: pass --ca" in done.stderr, done.stderr


def test_an_expired_certificate_is_refused_with_what_to_do(certs, tmp_path):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    expired = certificates.make(["127.0.0.1"], certs.ca.parent, valid_from=past - datetime.timedelta(days=30),
                                valid_until=past)
    with Twins(tls=expired.server_context()) as twins:
        for client, url in (("clients.polling_client", twins.polling.url),
                            ("clients.websocket_client", twins.ws_url + "/ws")):
            done = run_client(client, "--url", url, "--ca", str(certs.ca), "--once", "How are you?")
            assert done.returncode == 1
            assert "certificate has expired" in done.stderr and "restart the server" in done.stderr, done.stderr
    certificates.make(["127.0.0.1", "::1", "localhost"], certs.ca.parent)  # the module's certificate again


def test_https_to_a_plain_server_says_it_speaks_no_tls(certs):
    with Twins() as twins:
        done = run_client("clients.polling_client", "--url", twins.polling.url.replace("http", "https"),
                          "--ca", str(certs.ca), "--once", "How are you?")
    assert done.returncode == 1 and "does not speak TLS on this port" in done.stderr, done.stderr


def test_the_ca_may_vouch_for_private_names_only(tmp_path):
    with pytest.raises(ValueError, match="private"):
        certificates.make(["127.0.0.1", "example.com"], tmp_path)
    with pytest.raises(ValueError, match="private"):
        certificates.make(["8.8.8.8"], tmp_path)


@pytest.fixture(scope="module")
def tls_cluster(certs):
    require_cluster_tools()
    with Cluster(1, redis=False, certificates=certs) as cluster:
        yield cluster


def test_http2_is_negotiated_through_nginx_for_polling_and_server_sent_events(tls_cluster, certs):
    context = secure.client_context(certs.ca, alpn=["h2", "http/1.1"])
    with context.wrap_socket(wire.connect("127.0.0.1", tls_cluster.polling_port), server_hostname="127.0.0.1") as sock:
        assert sock.selected_alpn_protocol() == "h2"
    with httpx.Client(http2=True, verify=secure.client_context(certs.ca)) as client:
        posted = client.post(f"{tls_cluster.polling_url}/api/messages", json={"text": "How are you?"})
        assert posted.http_version == "HTTP/2" and posted.status_code == 201
        polled = client.get(f"{tls_cluster.polling_url}/api/messages",
                            params={"after": posted.json()["message"]["id"]})
        assert polled.http_version == "HTTP/2" and polled.json()["messages"][0]["text"] == REPLY
        with client.stream("GET", f"{tls_cluster.polling_url}/api/events?after=0") as stream:
            assert stream.http_version == "HTTP/2"
            assert next(stream.iter_raw()).startswith(b"retry:")
    log = tls_cluster.nginx.access_log  # nginx writes a request's line once the request has ended
    assert eventually(lambda: "HTTP/2.0 GET /api/events 200" in log.read_text(), 5), log.read_text()
    assert "HTTP/2.0 GET /api/messages 200" in log.read_text()


def test_plain_http_to_nginx_under_tls_is_told_to_use_https_in_json_as_by_a_node(tls_cluster):
    for port in (tls_cluster.polling_port, tls_cluster.websocket_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head, body = sock.makefile("rb").read().split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head, head
        assert json.loads(body)["error"] == "https_required"


def test_nginx_announces_no_websocket_over_http2_and_the_websocket_goes_over_http11(tls_cluster, certs):
    opened = secure.nginx_settings(tls_cluster.websocket_port, certs.ca)
    assert opened["alpn"] == "h2" and opened["enable_connect_protocol"] == 0
    ws = websocket_client.connect(tls_cluster.ws_url + "/ws", ca=str(certs.ca))
    try:
        assert websocket_client.ask(ws, "ada", "How are you?") == REPLY
    finally:
        ws.close()
    assert " HTTP/1.1 GET /ws 101" in tls_cluster.nginx.access_log.read_text()
