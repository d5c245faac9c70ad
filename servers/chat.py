"""The feature both transports serve: the seed article's reply, broadcast chat,
and server-originated events. Plain Python, no web framework.

Everything a client can get wrong about a message is checked here, once, so the
polling server and the WebSocket server refuse the same inputs with the same
error codes and differ only in how they say it (an HTTP status, or a WebSocket
error message / close code).
"""

import json
import math
import re
import threading
import time
import unicodedata

from .board import BoardUnavailable, Message, MessageBoard
from .meter import Meter
from .post_rate import PostRate, cost
from .room import Room

SERVER = "server"
REPLY = "Client:{text}\nServer:I am fine, thanks!"  # the seed article's answer, exactly
MAX_TEXT = 1000  # characters in one chat message
MAX_BODY = 16 * 1024  # bytes in what carries one: a request body on the polling server, a message on /ws
MAX_AUTHOR = 40
LONGEST_WAIT = 30  # seconds a long poll may hold a request open
PAGE_SIZE = 500  # messages in one answer at most, on both transports: a client asks again from the last id for more
PAGE_BYTES = 64 * 1024  # and their JSON at most (one message always): 500 ordinary messages fit, 5 of the longest;
# a client that does not read holds the server to a page, not to 6 MB (see ``page_of``)
MAX_ID = 2**63 - 1  # the largest cursor we read: ids fit in 64 bits, in memory as in Redis
NOTIFICATION = "Notification #{count}: the server speaks first"  # what the ticker posts, count from 1
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # how a page names itself to the meter
BOARD_ID = re.compile(r"[A-Za-z0-9_-]{0,40}")  # how a client names the board of its cursor ("": none yet)
TICKER_RANGE = (0.1, 60.0)  # seconds between server-originated events
TICKER_STOP = 5  # seconds a stopping ticker may take to finish the post it is making (Redis may be slow)
MAX_DEPTH = 32  # arrays and objects inside one another in a JSON body or frame (a message needs one)
NESTING = re.compile(r'"(?:[^"\\]|\\.)*+"?|[\[\]{}]', re.DOTALL)  # a string (even one never closed), or a bracket
DEPTH_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}
SURROGATE = re.compile("[\ud800-\udfff]")  # what json.loads leaves of a \u escape without its other half
REORDERING = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}  # bidi classes of direction controls


