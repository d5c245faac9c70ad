// The side-by-side page: one board, two clients in one page. The left column polls the server that served this
// page (or, switched, holds a Server-Sent Events stream from it); the right column keeps a WebSocket open to its
// twin. Everything shown is measured here, in this run.
"use strict";

const INTERVALS = [100, 200, 500, 1000, 2000, 5000];  // ms between short polls: the slider's steps
const LONG_WAIT = 25;  // s the server may hold a long poll (it allows up to 30)
const BURST = 20;  // messages in one burst
const TICKER_EVERY = 1;  // s between server-originated events while the ticker runs
const WINDOW = 10;  // s of history on the timeline
const PLOTTED = 120;  // latencies on the plot, most recent last
const LISTED = 40;  // messages kept in each column's list
const DRAW_EVERY = 100;  // ms between redraws of the timeline and the plot
const BACKOFF = [250, 8000];  // ms before the first reconnection, and the longest wait
const SYNC_SAMPLES = 60;  // round trips (one a second) the clock-offset estimate chooses from
const AUTHOR = "side-by-side page";
const LOG_RANGE = [-1, 4];  // plot's y axis: 10^-1 ms to 10^4 ms
const RESTARTED = "the server restarted with an empty board: starting again from its first message";

const now = () => performance.timeOrigin + performance.now();  // the page's clock, ms since the epoch
const utf8 = (text) => new TextEncoder().encode(text).length;
const byId = (id) => document.getElementById(id);
const randomId = (name) => name + "-" + Array.from(crypto.getRandomValues(new Uint8Array(6)),
                                                  (b) => b.toString(16).padStart(2, "0")).join("");

// Clock offset, NTP style: the server's time was read somewhere inside the round trip, so assume halfway; the
// shortest round trip bounds the error best (by half its length).
const clock = {offset: null, uncertainty: null, samples: []};
function syncSample(sent, received, serverTime) {
  clock.samples = [...clock.samples, {rtt: received - sent, offset: serverTime * 1000 - (sent + received) / 2}]
    .slice(-SYNC_SAMPLES);
  const best = clock.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
  clock.offset = best.offset;
  clock.uncertainty = best.rtt / 2;
}

const toPage = (serverMs) => serverMs - clock.offset;  // a server stamp on the page's clock

function percentile(sorted, p) {  // nearest rank: always a measured value (numpy, in clients/bench, interpolates)
  return sorted.length ? sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] : null;
}
function ms(value) {
  if (value === null || value === undefined) return "–";
  if (Math.abs(value) >= 1000) return (value / 1000).toFixed(2) + " s";
  return value.toFixed(Math.abs(value) < 10 ? 1 : 0) + " ms";
}
const count = (value) => (value === undefined ? "–" : value.toLocaleString("en"));

class Column {
  constructor(kind, title, ticksAre) {
    this.root = byId(kind);
    this.root.append(byId("column").content.cloneNode(true));
    this.find("window").textContent = WINDOW;
    this.lastId = 0;
    this.board = "";  // the identity of the board lastId belongs to: every request names it
    this.reset(kind, title, ticksAre);
  }

  // A column measures one transport: switched to another, its figures start again, from the last id it has shown.
  reset(kind, title, ticksAre) {
    this.kind = kind;
    this.client = randomId(kind);  // the servers bill this column's requests to this id
    this.root.className = `column ${kind}`;
    this.colour = getComputedStyle(this.root).borderTopColor;
    this.find("title").textContent = title;
    this.find("ticks-are").textContent = ticksAre;
    this.samples = [];  // {shownAt, stored}: page clock, and the server's stamp (its clock), both in ms
    this.events = [];  // {t, type: "tick"} or {t, type: "dot", stored}
    this.startId = this.lastId;  // ids startId+1..lastId of the current board have gone by
    this.shown = 0;
    this.covered = 0;  // ids that went by on boards since replaced (a restarted server starts an empty one)
    this.restarts = 0;
    this.server = {};  // this client's figures as the server counted them
    this.rows = {};
    this.find("figures").tBodies[0].replaceChildren();
  }

