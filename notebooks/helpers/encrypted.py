"""Tables and a plot for notebook 09, from ``clients.bench.measure.secure``'s plain data.

TCP's handshake is one round trip the relay cannot delay (the kernel completes a ``connect()`` at once), so
the set-up's round trips are TCP's one plus what was timed: TLS, then the first answer.
"""

import matplotlib.pyplot as plt

TCP_ROUND_TRIPS = 1  # SYN, SYN-ACK: the client may send once the SYN-ACK is in
NOISE = 0.3  # of a round trip: how far a timed phase may be from a whole number (see the notebook)


def whole(round_trips: float) -> int:
    """A timed phase in whole round trips; AssertionError if it is not within NOISE of one."""
    nearest = round(round_trips)
    assert abs(round_trips - nearest) <= NOISE, f"{round_trips:.2f} round trips is no whole number"
    return nearest


def setup_rows(rows: dict) -> dict[str, dict[str, str]]:
    """``secure.setup_costs``'s rows as a table: round trips and bytes, per phase and in all."""
    table = {}
    for case, row in rows.items():
        phases = row["phases"]
        tls = phases.get("tls")
        answer = next(value for name, value in phases.items() if name != "tls")
        trips = TCP_ROUND_TRIPS + sum(whole(phase["round_trips"]) for phase in phases.values())
        table[case] = {"TCP": str(TCP_ROUND_TRIPS),
                       "TLS": f"{whole(tls['round_trips'])} ({tls['up']} B up, {tls['down']} B down)" if tls else "–",
                       "first answer": f"{whole(answer['round_trips'])} ({answer['up']} B up, {answer['down']} B down)",
                       "round trips in all": str(trips),
                       "bytes in all": str(sum(phase["up"] + phase["down"] for phase in phases.values()))}
    return table


def total_bytes(row: dict) -> int:
    return sum(phase["up"] + phase["down"] for phase in row["phases"].values())


def total_round_trips(row: dict) -> int:
    return TCP_ROUND_TRIPS + sum(whole(phase["round_trips"]) for phase in row["phases"].values())


def bars(figures: dict[str, float], xlabel: str, title: str) -> None:
    """A horizontal bar per case, its value written at its end."""
    names = list(figures)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1))
    ax.barh(names, [figures[name] for name in names], color="#4c72b0")
    for y, name in enumerate(names):
        ax.text(figures[name], y, f" {figures[name]:.0f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.15)
    fig.tight_layout()
