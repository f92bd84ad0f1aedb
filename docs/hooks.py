"""MkDocs hooks for the minigrad site (loaded through ``hooks:`` in mkdocs.yml).

Four jobs, each small:

1. **Tutorials without copies.** The course notebooks live in the top-level
   ``notebooks/`` folder, outside ``docs/``. ``on_files`` adds every
   ``notebooks/*.ipynb`` to the site under the same path (mkdocs-jupyter then
   renders it; nothing is executed), and ``on_config`` lists the notebooks that exist
   under the "Tutorials" section of the nav. A notebook that is still being written
   simply is not listed yet, so the strict build never points at a missing file.
2. **No orphan pages.** A top-level ``docs/*.md`` page that the nav in mkdocs.yml does
   not mention is appended to the "User guide" section (new pages show up without
   editing the nav; move them into place in mkdocs.yml when convenient).
3. **Pages still being written.** A page named in ``OPTIONAL_PAGES`` may be listed in
   the nav before it exists; ``on_config`` leaves it out until the file is there, so
   the strict build passes either way (any other missing page still fails it).
4. **Sphinx roles in docstrings.** Docstrings in the code use roles such as
   ``:class:`~minigrad.tensor.Tensor```; Markdown would show them literally, so
   ``on_page_content`` turns each into plain inline code (``Tensor``).
"""
from __future__ import annotations

import logging
import os
import re

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.minigrad")

TUTORIALS_SECTION = "Tutorials"
GUIDE_SECTION = "User guide"
# Notebooks keep their repository path in the site: notebooks/01_x.ipynb is served at
# notebooks/01_x/. (mkdocs-jupyter needs a File whose src_dir/src_uri is the real file.)
NOTEBOOKS_URI = "notebooks"
# Nav entries (paths relative to docs/) that may not exist yet: left out until they do.
OPTIONAL_PAGES = frozenset({"transfer.md"})


def _repo_root(config) -> str:
    return os.path.dirname(os.path.abspath(config["config_file_path"]))


def _notebooks(config) -> list[str]:
    """Absolute paths of notebooks/*.ipynb, sorted by name (01_..., 02_..., ...)."""
    folder = os.path.join(_repo_root(config), "notebooks")
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.endswith(".ipynb") and not n.startswith("."))


def _nav_paths(nav) -> set[str]:
    """Every page path mentioned anywhere in a nav structure."""
    found = set()
    if isinstance(nav, str):
        found.add(nav)
    elif isinstance(nav, dict):
        for v in nav.values():
            found |= _nav_paths(v)
    elif isinstance(nav, list):
        for item in nav:
            found |= _nav_paths(item)
    return found


def _section(nav, title):
    """The list of entries of the top-level nav section called ``title`` (or None)."""
    for item in nav or ():
        if isinstance(item, dict) and title in item and isinstance(item[title], list):
            return item[title]
    return None


def _drop_missing_optional(nav, docs_dir):
    """``nav`` without the entries of OPTIONAL_PAGES whose file does not exist (in place)."""
    def missing(path):
        return path in OPTIONAL_PAGES and not os.path.isfile(os.path.join(docs_dir, path))

    def keep(item):
        if isinstance(item, str):
            return not missing(item)
        if isinstance(item, dict) and len(item) == 1:
            (value,) = item.values()
            if isinstance(value, str):
                return not missing(value)
        return True

    for item in nav:
        if isinstance(item, dict):
            for value in item.values():
                if isinstance(value, list):
                    _drop_missing_optional(value, docs_dir)
    dropped = [item for item in nav if not keep(item)]
    for item in dropped:
        log.info("hooks: leaving %s out of the nav until it exists", item)
        nav.remove(item)
    return nav


def on_config(config):
    nav = config["nav"]
    if not nav:
        return config
    _drop_missing_optional(nav, config["docs_dir"])
    tutorials = _section(nav, TUTORIALS_SECTION)
    if tutorials is not None:
        for path in _notebooks(config):
            uri = f"{NOTEBOOKS_URI}/{os.path.basename(path)}"
            if uri not in _nav_paths(tutorials):
                tutorials.append(uri)
    guide = _section(nav, GUIDE_SECTION)
    if guide is not None:
        listed = _nav_paths(nav)
        docs_dir = config["docs_dir"]
        for name in sorted(os.listdir(docs_dir)):
            if name.endswith(".md") and name not in listed and name != "index.md":
                log.info("hooks: adding unlisted page %s to the '%s' nav section", name, GUIDE_SECTION)
                guide.append(name)
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, so it sees the notebooks
def on_files(files, config):
    root = _repo_root(config)
    for path in _notebooks(config):
        uri = f"{NOTEBOOKS_URI}/{os.path.basename(path)}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, root, config["site_dir"], config["use_directory_urls"]))
    return files


def _notebook_title(path: str) -> str:
    """The first Markdown heading of a notebook, or its file name."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        for cell in nb.get("cells", ()):
            if cell.get("cell_type") != "markdown":
                continue
            src = cell.get("source", "")
            text = "".join(src) if isinstance(src, list) else src
            for line in text.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    except (OSError, ValueError):
        pass
    return os.path.splitext(os.path.basename(path))[0].replace("_", " ")


NOTEBOOK_LIST_MARKER = "<!-- minigrad:notebooks -->"


def on_page_markdown(markdown, page, config, files):
    """Replace the marker in tutorials/index.md by a list of the notebooks that exist."""
    if NOTEBOOK_LIST_MARKER not in markdown:
        return markdown
    depth = page.file.src_uri.count("/")
    prefix = "../" * depth
    lines = []
    for path in _notebooks(config):
        name = os.path.basename(path)
        lines.append(f"- [{_notebook_title(path)}]({prefix}{NOTEBOOKS_URI}/{name}) (`notebooks/{name}`)")
    if not lines:
        lines = ["*(No notebooks yet.)*"]
    return markdown.replace(NOTEBOOK_LIST_MARKER, "\n".join(lines))


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _strip_role(match: re.Match) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html, page, config, files):
    return _ROLE.sub(_strip_role, html)


# ----------------------------------------------------------------------------- griffe

try:  # griffe is there whenever mkdocstrings-python is; the hooks work without it
    import griffe as _griffe
except ImportError:  # pragma: no cover
    _griffe = None

if _griffe is not None:

    class KernelsSubpackage(_griffe.Extension):
        """Load the top-level ``kernels/`` folder as ``minigrad.kernels`` (griffe extension).

        setup.py installs ``kernels/`` as the subpackage ``minigrad.kernels``
        (``package_dir``); griffe reads source files, finds ``minigrad/`` without a
        ``kernels`` folder in it, and would report ``minigrad.kernels.*`` as missing.
        This extension loads ``kernels/`` and attaches it under ``minigrad``.
        mkdocs.yml enables it with ``extensions: [docs/hooks.py:KernelsSubpackage]``.
        """

        def on_package(self, *, pkg, loader, **kwargs):
            if pkg.name != "minigrad" or "kernels" in pkg.members:
                return
            kernels = loader.load("kernels")
            pkg.set_member("kernels", kernels)
