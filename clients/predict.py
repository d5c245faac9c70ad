"""python -m clients.predict: copies of the notebooks with their outputs cleared, to predict before you run.

The notebooks are committed with their outputs, so that they read well on the web; but then every answer sits
under its question. For a lesson that asks "predict, then reveal", this writes a copy of every notebook
(``notebooks/*.ipynb``, whichever there are) into ``notebooks/predict/``: each code cell without its output
or execution count, and a first cell that says what to do. Running a cell in the copy is the reveal; the
copies find the project as the originals do, so they run from there. The originals are never touched, and
running this again writes fresh copies (a student's predictions typed into a copy go with it: keep them
elsewhere, or rename the copy).
"""

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FOLDER = "predict"  # below notebooks/, so that `make lab` shows the copies beside the originals
FIRST_CELL = ("**Predict first.** This is a copy of [{name}](../{name}) with its outputs cleared. Before you run "
              "a cell (Shift-Enter), write down what you expect it to print: a figure, a ratio, which is faster. "
              "Then run it and compare. The original, with the outputs of the run we committed, is "
              "[{name}](../{name}); the figures differ from machine to machine, the reasons do not.")


def cleared(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """``notebook`` without outputs or execution counts, after a first cell that says how to use it."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)  # when it last ran: an answer too
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(FIRST_CELL.format(name=name)))
    return notebook


def write_copies(notebooks: Path = NOTEBOOKS) -> list[Path]:
    """A cleared copy of each ``notebooks/*.ipynb`` in ``notebooks/predict/``; the paths written."""
    folder = notebooks / FOLDER
    folder.mkdir(exist_ok=True)
    written = []
    for original in sorted(notebooks.glob("*.ipynb")):
        notebook = nbformat.read(original, as_version=nbformat.NO_CONVERT)
        nbformat.write(cleared(notebook, original.name), folder / original.name)
        written.append(folder / original.name)
    return written


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m clients.predict", description=__doc__.splitlines()[0]).parse_args(argv)
    written = write_copies()
    if not written:
        print(f"no notebooks in {NOTEBOOKS}", file=sys.stderr)
        return 1
    print(f"{len(written)} notebooks with their outputs cleared, in {written[0].parent}:")
    for path in written:
        print(f"  {path.relative_to(ROOT)}")
    print("Open them in JupyterLab (make lab, or the command in README.md), predict, then run each cell.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
