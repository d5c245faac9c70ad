"""python -m clients.setup_check [--url http://TEACHER-IP:8001]: is this laptop ready for the class?

Checks Python, the virtual environment, the packages, whether ports 8001 and 8002
are free for your own demo, and, given the teacher's URL, whether both of the
teacher's servers answer from here (the WebSocket one through a real handshake),
straight and then the way a browser goes: through the proxy the system names for
that address, if any (a proxy can refuse what a straight connection passes).
Each line says "ok" or what to fix, in plain words; the exit status is 0 when
nothing needs fixing. ``--before-install`` checks only the Python version: ``make
install`` asks it first, so a Python too old is told what to install before anything
is downloaded.

A teacher who serves https:// (``python -m servers --tls``) gives students the CA file too:
``--ca FILE`` checks the servers against it, as a browser that trusts it would.

It uses only Python's standard library (and ``clients/wire.py``, ``clients/tls.py`` and ``servers/origins.py``,
themselves standard library only), so it runs before anything is installed, and it checks the Python
version before importing anything that an old Python could not read.
"""

from __future__ import annotations  # an old Python must get as far as saying that it is too old

import argparse
import json
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

ROOT = Path(__file__).resolve().parent.parent
OLDEST = (3, 11)
PORTS = (8001, 8002)
TIMEOUT = 5  # seconds to wait for the teacher's servers
SIGN_IN = (301, 302, 303, 307, 511)  # what a captive portal answers in the teacher's place: a redirect, or 511
INSTALL = "make install   (without make: .venv/bin/python -m pip install -r requirements.txt)"
NEWER_PYTHON = {  # what to install, by sys.platform, when this Python is too old
    "linux": "on Ubuntu 22.04, sudo apt-get install python3.11 python3.11-venv, then make install PYTHON=python3.11 "
             "(another Linux: its python3.11 package or newer)",
    "darwin": "the macOS installer from python.org (Python 3.12), or brew install python@3.12, then "
              "make install PYTHON=python3.12",
    "win32": "the Windows installer from python.org (Python 3.12, tick \"Add python.exe to PATH\"), or "
             "winget install Python.Python.3.12, then py -3.12 -m venv .venv",
}


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.setup_check", description=__doc__.splitlines()[0])
    parser.add_argument("--url", metavar="URL", help="the teacher's polling server, e.g. http://192.168.1.20:8001")
    parser.add_argument("--ca", metavar="FILE", help="the teacher's CA file, for an https:// URL (python -m servers "
                                                     "--tls prints it)")
    parser.add_argument("--ports", type=int, nargs="+", default=list(PORTS), metavar="PORT",
                        help="ports your own demo needs free (default: 8001 8002)")
    parser.add_argument("--before-install", action="store_true",
                        help="check only the Python version, before anything is installed (make install does)")
    args = parser.parse_args(argv)
    results = [check_python(sys.version_info[:2])]
    if not args.before_install:
        results += [check_venv(), check_packages()] + [check_port(port) for port in args.ports]
    if args.url and not args.before_install:
        if sys.version_info[:2] >= OLDEST:
            results += check_teacher(args.url, args.ca)
        else:
            results.append((False, "the teacher's servers", "not checked: fix Python first"))
    for ok, what, detail in results:
        print(f"[{'ok' if ok else 'FIX'}] {what}: {detail}")
    to_fix = sum(not ok for ok, _, _ in results)
    plural = "s" if to_fix > 1 else ""
    ready = "This Python will do: the install goes on." if args.before_install else "Ready for class."
    print(f"\n{ready}" if not to_fix else f"\n{to_fix} thing{plural} to fix (see FIX above).")
    return 0 if not to_fix else 1


def check_python(version: tuple, platform: str = sys.platform) -> tuple:
    """Recent enough for the pinned packages (pip would say only "No matching distribution found" on an older one);
    if not, what to install on this system."""
    shown = ".".join(map(str, version))
    if tuple(version) >= OLDEST:
        return True, "Python", shown
    newer = NEWER_PYTHON.get(platform, NEWER_PYTHON["linux"])
    return False, "Python", (f"{shown} is too old: this project's packages need Python {OLDEST[0]}.{OLDEST[1]} or "
                             f"newer. Install one beside it: {newer}. If a .venv folder was made with the old "
                             "Python, delete it first.")


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


def check_teacher(url: str, ca: str | None = None) -> list:
    """The polling server at ``url`` answers /api/status, names its twin, and the twin completes a handshake;
    over https://, each with its certificate verified (against ``ca``, the teacher's CA file)."""
    from clients import tls as trust, wire  # only now: they need a Python recent enough to read them

    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return [(False, "the teacher's URL", f"{url!r} is not an address like http://192.168.1.20:8001 "
                 "(http:// or https://, the teacher's IP address, a colon and the port)")]
    host, tls = parts.hostname, trust.context(ca) if parts.scheme == "https" else None
    status, problem = get_status(wire, host, port, tls)
    if problem:
        return [(False, f"the teacher's polling server ({host}:{port})", problem)]
    results = [(True, f"the teacher's polling server ({host}:{port})", "answers" + (", over TLS" if tls else ""))]
    twin = status.get("twin_port")
    _, problem = get_status(wire, host, twin, tls)
    if problem:
        return results + [(False, f"the teacher's WebSocket server ({host}:{twin})", problem)]
    try:
        sock, rfile, _, _ = wire.open_websocket(host, twin, "/ws", tls=tls)
        wire.close(sock, rfile)
    except wire.HandshakeError as refused:
        return results + [(False, f"a WebSocket to {host}:{twin}", (
            f"the handshake was refused ({refused}): something between you and the teacher (a proxy, a "
            "school firewall) may block WebSockets; tell the teacher"))]
    except (OSError, ValueError) as error:
        return results + [(False, f"a WebSocket to {host}:{twin}", explain(error, host, twin))]
    results.append((True, f"the teacher's WebSocket server ({host}:{twin})", "answers, and a WebSocket opens"))
    return results + check_browsers_way(wire, host, port, twin, tls)