  find(name) { return this.root.querySelector("." + name); }

  say(text, bad = false) {
    const state = this.find("state");
    state.textContent = text;
    state.classList.toggle("bad", bad);
  }

  start(lastId, board) {
    this.startId = this.lastId = lastId;
    this.board = board;
  }

  // The server no longer keeps the oldest messages after our cursor: every transport says how many (missed.count).
  missed(count) { this.say(`${count} older messages are no longer kept`, true); }

  // A server restarted without its messages numbers them from 1 again: our cursor would skip every id up to the old
  // one, even once the new board's ids have passed it. Every request names our board; a server whose board is another
  // one names its own and sends from its first message: start over there.
  restarted(board) {
    this.covered += this.lastId - this.startId;
    this.startId = this.lastId = 0;
    this.board = board;
    this.restarts += 1;
    this.say(RESTARTED, true);
    this.show(RESTARTED, "notice");
  }

  missing() { return this.covered + this.lastId - this.startId - this.shown; }

  show(text, className, author) {  // a line at the top of the list: text, never HTML
    const item = document.createElement("li");
    if (author) item.append(Object.assign(document.createElement("b"), {textContent: author + ": "}));
    item.append(text);
    item.className = className;
    const list = this.find("messages");
    list.prepend(item);  // newest on top: no scrolling, so no extra layout work per message
    while (list.children.length > LISTED) list.lastChild.remove();
    return item;
  }

  receive(message) {  // one message delivered by this column's transport
    if (message.id <= this.lastId) return;  // already shown (resumed or overlapping requests)
    this.show(message.text, "message", message.author).dataset.id = message.id;
    const shownAt = now();  // on screen now: the DOM holds it
    this.lastId = message.id;
    this.shown += 1;
    this.samples.push({shownAt, stored: message.time * 1000});
    this.events.push({t: shownAt, type: "dot", stored: message.time * 1000});
  }

  // Every latency is worked out with the current clock offset, so all of them share its one error bound (the ± shown)
  // and improve as the estimate does.
  get latencies() { return this.samples.map((s) => s.shownAt - toPage(s.stored)); }

  tick() { this.events.push({t: now(), type: "tick"}); }

  row(name, value, how) {  // one line of the figures table, created on first use
    if (!this.rows[name]) {
      const tr = this.find("figures").tBodies[0].insertRow();
      tr.dataset.figure = name;
      this.rows[name] = [tr.insertCell(), tr.insertCell(), tr.insertCell()];
    }
    const [label, cell, note] = this.rows[name];
    label.textContent = name;
    cell.textContent = value;
    note.textContent = how;
  }

  showFigures(requests, perMessage, extra) {  // the rows both columns have, named for what they count, then extra
    const sorted = [...this.latencies].sort((a, b) => a - b);
    this.find("median").textContent = ms(percentile(sorted, 0.5));
    this.find("p90").textContent = ms(percentile(sorted, 0.9));
    this.find("sync").textContent = ms(clock.uncertainty);
    const board = this.restarts ? ` of the new board (server restarted ${this.restarts}×)` : "";
    const ids = this.lastId > this.startId ? `ids ${this.startId + 1}–${this.lastId}${board}` : "none yet";
    this.row("messages shown", count(this.shown), `${ids}, missing: ${this.missing()}`);
    this.row("latency p99", ms(percentile(sorted, 0.99)),
             `estimate ± ${ms(clock.uncertainty)}, nearest-rank percentile, n = ${sorted.length}`);
    this.row(requests, count(this.server.requests), "exact, counted by the server");
    this.row("TCP connections opened", count(this.server.connections), "exact, counted by the server");
    this.row("bytes page → server", count(this.server.bytes_from_client), "exact, on the wire (TCP payload)");
    this.row("bytes server → page", count(this.server.bytes_to_client), "exact, on the wire (TCP payload)");
    const total = this.server.bytes_from_client + this.server.bytes_to_client;
    this.row("bytes per message shown", this.shown ? count(Math.round(total / this.shown)) : "–", perMessage);
    for (const [name, value, how] of extra) this.row(name, value, how);
  }

