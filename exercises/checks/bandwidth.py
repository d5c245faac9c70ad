"""Exercise 5's checks: frame sizes, the student's bandwidth model in made-up scenarios with exact answers (the
official solution's), then against a small class measured through byte-counting relays (5 clients per transport,
the server's ticker at 5 messages a second, 3 seconds). The model is given what that run really did: the
messages each transport's clients received, and the interval the short pollers kept (a busy machine delays
some: on a 2-core machine loaded by other programs, the nominal 0.1 s once came out 0.98 s).

Why both: a measurement has noise, so it needs a tolerance, and a model with a mistake can hide inside one in a
given run (a message body in every short poll is 13 % off here, about 30 % for a class of 30 at one message a
second). The made-up scenarios have no noise, and each is chosen so that one usual mistake shows plainly; a wrong
answer is then recognised by its value, and the hint names the mistake.
"""

import functools
import math
import threading
import time

import requests

from clients.lab.listeners import Poller, WebSocketListener
from clients.lab.relay import Relay
from servers.twins import Twins

from . import Fail, check, solution

TITLE = "predict the bandwidth of a class of 30, then measure it"
FOLDER, FILE = "05-class-of-30", "bandwidth.py"
CLIENTS, RATE, INTERVAL, SECONDS = 5, 5.0, 0.1, 3.0  # the measured class
CLASS, CLASS_RATE = 30, 1.0  # the class the student predicts
# The measured window starts and ends at the same point between two ticks, once the tick before has reached every
# client (SETTLED after it), so every message in it counts in its bytes and in its rate alike. What still varies is
# whether a poll falls just inside or outside each end: the solution's model comes within 2 % on a quiet machine,
# and within 3.8 % in 30 runs beside one or two CPU hogs on a 2-core machine already loaded by others. A model with
# a usual mistake is further off: a message body in every short poll, 13 %; and the made-up scenarios before these
# checks catch each mistake exactly.
TOLERANCE = 0.06
SETTLED = 0.14  # seconds after a tick by which every client has it: short polls come every 0.1 s, ticks every 0.2
EXACT = 1e-6  # relative: the made-up scenarios have exact answers
TRANSPORTS = {"WebSocket": None, "long polling": None, "short polling": INTERVAL}
GUESSES = {"WebSocket": "WebSocket", "long polling": "long polling", "short polling": "short polling every 0.1 s"}
EXAMPLE_SIZES = {"push_payload": 100, "request_headers": 90, "response_headers": 130, "empty_body": 30,
                 "message_body": 170}
# (transport, clients, messages a second, poll interval, sizes), each where some mistake shows plainly
SCENARIOS = [("short polling", CLASS, CLASS_RATE, 0.1, EXAMPLE_SIZES),  # the class of 30: most polls bring nothing
             ("short polling", 10, 4.0, 0.25, EXAMPLE_SIZES),  # about one message in every answer
             ("long polling", CLASS, 2.0, None, EXAMPLE_SIZES),
             ("WebSocket", CLASS, 1.0, None, {**EXAMPLE_SIZES, "push_payload": 200}),  # past 125: a longer header
             ("short polling", CLASS, 0.5, 0.3, EXAMPLE_SIZES),  # 3.33 polls a second, a message every 2 s
             ("WebSocket", CLASS, 0.5, None, EXAMPLE_SIZES),  # rates need not be whole numbers
             ("short polling", 10, 8.0, 0.25, EXAMPLE_SIZES)]  # more messages than polls: two in each answer
# bits per second that are off by one of these factors: the unit, or a division the wrong way
UNITS = [(1 / 8, "that is bytes per second: a byte is 8 bits, so multiply the bytes by 8"),
         (1 / 64, "you divided by 8: a byte is 8 bits, so bits are bytes × 8, not bytes ÷ 8"),
         (1 / 1000, "that is kilobits per second: return bits per second (the check shows kbit/s itself)"),
         (1 / 1024, "that is kibibits per second (÷ 1024): return bits per second (the check shows kbit/s itself, "
                    "1 kbit = 1,000 bits)"),
         (1 / 1e6, "that is megabits per second: return bits per second (the check shows kbit/s itself)"),
         (1 / 8000, "that is kilobytes per second: return bits per second, bytes × 8"),
         (1 / 8e6, "that is megabytes per second: return bits per second, bytes × 8")]
WHOLE = (int, round, math.ceil)  # ways to make a whole number of a rate, as if polls or messages came whole


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
        hint = _units(websocket, expected) or (
            "you counted everything twice: each byte crosses the network once, whichever way it goes; \"both "
            "directions\" means adding what goes up to what comes down, not doubling"
            if abs(websocket - 2 * expected) < 1e-6 else 
            "the server's frames are not masked: frame_bytes(push_payload, masked=False)"
            if abs(websocket - 8 * (6 + EXAMPLE_SIZES["push_payload"])) < 1e-6 else
            "one client, one message a second: one frame from the server, header plus payload (no mask)")
        raise Fail(f"one WebSocket client at one message a second with a 100-byte payload: {websocket:g} bit/s, "
                   f"expected {expected}", hint)


def _units(value, expected: float) -> str | None:
    """The hint for a value off by a unit, or a division made the wrong way; None if it is not."""
    if not isinstance(value, (int, float)):
        return None
    return next((hint for factor, hint in UNITS if abs(value - factor * expected) <= EXACT * expected), None)


@check(f"bits_per_second in {len(SCENARIOS)} made-up scenarios with exact answers: where each usual mistake shows")
def scenarios(student):
    reference, shown = solution(FOLDER, FILE), []
    for transport, clients, rate, interval, sizes in SCENARIOS:
        right = reference.bits_per_second(transport, clients, rate, dict(sizes), interval)
        value = student.bits_per_second(transport, clients, rate, dict(sizes), interval)
        if not isinstance(value, (int, float)) or abs(value - right) > EXACT * right:
            every = f" polling every {interval:g} s" if interval else ""
            said = f"{value:,.0f} bit/s" if isinstance(value, (int, float)) else repr(value)
            raise Fail(f"{transport}: {clients} clients at {rate:g} message{'s' * (rate != 1)} a second{every}, sizes "
                       f"{', '.join(f'{name} {size}' for name, size in sizes.items())}: your model says {said}, "
                       f"the right model {right:,.0f} bit/s",
                       _model_mistake(value, transport, clients, rate, interval, sizes, reference)
                       or _units(value, right) or _hint(transport))
        shown.append(f"{transport}, {clients} clients: {right / 1000:,.1f} kbit/s")
    return "; ".join(shown)


