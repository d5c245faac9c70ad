"""The browser pages in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright never downloads a browser here: it is pointed at /usr/bin/chromium
(installed by tests/install-tools.sh). Without it these tests skip locally and
fail in CI. ``SCREENSHOT=path pytest tests/test_browser.py -k screenshot``
(``make screenshot``) also writes the side-by-side page as a PNG for README.
"""

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from clients import wire
from servers.chat import Chat
from servers.twins import Twins

from conftest import eventually  # tests/ is on sys.path (rootdir conftest, no package)

REPLY = "Client:How are you?\nServer:I am fine, thanks!"
INJECTION = "<img src=x onerror=alert(1)>"


def columns_ready(page) -> None:
    page.wait_for_function("window.sideBySide?.pusher.socket?.readyState === WebSocket.OPEN")


def test_how_are_you_on_both_pages(site, open_page):
    for url in (site.polling.url + "/pages/polling.html", site.websocket.url + "/"):
        page = open_page(url)
        expect(page.locator("#state")).not_to_have_text("starting")
        page.click("#ask")
        reply = page.locator("#messages li", has_text="Server:I am fine, thanks!")
        expect(reply).to_have_count(1)
        assert reply.inner_text() == "server: " + REPLY  # two lines, exactly as the seed's server says it


def test_messages_cross_transports(site, open_page):
    polling = open_page(site.polling.url + "/pages/polling.html")
    websocket = open_page(site.websocket.url + "/")
    for page in (polling, websocket):
        expect(page.locator("#state")).not_to_have_text("starting")
    for sender, receiver, text in ((polling, websocket, "from the polling page"),
                                   (websocket, polling, "from the WebSocket page")):
        sender.fill("#text", text)
        sender.press("#text", "Enter")
        expect(receiver.locator("#messages li", has_text=text).first).to_be_visible()


def test_script_injection_renders_as_text(site, open_page):
    pages = [open_page(site.polling.url + "/pages/polling.html"), open_page(site.websocket.url + "/")]
    both = open_page(site.polling.url + "/")
    columns_ready(both)
    for page in pages:
        expect(page.locator("#state")).not_to_have_text("starting")
    both.fill("#text", INJECTION)
    both.click("#send button")
    lists = [page.locator("#messages") for page in pages] + [both.locator("#polling .messages"),
                                                             both.locator("#websocket .messages")]
    for messages in lists:
        expect(messages.locator("li", has_text=INJECTION).first).to_be_visible()
        expect(messages.locator("img")).to_have_count(0)


