"""The class in Chromium: a student with seven tabs, what the page says when the teacher switches, the class view's
ticker button, and each page's own control requests counted apart from what its transport costs.

The student pages are served on this machine's network address, as a student's browser reaches the teacher's
laptop: not a secure context (no Web Locks there), and not loopback, so the test switches the class on the
server itself, as the teacher's view would.
"""

import re

import pytest
import requests
from playwright.sync_api import expect

from servers.twins import Twins

TABS = 7  # one more than the six connections a browser opens to one server over HTTP/1.1


@pytest.fixture
def room_site(chat, lan_address):
    """Both servers on this machine's network address, as a classroom reaches them."""
    with Twins(chat, host=lan_address) as twins:
        yield twins


def student_url(twins, name: str) -> str:
    return f"{twins.polling.url}/pages/student.html?name={name}"


def test_seven_tabs_of_the_student_page_one_follows_the_class_the_others_say_why(room_site, browser):
    """Six event streams would hold every connection the browser allows this server: the seventh tab could not
    load, and no tab could ask which transport to use. One tab follows the class; the others say so and wait."""
    room_site.chat.room.switch("sse")
    context = browser.new_context()
    try:
        tabs = []
        for _ in range(TABS):
            tab = context.new_page()
            tab.goto(student_url(room_site, "Ada"), timeout=10_000)  # every tab loads
            tab.wait_for_function("window.studentPage !== undefined", timeout=5_000)
            tabs.append(tab)
        leader = tabs[0]
        expect(leader.locator("#transport")).to_have_text("Server-Sent Events")
        expect(leader.locator("#state")).to_contain_text("connected")
        for tab in tabs[1:]:
            expect(tab.locator("#elsewhere")).to_be_visible()
            expect(tab.locator("#elsewhere")).to_contain_text("already open in another tab of this browser (as Ada)")
            expect(tab.locator("#state")).to_have_text("waiting: another tab follows the class")
        assert [tab.evaluate("studentPage.following") for tab in tabs] == [True] + [False] * (TABS - 1)
        assert room_site.chat.room.clients(60)["Ada"]["streams"] == 1  # one stream for the seven tabs

        room_site.chat.room.switch("long")  # the teacher switches: the following tab has connections to ask with
        expect(leader.locator("#transport")).to_have_text("long polling")
        leader.close(run_before_unload=True)  # that tab closes: another takes over at once, and follows the class
        rest = tabs[1:]
        for tab in rest:
            tab.wait_for_function("studentPage.following || !document.getElementById('elsewhere').hidden")
        expect_one_follower(rest)
        follower = next(tab for tab in rest if tab.evaluate("studentPage.following"))
        expect(follower.locator("#transport")).to_have_text("long polling")
        expect(follower.locator("#elsewhere")).to_be_hidden()
        room_site.chat.send("teacher", "still with us?")
        expect(follower.locator("#messages li", has_text=re.compile(r"^teacher: still with us\?$"))).to_have_count(1)
    finally:
        context.close()


def expect_one_follower(tabs) -> None:
    """Exactly one of ``tabs`` follows the class within a few seconds (the claim of the closed tab is let go)."""
    for _ in range(50):
        following = [tab.evaluate("studentPage.following") for tab in tabs]
        if following.count(True) == 1:
            return
        tabs[0].wait_for_timeout(100)
    raise AssertionError(f"tabs following: {following}")


def test_the_page_says_its_new_transport_as_soon_as_the_teacher_switches(room_site, open_page):
    """Back to long polling with nothing happening, the page's words change at once, not when its 25 s poll ends."""
    room_site.chat.room.switch("sse")
    student = open_page(student_url(room_site, "Ben"))
    expect(student.locator("#state")).to_have_text("connected: the server writes every message into one long response")
    room_site.chat.room.switch("long")
    expect(student.locator("#transport")).to_have_text("long polling")
    expect(student.locator("#state")).to_have_text(
        "long polling: each request waits at the server until there is news", timeout=3_000)


def test_the_class_view_starts_and_stops_the_ticker(site, open_page):
    """The plan says "start the ticker": a button on the view, for the teacher's machine (site: loopback)."""
    view = open_page(site.polling.url + "/class")
    button = view.locator("#ticker")
    expect(button).to_have_text("Start the ticker (a message every 1 s)")
    expect(button).to_be_enabled()
    button.click()
    expect(button).to_have_text("Stop the ticker (a message every 1 s)")
    assert site.chat.ticker_interval == 1
    site.chat.board.wait_after(0, 5)  # the server speaks first
    assert site.chat.board.after(0)[0].author == "server"
    button.click()
    expect(button).to_have_text("Start the ticker (a message every 1 s)")
    assert site.chat.ticker_interval is None


def test_from_another_machine_the_ticker_button_is_greyed_out(room_site, open_page):
    view = open_page(room_site.polling.url + "/class")
    expect(view.locator("#teacher")).to_contain_text("only the teacher's own machine may switch")
    expect(view.locator("#ticker")).to_be_disabled()
    refused = requests.post(f"{room_site.polling.url}/api/ticker", json={"interval": 1}, timeout=5)
    assert refused.status_code == 403 and room_site.chat.ticker_interval is None


def test_the_view_shows_a_pages_own_requests_apart_from_its_transport(site, open_page):
    """On a WebSocket the transport makes no request at rest, as the view says; the page's control requests
    (its mode once a second, its figures every 2 s), which a student sees in DevTools, have a column of their own."""
    site.chat.room.switch("websocket")
    student = open_page(site.polling.url + "/pages/student.html?name=Cleo")
    expect(student.locator("#state")).to_have_text("connected: the server pushes every message")
    view = open_page(site.polling.url + "/class")
    view.wait_for_timeout(4_500)  # a full window of read-outs (3 s) with the page at rest
    row = view.locator("#clients tr[data-client=Cleo]")
    expect(row.locator("td").nth(2)).to_have_text("0.0")  # the transport's requests/s
    control = float(row.locator("td[data-key=control]").get_attribute("data-value"))
    assert 1 <= control <= 2.5, control  # about 1.5: the mode every second, the figures every 2 s
    counted = site.chat.room.clients(60)["Cleo"]
    assert counted["requests"] == 1 and counted["connections"] == 1  # the handshake, once
    assert counted["control_requests"] >= 6 and counted["control_bytes_from_client"] > 0
    assert re.search(r"All pages' own requests now: [12]\.\d requests/s", view.inner_text("#control"))
