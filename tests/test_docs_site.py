"""The documentation site builds with ``mkdocs build --strict`` (a broken link, anchor
or cross-reference, or a docstring that disagrees with its signature, fails), every
notebook becomes a page, and every public module has an API reference entry.

Skipped when the docs tools are not installed (``pip install -e ".[docs]"``; the
``dev`` extra includes them).
"""
import os
import subprocess
import sys
import zlib

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("mkdocs_jupyter")

from public_api import public_modules  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once into a temporary folder; fail with mkdocs' warnings."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        problems = [ln for ln in lines if ln.startswith(("WARNING", "ERROR"))] or lines[-40:]
        pytest.fail("mkdocs build --strict failed:\n" + "\n".join(problems), pytrace=False)
    return out


def _inventory(site_dir):
    """The objects.inv that mkdocstrings writes: {name: role} of every documented object."""
    with open(os.path.join(site_dir, "objects.inv"), "rb") as f:
        for _ in range(4):  # Sphinx inventory v2: four header lines, then zlib
            f.readline()
        text = zlib.decompress(f.read()).decode("utf-8")
    entries = {}
    for line in text.splitlines():
        parts = line.split(" ", 4)
        if len(parts) >= 4:
            entries[parts[0]] = parts[1]
    return entries


def test_site_builds_strictly(site):
    for page in ("index.html", "getting-started/index.html", "how-to-add-an-op/index.html",
                 "concepts/graph-and-backward/index.html", "api/minigrad/index.html",
                 "tutorials/index.html", "benchmarks/index.html"):
        assert os.path.isfile(os.path.join(site, page)), page


def test_every_notebook_is_a_tutorial_page(site):
    folder = os.path.join(ROOT, "notebooks")
    notebooks = sorted(n for n in os.listdir(folder) if n.endswith(".ipynb")) if os.path.isdir(folder) else []
    missing = [n for n in notebooks
               if not os.path.isfile(os.path.join(site, "notebooks", n[:-len(".ipynb")], "index.html"))]
    assert not missing, f"notebooks without a rendered page: {missing}"
    with open(os.path.join(site, "tutorials", "index.html"), encoding="utf-8") as f:
        index = f.read()
    unlisted = [n for n in notebooks if f"notebooks/{n[:-len('.ipynb')]}/" not in index]
    assert not unlisted, f"notebooks missing from the tutorials index: {unlisted}"


def test_every_public_module_is_in_the_api_reference(site):
    inventory = _inventory(site)
    missing = [m for m in sorted({mod.__name__ for mod in public_modules()}) if inventory.get(m) != "py:module"]
    assert not missing, ("public modules with no API reference entry (add a `::: module` line to "
                         "a page in docs/api/): " + ", ".join(missing))