def test_side_by_side_figures_move_and_are_plausible(site, open_page):
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    interval = page.evaluate("sideBySide.poller.interval")
    page.click("#ticker")
    expect(page.locator("#ticker")).to_have_text("Stop the server ticker (every 1 s)")
    for via in ("websocket", "polling", "websocket", "polling", "websocket", "polling"):
        page.select_option("#via", via)
        page.click("#send button")
        page.wait_for_timeout(150)
    page.wait_for_function("sideBySide.polling.latencies.length >= 14 && sideBySide.websocket.latencies.length >= 14")
    page.click("#ticker")
    before = figures(page)
    for column in before:
        assert column["missing"] == 0
        assert median(column["latencies"]) > 0
        # a single reading may dip below zero, by no more than the uncertainty of the offset it is worked out with
        assert min(column["latencies"]) > -column["uncertainty"], column
    polling, websocket = before
    assert abs(polling["offset"]) <= polling["uncertainty"] + 2  # one machine, one clock: the estimate finds ~0
    assert max(polling["latencies"]) < interval + 500  # a message waits at most one interval, plus the round trip
    assert median(websocket["latencies"]) < 20  # pushed: milliseconds on loopback, even on a busy CI machine
    assert median(websocket["latencies"]) < median(polling["latencies"])
    assert websocket["server"]["requests"] == websocket["server"]["connections"] == 1  # the handshake, once
    assert polling["server"]["requests"] > 1
    polls = page.evaluate("sideBySide.poller.polls")  # sends are billed apart: the server counted polls only
    assert polls - 2 <= polling["server"]["requests"] <= polls  # (the read-out is up to a second old)
    for kind in ("polling", "websocket"):
        assert page.locator(f"#{kind} .median").inner_text().endswith("ms")

    posts = page.evaluate("sideBySide.poster")
    assert posts["sends"] == posts["server"]["requests"] == 3  # the three sends through polling, billed apart

    page.click("#burst")  # through polling: one POST per message
    page.wait_for_function("sideBySide.polling.shown >= %d" % (before[0]["shown"] + 40))
    page.wait_for_timeout(1100)  # one more read-out of the server's counts
    after = figures(page)
    posts = page.evaluate("sideBySide.poster")
    assert posts["sends"] == posts["server"]["requests"] == 3 + 20
    assert posts["server"]["bytes_from_client"] > 20 * len(b"burst 20 of 20")
    for old, new in zip(before, after):  # both columns received the burst; neither was billed for sending it
        assert new["server"]["bytes_to_client"] > old["server"]["bytes_to_client"] > 0
    assert after[1]["server"]["bytes_from_client"] == before[1]["server"]["bytes_from_client"] > 0
    for row in ("polls made (requests)", "sends through polling (POST)", "sends through the WebSocket"):
        expect(page.locator(f"tr[data-figure='{row}']")).to_have_count(1)

    page.click("#close")
    expect(page.locator("#websocket .state")).to_have_text("closed by this page: code 1000, clean: true")


def said(page, kind: str, text: str):
    """The student's message in a column of the side-by-side page (not the server's reply quoting it)."""
    return page.locator(f"#{kind} .messages li", has_text=re.compile(f"^student: {re.escape(text)}$"))


def figures(page) -> list[dict]:
    """What each column has measured, read from the page's own state."""
    return page.evaluate("""['polling', 'websocket'].map(kind => {
        const column = sideBySide[kind];
        return {latencies: column.latencies, server: column.server, shown: column.shown, missing: column.missing(),
                offset: sideBySide.clock.offset, uncertainty: sideBySide.clock.uncertainty};
    })""")


def test_long_polling_answers_at_once(site, open_page):
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    page.fill("#interval", "5")  # short polls 5 s apart: long polling must not wait for them
    page.dispatch_event("#interval", "input")
    page.check("input[value=long]")
    expect(page.locator("#polling .state")).to_contain_text("long polling")
    for text in ("one", "two", "three"):
        site.chat.send("student", text)
        expect(said(page, "polling", text)).to_have_count(1)
    latencies = page.evaluate("sideBySide.polling.latencies")
    assert len(latencies) == 6 and max(latencies) < 500, latencies  # held requests answer when the news arrives
    page.check("input[value=short]")  # the held request is given up, and short polling resumes
    expect(page.locator("#polling .state")).to_contain_text("short polling")


def test_websocket_page_closes_cleanly(site, open_page):
    page = open_page(site.websocket.url + "/")
    expect(page.locator("#state")).to_contain_text("connected")
    page.click("#stop")
    expect(page.locator("#state")).to_have_text("closed by this page: code 1000, clean: true")


def test_restart_keeping_the_board_loses_nothing(site, open_page):
    """Servers restarted on a board that outlives them (a persistent store): both columns simply resume."""
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    page.fill("#interval", "0")  # poll every 100 ms
    page.dispatch_event("#interval", "input")
    site.chat.send("student", "before the restart")
    expect(said(page, "websocket", "before the restart")).to_have_count(1)
    site.restart()
    page.wait_for_function("sideBySide.pusher.lost >= 1")  # it noticed (the words on screen change fast: the
    # first retry may come after a jittered wait of almost nothing, and fail before the server is back)
    expect(page.locator("#websocket .state")).to_contain_text("connected;", timeout=10_000)
    site.chat.send("student", "after the restart")
    last = site.chat.board.last_id
    for kind in ("polling", "websocket"):
        page.wait_for_function(f"sideBySide.{kind}.lastId === {last}")
        expect(said(page, kind, "said while the servers were down")).to_have_count(1)
    assert page.evaluate("sideBySide.pusher.opened") >= 2  # it did reconnect
    assert [column["missing"] for column in figures(page)] == [0, 0]
    expect(page.locator(".messages li.notice")).to_have_count(0)  # same board: nothing to start again