def check_browsers_way(wire, host: str, port: int, twin: int, tls=None) -> list:
    """Both servers through the proxy this system names for ``host``, as a browser would reach them: an HTTP
    request in absolute form, and a WebSocket through a CONNECT tunnel (over https://, both through tunnels, and
    TLS inside them). A browser goes straight to a loopback address, and to one the system's bypass list names:
    then the checks above were already the browser's way."""
    from servers.origins import is_loopback  # standard library only, like wire

    proxy = getproxies().get("https" if tls else "http") or getproxies().get("http")
    if not proxy or is_loopback(host) or proxy_bypass(host):
        return [(True, "the way your browser goes", "straight to the teacher (no proxy for this address), as above")]
    where = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    via, shown = (where.hostname, where.port or 80), f"through your proxy, {where.hostname}:{where.port or 80}"
    fix = (f"your browser goes through the proxy {where.hostname}:{where.port or 80}, which {{}}. Ask for "
           f"{host} to be added to its bypass list (no proxy for), or turn the proxy off for the class")
    try:
        if tls:
            with tunnel(wire, via, host, port, tls) as sock, sock.makefile("rb") as rfile:
                _, response = wire.http_exchange(sock, rfile, "GET", "/api/status", f"{host}:{port}")
        else:
            with socket.create_connection(via, timeout=TIMEOUT) as sock, sock.makefile("rb") as rfile:
                _, response = wire.http_exchange(sock, rfile, "GET", f"http://{host}:{port}/api/status",
                                                 f"{host}:{port}")
    except (OSError, ValueError, IndexError) as error:
        return [(False, shown, fix.format(f"cannot be reached ({type(error).__name__}: {error})"))]
    if response.status != 200 or b"twin_port" not in response.body:
        return [(False, shown, fix.format(f"answers HTTP {response.status} for the teacher's page"))]
    results = [(True, shown, "the teacher's polling server answers, as your browser will reach it")]
    try:
        with tunnel(wire, via, host, twin, tls) as sock, sock.makefile("rb") as rfile:
            key = wire.new_key()
            sock.sendall(wire.upgrade_request(f"{host}:{twin}", "/ws", key))
            wire.check_upgrade(wire.read_response(rfile), key)
    except Refused as refused:
        return results + [(False, f"a WebSocket {shown}", fix.format(
            f"will not carry a WebSocket to port {twin} (HTTP {refused.status} to CONNECT): WebSocket mode "
            "fails in your browser, the polling modes and Server-Sent Events work") + "; or tell the teacher")]
    except (OSError, ValueError, IndexError, wire.HandshakeError) as error:
        return results + [(False, f"a WebSocket {shown}", fix.format(f"broke the WebSocket handshake ({error})"))]
    return results + [(True, f"a WebSocket {shown}", "opens: the proxy tunnels it")]


class Refused(OSError):
    """A proxy refused to open a tunnel (its answer to CONNECT was not 200)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} to CONNECT")
        self.status = status


def tunnel(wire, via: tuple, host: str, port: int, tls=None) -> socket.socket:
    """A CONNECT tunnel through the proxy at ``via`` to ``host:port``, with TLS inside it when ``tls`` is given,
    as a browser opens one for https:// and for a WebSocket. Raises Refused when the proxy will not."""
    sock = socket.create_connection(via, timeout=TIMEOUT)
    try:
        sock.sendall(wire.request_bytes("CONNECT", f"{host}:{port}", f"{host}:{port}"))
        with sock.makefile("rb") as rfile:  # a proxy sends nothing after its 200 before we speak
            opened = wire.read_response(rfile)
        if opened.status != 200:
            raise Refused(opened.status)
        return tls.wrap_socket(sock, server_hostname=host) if tls else sock
    except BaseException:
        sock.close()
        raise


def get_status(wire, host: str, port: int, tls=None) -> tuple:
    """(the JSON of GET /api/status, None), or (None, what to fix)."""
    try:
        with wire.connect(host, port, tls, TIMEOUT) as sock, sock.makefile("rb") as rfile:
            _, response = wire.http_exchange(sock, rfile, "GET", "/api/status", f"{host}:{port}")
    except (OSError, ValueError, IndexError) as error:
        return None, explain(error, host, port)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = {}
    if response.status in SIGN_IN:
        return None, (f"a login page answers instead of the teacher's server (HTTP {response.status}): the Wi-Fi "
                      "wants you to sign in first (a captive portal). Open any web page in your browser, sign in, "
                      "then check again")
    if response.status == 400 and body.get("error") == "https_required":
        return None, (f"the teacher's servers speak HTTPS: check https://{host}:{port} with --ca and the teacher's "
                      "CA file")
    if response.status == 403 and body.get("error") == "forbidden_host":
        return None, "the server answers only to its IP address: use the IP the teacher shows, not a name"
    if response.status != 200 or "twin_port" not in body:
        return None, (f"something else answers there (HTTP {response.status}): check the port; the teacher's "
                      "polling server is usually on 8001")
    return body, None


def explain(error: BaseException, host: str, port: int) -> str:
    """What a failed connection most likely means, in plain words."""
    from clients import tls

    if advice := tls.explain(error):
        return advice
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
