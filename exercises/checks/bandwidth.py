"""Exercise 5's checks: frame sizes, then the student's bandwidth model against a small class measured through
byte-counting relays (5 clients per transport, the server's ticker at 5 messages a second, 3 seconds)."""

import functools
import threading
import time

import requests

from clients.lab.listeners import Poller, WebSocketListener
from clients.lab.relay import Relay
from servers.twins import Twins

from . import Fail, check

TITLE = "predict the bandwidth of a class of 30, then measure it"
FOLDER, FILE = "05-class-of-30", "bandwidth.py"
CLIENTS, RATE, INTERVAL, SECONDS = 5, 5.0, 0.1, 3.0  # the measured class
CLASS, CLASS_RATE = 30, 1.0  # the class the student predicts
TOLERANCE = 0.15  # 15 messages and 30 polls per client in the window: one more or less is 3 to 7 %
TRANSPORTS = {"WebSocket": None, "long polling": None, "short polling": INTERVAL}
GUESSES = {"WebSocket": "WebSocket", "long polling": "long polling", "short polling": "short polling every 0.1 s"}
EXAMPLE_SIZES = {"push_payload": 100, "request_headers": 90, "response_headers": 130, "empty_body": 30,
                 "message_body": 170}


@check("you wrote your guess first (MY_GUESS_KBPS: a number for each transport)")
def guessed(student):
    guesses = getattr(student, "MY_GUESS_KBPS", None)
    if not isinstance(guesses, dict) or any(not isinstance(guesses.get(name), (int, float)) or guesses[name] <= 0
                                            for name in GUESSES.values()):
        raise Fail(f"MY_GUESS_KBPS is {guesses!r}", "before measuring anything, write a guess (kilobits per second, "
                   "for 30 students) for each of the three transports; it is not graded")
    return ", ".join(f"{name} {guesses[name]:g}" for name in GUESSES.values()) + " kbit/s"


@check("frame_bytes: the three length forms, with and without the masking key")
def frames(student):
    for size, header in ((0, 2), (5, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)):
        for masked in (False, True):
            expected = header + 4 * masked + size
            got = student.frame_bytes(size, masked)
            if got != expected:
                raise Fail(f"frame_bytes({size}, masked={masked}) gave {got!r}, expected {expected}",
                           "2 bytes of header up to 125 bytes of payload, 4 up to 65,535, 10 beyond; "
                           "plus 4 for the masking key; plus the payload itself")
    return "2 + 5 = 7 bytes for 'Hello' from the server, 11 from a client"


@check("bits_per_second: bits, not bytes, and twice the clients cost twice as much")
def model_shape(student):
    for transport, interval in TRANSPORTS.items():
        one, two = (student.bits_per_second(transport, n, 1.0, dict(EXAMPLE_SIZES), interval) for n in (30, 60))
        if not isinstance(one, (int, float)) or one <= 0:
            raise Fail(f"bits_per_second({transport!r}, ...) gave {one!r}", "return a number of bits per second")
        if abs(two - 2 * one) > 1e-6 * one:
            raise Fail(f"{transport}: 30 clients cost {one:g} bit/s and 60 cost {two:g}",
                       "every client costs the same: multiply one client's cost by clients")
    websocket = student.bits_per_second("WebSocket", 1, 1.0, dict(EXAMPLE_SIZES))
    expected = 8 * (2 + EXAMPLE_SIZES["push_payload"])
    if abs(websocket - expected) > 1e-6:
        hint = "bytes are 8 bits each" if abs(websocket * 8 - expected) < 1e-6 else (
            "one client, one message a second: one frame from the server, header plus payload (no mask)")
        raise Fail(f"one WebSocket client at one message a second with a 100-byte payload: {websocket:g} bit/s, "
                   f"expected {expected}", hint)