RESTARTED = "the server restarted with an empty board: starting again from its first message"
NEW_BOARDS = pytest.mark.parametrize("waiting", [0, 3],
                                     ids=["new-board-below-the-cursor", "new-board-past-the-cursor"])


def new_board(waiting: int) -> Chat:
    """The board of a restarted ``python -m servers``: new and empty, then ``waiting`` messages (and their replies)
    said before anyone reconnects. With ``Site.restart``'s own message (and reply), 3 of them make ids 1-8: past
    the pages' cursor, 6, so that the newest id no longer says anything and only the board's identity tells."""
    chat = Chat()
    for n in range(waiting):
        chat.send("student", f"while you were away #{n}")
    return chat


def ids_shown(page, selector: str) -> list[int]:
    return page.locator(selector).evaluate_all("items => items.map(item => Number(item.dataset.id))")


@NEW_BOARDS
@pytest.mark.parametrize("mode", ["short", "long", "sse"])
def test_restart_with_an_empty_board_starts_again(site, open_page, mode, waiting):
    """``python -m servers`` restarted: a new board whose ids start at 1 again, below both columns' cursors or past
    them by the time they come back. Every request names the board its cursor belongs to; the new server names its
    own and sends from its first message. With the left column on Server-Sent Events, the browser's EventSource
    comes back by itself, with Last-Event-ID 6 and the old board in its URL."""
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    if mode == "sse":
        page.select_option("#left", "sse")
        page.wait_for_function("sideBySide.streamer.opened === 1")
    else:
        page.fill("#interval", "0")  # poll every 100 ms
        page.dispatch_event("#interval", "input")
        page.check(f"input[value={mode}]")
    for text in ("one", "two", "three"):  # ids 1-6 with the replies
        site.chat.send("student", text)
    page.wait_for_function("sideBySide.polling.lastId === 6 && sideBySide.websocket.lastId === 6")
    site.restart(new_board(waiting))  # ids 1 to 2 * waiting + 2 on the new board before anyone comes back
    for kind in ("polling", "websocket"):
        expect(page.locator(f"#{kind} .messages li.notice")).to_have_text(RESTARTED, timeout=10_000)
    columns_ready(page)
    site.chat.send("student", "after the restart")
    last = site.chat.board.last_id
    for kind in ("polling", "websocket"):
        page.wait_for_function(f"sideBySide.{kind}.lastId === {last}")
        for text in ("said while the servers were down", "after the restart"):
            expect(said(page, kind, text)).to_have_count(1)
        assert ids_shown(page, f"#{kind} .messages li[data-id]") == [*range(last, 0, -1), 6, 5, 4, 3, 2, 1]
    assert [column["shown"] for column in figures(page)] == [6 + last] * 2  # nothing twice, nothing lost
    assert [column["missing"] for column in figures(page)] == [0, 0]


