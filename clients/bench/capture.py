"""A packet capture as an independent witness: ``tshark`` on the loopback interface.

    with Capture(port) as capture:      # capture.ok is False if tshark is missing or may not capture
        if capture.ok:
            ...                         # talk to 127.0.0.1:port
    capture.read("-Y", "tcp.len > 0")   # tshark's reading of what crossed the wire

Capturing needs ``tshark`` and permission to read ``lo`` (root, or the
``wireshark`` group); without either, ``ok`` is False and ``reason`` says why,
so a notebook can say so and carry on.
"""

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SETTLE = 0.5  # seconds: the capture filter is in place before the first packet, the last one is written
LIMIT = 20  # seconds: tshark stops by itself even if nobody stops it


class Capture:
    """tshark capturing ``tcp port <port>`` on lo into a temporary pcapng file while the block runs."""

    def __init__(self, port: int) -> None:
        self.port, self.tshark = port, shutil.which("tshark")
        self.file = Path(tempfile.mkdtemp()) / "capture.pcapng"
        self.ok, self.reason, self._process = False, None, None

    def __enter__(self) -> "Capture":
        if self.tshark is None:
            self.reason = "tshark is not installed (sudo apt-get install tshark)"
            return self
        self._process = subprocess.Popen([self.tshark, "-i", "lo", "-f", f"tcp port {self.port}",
                                          "-w", str(self.file), "-a", f"duration:{LIMIT}"],
                                         stderr=subprocess.PIPE, text=True)
        line = ""
        for line in self._process.stderr:  # "Capturing on ..." once it listens, or an error and it exits
            if "Capturing on" in line:
                self.ok = True
                break
        if self.ok:
            time.sleep(SETTLE)
        else:
            self.reason = f"tshark could not capture here (no permission on 'lo'?); it said: {line.strip()}"
        return self

    def __exit__(self, *exc) -> None:
        if self._process is None:
            return
        if self.ok:
            time.sleep(SETTLE)
            self._process.send_signal(signal.SIGINT)  # stop and write the file
        self._process.wait(10)
        self._process.stderr.close()

    def read(self, *options: str) -> str:
        """tshark's reading of the capture; ``-d tcp.port==<port>,http`` tells it that our random port
        speaks HTTP, so it follows the upgrade into WebSocket."""
        return subprocess.run([self.tshark, "-r", str(self.file), "-d", f"tcp.port=={self.port},http", *options],
                              capture_output=True, text=True, timeout=30).stdout