@functools.cache
def measure() -> dict:
    """The small class, run once: bytes per second each transport's relay counted, the sizes, the rates."""
    twins = Twins()
    relays = {name: Relay(twins.websocket.port if name == "WebSocket" else twins.polling.port, record=True)
              for name in TRANSPORTS}
    stop = threading.Event()
    session = requests.Session()
    try:
        after = twins.chat.board.last_id
        sockets = [WebSocketListener(f"ws://127.0.0.1:{relays['WebSocket'].port}/ws").start()
                   for _ in range(CLIENTS)]
        pollers = [Poller(f"http://127.0.0.1:{relays[name].port}", interval, until=stop.is_set, after=after, wait=1)
                   for name, interval in TRANSPORTS.items() if name != "WebSocket" for _ in range(CLIENTS)]
        for poller in pollers:
            poller.start()
        session.post(f"{twins.polling.url}/api/ticker", json={"interval": 1 / RATE}, timeout=5).raise_for_status()
        time.sleep(0.5)  # everyone connected and in step
        start, first_id = time.monotonic(), _last_id(session, twins.polling.url)
        before = {name: relay.totals() for name, relay in relays.items()}
        time.sleep(SECONDS)
        after_ = {name: relay.totals() for name, relay in relays.items()}
        seconds, messages = time.monotonic() - start, _last_id(session, twins.polling.url) - first_id
        session.post(f"{twins.polling.url}/api/ticker", json={"interval": None}, timeout=5)
        for ws in sockets:
            ws.close()
        stop.set()
        for poller in pollers:
            poller.join(5)
        empty = session.get(f"{twins.polling.url}/api/messages", params={"after": 1 << 40}, timeout=5).content
        for relay in relays.values():
            relay.wait_closed()
        splits = {name: relay.split() for name, relay in relays.items()}
    finally:
        stop.set()
        session.close()
        for relay in relays.values():
            relay.stop()
        twins.stop()
    short, long_, ws = splits["short polling"], splits["long polling"], splits["WebSocket"]
    sizes = {"push_payload": ws["down"]["payloads"] / ws["down"]["data_frames"],
             "request_headers": short["up"]["http_headers"] / short["up"]["http_messages"],
             "response_headers": short["down"]["http_headers"] / short["down"]["http_messages"],
             "empty_body": len(empty) - len(str(1 << 40)) + len(str(first_id + messages)),
             "message_body": long_["down"]["http_bodies"] / long_["down"]["http_messages"]}
    measured = {name: 8 * (after_[name]["up"] + after_[name]["down"] - before[name]["up"] - before[name]["down"])
                / seconds for name in TRANSPORTS}
    return {"sizes": sizes, "rate": messages / seconds, "measured": measured}


def _last_id(session: requests.Session, url: str) -> int:
    return session.get(f"{url}/api/status", timeout=5).json()["last_id"]


def _transport_check(transport: str):
    @check(f"{transport}: your model is within {TOLERANCE:.0%} of {CLIENTS} clients measured for {SECONDS:g} s",
           timeout=60)
    def matches(student):
        run = measure()
        predicted = student.bits_per_second(transport, CLIENTS, run["rate"], dict(run["sizes"]),
                                            TRANSPORTS[transport])
        measured = run["measured"][transport]
        sizes = ", ".join(f"{name} {value:.0f}" for name, value in run["sizes"].items())
        if not isinstance(predicted, (int, float)) or abs(predicted - measured) > TOLERANCE * measured:
            raise Fail(f"{transport}: your model says {predicted:,.0f} bit/s, the relays counted {measured:,.0f} "
                       f"({CLIENTS} clients, {run['rate']:.2f} messages a second; bytes measured: {sizes})",
                       _hint(transport))
        line = f"model {predicted / 1000:.1f} kbit/s, measured {measured / 1000:.1f} kbit/s"
        if transport == "short polling":
            line += "\n" + _class_table(student, run)
        return line
    matches.__name__ = f"model_{transport.replace(' ', '_')}"
    return matches


def _hint(transport: str) -> str:
    return {"WebSocket": "each message is one frame from the server: frame_bytes(push_payload, masked=False); "
                         "nothing else crosses the wire while the connection is idle",
            "long polling": "the server holds each poll until the next message: one request and one response "
                            "(headers and a body with the message) per message",
            "short polling": "a poll every poll_interval seconds, message or not: request and response headers and "
                             "an empty body; the answers that carry a message have a bigger body"}[transport]


def _class_table(student, run: dict) -> str:
    """Your guess, your model and the measurement, scaled to a class of 30 at one message a second."""
    lines = [f"A class of {CLASS} at {CLASS_RATE:g} message a second, kbit/s:   your guess   your model",
             *(f"  {GUESSES[name]:<43}{student.MY_GUESS_KBPS[GUESSES[name]]:>10g}"
               f"{student.bits_per_second(name, CLASS, CLASS_RATE, dict(run['sizes']), interval) / 1000:>13.1f}"
               for name, interval in TRANSPORTS.items())]
    return "\n".join(lines)


CHECKS = [guessed, frames, model_shape, *(_transport_check(name) for name in TRANSPORTS)]
