"""Which web pages may talk to our servers.

A browser attaches an ``Origin`` header to every WebSocket handshake and to
cross-origin HTTP requests. Browsers do not apply the same-origin policy to
WebSockets, so without this check any page on the internet could open a
WebSocket to a classroom server from a student's browser. Non-browser clients
(requests, websockets, curl) send no Origin and are allowed.

A page may talk to the server that served it (same origin), to its twin (the
other transport's server on the same host, which the side-by-side page needs),
and to any origin listed explicitly. An origin is a scheme, a host and a port: the page's scheme must be the
one the browser reached us by, ``https`` under TLS (``--tls``, or the cluster's nginx, which speaks TLS to the
browser and plain HTTP to us), ``http`` otherwise.

"Same origin" is judged against the ``Host`` header, which a page controls
through DNS: an attacker's domain can be made to resolve to 127.0.0.1 (DNS
rebinding) and then be "same origin" with us. So we also require the ``Host``
to be a name no outsider controls: an IP address, ``localhost``, or the host of
an explicitly allowed origin.
"""

import ipaddress
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """``host`` is the request's Host header; see the module docstring for why it is checked."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:
        return False
    if name == "localhost" or name in {urlsplit(origin).hostname for origin in allowed}:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def origin_allowed(origin: str | None, host: str, twin_port: int | None, allowed: frozenset[str],
                   scheme: str = "http") -> bool:
    """``host`` is the request's Host header: the name the browser used to reach us; ``scheme`` how it did."""
    if origin is None or origin in allowed:
        return True
    try:
        page, us = urlsplit(origin), urlsplit("//" + host)
        page_port, our_port = page.port or DEFAULT_PORTS[scheme], us.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return False
    if page.scheme != scheme or page.hostname != us.hostname or page.path:
        return False
    return page_port == our_port or page_port == twin_port


def is_loopback(host: str) -> bool:
    """An address of this machine only (127.0.0.1, ::1, ::ffff:127.0.0.1) or ``localhost``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback
