"""RFC 6455, checked by a public suite: the Autobahn TestSuite's fuzzing client against our ``/echo``.

Our own tests check what we thought of; the Autobahn TestSuite (``wstest -m fuzzingclient``), which most
WebSocket implementations are measured with, checks what the RFC says, case by case: framing, pings and pongs,
reserved bits, opcodes, fragmentation, UTF-8 and the closing handshake (cases 1 to 7, without compression),
then permessage-deflate (cases 12 and 13: five kinds of data, seven combinations of the extension's
parameters). Cases 1 to 7 run whole; of cases 12 and 13 every kind of data and every combination runs, at
message sizes 16 B, 1 KiB, 8 KiB and 8 KiB sent in 256-byte fragments, plus one run of 128 KiB messages
(``COMPRESSION_CASES``): the other sizes repeat the same code paths, and all 216 cases take half an hour.

A case passes when the suite's verdict on what the server did is OK, NON-STRICT (allowed, not preferred) or
INFORMATIONAL, and its verdict on the closing handshake OK or INFORMATIONAL; every other verdict fails, naming
the case and quoting the suite.

The suite is Python 2.7 code and lives in a virtualenv of its own (``tests/autobahn_suite.py``, run by
``make test``). ``make conformance`` runs this file alone and keeps the suite's HTML report, one page per case
with the frames on the wire, in ``conformance-report/`` (``CONFORMANCE_REPORT`` names another folder).
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import autobahn_suite
from conftest import unavailable
from servers import websocket_server
from servers.chat import Chat
from servers.serving import RunningServer

FRAMING_CASES = [f"{chapter}.*" for chapter in range(1, 8)]  # all of cases 1 to 7, whatever their number
DATA_KINDS, DEFLATE_PARAMETERS = 5, 7  # the suite's subcategories 12.1-12.5 and 13.1-13.7
SIZES = (1, 4, 6, 11)  # the suite's message sizes 16 B, 1 KiB, 8 KiB, and 8 KiB in 256-byte fragments
COMPRESSION_CASES = [f"12.{kind}.{size}" for kind in range(1, DATA_KINDS + 1) for size in SIZES] + \
                    [f"13.{params}.{size}" for params in range(1, DEFLATE_PARAMETERS + 1) for size in SIZES] + \
                    ["12.1.10"]  # 1000 JSON messages of 128 KiB each
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}  # the suite's verdicts on what the server did
PASSING_CLOSE = {"OK", "INFORMATIONAL"}  # and on how the connection closed
AGENT = "websocket_server"  # the name the suite's report gives our server
SUITE_TIMEOUT = 480  # seconds for the whole run, which takes a minute and a half on a busy 2-core machine

@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> "Run":
    """One run of the suite against ``/echo`` on a fresh server, shared by the tests below."""
    if why := autobahn_suite.missing():
        unavailable(why)
    report = Path(os.environ.get("CONFORMANCE_REPORT") or tmp_path_factory.mktemp("conformance")).resolve()
    report.mkdir(parents=True, exist_ok=True)
    chat = Chat()
    try:
        with RunningServer(websocket_server.create_app(chat)) as server:
            spec = {"outdir": str(report), "cases": FRAMING_CASES + COMPRESSION_CASES,
                    "servers": [{"agent": AGENT, "url": f"ws://{server.host}:{server.port}/echo"}]}
            (report / "fuzzingclient.json").write_text(json.dumps(spec, indent=2))
            started = time.monotonic()
            done = subprocess.run([str(autobahn_suite.WSTEST), "-m", "fuzzingclient", "-s", "fuzzingclient.json"],
                                  cwd=report, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
            took = time.monotonic() - started
    finally:
        chat.stop_ticker()
    assert done.returncode == 0, f"wstest exited with {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return Run(json.loads((report / "index.json").read_text())[AGENT], report, took)


class Run:
    """What one run of the suite found: {case id: the suite's verdicts}, where its report is, how long it took."""

    def __init__(self, verdicts: dict, report: Path, took: float) -> None:
        self.verdicts, self.report, self.took = verdicts, report, took

    def chapters(self, first: int, last: int) -> dict:
        return {case: verdict for case, verdict in self.verdicts.items() if first <= case_order(case)[0] <= last}

    def said(self, case: str) -> str:
        """What the suite says about a case: its verdicts, what it did and expected, and what happened."""
        verdict = self.verdicts[case]
        details = json.loads((self.report / verdict["reportfile"]).read_text())
        return (f"{case} [{verdict['behavior']}, close {verdict['behaviorClose']}] {details['description']}\n"
                f"    expected: {details['expectation']}\n"
                f"    got: {details['result']} / {details['resultClose']} "
                f"(the server's close code: {verdict['remoteCloseCode']})")


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_the_framing_cases_conform(suite, capsys):
    """Cases 1 to 7: framing, pings and pongs, reserved bits, opcodes, fragmentation, UTF-8, closing."""
    found = suite.chapters(1, 7)
    assert {case_order(case)[0] for case in found} == set(range(1, 8)), "the suite skipped a whole chapter"
    judge(suite, found, "cases 1 to 7", capsys)


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_the_compression_cases_conform(suite, capsys):
    """Cases 12 and 13: permessage-deflate, which the server negotiates with every client that offers it."""
    found = suite.chapters(12, 13)
    assert sorted(found, key=case_order) == sorted(COMPRESSION_CASES, key=case_order)
    judge(suite, found, "cases 12 and 13 (permessage-deflate)", capsys)


def judge(suite: Run, found: dict, which: str, capsys) -> None:
    """Fail on every case that broke the RFC; print the verdicts that were allowed but not OK."""
    assert found, f"the suite ran none of {which}"
    failing = {case for case, verdict in found.items() if not passes(verdict)}
    unexpected = sorted(failing, key=case_order)
    lines = [f"Autobahn TestSuite against /echo, {which}: {len(found)} cases, {len(failing)} failing "
             f"(the whole run: {suite.took:.0f} s; report: {suite.report / 'index.html'})"]
    for case in sorted(found, key=case_order):
        if case not in failing and (found[case]["behavior"], found[case]["behaviorClose"]) != ("OK", "OK"):
            lines.append(f"  allowed: {suite.said(case)}")
    with capsys.disabled():  # worth reading in every run, not only when the test fails
        print("\n" + "\n".join(lines))
    assert not unexpected, (f"{len(unexpected)} cases broke RFC 6455 (the report: {suite.report / 'index.html'}):\n"
                            + "\n".join(suite.said(case) for case in unexpected))


def passes(verdict: dict) -> bool:
    return verdict["behavior"] in PASSING and verdict["behaviorClose"] in PASSING_CLOSE


def case_order(case: str) -> tuple[int, ...]:
    """(2, 9, ...) for "2.9": 2.9 comes before 2.10."""
    return tuple(int(part) for part in case.split("."))
