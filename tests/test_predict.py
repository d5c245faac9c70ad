"""The notebooks for predicting: copies with every output cleared, of whatever notebooks exist, that still run."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from clients import predict

ROOT = Path(__file__).resolve().parent.parent
QUICKEST = "02-open-a-websocket-by-hand.ipynb"


@pytest.fixture
def notebooks(tmp_path):
    """A copy of notebooks/ inside a copy of the project's layout, so the copies find ``servers`` by walking up."""
    folder = tmp_path / "project" / "notebooks"
    folder.mkdir(parents=True)
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, folder)
    for package in ("servers", "clients"):
        (tmp_path / "project" / package).symlink_to(ROOT / package)
    return folder


def test_every_notebook_gets_a_copy_without_any_answer(notebooks):
    originals = sorted(notebooks.glob("*.ipynb"))
    assert len(originals) >= 6
    written = predict.write_copies(notebooks)
    assert [path.name for path in written] == [path.name for path in originals]
    for original, copy in zip(originals, written):
        before, after = (nbformat.read(path, as_version=4) for path in (original, copy))
        assert sum(len(cell.get("outputs", [])) for cell in before.cells) > 0, original.name  # it had answers
        assert after.cells[0].cell_type == "markdown" and after.cells[0].source.startswith("**Predict first.**")
        assert f"(../{original.name})" in after.cells[0].source
        assert [cell.source for cell in after.cells[1:]] == [cell.source for cell in before.cells]  # all else kept
        for cell in after.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None and "execution" not in cell.metadata
        nbformat.validate(after)
    assert nbformat.read(originals[0], as_version=4) == nbformat.read(ROOT / "notebooks" / originals[0].name,
                                                                      as_version=4)  # originals untouched


def test_a_new_notebook_is_copied_too(notebooks):
    extra = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    extra.cells[0].outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nbformat.write(extra, notebooks / "99-a-new-one.ipynb")
    copy = nbformat.read(predict.write_copies(notebooks)[-1], as_version=4)
    assert copy.cells[1].source == "print(6 * 7)" and copy.cells[1].outputs == []


@pytest.mark.timeout(300)
def test_a_cleared_copy_runs_from_its_folder_and_reveals_its_answers(notebooks):
    copy = next(path for path in predict.write_copies(notebooks) if path.name == QUICKEST)
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(notebook, timeout=240, resources={"metadata": {"path": str(copy.parent)}}).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert outputs and not [output for output in outputs if output.output_type == "error"]


def test_the_command_says_where_the_copies_are():
    done = subprocess.run([sys.executable, "-m", "clients.predict"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    count = len(list((ROOT / "notebooks").glob("*.ipynb")))
    folder = ROOT / "notebooks" / "predict"
    assert done.stdout.startswith(f"{count} notebooks with their outputs cleared, in {folder}:")
    assert sorted(path.name for path in (ROOT / "notebooks" / "predict").glob("*.ipynb")) == sorted(
        path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
