"""Exercise 7's checks: a search added to both servers, tried over HTTP and over a WebSocket against your own
servers (``python -m servers`` from your checkout, in a process of its own), then read side by side.

"Only the transport" means here: both files define ``search_messages``; the functions both files have come in
the same order in each, so ``diff`` lines them up; each ``search_messages`` only translates (it reads the
request, calls the core's ``search`` and writes the answer, in a few lines), and nothing else in either file
calls ``search``; the searching itself is done once, by ``Chat.search`` in ``chat.py``.

Teachers: ``--solution`` applies ``solutions/07-one-feature/search.patch`` (with ``git apply``) to a copy of
``servers/`` and checks that copy; when ``servers/`` has changes of its own (a student's work on this exercise,
say), to a copy of the committed ``servers/`` instead. Nothing is ever written into the checkout.
"""

import ast
import difflib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import requests

from clients import wire

from . import Fail, check

TITLE = "add one feature to both servers, so that diff still shows only the transport"
FOLDER = "07-one-feature"
FILES = ("servers/chat.py", "servers/polling_server.py", "servers/websocket_server.py")  # what you edit
SOLUTION = "search.patch"  # in solutions/07-one-feature/: a diff of the files above (and servers/README.md)
REPOSITORY = Path(__file__).resolve().parents[2]
STARTUP = 20  # seconds the servers may take to start
FOUND = 20  # messages in one search's answer at most
LONGEST = 8  # lines in each search_messages, docstring aside: a transport only translates
MAX_SEARCH = 100  # characters in a search: 100 is allowed, 101 is not
PAGE = 500  # messages in one answer of GET /api/messages: a search looks through every message kept, not a page
# (author, text) said once per server: "paris" in several cases, an author whose name has it (not a match),
# a ß that casefold() finds as "ss" (lower() does not), both ways, an İ that upper() does not find; and the
# characters a regular expression reads
SAID = [("check", "Paris is sunny"), ("check", "paris in the spring"), ("check", "a night in PARIS"),
        ("parisienne", "Rome, at last"), ("check", "Grüße aus der Straße"), ("check", "STRASSE GESPERRT"),
        ("check", "at 3 p.m. (Gare du Nord)"), ("check", "İstanbul, finally")]
ANSWER = 10  # seconds a server has to answer one request


class Checkout:
    """The ``servers/`` package the checks start: yours, or a patched copy (the solution). Closed after the checks."""

    def __init__(self, root: Path, temporary: tempfile.TemporaryDirectory | None = None) -> None:
        self.root, self._temporary, self._servers = root, temporary, None

    def servers(self) -> "Servers":
        if self._servers is None:
            self._servers = Servers(self.root)
        return self._servers

    def close(self) -> None:
        if self._servers is not None:
            self._servers.stop()
        if self._temporary is not None:
            self._temporary.cleanup()


def prepare(folder: Path) -> Checkout:
    """Your checkout's servers (``folder`` is exercises/), a copy of servers/ with the patch ``folder`` holds for this
    exercise (``--solution``), or the servers/ folder inside ``folder`` (the tests' broken copies, ``--dir``)."""
    patch = folder / FOLDER / SOLUTION
    if patch.is_file():
        return solved(patch)
    return Checkout(folder if (folder / "servers").is_dir() else folder.parent)


def solved(patch: Path) -> Checkout:
    """The solution, tried in a copy: of servers/ as it is, or, when that has changes of its own the patch does not
    expect (a student's work on this exercise), of servers/ as last committed. The checkout is never written to."""
    if shutil.which("git") is None:
        raise Fail("git is not installed: the solution is a patch", f"install git, or read the patch itself: {patch}")
    temporary = tempfile.TemporaryDirectory(prefix="exercise-7-")
    root = Path(temporary.name)
    error = None
    for source, copy in (("", _copy_servers), (" (yours has changes of its own)", _committed_servers)):
        shutil.rmtree(root / "servers", ignore_errors=True)
        try:
            copy(root)
            applied = subprocess.run(["git", "apply", "--whitespace=nowarn", str(patch.resolve())], cwd=root,
                                     capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as failure:
            error = str(failure)
            continue
        if applied.returncode == 0:
            if source:
                print(f"  the solution is checked on a copy of the committed servers/{source}")
            return Checkout(root, temporary)
        error = applied.stderr.strip().splitlines()[0]
    temporary.cleanup()
    raise Fail(f"the solution does not apply to servers/, neither yours nor the committed one: {error}",
               f"the servers changed since the solution was made: read the patch itself, {patch}, whose top says "
               "why it is built so, and try its changes by hand in a copy of servers/")


def _copy_servers(root: Path) -> None:
    shutil.copytree(REPOSITORY / "servers", root / "servers", ignore=shutil.ignore_patterns("__pycache__"))


def _committed_servers(root: Path) -> None:
    """servers/ as last committed (git archive), written into ``root``: the checkout itself is not touched."""
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD", "servers"], cwd=REPOSITORY,
                             capture_output=True, timeout=30)
    if archive.returncode != 0:
        raise OSError(archive.stderr.decode(errors="replace").strip() or "git archive failed")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:  # "data": plain files only (Python 3.11.4 on)
        tar.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


