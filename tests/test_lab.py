"""The lab's measuring clients: one protocol per transport, the bytes of the clients they stand for, the same
deliveries on threads and on asyncio, reads that time out lose nothing, and a held long poll cut at once."""

import asyncio
import itertools
import socket
import threading
import time

import pytest
import requests
import websocket as websocket_client  # the websocket-client package

from clients import wire
from clients.lab import async_listeners, listeners
from clients.lab.protocol import PollingProtocol
from servers import polling_server, websocket_server
from servers.chat import SERVER
from servers.serving import RunningServer


def first_request(send) -> bytes:
    """The bytes a client writes first to a server that reads one request head and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    got = []

    def read() -> None:
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as stream:  # lines up to the blank one that ends the head
            got.append(b"".join(itertools.takewhile(lambda line: line != b"\r\n", stream)) + b"\r\n")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        send(f"127.0.0.1:{server.getsockname()[1]}")
    except (OSError, requests.RequestException, websocket_client.WebSocketException):
        pass  # the server hung up without answering
    reader.join(5)
    server.close()
    return got[0]


@pytest.mark.parametrize("interval", [None, 0.1], ids=["long", "short"])
def test_a_poll_costs_the_bytes_it_costs_requests(interval):
    """The figures measured with the poller are the command-line client's: it writes what requests writes."""
    params = {"after": 7} if interval else {"after": 7, "wait": 25}
    theirs = first_request(lambda host: requests.get(f"http://{host}/api/messages", params=params, timeout=1))
    ours = first_request(lambda host: listeners.Poller(f"http://{host}", interval, after=7).poll())
    assert ours == theirs.replace(theirs.split(b"\r\n")[1], ours.split(b"\r\n")[1])  # the same but the Host's port


def test_a_handshake_with_an_origin_is_as_long_as_websocket_clients():
    """The reply and push measurements send an Origin, so their handshake bytes are what websocket-client's were."""
    theirs = first_request(lambda host: websocket_client.create_connection(f"ws://{host}/ws?after=5", timeout=1))
    ours = first_request(lambda host: listeners.WebSocketListener(f"ws://{host}/ws", after=5,
                                                                  origin=f"http://{host}").connect())
    def fields(request: bytes) -> dict:
        return dict(line.split(b": ", 1) for line in request.split(b"\r\n")[1:] if line)

    assert len(ours) == len(theirs) and fields(ours).keys() == fields(theirs).keys()  # in another order


def test_the_short_poll_schedule_skips_the_ticks_it_missed():
    """Like a page's setInterval: one interval after the last poll's tick, or the first tick still ahead."""
    poller = PollingProtocol("http://127.0.0.1:1", 0.1)
    assert poller.next_poll(1.0, 1.05) == pytest.approx(1.1)
    assert poller.next_poll(1.0, 1.35) == pytest.approx(1.4)  # 1.1, 1.2 and 1.3 were missed


def test_a_read_that_times_out_loses_nothing():
    """A frame that comes in two pieces, the second after the reader gave up waiting: the next read has it."""
    server = socket.create_server(("127.0.0.1", 0))
    connection = listeners.Connection("127.0.0.1", server.getsockname()[1])
    peer, _ = server.accept()
    frame = wire.build_frame(wire.TEXT, b"x" * 300)
    with peer, server:
        peer.sendall(frame[:3])
        with pytest.raises(TimeoutError):
            connection.frame(listeners.deadline_in(0.05))
        peer.sendall(frame[3:])
        assert connection.frame(listeners.deadline_in(5)).payload == b"x" * 300
    connection.close()


def test_closing_a_poller_cuts_the_long_poll_the_server_holds(watched_chat):
    """As a closing browser tab does (the diagrams show it): at once, not after the server's wait."""
    with RunningServer(polling_server.create_app(watched_chat)) as polling:
        poller = listeners.Poller(polling.url, after=0).start()  # asks the server to wait LONG_POLL_WAIT
        assert watched_chat.board.waiters.acquire(timeout=5)  # the server holds the request
        started = time.monotonic()
        poller.close()
        closed_in = time.monotonic() - started
        watched_chat.send("bob", "news")  # lets the server's thread go, rather than hold a closed request 25 s
    assert closed_in < 1 and poller.ended and poller.error is None


