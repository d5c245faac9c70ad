"""The load benchmark: hundreds of real clients (an asyncio process of their own) on a real server process.

Bounded: 300 clients per transport, 50 server events 0.1 s apart, on loopback. Speed goals are the
benchmark's to print (python -m clients.bench load), not this file's to assert.
"""

import json
import subprocess
import sys
import time

import pytest

from clients.bench.load import command as load_command, crowd, run as load
from clients.bench.load.processes import ROOT, ClientProcess
from clients.bench.results import load_report
from conftest import require_cluster_tools
from servers import process

MANY = {"messages": 50, "every": 0.1, "interval": 1.0, "idle": 0.5, "drain": 20.0}


def test_tally_finds_lost_duplicated_and_out_of_order_deliveries():
    expected = range(11, 15)
    perfect = [(11, 0.001), (12, 0.002), (13, 0.001), (14, 0.004)]
    broken = [(12, 0.003), (11, 0.002), (11, 0.002), (14, 0.005), (99, 0.001)]  # 13 lost, 11 twice, 99 unknown
    counts = crowd.tally([perfect, broken], expected)
    assert (counts["lost"], counts["duplicated"], counts["out_of_order"], counts["unexpected"]) == (1, 1, 1, 1)
    assert counts["delivered"] == 4 + 3
    assert counts["last_client"] == [0.002, 0.003, 0.001, 0.005]  # the slower of the two, message by message
    assert crowd.tally([perfect, perfect], expected)["lost"] == 0


def test_an_open_file_limit_too_low_for_the_clients_is_said_plainly():
    assert crowd.too_few_files(1000, 20000, 20000) is None
    assert crowd.too_few_files(1000, None, None) is None  # Windows: no such limit
    sentence = crowd.too_few_files(1000, 256, 256)
    assert "1,000 clients" in sentence and "256" in sentence and "ulimit -n" in sentence


def test_growth_says_what_grows_with_clients():
    def run(clients, requests, latency):
        return {"label": "long polling", "clients": clients, "connected": clients, "threads_per_connection": 1.0,
                "rss_per_connection": 40_000, "events": {"bytes_to_clients_per_s": 300.0 * clients,
                                                         "bytes_from_clients_per_s": 200.0 * clients,
                                                         "requests_per_s": requests, "cpu_per_s": 0.05},
                "idle": {"requests_per_s": 0.0}, "fanout_median_client": {"median_ms": latency},
                "fanout_last_client": {"median_ms": latency * 2}}
    rows = load_report.growth({"runs": [run(10, 10.0, 5.0), run(100, 100.0, 5.5)]})
    verdicts = {row["figure"]: row["verdict"] for row in rows}
    assert verdicts["requests per second"] == verdicts["threads held for the clients"] == "grows"
    assert verdicts["latency to the last client (ms)"] == verdicts["server CPU ms per second"] == "about the same"
    assert verdicts["requests per second at idle"] == "none"



