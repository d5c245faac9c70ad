"""What this server process costs its machine right now: CPU time, threads, memory.

The live pages, the class view and the load benchmark read these figures from
``/api/status``, so a student sees what holding a thousand WebSockets or answering
a thousand polls costs the server, measured by the server itself (psutil works the
same on Linux, macOS and Windows).
"""

import threading

import psutil

_SELF = psutil.Process()


def usage() -> dict:
    """CPU seconds used so far (user + system), live Python threads, resident memory in bytes."""
    cpu = _SELF.cpu_times()
    return {"cpu_seconds": round(cpu.user + cpu.system, 3), "threads": threading.active_count(),
            "rss_bytes": _SELF.memory_info().rss}
