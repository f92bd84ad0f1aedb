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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


# ----------------------------------------------------------------------------- the built HTML

import html as _html  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from urllib.parse import unquote, urlsplit  # noqa: E402


class _Page(HTMLParser):
    """Ids, links (tag, attribute, url) and the visible text of one HTML page, where
    "visible" leaves out scripts, styles, code and math that MathJax typesets."""

    HIDDEN = {"script", "style", "code", "pre", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.text = set(), [], []
        self._stack = []  # (tag, hides its content)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key) is not None and tag in ("a", "img", "script", "link"):
                self.links.append((tag, a[key], a))
        if tag in ("br", "img", "hr", "meta", "link", "input", "source", "wbr", "path", "rect", "use"):
            return
        classes = (a.get("class") or "").split()
        hides = tag in self.HIDDEN or "arithmatex" in classes or "clipboard-copy-txt" in classes
        self._stack.append((tag, hides))

    def handle_endtag(self, tag):
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if not any(h for _, h in self._stack):
            self.text.append(data)


@pytest.fixture(scope="module")
def pages(site):
    """{path relative to the site: _Page} of every HTML page but the 404 page (its links
    are absolute on purpose)."""
    found = {}
    for folder, _, names in os.walk(site):
        for name in names:
            if name.endswith(".html") and not (folder == str(site) and name == "404.html"):
                path = os.path.join(folder, name)
                parser = _Page()
                with open(path, encoding="utf-8") as f:
                    parser.feed(f.read())
                found[os.path.relpath(path, site)] = parser
    return found


def _notebook_names():
    folder = os.path.join(ROOT, "notebooks")
    return sorted(n[:-len(".ipynb")] for n in os.listdir(folder) if n.endswith(".ipynb"))


def _target(site, page, url):
    """The file a relative link of ``page`` points to (None for external links)."""
    parts = urlsplit(url)
    if parts.scheme or url.startswith("//"):
        return None, None
    path = unquote(parts.path)
    target = os.path.normpath(os.path.join(site, os.path.dirname(page), path)) if path else os.path.join(site, page)
    if os.path.isdir(target):
        target = os.path.join(target, "index.html")
    return target, unquote(parts.fragment)


def test_no_broken_internal_links_or_anchors(site, pages):
    broken = []
    for page, parsed in pages.items():
        for tag, url, _ in parsed.links:
            target, fragment = _target(site, page, url)
            if target is None:
                continue
            if not os.path.exists(target):
                broken.append(f"{page}: {url} (no such file)")
                continue
            rel = os.path.relpath(target, site)
            if fragment and rel in pages and fragment not in pages[rel].ids:
                broken.append(f"{page}: {url} (no element with id {fragment!r})")
    assert not broken, "broken links:\n" + "\n".join(sorted(set(broken))[:40])


_RAW_MATH = re.compile(r"\$\$|\$[^$\s][^$\n]*\$|\\\(|\\\[|\\begin\{")


def test_math_is_typeset_by_a_local_mathjax(site, pages):
    raw = {}
    for page, parsed in pages.items():
        text = "".join(parsed.text)
        found = _RAW_MATH.findall(text)
        if found:
            raw[page] = found[:3]
    assert not raw, f"math left as raw TeX (not in an element MathJax typesets): {raw}"
    with_math = 0
    for page, parsed in pages.items():
        scripts = [url for tag, url, _ in parsed.links if tag == "script"]
        math_scripts = [url for url in scripts if "mathjax" in url.lower()]
        with open(os.path.join(site, page), encoding="utf-8") as f:
            has_math = 'class="arithmatex"' in f.read()
        if not has_math:
            continue
        with_math += 1
        assert len(math_scripts) == 2, f"{page}: has math but loads {math_scripts}"
        config, engine = (_target(site, page, url)[0] for url in math_scripts)  # config first
        assert config.endswith("mathjax-config.js") and os.path.isfile(config), page
        assert engine.endswith("tex-svg.js") and os.path.isfile(engine), page
    assert with_math >= len(_notebook_names()) // 2, "hardly any page has math: is the wrapping broken?"
    with open(os.path.join(site, "assets", "mathjax", "tex-svg.js"), encoding="utf-8") as f:
        js = f.read()
    assert len(js) > 1_000_000 and "MathJax" in js and "tex" in js  # the real thing, not a stub


def _figures_in_notebook(name):
    with open(os.path.join(ROOT, "notebooks", name + ".ipynb"), encoding="utf-8") as f:
        nb = json.load(f)
    count = 0
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            count += any(m in data for m in ("image/png", "image/jpeg", "image/svg+xml"))
    return count


def test_tutorial_pages_show_figures_and_a_download_link(site):
    problems = []
    total = 0
    for name in _notebook_names():
        page = os.path.join(site, "notebooks", name, "index.html")
        with open(page, encoding="utf-8") as f:
            text = f.read()
        expected = _figures_in_notebook(name)
        total += expected
        # nbconvert puts each image output in one of these (inline SVG or an <img>)
        shown = len(re.findall(r'<div class="jp-Rendered(?:Image|SVG) jp-OutputArea-output[^"]*"[^>]*>'
                               r'(?:\s|<\?[^>]*>|<!--.*?-->|<!DOCTYPE[^>]*>)*<(?:img|svg)\b', text, re.S))
        if shown < expected:
            problems.append(f"{name}: {shown} figures on the page, {expected} in the notebook")
        link = re.search(rf'<a href="({re.escape(name)}\.ipynb)" download>', text)
        if not link or not os.path.isfile(os.path.join(site, "notebooks", name, link.group(1))):
            problems.append(f"{name}: no working download link to {name}.ipynb")
    assert not problems, "\n".join(problems)
    # the notebooks are committed executed: the course has pictures
    assert total >= len(_notebook_names()), f"only {total} figures in all notebooks: are they committed executed?"


def test_api_pages_show_examples_as_code(site, pages):
    problems = []
    for page, parsed in pages.items():
        if not page.startswith("api" + os.sep):
            continue
        text = _html.unescape("".join(parsed.text))
        if ">>>" in text:
            problems.append(f"{page}: a >>> example outside a code block")
        if re.search(r"\w::\s", text):
            problems.append(f"{page}: an RST '::' left in the text")
        with open(os.path.join(site, page), encoding="utf-8") as f:
            raw = re.sub(r"<[^>]+>", "", f.read())  # signatures are highlighted span by span
        if re.search(r"\b_node=|Parameter\(_empty|next\(RemovableHandle", _html.unescape(raw)):
            problems.append(f"{page}: a private parameter or an implementation line as a value")
    assert not problems, "\n".join(problems)