def test_growth_judges_latency_against_noise_from_its_samples():
    def run(clients, last_client_ms):
        return {"label": "WebSocket", "clients": clients, "connected": clients, "threads_per_connection": 2.0,
                "rss_per_connection": 70_000, "events": {"bytes_to_clients_per_s": 100.0 * clients,
                                                         "bytes_from_clients_per_s": 0.0, "requests_per_s": 0.0,
                                                         "cpu_per_s": 0.03},
                "idle": {"requests_per_s": 0.0}, "fanout_median_client": {"median_ms": 1.0},
                "fanout_last_client": {"median_ms": sorted(last_client_ms)[len(last_client_ms) // 2]},
                "median_client_ms": last_client_ms, "last_client_ms": last_client_ms}
    steady = [1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8, 1.1, 1.0, 1.2]
    apart = load_report.growth({"runs": [run(10, steady), run(40, [x * 3 for x in steady])]})
    close = load_report.growth({"runs": [run(10, steady), run(40, [x * 1.1 for x in steady])]})
    last = "latency to the last client (ms)"
    assert next(row for row in apart if row["figure"] == last)["verdict"] == "grows"
    assert next(row for row in close if row["figure"] == last)["verdict"] == "within noise"  # 10 % on 10 samples
    table = load_report.growth_markdown(apart)
    assert table.splitlines()[0] == "| 10 → 40 clients | WebSocket |"
    assert "| requests per second | 0 → 0 |" in table and "(×3), beyond noise |" in table

def test_the_servers_cpu_clock_resolves_milliseconds():
    """A short load run needs finer CPU readings than the OS's 10 ms ticks (on Linux and macOS)."""
    if sys.platform == "win32":
        pytest.skip("Windows counts process CPU time in ticks of about 16 ms")
    before = process.usage()["cpu_seconds"]
    started = time.process_time()
    while time.process_time() - started < 0.003:
        pass
    spent = process.usage()["cpu_seconds"] - before
    assert 0.003 <= spent < 0.009


@pytest.mark.timeout(90)
@pytest.mark.parametrize("transport", ["websocket", "long-polling", "sse"])
def test_300_clients_receive_50_messages_each_complete_and_in_order(transport):
    with ClientProcess() as clients:
        row = load.run_scenario(clients, transport, 300, MANY)
    assert (row["connected"], row["connect_failures"], row["stopped_early"]) == (300, 0, 0), row["connect_errors"]
    assert row["messages"] >= 50  # a busy server may answer "stop the ticker" after one or two more
    assert row["delivered"] == 300 * row["messages"]
    assert (row["lost"], row["duplicated"], row["out_of_order"], row["unexpected"]) == (0, 0, 0, 0)
    assert len(row["last_client_ms"]) == row["messages"]
    # The server's meter and the clients' own count saw the same bytes come down (nothing is in flight
    # once every client holds the last message). A WebSocket client sends nothing after its handshake,
    # so the bytes up agree too; a long poller's next request may still be on its way.
    drained = row["snapshots"]["drained"]
    assert drained["bytes_to_clients"] == drained["client_read"] > 300 * 50 * 100  # 100+ bytes per message
    if transport == "websocket":
        assert drained["bytes_from_clients"] == drained["client_written"]
    assert row["threads_per_connection"] >= 1  # every connection holds a server thread, at least while it waits


@pytest.mark.timeout(90)
def test_the_load_command_writes_its_files_and_prints_the_goals(tmp_path):
    command = [sys.executable, "-m", "clients.bench", "load", "--quick", "--clients", "5", "--messages", "3",
               "--every", "0.1", "--interval", "0.25", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=80)
    assert done.returncode == 0, done.stderr
    assert "Goals (issue 13), from this run, 5 clients" in done.stdout
    assert "ratio" in done.stdout and "threads per WebSocket" in done.stdout
    assert "measured here, real clients" in done.stdout
    results = json.loads((tmp_path / "load.json").read_text())
    assert [row["label"] for row in results["runs"]] == [
        "websockets library broadcast", "WebSocket", "Server-Sent Events", "long polling", "short polling 250 ms"]
    assert all(row["delivered"] == 5 * row["messages"] and row["lost"] == 0 for row in results["runs"])
    assert results["goals"]["rows"]["WebSocket"]["complete"]
    lines = (tmp_path / "load.csv").read_text().splitlines()
    assert len(lines) == 1 + 5 and lines[0].startswith("label,clients,")
    for name in ("load_scaling.csv", "load_latency.png", "load_cpu.png", "load_bandwidth.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(("argument", "complaint"), [
    (["--clients", "0"], "whole numbers of clients"), (["--clients", "ten"], "whole numbers of clients"),
    (["--every", "0.01"], "from 0.1 to 60"), (["--only", "carrier-pigeon"], "choose from")])
def test_bad_arguments_get_a_sentence_not_a_traceback(argument, complaint, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_command.main(argument)
    assert exit_.value.code == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_the_load_run_targets_a_cluster_of_one_node_and_of_two():
    """python -m clients.bench load --nodes 1,2: the same crowd through nginx to one node and to two, every node's
    costs added up, and Redis's and nginx's CPU beside them: one node beside two on the same machine."""
    require_cluster_tools()
    results = load.run_load({"clients": [20], "messages": 5, "every": 0.2, "interval": 1.0, "idle": 0.5,
                             "drain": 10.0, "nodes": [1, 2]}, ("websocket", "long-polling"), say=lambda line: None)
    rows = {row["label"]: row for row in results["runs"]}
    assert list(rows) == ["WebSocket on 1 node", "WebSocket on 2 nodes", "long polling on 1 node",
                          "long polling on 2 nodes"]
    for row in rows.values():
        assert row["server"] == "cluster" and row["connected"] == 20 and row["delivered"] == 20 * row["messages"]
        assert (row["lost"], row["duplicated"], row["out_of_order"], row["unexpected"]) == (0, 0, 0, 0)
        assert 0 <= row["parts_cpu_seconds"] < row["cpu_seconds"]
    # a poll a message per client crosses nginx (a WebSocket's few frames may take less than a clock tick of 10 ms)
    assert rows["long polling on 1 node"]["parts_cpu_seconds"] > 0
    assert "Redis's and nginx's share" in load_report.load_summary(results)
    # two node processes hold about twice the memory of one, and the threads each connection costs do not change
    assert rows["WebSocket on 2 nodes"]["rss_bytes"] > 1.5 * rows["WebSocket on 1 node"]["rss_bytes"]
    assert round(rows["WebSocket on 2 nodes"]["threads_per_connection"]) == 1