def _model_mistake(value, transport: str, clients: int, rate: float, interval: float | None, sizes: dict,
                   reference) -> str | None:
    """The hint for a model with a usual mistake, recognised by the value it gives; None for others."""
    request, response, empty, full = (sizes[name] for name in ("request_headers", "response_headers", "empty_body",
                                                               "message_body"))
    payload = sizes["push_payload"]
    if transport == "short polling":
        mistakes = [  # the first, before the next: where messages outnumber polls, both give the same
            ((request + response + empty) / interval + min(rate, 1 / interval) * (full - empty), "when more "
             "messages come than polls, an answer carries several, and each brings its own body: add "
             "messages_per_second × (message_body - empty_body), not one message per poll at most"),
            ((request + response + full) / interval, "most short polls come back empty: only the answers that carry "
             "a message (messages_per_second of them a second) have the bigger body, message_body"),
            ((request + response + empty) / interval, "the answers that carry a message have a bigger body: add "
             "messages_per_second × (message_body - empty_body)"),
            ((request + response + empty) / interval + (full - empty), "each message brings its bigger body: "
             "messages_per_second × (message_body - empty_body), not once a second"),
            ((request + response + empty) / interval + rate * full, "an answer that carries a message has "
             "message_body instead of empty_body, not both: add messages_per_second × (message_body - empty_body)"),
            ((request + response + empty) * interval + rate * (full - empty), "a poll every poll_interval seconds "
             "is 1 / poll_interval polls a second: divide by the interval, do not multiply"),
            ((response + empty) / interval + rate * (full - empty), "every poll is a request too: count "
             "request_headers in each"),
            ((request + empty) / interval + rate * (full - empty), "every poll has a response with headers too: "
             "count response_headers in each"),
            *(((request + response + empty) * whole(1 / interval) + rate * (full - empty),
               f"a poll every {interval:g} s is {1 / interval:.4g} polls a second: keep 1 / poll_interval as it "
               "is, not a whole number") for whole in WHOLE)]
    elif transport == "long polling":
        mistakes = [
            (rate * (response + full), "each message costs a whole poll: its request too, not only the response"),
            (rate * (request + response + empty), "an answer that carries a message has the body message_body, not "
             "empty_body"),
            (rate * (2 * (request + response) + full + empty), "one poll per message: the poll that follows an "
             "answer waits for the next message, and belongs to it")]
    else:
        mistakes = [
            (rate * reference.frame_bytes(payload, masked=True), "the server's frames are not masked: "
             "frame_bytes(push_payload, masked=False)"),
            (rate * (2 + payload), f"a payload of {payload} bytes takes a longer header than 2 bytes: use "
             "frame_bytes(push_payload, masked=False)"),
            (rate * payload, "a frame has a header too: frame_bytes(push_payload, masked=False)")]
    mistakes[:0] = [(reference.bits_per_second(transport, 1, whole(rate), dict(sizes), interval) / 8,
                     f"messages_per_second may be a fraction ({rate:g}: one message every {1 / rate:g} s): keep it "
                     "as it is, not a whole number") for whole in WHOLE if whole(rate) != rate]
    if not isinstance(value, (int, float)):
        return None
    return next((hint for per_client, hint in mistakes
                 if abs(value - 8 * clients * per_client) <= EXACT * abs(8 * clients * per_client)), None)


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
        start = _settled_tick(twins.chat.board)
        before = {name: relay.totals() for name, relay in relays.items()}
        time.sleep(SECONDS - 1 / RATE)
        end = _settled_tick(twins.chat.board)
        after_ = {name: relay.totals() for name, relay in relays.items()}
        seconds = end - start
        clients = {"WebSocket": sockets, **{name: [poller for poller in pollers if poller.interval == interval]
                                            for name, interval in TRANSPORTS.items() if name != "WebSocket"}}
        delivered = {name: sum(start < arrival.at <= end for client in group for arrival in client.received)
                     for name, group in clients.items()}
        short_polls = sum(start < answered <= end for poller in clients["short polling"]
                          for answered, _ in poller.answers)
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
    long_, ws = splits["long polling"], splits["WebSocket"]
    shared = {"push_payload": ws["down"]["payloads"] / ws["down"]["data_frames"],
              "empty_body": len(empty),  # {"messages":[],"last_id":L}, L as in the window
              "message_body": long_["down"]["http_bodies"] / long_["down"]["http_messages"]}
    # each model gets the headers of its own polls (a long poll's request says wait=1 too)
    polls = {name: splits["short polling" if name == "WebSocket" else name] for name in TRANSPORTS}
    sizes = {name: {"push_payload": shared["push_payload"],
                    "request_headers": split["up"]["http_headers"] / split["up"]["http_messages"],
                    "response_headers": split["down"]["http_headers"] / split["down"]["http_messages"],
                    "empty_body": shared["empty_body"], "message_body": shared["message_body"]}
             for name, split in polls.items()}
    measured = {name: 8 * (after_[name]["up"] + after_[name]["down"] - before[name]["up"] - before[name]["down"])
                / seconds for name in TRANSPORTS}
    return {"sizes": sizes, "measured": measured,
            "rates": {name: count / (CLIENTS * seconds) for name, count in delivered.items()},
            "intervals": {**TRANSPORTS, "short polling": seconds * CLIENTS / short_polls}}


def _settled_tick(board) -> float:
    """When, just after the ticker's next message has reached every client (on the clock the clients note their
    arrivals by): the window starts and ends at this same point between two ticks, so each message in it is in
    both its bytes and its rate."""
    tick = board.last_id
    while board.last_id == tick:
        time.sleep(0.002)
    time.sleep(SETTLED)
    return time.perf_counter()


def _transport_check(transport: str):
    @check(f"{transport}: your model is within {TOLERANCE:.0%} of {CLIENTS} clients measured for {SECONDS:g} s",
           timeout=60)
    def matches(student):
        run = measure()
        rate, interval = run["rates"][transport], run["intervals"][transport]
        predicted = student.bits_per_second(transport, CLIENTS, rate, dict(run["sizes"][transport]), interval)
        measured = run["measured"][transport]
        sizes = ", ".join(f"{name} {value:.0f}" for name, value in run["sizes"][transport].items())
        polls = f", a poll every {interval:.4f} s" if interval else ""
        if not isinstance(predicted, (int, float)) or abs(predicted - measured) > TOLERANCE * measured:
            said = f"{predicted:,.0f} bit/s" if isinstance(predicted, (int, float)) else repr(predicted)
            raise Fail(f"{transport}: your model says {said}, the relays counted {measured:,.0f} ({CLIENTS} "
                       f"clients, {rate:.2f} messages a second each{polls}; bytes measured: {sizes})",
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
               f"{student.bits_per_second(name, CLASS, CLASS_RATE, dict(run['sizes'][name]), interval) / 1000:>13.1f}"
               for name, interval in TRANSPORTS.items())]
    return "\n".join(lines)


CHECKS = [guessed, frames, model_shape, scenarios, *(_transport_check(name) for name in TRANSPORTS)]