class BadInput(ValueError):
    """A client sent something we refuse. ``code`` is stable and documented; ``retry_after``, when set, is the
    number of seconds after which the same request would be taken (an HTTP answer says so in ``Retry-After``)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message}


def parse_json(raw: str | bytes) -> object:
    """A body or frame as JSON, or the documented refusal (``malformed_json``), whatever it holds.

    Beyond what ``json.loads`` refuses, two things JSON text can say are refused too: nesting deeper
    than MAX_DEPTH (Python's parser recurses: a thousand levels would crash it with a RecursionError),
    and a lone surrogate, ``"\\ud800"``: an escape that names half of a character, which is no text
    (UTF-8 cannot encode it, so Redis and other clients could not take it). Bytes must be UTF-8, as
    RFC 8259 section 8.1 asks of JSON sent between systems.
    """
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        deep = _too_deep(text)
        value = None if deep else json.loads(text)
    except ValueError as error:  # UnicodeDecodeError is one too
        raise BadInput("malformed_json", f"the body is not valid JSON ({error})") from None
    if deep:
        raise BadInput("malformed_json", f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    if "\\u" in text and any(SURROGATE.search(string) for string in _strings(value)):
        raise BadInput("malformed_json", "the body has a \\u escape for half of a character (a lone surrogate)")
    return value


def _too_deep(text: str) -> bool:
    """Whether arrays and objects lie more than MAX_DEPTH deep inside one another in ``text`` (brackets in
    strings do not count), found without parsing: the parser would recurse that deep."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # too few brackets to matter: the common case, at no cost
    depth = 0
    for token in NESTING.finditer(text):
        depth += DEPTH_CHANGE.get(token.group(), 0)
        if depth > MAX_DEPTH:
            return True
    return False


def _strings(value: object):
    """Every string in a decoded JSON value, keys included, without recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def read_new_message(payload: object, max_text: int = MAX_TEXT) -> tuple[str, str]:
    """Check a client's ``{"text": ..., "author": ...}`` and return (author, text)."""
    if not isinstance(payload, dict):
        raise BadInput("invalid_message", "expected a JSON object like {\"text\": \"How are you?\"}")
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        raise BadInput("invalid_text", "\"text\" must be a non-empty string")
    if len(text) > max_text:
        raise BadInput("text_too_long", f"\"text\" is {len(text)} characters; the limit is {max_text}")
    return read_author(payload.get("author", "anonymous")), text


def read_author(author: object) -> str:
    r"""A client's name for itself: 1 to MAX_AUTHOR characters, none of them a control character (a line break,
    a terminal's escape, or one that reorders the text after it: ``\u202erevres`` shows as "server"), that
    reads as a name, and not as the server's.

    What a page shows is what is read: the name folded to its compatibility forms (NFKC: full-width letters,
    ligatures, a long s) and to one case. Nothing visible in it (only spaces, zero-width characters): no name.
    Its letters and digits spelling "server", whatever is between them (``Server``, ``server\u200b``,
    ``S.E.R.V.E.R``, ``ｓｅｒｖｅｒ``): the server's, which only the server may use.
    """
    if not isinstance(author, str) or not 0 < len(author) <= MAX_AUTHOR or any(
            unicodedata.category(char) == "Cc" or unicodedata.bidirectional(char) in REORDERING for char in author):
        raise BadInput("invalid_author", f"\"author\" must be a name of 1 to {MAX_AUTHOR} characters, "
                                         "without control characters")
    folded = unicodedata.normalize("NFKC", author).casefold()
    if not any(char.isprintable() and not char.isspace() for char in folded) \
            or "".join(filter(str.isalnum, folded)) == SERVER:
        raise BadInput("invalid_author", f"\"author\" must read as a name, and not as \"{SERVER}\": that one is "
                                         "the server's")
    return author


def whole_number(value: object, highest: int) -> int | None:
    """``value`` as a whole number from 0 to ``highest``, or None.

    Every number a client sends goes through here. The digit count is checked
    before ``int()``: Python refuses to convert strings of more than 4,300 digits,
    and that refusal must become our documented error, not a crash (a 500).
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= len(str(highest)):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= highest:
        return value
    return None


def page_of(messages: list[Message]) -> list[Message]:
    """The first of ``messages`` (a board's page of PAGE_SIZE at most) that fit in PAGE_BYTES of JSON, one at
    least: what the server holds for a client that does not read is one page, however long the messages."""
    size = 0
    for count, message in enumerate(messages):
        size += len(message.encoded)
        if size > PAGE_BYTES and count:
            return messages[:count]
    return messages


def read_after(value: object) -> int:
    """The "everything after id N" cursor, from a query string or a JSON field."""
    after = whole_number(value, MAX_ID)
    if after is None:
        raise BadInput("invalid_after",
                       f"\"after\" must be a whole number from 0 to {MAX_ID} (the last id you have seen)")
    return after


def read_wait(value: str) -> int:
    """Seconds a long poll may wait: a whole number from 0 to LONGEST_WAIT."""
    wait = whole_number(value, LONGEST_WAIT)
    if wait is None:
        raise BadInput("invalid_wait", f"\"wait\" must be a whole number of seconds from 0 to {LONGEST_WAIT}")
    return wait


def read_client(value: str) -> str:
    """The id a page sends as ``?client=`` so the servers can count its bytes (see meter.py)."""
    if CLIENT_ID.fullmatch(value):
        return value
    raise BadInput("invalid_client", "\"client\" must be 1 to 40 letters, digits, '-' or '_'")


def read_board(value: str) -> str:
    """The board a client's cursor belongs to (``?board=``), as the server named it; "" for none yet."""
    if BOARD_ID.fullmatch(value):
        return value
    raise BadInput("invalid_board", "\"board\" must be the identity the server gave its board (up to 40 letters, "
                   "digits, '-' or '_'), or empty for none yet")


def read_ticker(payload: object) -> float | None:
    """``{"interval": seconds}`` starts the ticker, ``{"interval": null}`` stops it."""
    interval = payload.get("interval", False) if isinstance(payload, dict) else False
    low, high = TICKER_RANGE
    if interval is None or (isinstance(interval, (int, float)) and not isinstance(interval, bool)
                            and low <= interval <= high):
        return interval
    raise BadInput("invalid_interval", f"\"interval\" must be seconds from {low} to {high}, or null to stop")


class Chat:
    """One board plus the behaviour around it; both servers can share one Chat."""

    def __init__(self, board: MessageBoard | None = None, max_text: int = MAX_TEXT, *, meter: Meter | None = None,
                 room: Room | None = None) -> None:
        self.board = board or MessageBoard()
        self.max_text = max_text
        self.meter = meter or Meter()  # bytes and requests per browser client, shown by the side-by-side page
        self.room = room or Room(self.meter)  # the class: its mode and its students (a RedisRoom in a cluster)
        self.post_rate = PostRate()  # how fast each client address may post
        self._ticker: tuple[threading.Event, threading.Thread, float] | None = None  # (stop it, its thread, interval)
        self._ticker_switch = threading.Lock()  # two pages may flip the ticker at the same moment

    @property
    def ticker_interval(self) -> float | None:
        """Seconds between the ticker's events; None while it is stopped."""
        ticker = self._ticker
        return ticker[2] if ticker else None

    def send(self, author: str, text: str, sender: str | None = None) -> tuple[Message, Message]:
        """Store a client's message and the server's answer to it, as the seed's server does: together,
        so nothing can land between them and the answer's id is always the message's id + 1. ``sender``, the
        client's address, is held to the post rate (``post_rate.py``): past it, ``too_many_messages``."""
        if wait := self.post_rate.wait(sender, cost(text)):
            seconds = math.ceil(wait)  # what Retry-After can say: whole seconds, 1 at least
            raise BadInput("too_many_messages", f"one address may send {self.post_rate.rate:g} messages a second "
                           f"({self.post_rate.burst:g} at once; a long text counts once per KiB): wait "
                           f"{seconds} s", retry_after=seconds)
        return self.board.post_with_reply(author, text, SERVER, REPLY.format(text=text))

    def status(self, clients: list[str]) -> dict:
        """What the browser pages ask for: the server clock (for time sync), where the board is (its newest id and
        its identity: a page starts from both), the ticker, byte counts."""
        return {"time": time.time(), "last_id": self.board.last_id, "board": self.board.identity,
                "ticker": self.ticker_interval, "clients": self.meter.report(clients)}

    def start_ticker(self, interval: float) -> None:
        """Post a server-originated event every ``interval`` seconds (the article's notifications)."""
        stopped = threading.Event()

        def tick() -> None:
            count = 0
            while not stopped.wait(interval):
                count += 1
                try:
                    self.board.post(SERVER, NOTIFICATION.format(count=count))
                except BoardUnavailable:  # Redis is down: this tick is lost, the next may land
                    pass

        with self._ticker_switch:
            self._stop_ticker()
            thread = threading.Thread(target=tick, name="ticker", daemon=True)
            thread.start()
            self._ticker = stopped, thread, interval

    def stop_ticker(self) -> None:
        with self._ticker_switch:
            self._stop_ticker()

    def _stop_ticker(self) -> None:
        """Stop the ticker and wait for its thread: once stopped, it posts nothing more."""
        if self._ticker is not None:
            stopped, thread, _interval = self._ticker
            stopped.set()
            thread.join(TICKER_STOP)
        self._ticker = None
