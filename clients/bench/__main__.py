"""``python -m clients.bench [COMMAND] ...``: the measurement toolkit's three commands, one per folder.

    python -m clients.bench --quick --out results/quick   # measure/: latency and bytes on the wire (the default)
    python -m clients.bench load --quick                  # load/: many clients per transport on one server
    python -m clients.bench diagram                       # diagrams/: sequence diagrams from recorded traffic
    python -m clients.bench COMMAND --help                # each command's options
"""

import importlib
import sys

# name: (the module whose main(argv) runs it, what it does). The first is the default.
COMMANDS = {"measure": ("clients.bench.measure.command", "latency and bytes on the wire per transport"),
            "load": ("clients.bench.load.command", "many clients per transport on one server (fan-out, CPU, "
                                                   "memory, threads)"),
            "diagram": ("clients.bench.diagrams.command", "sequence diagrams drawn from the bytes of a recorded "
                                                          "exchange")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, argv = (argv[0], argv[1:]) if argv and argv[0] in COMMANDS else ("measure", argv)
    others = "other commands: " + "; ".join(f"{other}: {what}" for other, (_, what) in COMMANDS.items()
                                            if other != "measure")
    command = importlib.import_module(COMMANDS[name][0])
    return command.main(argv, epilog=others) if name == "measure" else command.main(argv)


if __name__ == "__main__":
    sys.exit(main())