@NEW_BOARDS
def test_chat_pages_start_again_after_a_restart_with_an_empty_board(site, open_page, waiting):
    """The three chat pages, one per transport; sse.html's EventSource reconnects by itself (Last-Event-ID 6)."""
    pages = [open_page(site.polling.url + "/pages/polling.html"), open_page(site.websocket.url + "/"),
             open_page(site.polling.url + "/pages/sse.html")]
    for page in pages:
        expect(page.locator("#state")).not_to_have_text("starting")
    for text in ("one", "two", "three"):  # ids 1-6 with the replies
        site.chat.send("student", text)
    for page in pages:
        expect(page.locator("#messages li")).to_have_count(6)
    site.restart(new_board(waiting))
    site.chat.send("student", "after the restart")
    last = site.chat.board.last_id
    for page in pages:
        expect(page.locator("#messages li.notice")).to_have_text(RESTARTED, timeout=10_000)
        for text in ("said while the servers were down", "after the restart"):
            expect(page.locator("#messages li", has_text=re.compile(f"^student: {text}$"))).to_have_count(1)
        expect(page.locator("#messages li[data-id]")).to_have_count(6 + last)
        assert ids_shown(page, "#messages li[data-id]") == [1, 2, 3, 4, 5, 6, *range(1, last + 1)]
    counts = pages[2].evaluate("window.ssePage")  # the browser came back by itself, naming the old board in its URL;
    assert counts["lost"] >= 1 and counts["created"] == 2  # told of the new one, the page opened one stream naming it


@NEW_BOARDS
@pytest.mark.parametrize("mode", ["long", "websocket", "sse"])
def test_a_student_page_starts_again_after_a_restart_with_an_empty_board(site, open_page, mode, waiting):
    """A student's page, on the transport the teacher chose (the restarted server forgets it: the test chooses it
    again at once, and the page goes on from its last message whichever transport it is on meanwhile)."""
    page = open_page(site.polling.url + "/pages/student.html?name=Ada")
    requests.post(f"{site.polling.url}/api/class/mode", json={"mode": mode}, timeout=5).raise_for_status()
    page.wait_for_function(f"studentPage.mode === '{mode}'")
    for text in ("one", "two", "three"):  # ids 1-6 with the replies
        site.chat.send("student", text)
    page.wait_for_function("studentPage.lastId === 6")
    site.restart(new_board(waiting))
    requests.post(f"{site.polling.url}/api/class/mode", json={"mode": mode}, timeout=5).raise_for_status()
    expect(page.locator("#messages li.notice")).to_have_text(RESTARTED, timeout=10_000)
    site.chat.send("student", "after the restart")
    last = site.chat.board.last_id
    page.wait_for_function(f"studentPage.lastId === {last}")
    expect(page.locator("#messages li[data-id]")).to_have_count(6 + last)
    assert ids_shown(page, "#messages li[data-id]") == [*range(last, 0, -1), 6, 5, 4, 3, 2, 1]  # newest on top


def test_byte_counts_are_exact(site):
    """What the page calls exact: every byte of a client's requests and responses, and nothing else's."""
    counted = {"sent": 0, "received": 0}
    with socket.create_connection(("127.0.0.1", site.polling.port)) as connection, \
            connection.makefile("rb") as rfile:
        for path in ("/api/messages?after=0&client=me", "/api/status", "/api/messages?after=0&client=me"):
            request, response = wire.http_exchange(connection, rfile, "GET", path, "127.0.0.1")
            if "client=me" in path:  # the read-out in between is billed to nobody
                counted["sent"] += len(request)
                counted["received"] += len(response.raw)
    expected = {"requests": 2, "connections": 1, "bytes_from_client": counted["sent"],
                "bytes_to_client": counted["received"], "messages_delivered": 0}  # the board is empty
    # the server counts a write just after making it: the client may read first
    eventually(lambda: site.chat.meter.report(["me"])["me"] == expected, 2)
    assert site.chat.meter.report(["me"])["me"] == expected


def test_screenshot(site, open_page, tmp_path):
    """About fifteen seconds of the demo, then a picture of it: README's, with SCREENSHOT=path (make screenshot)."""
    path = os.environ.get("SCREENSHOT") or str(tmp_path / "side-by-side.png")
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    page.click("#ticker")
    deadline = time.monotonic() + 13
    page.wait_for_timeout(3000)
    page.click("#burst")  # through polling: twenty POSTs, each answered with a reply on the board
    for via in ("websocket", "polling", "websocket"):
        page.wait_for_timeout(2500)
        page.select_option("#via", via)
        page.click("#send button")
    page.wait_for_timeout(max(0, deadline - time.monotonic()) * 1000)
    page.click("#ticker")
    page.screenshot(path=path, full_page=True)
    with open(path, "rb") as picture:
        assert picture.read(8) == b"\x89PNG\r\n\x1a\n"


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# ---- Server-Sent Events: the third way, in the browser's own EventSource ----

