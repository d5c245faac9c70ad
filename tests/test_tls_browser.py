"""TLS and HTTP/2 in a real browser: Debian's Chromium, headless, trusting the project's CA the proper way.

The CA goes into an NSS certificate database in the browser's own home folder (``certutil``, from Debian's
libnss3-tools), as a Linux user trusts it (servers/README.md, "TLS"): nothing tells Chromium to ignore a
certificate error. Then: ten EventSources to one origin all receive over HTTP/2 through the cluster's nginx, where
HTTP/1.1 (our own servers with --tls) stalls the seventh; the pages work over https:// and wss://; and a page loaded
over HTTP/2 opens its WebSocket on an HTTP/1.1 connection of its own.
"""

import re
import subprocess

import pytest
from playwright.sync_api import sync_playwright

from servers import certificates, trust
from servers.cluster import Cluster
from servers.twins import Twins

from conftest import CHROMIUM_ARGS, eventually, require_cluster_tools, require_tool

REPLY = "Client:How are you?\nServer:I am fine, thanks!"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return certificates.make(["127.0.0.1", "::1", "localhost"], tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def browser(certs, tmp_path_factory):
    """Chromium whose home holds an NSS database that trusts the project's CA (and nothing was turned off)."""
    chromium, certutil = require_tool("chromium"), require_tool("certutil")
    home = tmp_path_factory.mktemp("home")
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    subprocess.run([certutil, "-d", f"sql:{database}", "-N", "--empty-password"], check=True)
    subprocess.run([certutil, "-d", f"sql:{database}", "-A", "-t", "C,,", "-n", trust.NICKNAME, "-i", str(certs.ca)],
                   check=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, env={"HOME": str(home)})
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def tls_cluster(certs):
    require_cluster_tools()
    with Cluster(1, redis=False, certificates=certs) as cluster:
        yield cluster


TEN_SOURCES = """() => {
    window.received = Array(10).fill(0);
    window.sources = Array.from({length: 10}, (_, n) => {
        const source = new EventSource(`/api/events?client=tls-stream-${n}`);
        source.onmessage = () => { window.received[n] += 1; };
        return source;
    });
}"""


def test_ten_event_sources_all_receive_over_http2(tls_cluster, page):
    page.goto(tls_cluster.polling_url + "/api/status")
    assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    page.evaluate(TEN_SOURCES)
    page.wait_for_function("window.sources.every(source => source.readyState === EventSource.OPEN)")
    page.evaluate("fetch('/api/messages', {method: 'POST', headers: {'Content-Type': 'application/json'}, "
                  "body: JSON.stringify({text: 'How are you?'})})")
    page.wait_for_function("window.received.every(count => count >= 2)")  # the message and its reply, on all ten


def test_http11_over_tls_stalls_the_seventh(certs, page):
    with Twins(tls=certs.server_context()) as twins:
        page.goto(twins.polling.url + "/api/status")
        assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "http/1.1"
        page.evaluate(TEN_SOURCES)
        page.wait_for_function("window.sources.filter(source => source.readyState === EventSource.OPEN).length === 6")
        page.wait_for_timeout(1500)  # long enough for a seventh connection to open, were it allowed
        assert page.evaluate("window.sources.filter(s => s.readyState === EventSource.OPEN).length") == 6
        page.evaluate("window.sources.forEach(source => source.close())")


def test_the_pages_work_over_https_and_wss(certs, page):
    with Twins(tls=certs.server_context()) as twins:
        page.goto(twins.polling.url + "/")
        page.wait_for_function("window.sideBySide?.pusher.socket?.readyState === WebSocket.OPEN")
        assert page.evaluate("window.sideBySide.pusher.url").startswith("wss://")
        page.goto(twins.websocket.url + "/")
        page.wait_for_function("socket?.readyState === WebSocket.OPEN")  # else: "not connected: message not sent"
        page.fill("#text", "How are you?")
        page.keyboard.press("Enter")
        page.wait_for_function("document.body.innerText.includes('I am fine, thanks!')")
        page.goto(twins.polling.url + "/class")
        page.wait_for_function("document.body.innerText.includes('long polling') || "
                               "document.body.innerText.includes('WebSocket')")


def test_a_page_over_http2_opens_its_websocket_on_an_http11_connection(tls_cluster, page):
    page.goto(tls_cluster.ws_url.replace("wss", "https") + "/")
    assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    page.wait_for_function("document.body.innerText.includes('connected')")
    page.goto("about:blank")  # the WebSocket closes: nginx logs a request once it has ended
    assert eventually(lambda: " GET /ws " in tls_cluster.nginx.access_log.read_text(), 5)
    log = tls_cluster.nginx.access_log.read_text().splitlines()
    pages = [line.split()[0] for line in log if re.fullmatch(r"\d+ HTTP/2\.0 GET / 200", line)]
    sockets = [line.split()[0] for line in log if re.fullmatch(r"\d+ HTTP/1\.1 GET /ws 101", line)]
    assert pages and sockets and not set(pages) & set(sockets), log  # the page on HTTP/2, the WebSocket apart
