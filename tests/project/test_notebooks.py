"""Execute every course notebook top to bottom (notebooks/*.ipynb), and check that the
outputs committed with it are still what it produces.

Each notebook runs in a fresh python3 kernel with notebooks/ as its working
directory and matplotlib's inline backend, so plots become image outputs and never
open a window. A cell that raises
fails the test with the cell's source and the error. Run just these with
``python -m pytest -m notebooks`` (or ``-k 03`` for one notebook).

The notebooks are committed *with* their outputs: the documentation site shows
them (it does not run anything). Numbers drift from run to run, so the check is on
the kind of output of every code cell: a cell that drew a figure must still draw
one, a cell that printed must still print, and a cell that showed nothing must
still show nothing. After changing a notebook (or code that changes what it shows),
write the fresh outputs back with::

    MINIGRAD_WRITE_NOTEBOOKS=1 python -m pytest -m notebooks tests/project/test_notebooks.py
"""
import glob
import os
import re
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NB_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NB_DIR, "*.ipynb")))  # at collection time: new ones are picked up
CELL_TIMEOUT = 600  # seconds per cell
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks
WRITE = os.environ.get("MINIGRAD_WRITE_NOTEBOOKS") == "1"
_IMAGES = ("image/png", "image/svg+xml", "image/jpeg")


def test_the_course_has_notebooks():
    """Fails (does not skip) when notebooks/ is empty or missing."""
    assert NOTEBOOKS, f"no notebooks found in {NB_DIR}"


def _notebook_env(tmp_dir):
    env = dict(os.environ)
    # Jupyter's inline backend: figures become image outputs (which the docs site shows),
    # and no window ever opens. (MPLBACKEND=Agg, which CI sets, would drop them silently.)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
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
    committed = [_kinds(cell) for cell in nb.cells if cell.cell_type == "code"]
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
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
    if WRITE:
        _write_back(nb, path, nbformat)
        return
    produced = [_kinds(cell) for cell in nb.cells if cell.cell_type == "code"]
    drift = [f"code cell {i}: committed {sorted(c) or 'nothing'}, now {sorted(n) or 'nothing'}"
             for i, (c, n) in enumerate(zip(committed, produced)) if c != n]
    assert not drift, (
        f"{os.path.basename(path)}: the committed outputs are not what the notebook produces now "
        "(rewrite them: MINIGRAD_WRITE_NOTEBOOKS=1 python -m pytest -m notebooks tests/project/test_notebooks.py):\n"
        + "\n".join(drift))


def _kinds(cell) -> set:
    """What a code cell shows: "figure" (an image), "text" (printed or a value), both or nothing.
    stderr and widgets (warnings, progress bars) do not count: they vary between machines."""
    kinds = set()
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == "stdout" and out.get("text", "").strip():
            kinds.add("text")
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if any("widget" in m for m in data):
                continue  # a progress bar drawn as a widget (tqdm.auto with ipywidgets installed)
            if any(m in data for m in _IMAGES):
                kinds.add("figure")
            elif data:
                kinds.add("text")
    return kinds


_OVERWRITTEN = re.compile(r"[^\n]*\r(?=[^\n])")  # a progress bar's earlier states on one line


def _write_back(nb, path, nbformat):
    """Save the executed notebook over ``path``: outputs kept, progress bars reduced to
    their last state, no per-run metadata (so that a re-run changes little in git)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        merged = []
        for out in cell.outputs:
            if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = _OVERWRITTEN.sub("", out.text.replace("\r\n", "\n"))
        cell.outputs = merged
    nb.metadata.pop("widgets", None)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)


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
