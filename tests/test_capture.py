"""The packet capture picks the loopback interface of the system it runs on, and says what to install."""

import platform

import pytest

from clients import wire
from clients.lab import capture
from clients.lab.capture import Capture, pick_loopback
from conftest import require_tool

# What `tshark -D` prints on each system (abridged from real machines).
LISTINGS = {
    "Linux": "1. eth0\n2. any\n3. lo (Loopback)\n4. bluetooth-monitor\n5. nflog\n",
    "Darwin": "1. en0 (Wi-Fi)\n2. awdl0\n3. llw0\n4. utun0\n5. lo0 (Loopback)\n6. gif0\n7. stf0\n",
    "Windows": "1. \\Device\\NPF_{3C9A5B2E-0D6F-4F83-9C9B-2E1D7A0F6B11} (Wi-Fi)\n"
               "2. \\Device\\NPF_Loopback (Adapter for loopback traffic capture)\n"
               "3. \\Device\\NPF_{8E1B7C44-55D2-4C1B-A1E3-0B7F1C2D3E4F} (Ethernet)\n",
}


@pytest.mark.parametrize(("system", "expected"), [("Linux", "lo"), ("Darwin", "lo0"),
                                                  ("Windows", "\\Device\\NPF_Loopback")])
def test_picks_the_loopback_interface_of_each_system(system, expected):
    assert pick_loopback(LISTINGS[system], system) == expected


def test_windows_without_npcap_loopback_support_has_none():
    listing = LISTINGS["Windows"].replace("2. \\Device\\NPF_Loopback (Adapter for loopback traffic capture)\n", "")
    assert pick_loopback(listing, "Windows") is None


def test_an_unmarked_lo_is_still_found_by_its_usual_name():
    assert pick_loopback("1. eth0\n2. lo\n", "Linux") == "lo"


@pytest.mark.parametrize("system", ["Linux", "Darwin", "Windows"])
def test_says_what_to_install_on_each_system(system):
    advice = capture.how_to_install(system)
    assert {"Linux": "apt-get install tshark", "Darwin": "ChmodBPF", "Windows": "Support loopback traffic"}[system] \
        in advice


def test_a_missing_tshark_is_reported_with_what_to_install(monkeypatch):
    monkeypatch.setattr(capture, "find_tshark", lambda system=None: None)
    with Capture(1) as missing:
        assert not missing.ok
    assert missing.reason.startswith("tshark is not installed: ") and capture.how_to_install() in missing.reason


def test_captures_a_real_exchange_on_this_systems_loopback(websocket):
    require_tool("tshark")
    with Capture(websocket.port) as capture_:
        assert capture_.ok, capture_.reason
        sock, rfile, _, _ = wire.open_websocket("127.0.0.1", websocket.port, "/echo")
        wire.send_frame(sock, wire.TEXT, b"Hello")
        assert wire.read_frame(rfile).payload == b"Hello"
        wire.close(sock, rfile)
    assert capture_.interface == capture.DEFAULT_LOOPBACK[platform.system()]
    assert "WebSocket Text" in capture_.read("-Y", "websocket")
