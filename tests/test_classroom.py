"""The class view's API (/api/class, /api/class/mode) over real sockets: who is connected, how each receives,
what the server metered for each, and a switch only the teacher's own machine may flip."""

import json
import socket
import time

import pytest
import requests

from clients import wire
from conftest import eventually
from servers import classroom, polling_server, room, web
from servers.meter import MAX_CLIENTS, MAX_NAMES_PER_ADDRESS, Meter
from servers.serving import RunningServer
from servers.twins import Twins


def report(twins) -> dict:
    return requests.get(f"{twins.polling.url}/api/class", timeout=5).json()


def rows(twins) -> dict:
    return {row["client"]: row for row in report(twins)["clients"]}


def test_every_connected_client_with_its_transport_and_what_it_was_delivered(twins, chat, raw_websocket, streams):
    url = twins.polling.url
    streamed = streams(twins.polling.port, "?after=0&client=ines")
    pushed = raw_websocket(twins.websocket.port, "/ws?after=0&client=diego")
    chat.send("teacher", "How are you?")  # two messages on the board
    requests.post(f"{url}/api/messages", params={"client": "chloe"}, json={"text": "hi"}, timeout=5)  # and its reply
    short = requests.get(f"{url}/api/messages", params={"after": 0, "client": "ana"}, timeout=5).json()
    long_ = requests.get(f"{url}/api/messages", params={"after": 1, "wait": 5, "client": "bruno"}, timeout=5).json()
    assert [len(short["messages"]), len(long_["messages"])] == [4, 3]
    assert len([pushed.read_frame() for _ in range(4)]) == 4
    streamed.events(4)  # the four messages, read as events
    time.sleep(0.2)  # the server counts a delivery just after writing it
    listed = rows(twins)
    assert {client: row["transport"] for client, row in listed.items()} == {
        "ines": "sse", "diego": "websocket", "ana": "short polling", "bruno": "long polling", "chloe": None}
    assert {client: row["messages_delivered"] for client, row in listed.items()} == {
        "ines": 4, "diego": 4, "ana": 4, "bruno": 3, "chloe": 0}
    assert {client: row["streams"] for client, row in listed.items()} == {
        "ines": 1, "diego": 1, "ana": 0, "bruno": 0, "chloe": 0}
    metered = chat.meter.report(list(listed))
    for client, row in listed.items():  # the very figures /api/status reports for it
        assert {key: row[key] for key in metered[client]} == metered[client]
    totals = report(twins)["totals"]
    assert totals["sending only"]["clients"] == 1 and totals["sending only"]["requests"] == 1
    assert totals["short polling"] == {"clients": 1, **{key: listed["ana"][key] for key in classroom.ROW}}


def test_a_client_is_listed_while_its_stream_is_open_or_its_last_request_is_recent(twins, chat, raw_websocket,
                                                                                  monkeypatch):
    monkeypatch.setattr(classroom, "CONNECTED", 0.5)  # seconds, instead of a long poll's 35
    requests.get(f"{twins.polling.url}/api/messages", params={"after": 0, "client": "ana"}, timeout=5)
    pushed = raw_websocket(twins.websocket.port, "/ws?client=diego")
    assert set(rows(twins)) == {"ana", "diego"}
    time.sleep(0.6)
    assert set(rows(twins)) == {"diego"}  # ana has not asked for a while; diego's WebSocket is open
    pushed.send_close()
    assert pushed.read_close() == 1000
    eventually(lambda: not rows(twins), 5, step=0.05)
    assert rows(twins) == {}


def test_the_teacher_switches_the_class_from_this_machine(twins):
    url = twins.polling.url
    assert requests.get(f"{url}/api/class/mode", timeout=5).json() == {"mode": room.FIRST_MODE}
    for mode in room.MODES:
        assert requests.post(f"{url}/api/class/mode", json={"mode": mode}, timeout=5).json() == {"mode": mode}
        assert requests.get(f"{url}/api/class/mode", timeout=5).json() == {"mode": mode}
    assert report(twins)["teacher"] is True and report(twins)["mode"] == "sse"
    assert report(twins)["join"] == []  # bound to loopback: no student can reach it, and the view says so