def test_how_are_you_over_server_sent_events(site, open_page):
    page = open_page(site.polling.url + "/pages/sse.html")
    expect(page.locator("#state")).to_have_text("connected: the server writes, we listen")
    page.click("#ask")
    reply = page.locator("#messages li", has_text="Server:I am fine, thanks!")
    expect(reply).to_have_count(1)
    assert reply.inner_text() == "server: " + REPLY
    page.click("#stop")
    expect(page.locator("#state")).to_have_text("closed by this page: no more events")


def test_event_source_reconnects_by_itself_after_a_restart_keeping_the_board(site, open_page):
    """The servers restart on a board that outlives them: the browser's EventSource comes back on its own, sends
    Last-Event-ID, and the server resumes right after it: nothing lost, nothing twice."""
    page = open_page(site.polling.url + "/pages/sse.html")
    expect(page.locator("#state")).to_have_text("connected: the server writes, we listen")
    site.chat.send("student", "before the restart")
    expect(page.locator("#messages li[data-id]")).to_have_count(2)
    site.restart()  # the stream ends; "said while the servers were down" (and its reply) lands meanwhile
    page.wait_for_function("window.ssePage.opened === 2", timeout=15_000)
    site.chat.send("student", "after the restart")
    expect(page.locator("#messages li[data-id]")).to_have_count(6)
    shown = page.locator("#messages li[data-id]").evaluate_all("items => items.map(item => Number(item.dataset.id))")
    assert shown == list(range(1, 7))  # every id once, in order
    counts = page.evaluate("window.ssePage")
    assert counts["created"] == 1 and counts["lost"] >= 1  # one EventSource, reconnected by the browser itself
    assert counts["received"] == 6  # the server resumed after Last-Event-ID: no message crossed the wire twice
    expect(page.locator("#messages li.notice")).to_have_count(0)


def test_the_seventh_event_source_waits_for_one_of_six(site, open_page):
    """HTTP/1.1 allows a browser six connections per origin: a seventh stream waits until one of the six closes."""
    page = open_page(site.polling.url + "/api/status")  # a page of that origin that holds no stream itself
    page.evaluate("""() => {
        window.sources = Array.from({length: 7}, (_, n) => new EventSource(`/api/events?client=stream-${n}`));
    }""")
    states = "window.sources.map(source => source.readyState)"
    page.wait_for_function(f"{states}.filter(state => state === EventSource.OPEN).length === 6")
    page.wait_for_timeout(2000)  # long enough for a seventh connection to open, were it allowed
    ready = page.evaluate(states)
    assert sorted(ready) == [0] + [1] * 6, ready  # six OPEN, one still CONNECTING
    waiting = ready.index(0)
    assert site.chat.meter.report([f"stream-{waiting}"])[f"stream-{waiting}"]["requests"] == 0  # not even asked
    closed = (waiting + 1) % 7
    page.evaluate(f"window.sources[{closed}].close()")
    page.wait_for_function(f"window.sources[{waiting}].readyState === EventSource.OPEN")
    assert sorted(page.evaluate(states)) == [1] * 6 + [2]  # the closed one CLOSED, the other six OPEN


