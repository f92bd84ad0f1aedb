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
5. **Tutorial pages.** Each notebook page gets a link to download its ``.ipynb``, a
   table of contents built from its rendered headings (inline code kept, anchors that
   exist), links to ``../docs/*.md`` rewritten to the pages of the site, and its
   ``$...$`` math wrapped for MathJax. The other pages but the API reference get the
   same kind of table of contents, so that inline code in a heading stays code there.
6. **Math, offline.** Pages with math (notebooks, and ``pymdownx.arithmatex`` in the
   Markdown pages) load MathJax from the site itself: ``on_files`` copies MathJax's
   single-file SVG build out of the ``django-static-mathjax`` package (the ``docs``
   extra pins it) to ``assets/mathjax/tex-svg.js``. Nothing is fetched from a CDN.
7. **Docstrings written for Sphinx, shown by mkdocstrings** (the griffe extension
   ``DocstringsAsMarkdown``): ``>>>`` sessions become code blocks, an RST ``::``
   literal block becomes a code block, shapes such as ``(*, in_features)`` become
   inline code, and parameters whose name starts with ``_`` leave the signature.
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


MATHJAX_URI = "assets/mathjax/tex-svg.js"
MATHJAX_CONFIG_URI = "javascripts/mathjax-config.js"


def _mathjax_source() -> str:
    """Path of MathJax's single-file SVG build (es5/tex-svg.js) in the installed
    ``django-static-mathjax`` package (its top-level package is called ``mathjax``)."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = os.path.join(folder, "static", "mathjax", "es5", "tex-svg.js")
            if os.path.isfile(path):
                return path
    raise RuntimeError("hooks: MathJax is not installed; the docs need the django-static-mathjax "
                       'package (pip install -e ".[docs]")')


@event_priority(100)  # before mkdocs-jupyter's on_files, so it sees the notebooks
def on_files(files, config):
    root = _repo_root(config)
    for path in _notebooks(config):
        uri = f"{NOTEBOOKS_URI}/{os.path.basename(path)}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, root, config["site_dir"], config["use_directory_urls"]))
    if files.get_file_from_path(MATHJAX_URI) is None:
        files.append(File.generated(config, MATHJAX_URI, abs_src_path=_mathjax_source()))
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


_INDEX_ROW = re.compile(r"^\|\s*\d+\s*\|\s*\[[^\]]*\]\(([^)]+\.ipynb)\)\s*\|(.*)\|\s*$")


def _course_index(config) -> tuple[list[str], dict[str, list[str]]]:
    """The extra columns of the table in notebooks/README.md (the course index, the one
    place that says what each notebook teaches and how long it runs): (headers, {file: cells})."""
    path = os.path.join(_repo_root(config), NOTEBOOKS_URI, "README.md")
    headers, rows = [], {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return headers, rows
    for i, line in enumerate(lines):
        m = _INDEX_ROW.match(line)
        if m:
            rows[os.path.basename(m.group(1))] = [c.strip() for c in m.group(2).split("|")]
        elif not headers and line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: "):
            headers = [c.strip() for c in line.strip().strip("|").split("|")][2:]
    return headers, rows


def on_page_markdown(markdown, page, config, files):
    """Replace the marker in tutorials/index.md by a table of the notebooks that exist,
    with the columns of the course index (notebooks/README.md)."""
    if NOTEBOOK_LIST_MARKER not in markdown:
        return markdown
    depth = page.file.src_uri.count("/")
    prefix = "../" * depth
    headers, extra = _course_index(config)
    lines = ["| notebook | " + " | ".join(headers) + " |" if headers else "| notebook |",
             "|---|" + "---|" * len(headers)]
    for path in _notebooks(config):
        name = os.path.basename(path)
        cells = (extra.get(name, []) + [""] * len(headers))[:len(headers)]
        link = f"[{_notebook_title(path)}]({prefix}{NOTEBOOKS_URI}/{name})"
        lines.append("| " + " | ".join([link, *cells]) + " |")
    if len(lines) == 2:
        lines = ["*(No notebooks yet.)*"]
    return markdown.replace(NOTEBOOK_LIST_MARKER, "\n".join(lines))


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _strip_role(match: re.Match) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def _is_notebook(page) -> bool:
    return page.file.src_uri.startswith(NOTEBOOKS_URI + "/") and page.file.src_uri.endswith(".ipynb")


def on_page_content(html, page, config, files):
    html = _ROLE.sub(_strip_role, html)
    if _is_notebook(page):
        html = _notebook_page(html, page, files)
    elif not page.file.src_uri.startswith("api/"):
        # the right-hand table of contents shows inline code in headings as code
        # (the API pages keep mkdocstrings' own entries, with their symbol badges)
        page.toc = _notebook_toc(html)
    if 'class="arithmatex"' in html:
        from mkdocs.utils import get_relative_url

        html += "".join(f'\n<script src="{get_relative_url(uri, page.url)}"{extra}></script>'
                        for uri, extra in ((MATHJAX_CONFIG_URI, ""), (MATHJAX_URI, " defer")))
    return html


# ----------------------------------------------------------------------------- notebook pages

# nbconvert's template loads MathJax 2 from a URL (empty here: no CDN) and configures it;
# the site loads its own MathJax 3 instead.
_NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MARKDOWN_CELL = re.compile(r'<div class="[^"]*jp-MarkdownOutput[^"]*"[^>]*>')
_DIV = re.compile(r"<(/?)div\b[^>]*>")
_TAG = re.compile(r"(<[^>]+>)")
_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$\w])\$(?=\S)([^$]+?)\$(?![\w$])")
_HEADING = re.compile(r'<h([1-6]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_ANCHOR_LINK = re.compile(r'<a class="(?:anchor-link|headerlink)"[^>]*>.*?</a>', re.S)
_DOCS_LINK = re.compile(r'href="\.\./docs/([^"#]+\.md)(#[^"]*)?"')


def _wrap_math(text: str) -> str:
    """``$$..$$`` and ``$..$`` in a piece of text -> MathJax's ``\\[..\\]`` / ``\\(..\\)`` spans."""
    text = _DISPLAY_MATH.sub(lambda m: f'<span class="arithmatex">\\[{m.group(1)}\\]</span>', text)
    return _INLINE_MATH.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', text)


def _math_in_markdown_cell(body: str) -> str:
    """Wrap the math of one rendered Markdown cell, leaving code (and its ``$``) alone."""
    out, in_code = [], 0
    for part in _TAG.split(body):
        if part.startswith("<"):
            tag = part[1:].split()[0].rstrip(">").lower() if len(part) > 2 else ""
            if tag in ("code", "pre"):
                in_code += 1
            elif tag in ("/code", "/pre"):
                in_code = max(0, in_code - 1)
            out.append(part)
        else:
            out.append(part if in_code else _wrap_math(part))
    return "".join(out)


def _each_markdown_cell(html: str, change) -> str:
    """``html`` with ``change(body)`` applied to the body of every rendered Markdown cell
    (a cell's body holds nested divs, e.g. code blocks: the div tags are counted)."""
    out, pos = [], 0
    for start in _MARKDOWN_CELL.finditer(html):
        if start.start() < pos:
            continue  # inside the previous cell
        depth, end = 1, None
        for div in _DIV.finditer(html, start.end()):
            depth += -1 if div.group(1) else 1
            if depth == 0:
                end = div.start()
                break
        if end is None:
            break
        out.append(html[pos:start.end()])
        out.append(change(html[start.end():end]))
        pos = end
    out.append(html[pos:])
    return "".join(out)


def _notebook_toc(html: str):
    """The page's table of contents from its rendered headings (their real ids; inline
    code kept as code), in place of mkdocs-jupyter's, which re-slugifies the Markdown."""
    from mkdocs.structure.toc import get_toc

    tokens, stack = [], []
    for m in _HEADING.finditer(html):
        level, ident, inner = int(m.group(1)), m.group(2), _ANCHOR_LINK.sub("", m.group(3))
        inner = re.sub(r"<(?!/?code\b)[^>]+>", "", inner).strip()  # keep <code>, drop other tags
        token = {"level": level, "id": ident, "name": inner, "children": []}
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else tokens).append(token)
        stack.append(token)
    return get_toc(tokens)


def _notebook_page(html: str, page, files) -> str:
    from mkdocs.utils import get_relative_url

    html = _NBCONVERT_MATHJAX.sub("", html)
    html = _each_markdown_cell(html, _math_in_markdown_cell)

    def docs_link(m):  # a notebook links to ../docs/x.md so that it works in Jupyter too
        target = files.get_file_from_path(m.group(1))
        if target is None:
            return m.group(0)
        return f'href="{get_relative_url(target.url, page.url)}{m.group(2) or ""}"'

    html = _DOCS_LINK.sub(docs_link, html)
    page.toc = _notebook_toc(html)
    name = os.path.basename(page.file.src_uri)
    link = (f'<p class="mg-download"><a href="{name}" download>Download this notebook '
            f"(<code>{name}</code>)</a> and run it yourself: "
            '<code>pip install -e ".[notebooks]"</code>, then <code>jupyter lab notebooks/</code>.</p>')
    first_heading_end = html.find("</h1>")
    if first_heading_end >= 0:
        # after the title, which sits inside the first Markdown cell's div
        return html[:first_heading_end + 5] + link + html[first_heading_end + 5:]
    return link + html


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


# ----------------------------------------------------------------------------- docstrings

_PROMPT = re.compile(r"^(\s*)>>>( |$)")
_LITERAL_INTRO = re.compile(r"^(\s*)(.*?)\s*::\s*$")
_UNDERLINE = re.compile(r"^\s*([-=~^])\1{2,}\s*$")
_SHAPE = re.compile(r"\((?:[^()`\n]*\*[^()`\n]*)\)")
_CODE_SPAN = re.compile(r"(``?[^`]+``?)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _shapes_as_code(line: str) -> str:
    """``(*, in_features)`` and other starred shapes outside code spans -> inline code
    (Markdown would take the ``*`` for emphasis)."""
    parts = _CODE_SPAN.split(line)
    return "".join(p if i % 2 else _SHAPE.sub(lambda m: f"`{m.group(0)}`", p) for i, p in enumerate(parts))


def rst_to_markdown(text: str) -> str:
    """A docstring written for Sphinx, in the Markdown that mkdocstrings renders.

    * a ``>>>`` session (prompts, continuation lines and printed output, up to a blank
      line) becomes a fenced ``pycon`` code block;
    * ``Some text::`` followed by an indented block becomes ``Some text:`` and a fenced
      code block (a line that is only ``::`` goes);
    * shapes such as ``(*, in_features)`` become inline code;
    * an RST section title (a line underlined with ``---``) becomes a bold line.
    """
    lines = text.splitlines()
    out: list[str] = []
    i, in_fence = 0, False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        if in_fence:
            out.append(line)
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _UNDERLINE.match(nxt) and (not out or not out[-1].strip()):
            # an RST section title: a bold line (a heading would go into the page's TOC)
            out.append(f"{line[:_indent(line)]}**{_shapes_as_code(line.strip())}**")
            i += 2
            continue
        prompt = _PROMPT.match(line)
        if prompt:
            pad = prompt.group(1)
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(pad):] if lines[i].startswith(pad) else lines[i].strip())
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [pad + "```pycon", *(pad + b for b in block), pad + "```"]
            continue
        intro = _LITERAL_INTRO.match(line)
        if intro:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent(lines[j]) > _indent(line):
                pad, text_before = intro.group(1), intro.group(2)
                if text_before:
                    out.append(pad + _shapes_as_code(text_before) + ("" if text_before.endswith(":") else ":"))
                block_indent = _indent(lines[j])
                block = []
                k = j
                while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) >= block_indent):
                    block.append(lines[k][block_indent:] if lines[k].strip() else "")
                    k += 1
                while block and not block[-1]:
                    block.pop()
                if out and out[-1].strip():
                    out.append("")
                out += [pad + "```text", *(pad + b if b else "" for b in block), pad + "```", ""]
                i = k
                continue
        if line.lstrip().startswith(">"):  # e.g. a wrapped ">= 95%": not a Markdown quote
            line = line.replace(">", "\\>", 1)
        out.append(_shapes_as_code(line))
        i += 1
    return "\n".join(out)


if _griffe is not None:
    import ast as _ast

    class DocstringsAsMarkdown(_griffe.Extension):
        """Docstrings written for Sphinx, shown well by mkdocstrings (griffe extension).

        Rewrites each docstring with :func:`rst_to_markdown`, drops parameters whose
        name starts with ``_`` from signatures (private plumbing such as
        ``Tensor(..., _node=None)``), and hides the value of an attribute unless it is
        a plain literal (``TINY = 8`` is shown; ``weight = Parameter(...)``, a line of
        the implementation, is not).
        """

        def on_instance(self, *, obj, **kwargs):
            if obj.docstring is not None and obj.docstring.value:
                obj.docstring.value = rst_to_markdown(obj.docstring.value)

        def on_function_instance(self, *, func, **kwargs):
            for name in [p.name for p in func.parameters if p.name.startswith("_") and not p.name.startswith("__")]:
                del func.parameters[name]

        def on_attribute_instance(self, *, attr, **kwargs):
            if attr.value is None:
                return
            try:
                _ast.literal_eval(str(attr.value))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                attr.value = None