@pytest.mark.parametrize("body, status, code", [
    ({"mode": "carrier pigeon"}, 422, "invalid_mode"), ({}, 422, "invalid_mode"), ([1], 422, "invalid_mode"),
    ("{", 400, "malformed_json")])
def test_a_bad_switch_is_refused(twins, body, status, code):
    data = body if isinstance(body, str) else json.dumps(body)
    response = requests.post(f"{twins.polling.url}/api/class/mode", data=data,
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert requests.get(f"{twins.polling.url}/api/class/mode", timeout=5).json() == {"mode": room.FIRST_MODE}


def test_from_another_address_the_switch_is_refused(chat, lan_address):
    """A request that reaches the server through the network, as a student's does: here this machine's own
    network address, which is not loopback (this one server binds it, for the few seconds of the test)."""
    with Twins(chat, host=lan_address) as twins:
        url = twins.polling.url
        response = requests.post(f"{url}/api/class/mode", json={"mode": "short"}, timeout=5)
        assert response.status_code == 403 and response.json()["error"] == "teacher_only"
        assert "http://127.0.0.1:PORT/class" in response.json()["message"]
        assert requests.get(f"{url}/api/class/mode", timeout=5).json() == {"mode": room.FIRST_MODE}
        assert report(twins)["teacher"] is False
        assert report(twins)["join"] == [f"http://{lan_address}:{twins.polling.port}/"]  # what students open


def test_only_this_machine_may_start_or_stop_the_ticker(chat, lan_address):
    """From the network, a student's page may not flood the class with a 0.1 s ticker: 403 teacher_only."""
    with Twins(chat, host=lan_address) as twins:
        refused = requests.post(f"{twins.polling.url}/api/ticker", json={"interval": 0.1}, timeout=5)
        assert refused.status_code == 403 and refused.json()["error"] == "teacher_only"
        assert chat.ticker_interval is None and chat.board.last_id == 0


def test_a_pages_control_requests_are_billed_apart_to_the_byte(twins, raw_websocket):
    """A page on a WebSocket asks for its mode and its figures: those requests show as its control, every byte of
    them, and its transport's figures stay the handshake's alone."""
    raw_websocket(twins.websocket.port, "/ws?client=diego")
    counted = {"requests": 0, "sent": 0, "received": 0}
    with socket.create_connection(("127.0.0.1", twins.polling.port)) as connection, \
            connection.makefile("rb") as rfile:
        for path in ("/api/class/mode?client=diego", "/api/status?clients=diego&client=diego", "/api/class",
                     "/api/class/mode?client=diego"):
            request, response = wire.http_exchange(connection, rfile, "GET", path, "127.0.0.1")
            if "client=diego" in path:  # the view's own read-out in between is billed to nobody
                counted["requests"] += 1
                counted["sent"] += len(request)
                counted["received"] += len(response.raw)
    expected = {"control_requests": counted["requests"], "control_bytes_from_client": counted["sent"],
                "control_bytes_to_client": counted["received"]}
    eventually(lambda: {key: rows(twins)["diego"][key] for key in expected} == expected, 2)
    row = rows(twins)["diego"]
    assert {key: row[key] for key in expected} == expected
    assert (row["transport"], row["requests"], row["connections"]) == ("websocket", 1, 1)  # the handshake alone
    assert report(twins)["totals"]["websocket"]["control_requests"] == 3


def test_each_view_says_how_it_is_billed_whatever_name_it_is_registered_under(chat):
    """How a request receives messages, and whether it is a page's control, its view declares: registered under
    other names (a view renamed), the views are billed as before, so a rename cannot quietly break the class view."""
    app = polling_server.create_app(chat)
    app.add_url_rule("/renamed/messages", "renamed_messages", polling_server.read_messages)
    app.add_url_rule("/renamed/status", "renamed_status", web.status)
    chat.send("ana", "something to read")  # so a long poll is answered at once
    with RunningServer(app) as server:
        for path in ("/renamed/messages?after=0&client=short", "/renamed/messages?after=0&wait=5&client=long",
                     "/renamed/status?client=short"):
            assert requests.get(f"{server.url}{path}", timeout=5).ok
    listed = chat.meter.rows()
    assert (listed["short"]["transport"], listed["long"]["transport"]) == ("short polling", "long polling")
    assert (listed["short"]["requests"], listed["short"]["control_requests"]) == (1, 1)


def test_the_report_says_whether_the_ticker_runs(twins):
    assert report(twins)["ticker"] is None
    assert requests.post(f"{twins.polling.url}/api/ticker", json={"interval": 2}, timeout=5).ok
    assert report(twins)["ticker"] == 2


# --- made-up names: bounded per address, and never at the real students' expense ------------------------------

def test_the_meter_forgets_the_account_used_longest_ago_and_spares_open_streams():
    meter = Meter()
    ana, diego = meter.account("ana"), meter.account("diego")
    diego.stream(+1)  # a WebSocket, open since long before the others came
    for n in range(MAX_CLIENTS - 2):
        meter.account(f"other{n}")
    assert meter.account("ana") is ana  # used again: now the newest
    meter.account("newcomer")  # one too many: the account used longest ago goes, but not diego's, with its stream
    assert meter.account("diego") is diego and meter.account("ana") is ana
    assert "other0" not in meter.rows() and len(meter.rows()) == MAX_CLIENTS


def test_one_address_holds_a_few_names_and_a_thousand_made_up_ones_wipe_no_student(chat, lan_address):
    """A student's laptop (this machine's network address) makes up 1,000 names in one pipelined burst, as a
    script of a few lines does: it holds MAX_NAMES_PER_ADDRESS of them, its newest; the class view still lists
    the real students (here from the teacher's machine) with their figures."""
    with Twins(chat, host=lan_address) as twins:
        port, host = twins.polling.port, f"{lan_address}:{twins.polling.port}"
        with socket.create_connection((lan_address, port), 5, ("127.0.0.1", 0)) as sock, sock.makefile("rb") as rfile:
            for student in ("ana", "bruno"):
                assert wire.http_exchange(sock, rfile, "GET", f"/api/messages?client={student}", host)[1].status == 200
        with socket.create_connection((lan_address, port), 10) as sock, sock.makefile("rb") as rfile:
            sock.sendall(b"".join(wire.request_bytes("GET", f"/api/class/mode?client=fake{n:04d}", host)
                                  for n in range(1000)))
            assert [wire.read_response(rfile).status for _ in range(1000)] == [200] * 1000
        listed = {row["client"]: row for row in report(twins)["clients"]}
        assert {"ana", "bruno"} <= set(listed) and listed["ana"]["requests"] == 1
        assert not any(client.startswith("fake") for client in listed)  # control requests: not listed
        held = sorted(client for client in chat.meter.rows() if client.startswith("fake"))
        assert held == [f"fake{n:04d}" for n in range(1000 - MAX_NAMES_PER_ADDRESS, 1000)]


def test_the_class_view_lists_its_rows_and_counts_the_rest(twins):
    with requests.Session() as session:
        for n in range(classroom.MAX_ROWS + 20):  # the teacher's machine names as many as it likes (a benchmark)
            session.get(f"{twins.polling.url}/api/messages", params={"client": f"c{n:03d}"}, timeout=5)
    answer = report(twins)
    assert answer["connected"] == classroom.MAX_ROWS + 20 and len(answer["clients"]) == classroom.MAX_ROWS
    assert answer["totals"]["short polling"]["clients"] == classroom.MAX_ROWS + 20
    assert {row["client"] for row in answer["clients"]} == {f"c{n:03d}" for n in range(20, classroom.MAX_ROWS + 20)}


def test_the_status_reports_on_a_bounded_list_of_clients(twins):
    url = f"{twins.polling.url}/api/status"
    names = [f"c{n}" for n in range(web.REPORTED + 1)]
    assert set(requests.get(url, params={"clients": ",".join(names[:-1])}, timeout=5).json()["clients"]) == set(
        names[:-1])
    refused = requests.get(url, params={"clients": ",".join(names)}, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    assert requests.get(url, params={"clients": ",".join(["c"] * 10_000)}, timeout=5).status_code == 400