def test_side_by_side_shows_server_sent_events_in_place_of_polling(site, open_page):
    """The switch: the left column holds one stream instead of polling, billed exactly like the rest, in green."""
    page = open_page(site.polling.url + "/")
    columns_ready(page)
    page.select_option("#left", "sse")
    expect(page.locator("#polling .state")).to_have_text(
        "connected: the server writes each message into one long response")
    expect(page.locator("#polling .title")).to_have_text("Server-Sent Events")
    assert page.eval_on_selector("#polling", "e => getComputedStyle(e).borderTopColor") == "rgb(21, 128, 61)"  # --sse
    polls = page.evaluate("sideBySide.poller.polls")
    for text in ("one", "two", "three"):
        site.chat.send("student", text)
    page.wait_for_function("sideBySide.polling.shown === 6 && sideBySide.websocket.shown === 6")
    page.wait_for_timeout(1100)  # one more read-out of the server's counts
    sse = figures(page)[0]
    assert sse["missing"] == 0 and len(sse["latencies"]) == 6
    assert median(sse["latencies"]) < page.evaluate("sideBySide.poller.interval")  # pushed, not waiting for a poll
    assert sse["server"]["requests"] == sse["server"]["connections"] == 1  # one stream carried everything
    assert sse["server"]["messages_delivered"] == 6  # the server's count of what it wrote into the stream
    assert sse["server"]["bytes_to_client"] > sum(len(f"id: {n}\ndata: ") for n in range(1, 7))
    assert page.evaluate("sideBySide.poller.polls") == polls  # the polling loop has stopped
    expect(page.locator("#polling tr[data-figure='requests made (streams)'] td").nth(1)).to_have_text("1")
    expect(page.locator("#interval")).to_be_disabled()

    page.select_option("#left", "polling")  # back: polling goes on from the last id shown, under a new client id
    expect(page.locator("#polling .title")).to_contain_text("HTTP short polling")
    site.chat.send("student", "four")
    page.wait_for_function("sideBySide.polling.lastId === 8 && sideBySide.polling.shown === 2")
    assert page.evaluate("sideBySide.streamer.source") is None
    assert [column["missing"] for column in figures(page)] == [0, 0]


# ---- the class view (/class): thirty students on four transports, as the server meters them ----

class Student:
    """A simulated student: a Python client on one transport, billed to ``?client=NAME``, counting what it gets.

    ``pause()`` stops a poller after its current request (a long poll is held at most ``LONG_WAIT`` s), so the
    meter stands still while the test compares; a WebSocket or an event stream idles on its own.
    """

    LONG_WAIT = 2  # s: short, so a paused long poller stops soon

    def __init__(self, site, name: str, transport: str) -> None:
        self.name, self.transport, self.received = name, transport, 0
        self.paused, self.idle, self.closing = threading.Event(), threading.Event(), threading.Event()
        self.url, self.polling_port, self.port = site.polling.url, site.polling.port, site.websocket.port
        self.connection = None
        self.thread = threading.Thread(target=getattr(self, transport.replace(" ", "_")), name=name, daemon=True)
        self.thread.start()

    def short_polling(self, wait: int = 0) -> None:
        after = 0
        with requests.Session() as session:
            while not self.paused.is_set():
                body = session.get(f"{self.url}/api/messages", params={"after": after, "wait": wait,
                                                                       "client": self.name}, timeout=10).json()
                self.received += len(body["messages"])
                after = body["messages"][-1]["id"] if body["messages"] else after
                if not wait:
                    time.sleep(0.1)
            self.idle.set()

    def long_polling(self) -> None:
        self.short_polling(wait=self.LONG_WAIT)

    def websocket(self) -> None:
        self.connection, rfile, _, _ = wire.open_websocket("127.0.0.1", self.port, f"/ws?after=0&client={self.name}")
        self.idle.set()
        try:
            while (frame := wire.read_frame(rfile)).opcode == wire.TEXT:
                self.received += json.loads(frame.payload)["type"] == "message"
        except (OSError, ValueError):
            pass  # closed by the test

    def sse(self) -> None:
        self.connection = socket.create_connection(("127.0.0.1", self.polling_port))
        self.connection.sendall(wire.request_bytes("GET", f"/api/events?after=0&client={self.name}",
                                                   f"127.0.0.1:{self.polling_port}"))
        parser = wire.EventParser()
        with self.connection.makefile("rb") as rfile:
            while rfile.readline() not in (b"\r\n", b""):  # the response head
                pass
            self.idle.set()
            while line := rfile.readline():
                event = parser.feed(line.decode().rstrip("\n"))
                self.received += event is not None and event.type == "message"

    def pause(self) -> None:
        self.paused.set()

    def close(self) -> None:
        self.paused.set()
        if self.connection is not None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
            except OSError:
                pass
            self.connection.close()
        self.thread.join(5)


