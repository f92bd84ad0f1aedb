"""Execute every course notebook top to bottom (notebooks/*.ipynb).

Each notebook runs in a fresh python3 kernel with notebooks/ as its working
directory and MPLBACKEND=Agg, so plots never open a window. A cell that raises
fails the test with the cell's source and the error. Run just these with
``python -m pytest -m notebooks`` (or ``-k 03`` for one notebook).
"""
import glob
import os
import re
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NB_DIR, "*.ipynb")))  # at collection time: new ones are picked up
CELL_TIMEOUT = 600  # seconds per cell
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks


def test_the_course_has_notebooks():
    """Fails (does not skip) when notebooks/ is empty or missing."""
    assert NOTEBOOKS, f"no notebooks found in {NB_DIR}"


def _notebook_env(tmp_dir):
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    # hypothesis (notebook 02) keeps a cache folder: not inside notebooks/
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_dir)
    # the kernel must import this checkout's minigrad even when it is not installed
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    with open(path, encoding="utf-8") as f:
        nb = nbformat.read(f, as_version=4)
    # the kernel is a child process: it inherits this process's environment
    for k, v in _notebook_env(tmp_path / "hypothesis").items():
        monkeypatch.setenv(k, v)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": NB_DIR}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        failing = _failing_cell(nb)
        where = f"cell {failing[0]}:\n{failing[1]}" if failing else "(cell not found)"
        pytest.fail(f"{os.path.basename(path)}: a cell failed after {time.perf_counter() - t0:.1f} s\n"
                    f"--- {where}\n--- error:\n{_ANSI.sub('', str(e))}", pytrace=False)
    # a notebook that ran but printed a traceback into an output (e.g. a swallowed
    # error in a display hook) is not a pass either
    for i, cell in enumerate(nb.cells):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue  # a cell that shows an error on purpose (nbclient allows it too)
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (
                f"{os.path.basename(path)}: cell {i} has an error output:\n{cell.source}")


def _failing_cell(nb):
    """(index, source) of the cell whose outputs hold the error, or of the last executed cell."""
    last = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, cell.source
        if cell.get("execution_count") is not None:
            last = (i, cell.source)
    return last