  drawTimeline() {
    const [ctx, w, h] = canvas(this.find("timeline")), t0 = now() - WINDOW * 1000;
    const x = (t) => ((t - t0) / (WINDOW * 1000)) * w;
    this.events = this.events.filter((e) => e.t >= t0);
    ctx.strokeStyle = "#e5e7eb";
    for (let s = Math.ceil(t0 / 1000) * 1000; s < t0 + WINDOW * 1000; s += 1000) line(ctx, x(s), 0, x(s), h);
    ctx.strokeStyle = ctx.fillStyle = this.colour;
    for (const e of this.events) {
      if (e.type === "tick") {
        line(ctx, x(e.t), h * 0.1, x(e.t), h * 0.45);
      } else {
        ctx.globalAlpha = 0.35;
        line(ctx, Math.max(0, x(toPage(e.stored))), h * 0.72, x(e.t), h * 0.72);
        ctx.globalAlpha = 1;
        ctx.beginPath();
        ctx.arc(x(e.t), h * 0.72, 4, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }

  drawPlot() {
    const [ctx, w, h] = canvas(this.find("plot")), [low, high] = LOG_RANGE, pad = 46;
    const y = (value) => h - 6 - ((Math.log10(Math.max(value, 10 ** low)) - low) / (high - low)) * (h - 12);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#6b7280";
    for (let p = low; p <= high; p++) {
      ctx.strokeStyle = "#e5e7eb";
      line(ctx, pad, y(10 ** p), w, y(10 ** p));
      ctx.fillText(p < 3 ? `${10 ** p} ms` : `${10 ** (p - 3)} s`, 2, y(10 ** p) + 4);
    }
    const recent = this.latencies.slice(-PLOTTED), step = (w - pad - 8) / PLOTTED;
    ctx.fillStyle = this.colour;
    recent.forEach((value, i) => ctx.fillRect(pad + 4 + (PLOTTED - recent.length + i) * step, y(value) - 2, 4, 4));
  }
}

function canvas(element) {  // a crisp canvas at the screen's pixel density
  const ratio = window.devicePixelRatio || 1, w = element.clientWidth, h = element.clientHeight;
  if (element.width !== Math.round(w * ratio)) [element.width, element.height] = [w * ratio, h * ratio];
  const ctx = element.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.lineWidth = 1.5;
  return [ctx, w, h];
}
function line(ctx, x1, y1, x2, y2) { ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke(); }

// ---- the left column, polling: ask, show, wait, ask again ----
const polling = new Column("polling", "HTTP polling", "a tick is a request");  // or Server-Sent Events, switched
const poller = {interval: INTERVALS[3], long: false, wake: () => {}, abort: new AbortController(),
                polls: 0, empty: 0, failed: 0, run: 0};
const poster = {client: randomId("posts"), sends: 0, server: {}};  // sends "through polling": POST requests

async function pollForever() {
  const run = ++poller.run;  // a switch to Server-Sent Events ends this loop (stopPolling)
  let failed = false;
  while (run === poller.run) {
    const long = poller.long && !failed;  // after a failure, ask once without waiting
    const after = polling.lastId, named = polling.board;
    failed = false;
    polling.tick();
    poller.polls += 1;
    polling.say(poller.long ? `long polling: the server holds each request until there is news (at most ${LONG_WAIT} s)`
                     : `short polling: a new request ${poller.interval} ms after each answer`);
    try {
      poller.abort = new AbortController();
      const wait = long ? `&wait=${LONG_WAIT}` : "";
      const response = await fetch(`/api/messages?after=${after}&board=${named}&client=${polling.client}${wait}`,
                                   {signal: poller.abort.signal});
      const body = await response.json();
      if (!response.ok) throw new Error(body.message);
      if (body.board !== undefined && body.board !== polling.board) polling.restarted(body.board);  // from its first
      if (body.missed) polling.missed(body.missed.count);
      if (!body.messages.length) poller.empty += 1;
      body.messages.forEach((message) => polling.receive(message));
    } catch (error) {
      failed = error.name !== "AbortError";  // aborted: the mode changed, ask again at once
      poller.failed += failed;
      if (failed) polling.say(`server unreachable (${error.message}): asking again in ${poller.interval} ms`, true);
    }
    if (!(long || poller.long) || failed) await new Promise((resolve) => { poller.wake = resolve; setTimeout(resolve, poller.interval); });
  }
}

function stopPolling() {
  poller.run += 1;
  poller.abort.abort();  // a held long poll is given up
  poller.wake();
}

// ---- the left column, switched to Server-Sent Events: one GET, and the server writes every message into it ----
const streamer = {source: null, backoff: BACKOFF[0], opened: 0, lost: 0, received: 0};

function stream() {
  const source = streamer.source = new EventSource(
    `/api/events?after=${polling.lastId}&board=${polling.board}&client=${polling.client}`);
  polling.say(`connecting, resuming after id ${polling.lastId}`);
  source.onopen = () => {
    streamer.opened += 1;
    streamer.backoff = BACKOFF[0];
    polling.tick();
    polling.say("connected: the server writes each message into one long response");
  };
  source.onmessage = (event) => {
    streamer.received += 1;
    polling.receive(JSON.parse(event.data));
  };
  source.addEventListener("board", (event) => {  // not our board: the server restarted, and sends from its first
    polling.restarted(JSON.parse(event.data).board);
    source.close();  // the browser's own reconnections would name the old board: a new stream names the new one
    stream();
  });
  source.addEventListener("missed", (event) => polling.missed(JSON.parse(event.data).count));
  source.onerror = () => {
    if (streamer.source !== source) return;
    if (source.readyState === EventSource.CONNECTING) {  // the browser reconnects by itself, with Last-Event-ID
      streamer.lost += 1;
      return polling.say("stream lost: the browser reconnects by itself", true);
    }
    source.close();  // an answer that is not a stream (a 503): EventSource gives up, so we try again ourselves
    const wait = nextWait(streamer);
    polling.say(`the server refused the stream: trying again in ${wait} ms`, true);
    setTimeout(() => { if (streamer.source === source) stream(); }, wait);
  };
}

function stopStreaming() {
  streamer.source?.close();
  streamer.source = null;
}

function switchLeft(kind) {  // the left column's transport: polling, or Server-Sent Events
  const sse = kind === "sse";
  for (const input of [byId("interval"), ...document.querySelectorAll("input[name=mode]")]) input.disabled = sse;
  if (sse) {
    stopPolling();
    polling.reset("sse", "Server-Sent Events", "a tick is a stream opened");
    stream();
  } else {
    stopStreaming();
    polling.reset("polling", "HTTP polling", "a tick is a request");
    setPollInterval(byId("interval").value);
    pollForever();
  }
}

// ---- the WebSocket column: connect once, then the server pushes ----
const websocket = new Column("websocket", "WebSocket", "a tick is a connection attempt");
const pusher = {socket: null, url: null, backoff: BACKOFF[0], closedByPage: false, opened: 0, lost: 0,
                frames: [0, 0], payload: [0, 0], sends: 0};

function connect() {
  if (pusher.closedByPage) return;
  const socket = pusher.socket = new WebSocket(
    `${pusher.url}?after=${websocket.lastId}&board=${websocket.board}&client=${websocket.client}`);
  websocket.tick();
  websocket.say(`connecting, resuming after id ${websocket.lastId}`);
  socket.onopen = () => {
    pusher.opened += 1;
    pusher.backoff = BACKOFF[0];
    websocket.say(`connected; compression: ${socket.extensions.split(";")[0] || "none"}`);
  };
  socket.onmessage = (event) => {
    pusher.frames[1] += 1;
    pusher.payload[1] += utf8(event.data);
    const data = JSON.parse(event.data);
    if (data.type === "board") websocket.restarted(data.board);  // not our board: it sends from its first message
    if (data.type === "message") websocket.receive(data.message);
    if (data.type === "error") websocket.say(data.message, true);
    if (data.type === "missed") websocket.missed(data.missed.count);
  };
  socket.onclose = (event) => {
    if (pusher.closedByPage) {
      websocket.say(`closed by this page: code ${event.code}, clean: ${event.wasClean}`);
      return;
    }
    pusher.lost += 1;
    retry(`connection lost (code ${event.code})`);
  };
}

// Each failure doubles the bound of the wait, so a restarting server is not flooded with attempts; the wait itself is
// a random time below the bound (jitter), so a class of thirty pages that lost the server together does not come back
// at one instant, again and again. The command-line clients do the same (clients/backoff.py).
function nextWait(state) {  // ms, for the attempt about to be made; state.backoff is the bound, doubled each time
  const wait = Math.round(Math.random() * state.backoff);
  state.backoff = Math.min(state.backoff * 2, BACKOFF[1]);
  return wait;
}

function retry(why) {
  const wait = nextWait(pusher);
  websocket.say(`${why}: reconnecting in ${wait} ms`, true);
  setTimeout(connect, wait);
}

function closeOrReopen() {
  pusher.closedByPage = !pusher.closedByPage;
  byId("close").textContent = pusher.closedByPage ? "Reopen the WebSocket" : "Close the WebSocket";
  if (!pusher.closedByPage) return connect();
  if (pusher.socket.readyState === WebSocket.CLOSED) websocket.say("closed by this page while reconnecting");
  pusher.socket.close(1000, "closed by the page");  // 1000: normal closure
}

// ---- the controls ----
async function send(text) {
  if (byId("via").value === "websocket") {
    if (pusher.socket.readyState !== WebSocket.OPEN) return websocket.say("not connected: message not sent", true);
    const frame = JSON.stringify({type: "send", text, author: AUTHOR});
    pusher.frames[0] += 1;
    pusher.sends += 1;
    pusher.payload[0] += utf8(frame);
    pusher.socket.send(frame);
    return;
  }
  poster.sends += 1;
  try {  // billed to an id of their own: the polling column's figures are the cost of polling alone
    const response = await fetch(`/api/messages?client=${poster.client}`, {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({text, author: AUTHOR})});
    if (!response.ok) polling.say((await response.json()).message, true);
  } catch (error) {
    polling.say(`message not sent: ${error.message}`, true);
  }
}

function setPollInterval(index) {
  poller.interval = INTERVALS[index];
  byId("interval-shown").textContent = ms(poller.interval);
  if (polling.kind !== "polling") return;
  polling.find("title").textContent = poller.long ? "HTTP long polling" : `HTTP short polling, every ${ms(poller.interval)}`;
  poller.wake();
}

function setMode(mode) {
  const wasLong = poller.long;
  poller.long = mode === "long";
  if (wasLong && !poller.long) poller.abort.abort();  // stop waiting on the server
  setPollInterval(byId("interval").value);
}

async function toggleTicker() {
  const running = byId("ticker").dataset.running === "yes";
  const response = await fetch("/api/ticker", {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify({interval: running ? null : TICKER_EVERY})});
  const body = await response.json();
  if (!response.ok) return byId("ticker").title = body.message;  // another machine's page: only the teacher's may
  showTicker(body.ticker);
}
function showTicker(interval) {
  byId("ticker").dataset.running = interval ? "yes" : "no";
  byId("ticker").textContent = interval ? `Stop the server ticker (every ${interval} s)` : "Start the server ticker";
}

// ---- read-outs: the server's counts and clock, every second; figures and drawings, continuously ----
async function status() {
  const sent = now();
  const response = await fetch(`/api/status?clients=${polling.client},${websocket.client},${poster.client}`);
  const received = now();  // the answer has arrived; reading its body is not part of the round trip
  const body = await response.json();
  syncSample(sent, received, body.time);
  polling.server = body.clients[polling.client] || {};
  websocket.server = body.clients[websocket.client] || {};
  poster.server = body.clients[poster.client] || {};
  showTicker(body.ticker);
  return body;
}

function showFigures() {
  const posts = poster.server;
  const sends = [
    ["sends through polling (POST)", count(poster.sends),
     `counted by the page; the server counted ${count(posts.requests)} requests, billed apart from the ` +
     (polling.kind === "sse" ? "stream" : "polls")],
    ["their bytes → / ← server", `${count(posts.bytes_from_client)} / ${count(posts.bytes_to_client)}`,
     "exact, on the wire; not in the rows above"]];
  if (polling.kind === "sse") {
    polling.showFigures("requests made (streams)", "both ways ÷ messages shown; sends are billed apart, below", [
      ["streams opened / lost", `${count(streamer.opened)} / ${count(streamer.lost)}`,
       "counted by the page; the browser reopens a lost stream by itself"],
      ["events received", count(streamer.received), "counted by the page"], ...sends]);
  } else {
    polling.showFigures("polls made (requests)", "polls both ways ÷ messages shown; sends are billed apart, below", [
      ["polls that brought nothing", count(poller.empty),
       `of ${count(poller.polls)} polls (${count(poller.failed)} failed), counted by the page`], ...sends]);
  }
  websocket.showFigures("requests made (handshakes)", `both ways ÷ messages shown; includes the ${count(pusher.sends)} sends below ` +
                        `and their "sent" answers (one connection carries everything)`, [
    ["sends through the WebSocket", count(pusher.sends), "counted by the page; their frames are in the rows above"],
    ["connections opened / lost", `${count(pusher.opened)} / ${count(pusher.lost)}`, "counted by the page"],
    ["frames sent / received", `${count(pusher.frames[0])} / ${count(pusher.frames[1])}`, "counted by the page"],
    ["payload sent / received", `${count(pusher.payload[0])} / ${count(pusher.payload[1])}`,
     "bytes of JSON before compression, counted by the page"]]);
  const sign = clock.offset > 0 ? "+" : "";
  byId("sync").textContent = clock.offset === null ? "" : `right now: server clock − page clock = ${sign}${ms(clock.offset)}` +
    ` ± ${ms(clock.uncertainty)}, best of the last ${clock.samples.length} round trips.`;
}

function draw() {  // a few frames a second: smooth enough, and leaves the page free to handle messages at once
  for (const column of [polling, websocket]) { column.drawTimeline(); column.drawPlot(); }
}

async function start() {
  let first;
  for (let i = 0; i < 10; i++) first = await status();  // a few round trips before the first estimate
  polling.start(first.last_id, first.board);  // both columns show the same stream: everything after this id
  websocket.start(first.last_id, first.board);
  byId("burst-size").textContent = BURST;
  setPollInterval(byId("interval").value);
  pollForever();
  if (first.twin_port) {
    pusher.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.hostname}:${first.twin_port}/ws`;  // wss under TLS
    connect();
  } else {
    websocket.say("this server was started without a WebSocket twin (python -m servers starts both)", true);
  }
  setInterval(() => status().catch(() => {}), 1000);
  setInterval(showFigures, 250);
  setInterval(draw, DRAW_EVERY);
  showFigures();
}

byId("send").onsubmit = (event) => { event.preventDefault(); if (byId("text").value) send(byId("text").value); };
byId("burst").onclick = async () => { for (let i = 1; i <= BURST; i++) await send(`burst ${i} of ${BURST}`); };
byId("interval").oninput = (event) => setPollInterval(event.target.value);
for (const radio of document.querySelectorAll("input[name=mode]")) radio.onchange = () => setMode(radio.value);
byId("ticker").onclick = toggleTicker;
byId("close").onclick = closeOrReopen;
byId("left").onchange = (event) => switchLeft(event.target.value);
window.addEventListener("pagehide", () => {
  pusher.closedByPage = true;
  pusher.socket?.close(1000, "page left");
  stopStreaming();
});
window.sideBySide = {polling, websocket, poller, poster, pusher, streamer, clock};  // for tests and curious students
start();
