"""Which web pages may talk to our servers.

A browser attaches an ``Origin`` header to every WebSocket handshake and to
cross-origin HTTP requests. Browsers do not apply the same-origin policy to
WebSockets, so without this check any page on the internet could open a
WebSocket to a classroom server from a student's browser. Non-browser clients
(requests, websockets, curl) send no Origin and are allowed.

A page may talk to the server that served it (same origin), to its twin (the
other transport's server on the same host, which the side-by-side page needs),
and to any origin listed explicitly.
"""

from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str, twin_port: int | None, allowed: frozenset[str]) -> bool:
    """``host`` is the request's Host header: the name the browser used to reach us."""
    if origin is None or origin in allowed:
        return True
    try:
        page, us = urlsplit(origin), urlsplit("//" + host)
        page_port, our_port = page.port or 80, us.port or 80
    except ValueError:
        return False
    if page.scheme != "http" or page.hostname != us.hostname or page.path:
        return False
    return page_port == our_port or page_port == twin_port
