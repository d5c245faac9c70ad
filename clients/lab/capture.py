"""A packet capture as an independent witness: ``tshark`` on the loopback interface.

    with Capture(port) as capture:      # capture.ok is False if tshark is missing or may not capture
        if capture.ok:
            ...                         # talk to 127.0.0.1:port
    capture.read("-Y", "tcp.len > 0")   # tshark's reading of what crossed the wire

The loopback interface has a different name on each system: ``lo`` on Linux,
``lo0`` on macOS, and on Windows the adapter Npcap adds for it
(``\\Device\\NPF_Loopback``, only if Npcap was installed with loopback support).
``loopback_interface`` asks ``tshark -D`` which one this machine has.
Capturing also needs permission (root or the ``wireshark`` group on Linux,
Wireshark's ChmodBPF on macOS, Npcap on Windows); without tshark or permission,
``ok`` is False and ``reason`` says what to install or change, so a notebook
can say so and carry on.
"""

import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SETTLE = 0.5  # seconds: the capture filter is in place before the first packet, the last one is written
LIMIT = 20  # seconds: tshark stops by itself even if nobody stops it
DEFAULT_LOOPBACK = {"Linux": "lo", "Darwin": "lo0", "Windows": r"\Device\NPF_Loopback"}
# Where Wireshark's installers put tshark when they do not add it to PATH.
INSTALLED_AT = {"Windows": [Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "Wireshark" / "tshark.exe"],
                "Darwin": [Path("/Applications/Wireshark.app/Contents/MacOS/tshark")]}
HOW_TO_INSTALL = {
    "Linux": "install it with 'sudo apt-get install tshark' (Debian, Ubuntu) or your system's package manager, "
             "answer 'yes' to letting non-root users capture, then 'sudo usermod -aG wireshark $USER' and log in again",
    "Darwin": "install Wireshark from wireshark.org (or 'brew install --cask wireshark') with its "
              "'Install ChmodBPF' and 'Add Wireshark to the system path' options",
    "Windows": "install Wireshark from wireshark.org; in its installer, install Npcap and tick "
               "'Support loopback traffic' (the loopback adapter is what the capture listens on)",
}
PERMISSION = {
    "Linux": "run as root, or join the 'wireshark' group (sudo usermod -aG wireshark $USER, then log in again)",
    "Darwin": "install Wireshark's ChmodBPF package (in the Wireshark installer), then log in again",
    "Windows": "reinstall Npcap with 'Support loopback traffic' ticked, or run as administrator",
}


def find_tshark(system: str | None = None) -> str | None:
    """tshark on PATH, or where Wireshark's installer puts it on Windows and macOS."""
    system = system or platform.system()
    found = shutil.which("tshark")
    if found:
        return found
    return next((str(path) for path in INSTALLED_AT.get(system, []) if path.is_file()), None)


def how_to_install(system: str | None = None) -> str:
    """One sentence: how to get tshark on this system."""
    system = system or platform.system()
    return HOW_TO_INSTALL.get(system, "install Wireshark's tshark from wireshark.org")


def pick_loopback(listing: str, system: str) -> str | None:
    """The loopback interface in ``tshark -D``'s listing (lines like ``3. lo (Loopback)``), or None.

    Windows lists Npcap's ``\\Device\\NPF_Loopback (Adapter for loopback traffic capture)``;
    Linux and macOS mark theirs ``(Loopback)``.
    """
    names = []
    for line in listing.splitlines():
        match = re.match(r"\s*\d+\.\s+(\S+)(?:\s+\((.*)\))?", line)
        if match:
            names.append((match.group(1), (match.group(2) or "").lower()))
    for name, description in names:
        if "npf_loopback" in name.lower() or "loopback" in description:
            return name
    wanted = DEFAULT_LOOPBACK.get(system)
    return wanted if any(name == wanted for name, _ in names) else None


def loopback_interface(tshark: str, system: str | None = None) -> str | None:
    """Ask ``tshark -D`` for this machine's loopback interface; None if it lists none."""
    system = system or platform.system()
    try:
        listing = subprocess.run([tshark, "-D"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return pick_loopback(listing, system)


class Capture:
    """tshark capturing ``tcp port <port>`` (and the ports in ``also``) on the loopback interface into a
    temporary pcapng file while the block runs."""

    def __init__(self, port: int, also: tuple[int, ...] = ()) -> None:
        self.system = platform.system()
        self.port, self.also, self.tshark = port, also, find_tshark(self.system)
        self.file = Path(tempfile.mkdtemp()) / "capture.pcapng"
        self.ok, self.reason, self._process, self.interface = False, None, None, None

    def __enter__(self) -> "Capture":
        if self.tshark is None:
            self.reason = f"tshark is not installed: {how_to_install(self.system)}"
            return self
        self.interface = loopback_interface(self.tshark, self.system)
        if self.interface is None:
            self.reason = (f"tshark lists no loopback interface it may capture on: {PERMISSION.get(self.system, '')}"
                           .rstrip(": "))
            return self
        windows = self.system == "Windows"  # stopped with Ctrl-Break there: it needs its own process group
        ports = " or ".join(f"tcp port {port}" for port in (self.port, *self.also))
        self._process = subprocess.Popen([self.tshark, "-i", self.interface, "-f", ports,
                                          "-w", str(self.file), "-a", f"duration:{LIMIT}"],
                                         stderr=subprocess.PIPE, text=True,
                                         creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if windows else 0)
        line = ""
        for line in self._process.stderr:  # "Capturing on ..." once it listens, or an error and it exits
            if "Capturing on" in line:
                self.ok = True
                break
        if self.ok:
            time.sleep(SETTLE)
        else:
            self.reason = (f"tshark could not capture on {self.interface} ({PERMISSION.get(self.system, '')}); "
                           f"it said: {line.strip()}")
        return self

    def __exit__(self, *exc) -> None:
        if self._process is None:
            return
        if self.ok:
            time.sleep(SETTLE)
            stop = signal.CTRL_BREAK_EVENT if self.system == "Windows" else signal.SIGINT
            self._process.send_signal(stop)  # stop and write the file
        self._process.wait(10)
        self._process.stderr.close()

    def read(self, *options: str) -> str:
        """tshark's reading of the capture; ``-d tcp.port==<port>,http`` tells it that our random port
        speaks HTTP, so it follows the upgrade into WebSocket."""
        return subprocess.run([self.tshark, "-r", str(self.file), "-d", f"tcp.port=={self.port},http", *options],
                              capture_output=True, text=True, timeout=30).stdout
