"""Exercises that check themselves: ``python -m exercises.check [N]`` (or ``make check EX=N``); see README.md."""
