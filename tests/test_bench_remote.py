"""``python -m clients.bench --url``: the scenarios against servers already running elsewhere, speaking only
the protocol. "Elsewhere" is a pair of Twins this test starts; the bench runs as its own process and
finds the WebSocket twin through /api/status, as it would across a classroom's network."""

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from servers.twins import Twins

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clients.bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.timeout(180)
def test_measures_servers_elsewhere_over_the_protocol(tmp_path):
    with Twins() as twins:
        done = bench("--url", twins.polling.url, "--quick", "--quiet", "--out", str(tmp_path))
        authors = {message.author for message in twins.chat.board.after(0)}
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    meta = results["meta"]
    assert meta["url"] == twins.polling.url and meta["websocket_url"] == twins.ws_url
    clock = meta["clock"]  # one machine, one clock: the true offset is 0, and must lie within the bound
    assert abs(clock["offset_s"]) <= clock["uncertainty_s"] + 1e-6
    assert "bench" in authors  # the events were posted over HTTP, under the bench's name
    settings = meta["settings"]
    for row in results["push_latency"]:
        assert (row["n"], row["duplicates"], row["delivered"]) == (settings["push"], 0, settings["push"] + 5), row
        assert row["clock_uncertainty_ms"] == pytest.approx(clock["uncertainty_s"] * 1000)
    assert [row["transport"] for row in results["reply_round_trip"]] == [
        "WebSocket", "long polling", "short polling 100 ms", "short polling 250 ms"]
    assert all(row["n"] == settings["poll_reply"] for row in results["reply_round_trip"])
    assert set(results["references"]) == {"our_echo", "tcp_connect"}
    assert results["with_delay"] == []
    overhead = results["overhead"]
    websocket_row = next(row for row in overhead["delivery"] if row["transport"] == "websocket")
    assert websocket_row["server_frame_header"] in (2, 4) and websocket_row["duplicates"] == 0
    assert [row["client"] for row in overhead["idle"]] == ["short polling", "long polling", "websocket"]
    keep_alive, new_connection = overhead["keep_alive"]
    assert keep_alive["connections"] == 1 and new_connection["connections"] == new_connection["polls"]
    assert "their clock minus ours" in done.stdout
    assert {path.name for path in tmp_path.glob("*.png")} >= {"reply_latency_cdf.png", "push_latency_cdf.png"}


def test_nothing_listening_is_one_sentence(tmp_path):
    with Twins() as twins:
        url = twins.polling.url
    done = bench("--url", url, "--quick", "--out", str(tmp_path), timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: nothing answers at {url}: is the server running there")


def test_another_web_server_is_told_apart(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = bench("--url", f"http://127.0.0.1:{server.server_port}", "--quick", "--out", str(tmp_path),
                     timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "answered 404 without our status: is this the polling server (port 8001)?" in done.stderr


@pytest.mark.parametrize("url", ["127.0.0.1:8001", "ws://127.0.0.1:8002/ws", "http://127.0.0.1:port"])
def test_a_malformed_url_says_how_to_write_it(url, tmp_path):
    done = bench("--url", url, "--out", str(tmp_path), timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "write it as http://HOST:8001" in done.stderr