@pytest.fixture
def students(site):
    """students(names_by_transport) starts them; all are closed afterwards."""
    started: list[Student] = []

    def start(transports: dict[str, list[str]]) -> list[Student]:
        for transport, names in transports.items():
            started.extend(Student(site, name, transport) for name in names)
        return started

    yield start
    for student in started:
        student.close()


def settled(meter, names: list[str], timeout: float = 10) -> dict:
    """The meter's report once it has stood still for half a second (the last bytes of a write counted)."""
    deadline, before = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        report = meter.report(names)
        if report == before:
            return report
        before = report
        time.sleep(0.5)
    raise AssertionError("the meter kept moving")


def table(page, selector: str, key: str) -> dict:
    """A class view table as {row key: {data-key or column index: shown value}}, read from the page."""
    return page.evaluate("""([selector, key]) => Object.fromEntries(
        [...document.querySelectorAll(selector + " tbody tr")].map(tr => [tr.dataset[key],
            Object.fromEntries([...tr.cells].map((td, i) =>
            [td.dataset.key || i, {text: td.textContent, value: td.dataset.value}]))]))""", [selector, key])


def test_class_view_shows_what_the_server_metered_for_thirty_students(site, open_page, students):
    site.polling.server.app.config["SSE_HEARTBEAT"] = 600  # no heartbeat moves the meter while the test compares
    view = open_page(site.polling.url + "/class")
    transports = {"short polling": [f"short-{n}" for n in range(8)], "long polling": [f"long-{n}" for n in range(8)],
                  "websocket": [f"ws-{n}" for n in range(7)], "sse": [f"sse-{n}" for n in range(7)]}
    names = [name for group in transports.values() for name in group]
    class_ = students(transports)
    for student in class_:
        if student.transport in ("websocket", "sse"):
            assert student.idle.wait(10), student.name  # connected before anything is said
    view.wait_for_function("classView.shown?.clients.length === 30")
    for n in range(5):
        site.chat.send("teacher", f"question {n}")  # and the server's reply: 10 messages
    eventually(lambda: all(student.received >= 10 for student in class_), 15, step=0.1)
    assert [student.received for student in class_] == [10] * 30
    for student in class_:
        student.pause()
    for student in class_:
        assert student.idle.wait(Student.LONG_WAIT + 5), student.name
    metered = settled(site.chat.meter, names)
    quiet_since = time.time()
    view.wait_for_function(f"classView.shown.time > {quiet_since}")
    view.click("#freeze")
    expect(view.locator("#freeze")).to_have_text("Go on (figures frozen)")
    shown = view.evaluate("classView.shown")
    rows = table(view, "#clients", "client")

    assert sorted(rows) == sorted(names)  # every student, by the name it gave
    for transport, group in transports.items():
        for name in group:
            row = rows[name]
            assert row["1"]["value"] == transport
            for key in ("requests", "connections", "bytes_to_client", "bytes_from_client", "messages_delivered"):
                assert int(row[key]["text"].replace(",", "")) == metered[name][key], (name, key)
            assert metered[name]["messages_delivered"] == 10  # the server counted what each student received
            assert metered[name]["connections"] == 1  # keep-alive, or one stream
    totals = table(view, "#totals", "transport")
    assert sorted(totals) == sorted(transports)
    for transport, group in transports.items():
        assert totals[transport]["1"]["text"] == str(len(group))
        for key in ("connections", "messages_delivered"):
            assert int(totals[transport][key]["text"].replace(",", "")) == sum(metered[n][key] for n in group)
    assert all(metered[name]["requests"] == 1 for name in transports["websocket"] + transports["sse"])

    # rates: each figure's growth over the read-outs the view keeps, on the server's clock
    snapshots = view.evaluate("classView.snapshots")
    assert snapshots[-1] == shown and len(snapshots) >= 2
    for name in names:
        first = next(snapshot for snapshot in snapshots if any(row["client"] == name for row in snapshot["clients"]))
        growth = [next(row for row in snapshot["clients"] if row["client"] == name)["requests"]
                  for snapshot in (first, shown)]
        expected = (growth[1] - growth[0]) / (shown["time"] - first["time"])
        assert float(rows[name]["2"]["value"]) == pytest.approx(expected, abs=1e-9)
    # the server process, as /api/status reports it: one thread at least per student's connection
    assert view.inner_text("#threads") == str(shown["process"]["threads"]) and shown["process"]["threads"] > 30
    assert float(view.get_attribute("#memory", "data-value")) == shown["process"]["rss_bytes"]
    assert view.inner_text("#count") == "30"