class Servers:
    """``python -m servers`` started from ``root`` on free ports; what it writes to stderr is kept for the hints."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        environment = {name: value for name, value in os.environ.items()
                       if name not in ("PYTHONPATH", "PYTHONSAFEPATH")}  # the servers package is the one in root
        self.process = subprocess.Popen(
            [sys.executable, "-m", "servers", "--polling-port", "0", "--websocket-port", "0", "--quiet"], cwd=root,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, text=True, env=environment)
        printed, ready = [], threading.Event()

        def read() -> None:  # the launcher prints its URLs, then "Press Ctrl-C", then nothing until it stops
            for line in self.process.stdout:
                printed.append(line)
                if line.startswith("Press Ctrl-C"):
                    break
            ready.set()

        threading.Thread(target=read, name="servers-output", daemon=True).start()
        ready.wait(STARTUP)
        ports = re.findall(r"http://[^:]+:(\d+)/", "".join(printed))
        if len(ports) < 3:  # side-by-side, polling, WebSocket
            self.stop()
            raise Fail(f"your servers did not start: {self.last_error() or 'no answer within %d s' % STARTUP}",
                       "Python names the file and the line: fix it there (python -m servers shows it too)")
        self.polling = f"http://127.0.0.1:{ports[0]}"
        self.websocket_port = int(ports[2])

    def last_error(self) -> str | None:
        """The last line of the last traceback the servers wrote, with your file and line: 'NameError: ... (chat.py,
        line 12)'."""
        self.log.seek(0)
        text = self.log.read()
        if "Traceback" not in text and "Error" not in text:
            return None
        lines = [line for line in text.splitlines() if line.strip()]
        error = next((line for line in reversed(lines) if re.match(r"\w+(Error|Exception)\b", line)), lines[-1])
        places = re.findall(r'File "([^"]*servers[/\\][^"]+)", line (\d+)', text)
        place = f" ({Path(places[-1][0]).name}, line {places[-1][1]})" if places else ""
        return error.strip() + place

    def post(self, path: str, body) -> requests.Response:
        data = body if isinstance(body, str) else json.dumps(body)
        try:
            return requests.post(self.polling + path, data=data, headers={"Content-Type": "application/json"},
                                 timeout=ANSWER, allow_redirects=False)  # a client posts to the documented route
        except requests.Timeout:
            raise Fail(f"POST {path} {data[:40]} did not answer within {ANSWER} s", "your server is still working "
                       "on it: look for a loop that never ends (a while whose condition never changes) in what "
                       "that request runs") from None

    def found(self, text: str) -> list:
        """The messages POST /api/search answers for ``text``; a Fail for an answer that is not one."""
        return json_of(self.post("/api/search", {"text": text}), f"POST /api/search {{\"text\": {text!r}}}")[
            "messages"]

    def board(self) -> list[dict]:
        """Every message the board keeps, read a page at a time as a client does."""
        messages: list[dict] = []
        while page := self.page_after(messages[-1]["id"] if messages else 0):
            messages += page
        return messages

    def page_after(self, after: int) -> list[dict]:
        return requests.get(f"{self.polling}/api/messages", params={"after": after}, timeout=10).json()["messages"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the launcher stops both servers cleanly
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


class WebSocket:
    """One WebSocket to your server, frames read through clients/wire.py."""

    def __init__(self, servers: Servers) -> None:
        self.sock, self.rfile, _, _ = wire.open_websocket("127.0.0.1", servers.websocket_port, "/ws")
        self.sock.settimeout(5)

    def ask(self, request: dict, answer_types=("found", "error")) -> dict:
        """Send one frame; the first frame back of one of ``answer_types`` (pushed messages may come first)."""
        wire.send_frame(self.sock, wire.TEXT, json.dumps(request).encode())
        while True:
            try:
                frame = wire.read_frame(self.rfile)
            except (OSError, ValueError):
                raise Fail(f"after {json.dumps(request)} the server sent no answer within 5 s, or closed the "
                           "connection", "answer() must send exactly one frame back for each frame it gets") from None
            if frame.opcode != wire.TEXT:
                raise Fail(f"after {json.dumps(request)} the server closed the connection",
                           "a search must not end the connection: look at answer() in websocket_server.py")
            data = json.loads(frame.payload)
            if data.get("type") in answer_types:
                return data
            if data.get("type") != "message":  # what the server pushes meanwhile; anything else answers the request
                raise Fail(f"after {json.dumps(request)[:60]} the server answered {json.dumps(data)[:120]}",
                           f"answer with a frame {{\"type\": \"{answer_types[0]}\", ...}}: a client tells the answer "
                           "from the messages pushed meanwhile by its type")

    def close(self) -> None:
        try:
            wire.close(self.sock, self.rfile)
        except (OSError, ValueError):  # the server closed it first: what it did wrong is the check's to say
            self.rfile.close()
            self.sock.close()


def expected(servers: Servers, text: str) -> list[dict]:
    wanted = text.casefold()
    return [message for message in servers.board() if wanted in message["text"].casefold()][-FOUND:]


def said(servers: Servers) -> None:
    """The messages the searches look through (each with the server's reply), said once per server."""
    if not any(message["text"] == SAID[0][1] for message in servers.board()):
        for author, text in SAID:
            servers.post("/api/messages", {"text": text, "author": author})


def json_of(response: requests.Response, what: str) -> dict:
    """The JSON object ``response`` holds, with a list of "messages"; a Fail naming what it holds instead."""
    try:
        body = response.json()
    except ValueError:
        raise Fail(f"{what} answered {response.status_code} {response.headers.get('Content-Type')}: "
                   f"{response.text[:60]!r}, not JSON", "return a dict from the view, {\"messages\": [...]}: Flask "
                   "sends it as JSON, as send_message's answer") from None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise Fail(f"{what} answered {response.status_code} {json.dumps(body)[:200]}",
                   "answer 200 with {\"messages\": [...]}, each message as GET /api/messages shows it")
    return body


def ids(messages: list[dict]) -> list:
    return [message.get("id") for message in messages]


def server_error(servers: Servers, what: str) -> Fail:
    return Fail(f"{what} answered 500: your server raised {servers.last_error() or 'an error'}",
                "fix that line: the servers' own log (python -m servers) shows the whole traceback")


@check("your servers start, and a message sent over each transport still gets its reply")
def still_chat(student):
    servers = student.servers()
    sent = servers.post("/api/messages", {"text": "How are you?", "author": "check"})
    if sent.status_code != 201:
        raise Fail(f"POST /api/messages answered {sent.status_code}", "the chat must keep working: compare your "
                   "polling_server.py with 'git diff servers/polling_server.py'")
    websocket = WebSocket(servers)
    try:
        answer = websocket.ask({"type": "send", "text": "How are you?", "author": "check"}, ("sent", "error"))
    finally:
        websocket.close()
    if answer["type"] != "sent":
        raise Fail(f'{{"type": "send"}} over the WebSocket got {json.dumps(answer)}',
                   "the chat must keep working: a \"send\" still gets its \"sent\" answer (look at answer())")


@check("POST /api/search finds the messages that contain a text, ignoring case, oldest first")
def search_over_http(student):
    servers = student.servers()
    said(servers)
    response = servers.post("/api/search", {"text": "paris"})
    if response.status_code in (404, 405):
        raise Fail(f"POST /api/search answered {response.status_code}: the polling server has no such route yet",
                   "give it one in polling_server.create_app, the way POST /api/messages has its own (look at the "
                   "add_url_rule lines there), to a function search_messages")
    if response.is_redirect:
        raise Fail(f"POST /api/search answered {response.status_code}, a redirect to "
                   f"{response.headers.get('Location')}", "the route is /api/search exactly, as documented: Flask "
                   "redirects to the route's own spelling (a trailing /, say), and a client that posts (curl without "
                   "-L) gets that redirect instead of the answer")
    if response.status_code == 500:
        raise server_error(servers, "POST /api/search")
    body = json_of(response, "POST /api/search")
    if response.status_code != 200:
        raise Fail(f"POST /api/search answered {response.status_code} {json.dumps(body)[:200]}",
                   "answer 200 with {\"messages\": [...]}, each message as GET /api/messages shows it")
    want = expected(servers, "paris")
    got = body["messages"]
    if got and ids(got) == [m["id"] for m in want if "paris" in m["text"]]:
        raise Fail("the search for \"paris\" missed \"Paris is sunny\" and \"a night in PARIS\"", "ignore case: "
                   "compare text.casefold() with message.text.casefold() (casefold also knows that 'ß' is 'ss')")
    if ids(got) == ids(list(reversed(want))):
        raise Fail("the messages came newest first", "oldest first, as the board keeps them and polling shows them")
    by_author = [m for m in servers.board() if "paris" in m["author"].casefold() and m not in want]
    if by_author and all(m in got for m in by_author):
        raise Fail(f"the search for \"paris\" found {by_author[0]['text']!r}, by {by_author[0]['author']!r}, whose "
                   "text does not contain it", "search the text only, not the author's name")
    if got != want:
        raise Fail(f"the search for \"paris\" answered the ids {ids(got)}; the board's messages that contain it are "
                   f"{ids(want)}", "every kept message whose text contains the search, ignoring case, each one as "
                   "the board stores it (message.to_json())")
    street = servers.found("STRASSE")
    if street != expected(servers, "STRASSE"):
        raise Fail(f"the search for \"STRASSE\" answered the ids {ids(street)}, not "
                   f"{ids(expected(servers, 'STRASSE'))}: \"Grüße aus der Straße\" contains it, ignoring case",
                   "use casefold(), not lower(): 'ß'.lower() is 'ß', 'ß'.casefold() is 'ss'; casefold() is made "
                   "for comparing texts whatever their case")
    for text in ("Straße", "ß"):
        if (got_ := servers.found(text)) != expected(servers, text):
            raise Fail(f"the search for \"{text}\" answered the ids {ids(got_)}, not {ids(expected(servers, text))}: "
                       "\"Straße\" and \"STRASSE GESPERRT\" both contain it, ignoring case", "use casefold() on both "
                       "sides, the search's text and each message's: a lower()ed 'ß' stays 'ß', which no casefolded "
                       "text holds")
    dotted = "i\u0307stanbul"  # what "İstanbul" casefolds to: an i and a combining dot above
    if (got_ := servers.found(dotted)) != expected(servers, dotted):
        raise Fail(f"the search for \"{dotted}\" answered the ids {ids(got_)}, not {ids(expected(servers, dotted))}: "
                   "\"İstanbul, finally\" contains it, ignoring case", "use casefold(): upper() and lower() are made "
                   "for showing a text, casefold() for comparing texts ('İ'.casefold() is this 'i̇')")
    _not_a_pattern(servers)
    return f"\"paris\" found ids {ids(got)} (the messages and the server's replies that quote them); \"STRASSE\" " \
           f"and \"Straße\" found each other, \"i̇stanbul\" \"İstanbul\", \"(\" and \".\" only themselves"


def _not_a_pattern(servers: Servers) -> None:
    """Fail unless "(" and "." are looked for as they are: a regular expression reads them otherwise."""
    hint = ("look for the text as it is (wanted in message.text.casefold()), not as a pattern (re.search): in a "
            "regular expression '(' opens a group and '.' matches any character")
    for text in ("(", "."):
        response = servers.post("/api/search", {"text": text})
        if response.status_code == 500:
            raise Fail(f"the search for \"{text}\" answered 500: your server raised "
                       f"{servers.last_error() or 'an error'}", hint)
        got = json_of(response, f"POST /api/search {{\"text\": \"{text}\"}}")["messages"]
        if got != expected(servers, text):
            raise Fail(f"the search for \"{text}\" answered the ids {ids(got)}, not {ids(expected(servers, text))}",
                       hint)


@check(f"a search answers the newest {FOUND} matches at most: an answer has a bound")
def search_is_bounded(student):
    servers = student.servers()
    for n in range(FOUND):
        servers.post("/api/messages", {"text": f"bounded #{n}", "author": "check"})  # and 20 replies that quote it
    got = servers.found("BOUNDED")
    want = expected(servers, "bounded")
    if len(got) != FOUND or got != want:
        raise Fail(f"a search that matches {2 * FOUND} messages answered {len(got)}: ids {[m['id'] for m in got]}",
                   f"keep the newest {FOUND} (the last ones, a list's [-{FOUND}:]), still oldest first")
    for _ in range(2):
        servers.post("/api/messages", {"text": "see you later", "author": "check"})
    if (got := servers.found("see you later")) != (want := expected(servers, "see you later")):
        raise Fail(f"\"see you later\", posted twice (each with its reply), was found as ids {ids(got)}, not "
                   f"{ids(want)}", "every message whose text contains the search, even two that say the same: each "
                   "is a message of its own, with its own id; keep them all")


@check(f"a search looks through every message the board keeps, not only a page of {PAGE}")
def search_everything(student):
    servers = student.servers()
    haystack = (PAGE + 40 - len(servers.board())) // 2  # messages, each with a reply: the board passes {PAGE}
    with requests.Session() as session:
        for n in range(max(haystack, 0)):
            session.post(f"{servers.polling}/api/messages", json={"text": f"hay #{n}", "author": "check"},
                         timeout=10)
    servers.post("/api/messages", {"text": "a needle", "author": "check"})
    for text, which in (("needle", "the newest two"), ("paris", "among the oldest")):
        got = servers.found(text)
        if got != expected(servers, text):
            raise Fail(f"on a board of {len(servers.board())} messages, the search for \"{text}\" ({which}) "
                       f"answered the ids {ids(got)}", "look through every message the board keeps, board.after(0) "
                       f"without a limit: a page of GET /api/messages holds {PAGE}, a search reads them all")
    return f"found the newest two of {len(servers.board())} messages, and the oldest"


@check("a bad search gets 422 invalid_search over HTTP, and changes nothing")
def bad_search_over_http(student):
    servers = student.servers()
    before = len(servers.board())
    for body in ({"text": ""}, {"text": 42}, {}, {"text": "x" * 101}):
        response = servers.post("/api/search", body)
        if response.status_code == 500:
            raise server_error(servers, f"POST /api/search {json.dumps(body)[:40]}")
        error = response.json().get("error") if response.headers.get("Content-Type") == "application/json" else None
        if (response.status_code, error) != (422, "invalid_search"):
            raise Fail(f"POST /api/search {json.dumps(body)[:40]} answered {response.status_code} {error}",
                       "check the search in the core, as read_new_message checks a message: a \"text\" of 1 to 100 "
                       "characters, else raise BadInput(\"invalid_search\", \"a sentence for humans\"): 422 is what "
                       "the polling server answers for a BadInput")
    for body in ("[]", '"paris"', "42", "null"):  # JSON, but no object
        response = servers.post("/api/search", body)
        if response.status_code == 500:
            raise Fail(f"POST /api/search {body} (JSON, but not an object) answered 500: your server raised "
                       f"{servers.last_error() or 'an error'}", "check that the body is a JSON object before you read "
                       "\"text\" from it, as read_new_message does: BadInput(\"invalid_message\", ...) otherwise")
        error = response.json().get("error") if response.headers.get("Content-Type") == "application/json" else None
        if (response.status_code, error) != (422, "invalid_message"):
            raise Fail(f"POST /api/search {body} (JSON, but not an object) answered {response.status_code} {error}",
                       "a body that is not a JSON object gets 422 invalid_message, as a message's does (check it "
                       "first, as read_new_message does): invalid_search is for a \"text\" that is not 1 to "
                       f"{MAX_SEARCH} characters")
    malformed = servers.post("/api/search", '{"text": "par')
    error = malformed.json().get("error") if malformed.headers.get("Content-Type") == "application/json" else None
    if (malformed.status_code, error) != (400, "malformed_json"):
        raise Fail(f"POST /api/search with a body that is not JSON ('{{\"text\": \"par') answered "
                   f"{malformed.status_code} {error}", "read the body with web.read_json(), as send_message does: it "
                   "refuses what is not JSON with the documented 400 malformed_json (Flask's get_json() does not)")
    for text, hint in (("x" * MAX_SEARCH, f"{MAX_SEARCH} characters are allowed: refuse only a search over "
                                          f"{MAX_SEARCH} (len(text) > {MAX_SEARCH}, not >=)"),
                       ("é" * MAX_SEARCH, "count characters, not bytes: len(text), not len(text.encode()) ('é' is "
                                          "two bytes in UTF-8, one character)"),
                       ("ß" * MAX_SEARCH, "count the characters of the search as it comes, before any casefold(): "
                                          "'ß' casefolds to 'ss', two characters"),
                       ("   ", "spaces are characters too: \"   \" is a search of 3 characters; check the text as "
                              "it comes, without strip()")):
        response = servers.post("/api/search", {"text": text})
        if response.status_code != 200:
            error = response.json().get("error") if response.headers.get("Content-Type") == "application/json" else ""
            raise Fail(f"a search of {len(text)} characters, {text[:3]!r}..., answered {response.status_code} "
                       f"{error}", hint)
    spaces = servers.found("   ")
    if spaces != expected(servers, "   "):
        raise Fail(f"the search for \"   \" (three spaces) answered the ids {ids(spaces)}, not "
                   f"{ids(expected(servers, '   '))}", "look for the search as it is, spaces and all, without "
                   "strip(): \"   \" is found only in a text that holds three spaces in a row")
    if len(servers.board()) != before:
        raise Fail("a search changed the board", "a search only reads the board")


@check('{"type": "search"} over a WebSocket answers {"type": "found"} with what POST /api/search answers')
def search_over_websocket(student):
    servers = student.servers()
    said(servers)
    websocket = WebSocket(servers)
    try:
        servers.post("/api/messages", {"text": "Paris, pushed while you ask", "author": "check"})
        answer = websocket.ask({"type": "search", "text": "paris"})
        if answer["type"] == "error" and answer.get("error") == "unknown_type":
            raise Fail('the WebSocket server answered {"type": "search"} with the error unknown_type',
                       "answer() in websocket_server.py refuses every type but \"send\": let \"search\" through to a "
                       "search_messages(chat, request_) of its own, as \"send\" goes to send_message")
        if answer["type"] == "error":
            raise Fail(f"the WebSocket server answered {json.dumps(answer)}", "a good search gets "
                       "{\"type\": \"found\", \"messages\": [...]}")
        fresh = expected(servers, "paris")
        missed = [message for message in fresh if message not in (answer.get("messages") or [])]
        if missed and missed[-1] == fresh[-1]:  # the newest match, posted since the last search
            raise Fail(f"over the WebSocket the search for \"paris\" found ids {ids(answer.get('messages') or [])}, "
                       f"not {ids(fresh)}: it missed {missed[0]['text']!r}, posted since the last search",
                       "search the board as it is now, every time: an answer kept from an earlier search (a cache) "
                       "misses what was posted since")
        over_http = servers.found("paris")
        if over_http != fresh:
            raise Fail(f"over HTTP the search for \"paris\" found ids {ids(over_http)}, not {ids(fresh)}",
                       "search the board as it is now, every time: keep no answers from an earlier search")
        if answer.get("messages") != over_http:
            raise Fail(f"over the WebSocket the search found ids {[m.get('id') for m in answer.get('messages', [])]}, "
                       f"over HTTP {[m['id'] for m in over_http]}", "both transports call the same Chat.search and "
                       "send its messages as they are (message.to_json())")
        for text in ("", "x" * (MAX_SEARCH + 1), 42):
            bad = websocket.ask({"type": "search", "text": text})
            if bad.get("error") != "invalid_search":
                raise Fail(f'{{"type": "search", "text": {json.dumps(text)[:12]}}} got {json.dumps(bad)[:120]}',
                           "check the search as POST /api/search does: search_messages calls read_search(request_), "
                           "inside answer()'s try, so the core's BadInput(\"invalid_search\", ...) reaches the client "
                           "as {\"type\": \"error\", ...}")
        again = websocket.ask({"type": "send", "text": "still here?", "author": "check"}, ("sent", "error"))
        if again["type"] != "sent":
            raise Fail(f"after a bad search, a send got {json.dumps(again)}", "the connection must go on")
    finally:
        websocket.close()
    return "the answer came among the pushed messages: on a WebSocket an answer is one more frame"


@check("diff servers/polling_server.py servers/websocket_server.py still shows only the transport")
def only_transport(student):
    root = student.root / "servers"
    trees = {name: ast.parse((root / name).read_text(encoding="utf-8")) for name in
             ("polling_server.py", "websocket_server.py", "chat.py")}
    functions = {name: [node for node in tree.body if isinstance(node, ast.FunctionDef)]
                 for name, tree in trees.items() if name != "chat.py"}
    names = {name: [node.name for node in nodes] for name, nodes in functions.items()}
    for name, found in names.items():
        if "search_messages" not in found:
            raise Fail(f"{name} has no function search_messages", "give the feature the same name in both files, "
                       "as send_message and read_messages have: that is what lets diff line them up")
    polling, websocket = names["polling_server.py"], names["websocket_server.py"]
    shared = [[name for name in mine if name in other] for mine, other in ((polling, websocket), (websocket, polling))]
    if shared[0] != shared[1]:
        raise Fail(f"the functions both files have come in another order: polling_server.py {shared[0]}, "
                   f"websocket_server.py {shared[1]}", "put search_messages at the same place in both files (right "
                   "after send_message, say), so that diff shows the two side by side")
    for name, nodes in functions.items():
        feature = next(node for node in nodes if node.name == "search_messages")
        body = feature.body[1:] if ast.get_docstring(feature) else feature.body
        length = body[-1].end_lineno - body[0].lineno + 1
        if length > LONGEST:
            raise Fail(f"search_messages in {name} is {length} lines long", f"a transport only translates: read "
                       f"the request, call chat.search, write the answer ({LONGEST} lines at most); the searching "
                       "belongs in chat.py, once")
        callers = [node.name for node in nodes if _calls_search(node)]
        if callers != ["search_messages"]:
            raise Fail(f"in {name}, {'only ' + ', '.join(callers) if callers else 'no function'} calls the core's "
                       "search", "do the searching once, in Chat.search (chat.py), and call it from search_messages "
                       "in both files, and from nowhere else: each transport only reads the request and writes "
                       "the answer")
    chat = next((node for node in trees["chat.py"].body if isinstance(node, ast.ClassDef) and node.name == "Chat"),
                None)
    search = next((node for node in (chat.body if chat else []) if isinstance(node, ast.FunctionDef)
                   and node.name == "search"), None)
    if search is None:
        raise Fail("chat.py's Chat has no method search", "the core does the searching: add Chat.search(self, text), "
                   "so that both transports call the same one")
    private = [node for node in ast.walk(search) if isinstance(node, ast.Attribute) and node.attr.startswith("_")
               and not node.attr.startswith("__") and ast.unparse(node.value) != "self"]
    if private:
        raise Fail(f"Chat.search reads {ast.unparse(private[0])} (chat.py, line {private[0].lineno}), another "
                   "object's private attribute", "use the board's own methods, self.board.after(0): the board under "
                   "--redis is another class, which keeps its messages in Redis and has no such attribute")
    sources = [ast.get_source_segment((root / name).read_text(encoding="utf-8"),
                                      next(n for n in functions[name] if n.name == "search_messages")).splitlines()
               for name in ("polling_server.py", "websocket_server.py")]
    shown = difflib.unified_diff(*sources, "polling_server.py", "websocket_server.py", lineterm="", n=0)
    return "what differs between your two search_messages, the transport:\n" + "\n".join(list(shown)[2:])


def _calls_search(function: ast.FunctionDef) -> bool:
    """Whether ``function`` calls the core's search: ``chat.search(...)`` (re.search and others are not it)."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "search"
               and "chat" in ast.unparse(node.func.value).casefold() for node in ast.walk(function))


CHECKS = [still_chat, search_over_http, search_is_bounded, search_everything, bad_search_over_http,
          search_over_websocket, only_transport]
