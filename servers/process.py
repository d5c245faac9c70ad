"""What this server process costs its machine right now: CPU time, threads, memory.

The live pages, the class view and the load benchmark read these figures from
``/api/status``, so a student sees what holding a thousand WebSockets or answering
a thousand polls costs the server, measured by the server itself (psutil works the
same on Linux, macOS and Windows).
"""

import threading
import time

import psutil

_SELF = psutil.Process()


def usage() -> dict:
    """CPU seconds used so far (user + system), live Python threads, resident memory in bytes.

    The CPU time is ``time.process_time()``: on Linux and macOS it has nanosecond resolution, where
    psutil's reading of the same counter moves in ticks of 10 ms, too coarse to tell what a short
    measurement (a notebook's few seconds) cost. Windows counts it in ticks either way."""
    return {"cpu_seconds": round(time.process_time(), 6), "threads": threading.active_count(),
            "rss_bytes": _SELF.memory_info().rss}
