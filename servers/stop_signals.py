"""How a launcher waits for Ctrl-C or kill: ``python -m servers``, ``servers.cluster`` and ``servers.minimal``."""

import signal
import socket


def listen_for_stop_signals() -> tuple[socket.socket, socket.socket]:
    """A socket pair whose first end becomes readable when SIGINT or SIGTERM arrives, however many come
    and however fast (keep both ends open while waiting).

    Python runs a signal handler on the main thread between two bytecodes, even in the middle of
    another handler, so a handler that takes a lock (``Event.set`` does) deadlocks when a second
    signal lands while the first holds it: a terminal closing, or ``make`` passing on the SIGTERM
    its process group got, sends two at once. So our handlers do nothing at all, and the
    interpreter's own C-level handler writes each signal's number to this socket pair.
    """
    readable, writable = socket.socketpair()
    writable.setblocking(False)
    signal.set_wakeup_fd(writable.fileno(), warn_on_full_buffer=False)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    return readable, writable