def test_the_teacher_switches_every_student_page_from_the_class_view(site, open_page):
    """A student joins from the landing page with a name; each switch on the class view moves the page to that
    transport within a second or two, and the page goes on from its last message: nothing lost, nothing twice."""
    student = open_page(site.polling.url + "/")
    student.fill("form.join input[name=name]", "Zoë")
    student.click("form.join button")
    expect(student.locator("#who")).to_have_text("Zoë")
    assert student.evaluate("studentPage.client") == "Zoe"  # what ?client= accepts: the view lists it so
    expect(student.locator("#transport")).to_have_text("long polling")  # until the teacher chooses
    view = open_page(site.polling.url + "/class")
    shown = {"short": "short polling, every 100 ms", "websocket": "a WebSocket", "sse": "Server-Sent Events",
             "long": "long polling"}
    metered = {"short": "short polling", "websocket": "websocket", "sse": "sse", "long": "long polling"}
    for mode, text in shown.items():
        view.click(f"button[data-mode={mode}]")
        expect(view.locator(f"button[data-mode={mode}]")).to_have_class("chosen")
        expect(student.locator("#transport")).to_have_text(text)
        expect(student.locator("#state")).not_to_contain_text("unreachable")
        site.chat.send("teacher", f"over {mode}")
        expect(student.locator("#messages li", has_text=re.compile(f"^teacher: over {mode}$"))).to_have_count(1)
        expect(view.locator("#clients tr[data-client=Zoe] td.transport")).to_have_attribute("data-value",
                                                                                             metered[mode])
    student.click("#ask")
    expect(student.locator("#messages li", has_text="Server:I am fine, thanks!")).to_have_count(5)
    ids = student.locator("#messages li[data-id]").evaluate_all("items => items.map(item => Number(item.dataset.id))")
    assert ids == list(range(10, 0, -1))  # newest on top: every message once, none lost on the way
    assert site.chat.meter.report(["Zoe"])["Zoe"]["messages_delivered"] >= 10


def test_the_class_view_from_another_machine_cannot_switch(chat, open_page, lan_address):
    twins = Twins(chat, host=lan_address)  # reached through the network address, as a student's laptop would
    try:
        view = open_page(twins.polling.url + "/class")
        expect(view.locator("#join")).to_have_text(f"http://{lan_address}:{twins.polling.port}/")
        expect(view.locator("#teacher")).to_contain_text("only the teacher's own machine may switch")
        for button in view.locator("button[data-mode]").all():
            expect(button).to_be_disabled()
    finally:
        twins.stop()


def test_the_pages_colours_are_the_toolkits():
    """One colour per transport everywhere: style.css's custom properties are clients/bench/colors.py's."""
    from clients.bench.results import colors

    css = (Path(__file__).resolve().parent.parent / "servers" / "pages" / "style.css").read_text()
    for name, colour in (("polling", colors.LONG_POLLING), ("short-polling", colors.SHORT_POLLING),
                         ("websocket", colors.WEBSOCKET), ("sse", colors.SSE)):
        assert re.search(rf"--{name}: {colour};", css), name
