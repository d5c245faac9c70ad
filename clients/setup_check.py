"""python -m clients.setup_check [--url http://TEACHER-IP:8001]: is this laptop ready for the class?

Checks Python, the virtual environment, the packages, whether ports 8001 and 8002
are free for your own demo, and, given the teacher's URL, whether both of the
teacher's servers answer from here (the WebSocket one through a real handshake).
Each line says "ok" or what to fix, in plain words; the exit status is 0 when
nothing needs fixing.

It uses only Python's standard library (and ``clients/wire.py``, itself standard
library only), so it runs before anything is installed, and it checks the Python
version before importing anything that an old Python could not read.
"""

from __future__ import annotations  # an old Python must get as far as saying that it is too old

import argparse
import json
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OLDEST = (3, 11)
PORTS = (8001, 8002)
TIMEOUT = 5  # seconds to wait for the teacher's servers
INSTALL = "make install   (without make: .venv/bin/python -m pip install -r requirements.txt)"


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.setup_check", description=__doc__.splitlines()[0])
    parser.add_argument("--url", metavar="URL", help="the teacher's polling server, e.g. http://192.168.1.20:8001")
    parser.add_argument("--ports", type=int, nargs="+", default=list(PORTS), metavar="PORT",
                        help="ports your own demo needs free (default: 8001 8002)")
    args = parser.parse_args(argv)
    results = [check_python(sys.version_info[:2]), check_venv(), check_packages()]
    results += [check_port(port) for port in args.ports]
    if args.url:
        if sys.version_info[:2] >= OLDEST:
            results += check_teacher(args.url)
        else:
            results.append((False, "the teacher's servers", "not checked: fix Python first"))
    for ok, what, detail in results:
        print(f"[{'ok' if ok else 'FIX'}] {what}: {detail}")
    to_fix = sum(not ok for ok, _, _ in results)
    plural = "s" if to_fix > 1 else ""
    print("\nReady for class." if not to_fix else f"\n{to_fix} thing{plural} to fix (see FIX above).")
    return 0 if not to_fix else 1


def check_python(version: tuple) -> tuple:
    shown = ".".join(map(str, version))
    if tuple(version) >= OLDEST:
        return True, "Python", shown
    return False, "Python", (f"{shown} is too old: install Python {OLDEST[0]}.{OLDEST[1]} or newer (python.org), "
                             "then set up again: delete the .venv folder and run make install")


def check_venv() -> tuple:
    if sys.prefix == sys.base_prefix:
        return False, "virtual environment", ("this Python is not in one: run make install once, then run every "
                                              "command with .venv/bin/python (Windows: .venv\\Scripts\\python)")
    ours = (ROOT / ".venv").resolve()
    if Path(sys.prefix).resolve() != ours:
        return False, "virtual environment", (f"this is {sys.prefix}, not the project's .venv: run .venv/bin/python "
                                              "-m clients.setup_check (Windows: .venv\\Scripts\\python)")
    return True, "virtual environment", str(ROOT / ".venv")


def check_packages() -> tuple:
    """Every package pinned in requirements.txt is installed at that version."""
    from importlib.metadata import PackageNotFoundError, version

    missing, different = [], []
    for name, wanted in pinned(ROOT / "requirements.txt"):
        try:
            installed = version(name)
        except PackageNotFoundError:
            missing.append(name)
            continue
        if installed != wanted:
            different.append(f"{name} {installed} (expected {wanted})")
    if not missing and not different:
        return True, "packages", "all of requirements.txt, at the tested versions"
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"other versions: {', '.join(different)}"] if different else [])
    return False, "packages", f"{'; '.join(problems)}. Install them with: {INSTALL}"


def pinned(path: Path) -> list:
    """(name, version) for each ``name==version`` line of a requirements file."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, wanted = line.partition("==")
            pins.append((name.strip(), wanted.strip()))
    return pins


def check_port(port: int) -> tuple:
    """Free if we can listen on it (without SO_REUSEADDR, so a port held by anyone counts as taken)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
    except OSError:
        option = "--polling-port" if port == PORTS[0] else "--websocket-port" if port == PORTS[1] else None
        other = f", or start the demo on another port: make demo ARGS=\"{option} {port + 100}\"" if option else ""
        return False, f"port {port}", (f"in use by another program: if a demo already runs, stop it with Ctrl-C in "
                                       f"its terminal{other}")
    finally:
        probe.close()
    return True, f"port {port}", "free"


def check_teacher(url: str) -> list:
    """The polling server at ``url`` answers /api/status, names its twin, and the twin completes a handshake."""
    from clients import wire  # only now: it needs a Python recent enough to read it

    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        return [(False, "the teacher's URL", f"{url!r} is not an address like http://192.168.1.20:8001 "
                 "(http://, the teacher's IP address, a colon and the port)")]
    host = parts.hostname
    status, problem = get_status(wire, host, port)
    if problem:
        return [(False, f"the teacher's polling server ({host}:{port})", problem)]
    results = [(True, f"the teacher's polling server ({host}:{port})", "answers")]
    twin = status.get("twin_port")
    _, problem = get_status(wire, host, twin)
    if problem:
        return results + [(False, f"the teacher's WebSocket server ({host}:{twin})", problem)]
    try:
        sock, rfile, _, _ = wire.open_websocket(host, twin, "/ws")
        wire.close(sock, rfile)
    except wire.HandshakeError as refused:
        return results + [(False, f"a WebSocket to {host}:{twin}", (
            f"the handshake was refused ({refused}): something between you and the teacher (a proxy, a "
            "school firewall) may block WebSockets; tell the teacher"))]
    except (OSError, ValueError) as error:
        return results + [(False, f"a WebSocket to {host}:{twin}", explain(error, host, twin))]
    return results + [(True, f"the teacher's WebSocket server ({host}:{twin})", "answers, and a WebSocket opens")]


def get_status(wire, host: str, port: int) -> tuple:
    """(the JSON of GET /api/status, None), or (None, what to fix)."""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock, sock.makefile("rb") as rfile:
            _, response = wire.http_exchange(sock, rfile, "GET", "/api/status", f"{host}:{port}")
    except (OSError, ValueError, IndexError) as error:
        return None, explain(error, host, port)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = {}
    if response.status == 403 and body.get("error") == "forbidden_host":
        return None, "the server answers only to its IP address: use the IP the teacher shows, not a name"
    if response.status != 200 or "twin_port" not in body:
        return None, (f"something else answers there (HTTP {response.status}): check the port; the teacher's "
                      "polling server is usually on 8001")
    return body, None


def explain(error: BaseException, host: str, port: int) -> str:
    """What a failed connection most likely means, in plain words."""
    if isinstance(error, socket.gaierror):
        return f"the name {host!r} is unknown here: type the IP address the teacher shows instead"
    if isinstance(error, ConnectionRefusedError):
        return (f"nothing listens on port {port} of {host}: check the address, and ask the teacher whether the "
                "demo runs with --host 0.0.0.0")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return (f"no answer within {TIMEOUT} s: a firewall on the teacher's laptop may block port {port}, or your "
                "laptop is on another network (a guest Wi-Fi often keeps laptops apart)")
    if isinstance(error, OSError) and error.errno is not None:
        return f"your laptop cannot reach {host} ({error.strerror}): are you on the classroom's Wi-Fi?"
    return f"the connection failed ({type(error).__name__}: {error}): check the address and the port"


if __name__ == "__main__":
    sys.exit(main())
