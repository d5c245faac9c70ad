"""One client posting as fast as it can: refused past its rate, over HTTP and over a WebSocket, while the rest of
the class reads on and is served at once; the teacher's machine posts as fast as it measures."""

import json
import re
import socket
import threading
import time

import pytest
import requests

from clients import wire
from servers.post_rate import BURST, RATE, PostRate, cost
from servers.twins import Twins

FLOOD = 400  # messages a flooding client sends as fast as it can: ten bursts' worth
WAIT = re.compile(r"wait (\S+) s$")  # how long a refusal's message says to wait


def test_a_bucket_pays_for_a_burst_then_for_its_rate_and_long_texts_cost_more():
    rate = PostRate(rate=10, burst=4, senders=2)
    assert [rate.wait("10.0.0.1", 1) for _ in range(4)] == [0] * 4
    assert 0 < rate.wait("10.0.0.1", 1) <= 0.1  # empty: about one token's time
    assert rate.wait("10.0.0.2", 1) == 0  # another address has its own bucket
    assert rate.wait("::1", 1000) == rate.wait("127.0.0.1", 1000) == rate.wait(None, 1) == 0  # the teacher's machine
    assert cost("x") == 1 and cost("x" * 1022) == 1 and cost("x" * 1023) == 2
    assert cost("\U0001F600" * 1000) == 12  # as JSON, an astral character is 12 bytes (two \u escapes)
    rate.wait("10.0.0.3", 1), rate.wait("10.0.0.4", 1)  # two more senders: the first ones are forgotten
    assert rate.wait("10.0.0.1", 4) == 0  # and start again with a full bucket


def read_frames(rfile, frames: list, closed: threading.Event) -> None:
    """Read a WebSocket's frames as fast as they come, until it ends."""
    try:
        while True:
            frames.append(wire.read_frame(rfile))
            if frames[-1].opcode == 8:
                break
    except (ConnectionError, OSError):
        pass
    closed.set()


@pytest.mark.timeout(120)
def test_a_flooding_student_is_held_to_the_rate_and_the_class_reads_on(chat, lan_address):
    """A student's laptop (this machine's network address) sends messages as fast as it can over a WebSocket,
    then over HTTP: past its burst, each gets ``too_many_messages`` (an error frame, the WebSocket going on; a 429
    with ``Retry-After``), nothing of it is stored, a reader of the board stays open and a classmate posts at once."""
    with Twins(chat, host=lan_address) as twins:
        websocket, polling = twins.websocket.port, twins.polling.port
        reader, reader_rfile, _, _ = wire.open_websocket(lan_address, websocket, "/ws")
        read, reader_closed = [], threading.Event()
        threading.Thread(target=read_frames, args=(reader_rfile, read, reader_closed), daemon=True).start()
        flooder, rfile, _, _ = wire.open_websocket(lan_address, websocket, "/ws")
        answers, flooder_closed = [], threading.Event()
        threading.Thread(target=read_frames, args=(rfile, answers, flooder_closed), daemon=True).start()
        try:
            started = time.monotonic()
            for number in range(FLOOD):
                wire.send_frame(flooder, 1, json.dumps({"type": "send", "text": f"flood {number}"}).encode())
            flooding = time.monotonic() - started
            kinds = lambda: [json.loads(frame.payload)["type"] for frame in answers if frame.opcode == 1]
            deadline = time.monotonic() + 30
            while kinds().count("sent") + kinds().count("error") < FLOOD and time.monotonic() < deadline:
                time.sleep(0.05)
            errors = [json.loads(frame.payload) for frame in answers
                      if frame.opcode == 1 and json.loads(frame.payload)["type"] == "error"]
            sent = kinds().count("sent")
            assert sent + len(errors) == FLOOD, kinds()[-5:]
            assert BURST <= sent <= BURST + RATE * (time.monotonic() - started) + 1, (sent, flooding)
            assert {error["error"] for error in errors} == {"too_many_messages"}, errors[:3]
            assert {WAIT.search(error["message"]).group(1) for error in errors} == {"1"}, errors[:3]
            assert chat.board.last_id == 2 * sent  # each message taken has its reply; nothing refused is stored

            with requests.Session() as session:  # the same laptop, over HTTP: the same bucket
                responses = [session.post(f"http://{lan_address}:{polling}/api/messages", json={"text": "http flood"},
                                          timeout=5) for _ in range(2 * BURST)]
            refused = [response for response in responses if response.status_code != 201]
            assert refused and {response.status_code for response in refused} == {429}
            assert {response.json()["error"] for response in refused} == {"too_many_messages"}
            assert {response.headers["Retry-After"] for response in refused} == {"1"}
            assert {WAIT.search(response.json()["message"]).group(1) for response in refused} == {"1"}  # as it says
            teacher = time.monotonic()  # meanwhile anyone else is served at once
            with socket.create_connection((lan_address, polling), 5, ("127.0.0.1", 0)) as sock, \
                    sock.makefile("rb") as teachers:
                _, response = wire.http_exchange(sock, teachers, "POST", "/api/messages", f"{lan_address}:{polling}",
                                               {"Content-Type": "application/json"}, b'{"text": "the teacher"}')
            assert response.status == 201
            assert time.monotonic() - teacher < 1

            time.sleep(1)  # the bucket refills: the same WebSocket is served again, it was never closed
            before = len(answers)
            wire.send_frame(flooder, 1, json.dumps({"type": "send", "text": "calm again"}).encode())
            deadline = time.monotonic() + 5
            while "sent" not in kinds()[before:] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "sent" in kinds()[before:] and not flooder_closed.is_set()
            assert not reader_closed.is_set(), [frame.payload for frame in read if frame.opcode == 8]
        finally:
            for sock in (flooder, reader):
                sock.close()


def test_the_teachers_machine_posts_as_fast_as_it_measures(twins):
    """The benchmarks and the notebooks post from loopback far past any student's rate: all of it is taken."""
    with requests.Session() as session:
        url = f"{twins.polling.url}/api/messages"
        answers = [session.post(url, json={"text": f"quick {number}"}, timeout=5).status_code
                   for number in range(3 * BURST)]
    assert answers == [201] * 3 * BURST
