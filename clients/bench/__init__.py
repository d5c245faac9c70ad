"""Measure polling and WebSockets: latency distributions and exact bytes on the wire.

Command line: ``python -m clients.bench [--quick] [--out DIR]`` (see ``__main__.py``).

For notebooks, every measurement is a function returning plain data
(lists and dicts; latencies in seconds, summaries in milliseconds), and plots
are separate functions taking the results dict:

* ``run.run(quick=True)``: everything at once, the dict results.json holds;
  ``report.summary(results)`` prints it; ``plots.reply_cdf(results)`` etc. draw it.
* ``peers.Stack()``, ``peers.RawEcho()``, ``peers.WebsocketsEcho()``: servers to measure.
* ``latency.tcp_echo``, ``latency.websocket_echo``, ``latency.websocket_reply``,
  ``latency.polling_reply``, ``latency.push_latency``, ``latency.connection_setup``.
* ``overhead.delivery_bytes``, ``overhead.reply_bytes``, ``overhead.handshake_bytes``,
  ``overhead.idle_cost``, ``overhead.keep_alive_vs_new_connection``.
* ``relay.Relay`` (count, split, delay), ``frames.split_stream``, ``frames.frame_header_size``.
* ``scaling.paper_table()``, ``scaling.measured_table(bytes)``, ``scaling.mbps``.
* ``stats.summarize(samples)``: median, p90, p99, max, n (p90 from 10 samples, p99 from 100:
  below that they are None, and ``stats.fmt`` prints "–"); ``report.table(rows)`` and
  ``plots.cdf(ax, rows, title)`` show distributions in notebooks.
* ``fanout.fan_out``: one message to many clients, with the server threads counted (``threads_of_one_websocket``,
  ``threads_of_one_event_stream``: what one idle connection holds);
  ``failover.drop_a_node``: a server dies mid-conversation and the clients move on;
  ``capture.Capture``: a tshark capture on the loopback interface, if allowed.
* ``watch.watch``: short or long polling for a few seconds, each poll's answer and delay recorded.
* ``load.small_load()``: many clients per transport on a server process of its own, beside the ``websockets``
  library's broadcast, in a few seconds (``python -m clients.bench load`` is the full run, ``load.run_load``
  its function); ``load_report.summary(results)`` prints it (``table``: the rows alone; ``growth`` and
  ``growth_markdown``: what grows with clients), ``plots.load_latency(results)`` etc. draw it.
  The clients are ``crowd``'s asyncio clients in a process of their own (``load_clients.py``).
* ``scenario.run_all(transports)``: one script over each transport through a recording relay;
  ``sequence.arrows(relay, origin)``: a recording as arrows; ``diagram.figure(runs)``: the sequence
  diagrams (``python -m clients.bench diagram``).
* ``newsfeed.follow_the_news``, ``duplex.full_duplex``, ``guide.reply_and_push`` and ``guide.card``: notebook 05's
  experiments and its decision guide's table; ``prose.say`` and ``prose.table``: sentences and tables from figures.
"""