def follow_in_both_flavours(of, holds_all, act=lambda: None) -> dict:
    """{name: (threaded, on asyncio)}: the clients ``of(module)`` makes of each module's kind, every one following
    the board until ``holds_all(client)`` (5 s at most); ``act()`` runs once all of them are connected."""
    threaded = {name: client.start() for name, client in of(listeners).items()}

    async def follow() -> dict:
        clients = of(async_listeners)
        for client in clients.values():
            await client.connect()
            client.start()
        act()
        deadline = time.monotonic() + 5
        while not all(holds_all(client) for client in clients.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for client in clients.values():
            await client.close()
        return clients

    flavoured = asyncio.run(follow())
    for client in threaded.values():
        client.wait_until(lambda client=client: holds_all(client), 5)
        client.close()
    return {name: (threaded[name], flavoured[name]) for name in threaded}


def test_threads_and_asyncio_get_the_same_messages(twins):
    """The two flavours of each client follow one board: each holds every message once, in order."""
    chat, after = twins.chat, twins.chat.board.last_id
    urls = {"polling": twins.polling.url, "websocket": f"{twins.ws_url}/ws", "sse": twins.polling.url}

    def of(module):
        return {"polling": module.Poller(urls["polling"], after=after),
                "websocket": module.WebSocketListener(urls["websocket"], after=after),
                "sse": module.EventStream(urls["sse"], after=after)}

    followed = follow_in_both_flavours(of, lambda client: client.last_id >= after + 3,
                                       lambda: [chat.board.post(SERVER, f"news {n}") for n in range(3)])
    for name, both in followed.items():
        ids = [[arrival.message["id"] for arrival in client.received] for client in both]
        assert ids[0] == ids[1] == list(range(after + 1, after + 4)), name


def test_a_client_that_names_its_board_reads_a_new_board_from_its_first_message(twins):
    """A client resumes after id 6 of a board that is gone (the server restarted), and the new board already holds
    8 messages: naming the board its id belongs to, it is told, takes the new board as its own and reads it from
    its first message, in both flavours (servers/README.md, "The board's identity"). Naming none, it would skip
    ids 1 to 6."""
    for n in range(4):
        twins.chat.send("bob", f"on the new board #{n}")  # ids 1 to 8
    urls = {"polling": twins.polling.url, "websocket": f"{twins.ws_url}/ws", "sse": twins.polling.url}

    def of(module):
        return {"polling": module.Poller(urls["polling"], after=6, board="a-board-gone", wait=1),
                "websocket": module.WebSocketListener(urls["websocket"], after=6, board="a-board-gone"),
                "sse": module.EventStream(urls["sse"], after=6, board="a-board-gone")}

    for name, both in follow_in_both_flavours(of, lambda client: client.last_id >= 8).items():
        for client in both:
            assert [arrival.message["id"] for arrival in client.received] == list(range(1, 9)), name
            assert client.board == twins.chat.board.identity, name


def test_a_websocket_client_answers_pings_in_both_flavours(chat):
    """The idle cost of a pinged WebSocket counts a ping and its pong; a ping left unanswered for a whole
    interval would have the server close the connection."""
    with RunningServer(websocket_server.create_app(chat, ping_interval=0.05)) as pinging:
        url = pinging.url.replace("http", "ws", 1) + "/ws"
        threaded = listeners.WebSocketListener(url).start()

        async def listen() -> bool:
            client = await async_listeners.WebSocketListener(url).connect()
            client.start()
            await asyncio.sleep(0.4)  # eight pings
            still_open = client.closed_by_server is None and not client.task.done()
            await client.close()
            return still_open

        assert asyncio.run(listen())
        assert threaded.closed_by_server is None and not threaded.ended
        threaded.close()
