"""Drawing the computation graph that autograd records.

Every Tensor computed from a tensor that requires a gradient carries a
``grad_fn``: the :class:`~minigrad.autograd.Function` node that made it. A node
points at the nodes of its inputs through ``node.next_functions`` - one
``(node, 0)`` pair per forward argument: another node, a *leaf* Tensor (one you created, e.g. a weight),
or ``None`` (an input that needs no gradient, such as the data). Following those
pointers from the output reaches the whole graph that ``backward()`` will walk.
This module walks it and writes it down in the DOT language of Graphviz::

    from minigrad.viz import draw_graph, to_dot
    loss = ((x @ w + b - y) ** 2).mean()
    draw_graph(loss, names={"w": w, "b": b})   # an SVG picture in Jupyter
    print(to_dot(loss))                        # the DOT text, no dependencies

Boxes are tensors (leaves in blue, the output in green), ellipses are ops (the
Function's class name and the shape of what it produced); arrows follow the data
forward, so gradients flow against them. :func:`to_dot` needs nothing but the
standard library; :func:`draw_graph` always draws a picture: with Graphviz when the
``graphviz`` Python package and the ``dot`` program are installed
(``pip install graphviz`` and your system's graphviz package), and otherwise with a
small layered layout written in Python (:func:`to_svg`: each node goes in the column
of its longest path from an input, columns are ordered to reduce crossings) that
needs nothing else.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from minigrad.autograd import Function
from minigrad.tensor import Tensor
from minigrad import _checks

__all__ = ["to_dot", "to_svg", "draw_graph", "GraphDrawing"]

#: tensors with at most this many elements show their values when ``show_data`` is on
TINY = 8

_FORMATS = ("svg", "png", "dot")
_ENGINES = ("auto", "graphviz", "python")
_RANKDIRS = ("LR", "RL", "TB", "BT")


# ----------------------------------------------------------------------------- helpers

def _escape(text: str) -> str:
    """Quote ``text`` for a DOT string: backslashes, quotes, and newlines as ``\\n``."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_values(arr) -> str:
    a = np.asarray(arr.get() if hasattr(arr, "get") else arr)  # CuPy -> host
    if a.ndim == 0:
        v = a.item()
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return np.array2string(a, precision=4, separator=", ",
                           max_line_width=60).replace("\n", " ")


def _shape(shape) -> str:
    return str(tuple(int(s) for s in shape))


def _roots(root, who):
    if isinstance(root, Tensor):
        return [root]
    if isinstance(root, (list, tuple)) and root and all(isinstance(r, Tensor) for r in root):
        return list(root)
    raise TypeError(f"{who}: expected a Tensor (or a non-empty list of Tensors) to draw the graph of, "
                    f"got {type(root).__name__}")


def _name_map(names, who):
    """id(leaf tensor or node) -> name, from a dict ``{name: tensor}`` or a Module."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters") and callable(names.named_parameters):
        items = list(names.named_parameters())
    elif isinstance(names, dict):
        items = list(names.items())
    else:
        raise TypeError(f"{who}: names must be a dict {{name: Tensor}} or a Module, got {type(names).__name__}")
    out = {}
    for k, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: names[{k!r}] is a {type(t).__name__}, not a Tensor")
        # a computed tensor is drawn as the op node that produced it
        out[id(t.grad_fn) if t.grad_fn is not None else id(t)] = str(k)
    return out


# ----------------------------------------------------------------------------- to_dot

class _Graph:
    """The drawable graph: ``nodes`` is a list of ``(key, label, kind)`` with kind one of
    "op", "leaf", "output", "more"; ``edges`` a list of ``(from key, to key, dashed)``
    in the direction data flows."""

    def __init__(self):
        self.nodes: list[tuple[str, str, str]] = []
        self.edges: list[tuple[str, str, bool]] = []


def _check_common(who, roots_arg, rankdir, max_nodes):
    roots = _roots(roots_arg, who)
    if rankdir not in _RANKDIRS:
        raise ValueError(f"{who}: rankdir must be one of {_RANKDIRS}, got {rankdir!r}")
    _checks.count(max_nodes, who, "max_nodes")
    return roots


def _build(roots, show_data: bool, max_nodes: int, labels: dict) -> _Graph:
    """Walk the graph behind ``roots`` breadth-first from the outputs (the nodes closest
    to the output are kept when it is cut at ``max_nodes``)."""
    graph = _Graph()
    ids: dict[int, str] = {}

    def node_id(obj):
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    def tensor_label(t: Tensor, default: str) -> str:
        parts = [labels.get(id(t), default)]
        parts.append(f"{_shape(t.shape)} {t.dtype}")
        if show_data and t.array.size <= TINY:
            parts.append("data " + _fmt_values(t.array))
            if t.grad is not None and t.grad.array.size <= TINY:
                parts.append("grad " + _fmt_values(t.grad.array))
        return "\n".join(parts)

    def op_label(node: Function) -> str:
        op = type(node).__name__
        name = labels.get(id(node))
        head = f"{name} = {op}" if name else op
        text = f"{head}\n-> {_shape(node._out_shape)}"
        retained = getattr(node, "_retained", None)
        t = retained() if retained is not None else None
        if show_data and t is not None and t.grad is not None and t.grad.array.size <= TINY:
            text += "\ngrad " + _fmt_values(t.grad.array)
        return text

    queue = deque()
    seen = set()
    for r in roots:
        target = r.grad_fn if r.grad_fn is not None else r
        if id(target) not in seen:
            seen.add(id(target))
            queue.append(target)
    drawn = []          # objects drawn, in BFS order
    while queue:
        obj = queue.popleft()
        if len(drawn) >= max_nodes:
            break
        drawn.append(obj)
        if isinstance(obj, Function):
            for nxt, _ in obj.next_functions:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    queue.append(nxt)
    drawn_ids = {id(o) for o in drawn}
    hidden = _count_reachable(roots) - len(drawn)

    for obj in drawn:
        if isinstance(obj, Function):
            graph.nodes.append((node_id(obj), op_label(obj), "op"))
        else:
            kind = "Parameter" if type(obj).__name__ == "Parameter" else "leaf"
            graph.nodes.append((node_id(obj), tensor_label(obj, kind), "leaf"))
    # the outputs themselves (a computed root is drawn as a box after its op)
    for k, r in enumerate(roots):
        if r.grad_fn is None:
            continue
        graph.nodes.append((f"out{k}", tensor_label(r, labels.get(id(r.grad_fn), "output")), "output"))
        graph.edges.append((node_id(r.grad_fn), f"out{k}", False))
    frontier = []       # drawn nodes with inputs that were not drawn
    for obj in drawn:
        if not isinstance(obj, Function):
            continue
        for nxt, _ in obj.next_functions:
            if nxt is None:
                continue
            if id(nxt) in drawn_ids:
                graph.edges.append((node_id(nxt), node_id(obj), False))
            elif node_id(obj) not in frontier:
                frontier.append(node_id(obj))
    if hidden > 0:
        graph.nodes.append(("more", f"... {hidden} more node{'s' if hidden != 1 else ''}\n(max_nodes={max_nodes})",
                            "more"))
        graph.edges += [("more", key, True) for key in frontier]
    return graph


def to_dot(root, rankdir: str = "LR", show_data: bool = True, max_nodes: int = 200, names=None) -> str:
    """The autograd graph that produced ``root``, as Graphviz DOT text.

    Args:
        root: a Tensor (or a list of Tensors, drawn together).
        rankdir: ``"LR"`` (inputs on the left, output on the right), ``"TB"``, ``"RL"`` or ``"BT"``.
        show_data: print the values (and gradients, once computed) of tensors with at
            most :data:`TINY` elements.
        max_nodes: draw at most this many nodes; the rest is summarised by one
            "... N more nodes" box (a real network's graph has thousands).
        names: ``{name: tensor}`` (or a Module, whose named parameters are used) to
            label tensors; a computed tensor's name labels the op that produced it.

    Returns the DOT source (a string). Needs nothing but the standard library and NumPy.
    """
    roots = _check_common("to_dot", root, rankdir, max_nodes)
    graph = _build(roots, show_data, max_nodes, _name_map(names, "to_dot"))
    style = {"op": 'shape=ellipse, style=filled, fillcolor="#fff2cc"',
             "leaf": 'shape=box, style=filled, fillcolor="#dae8fc"',
             "output": 'shape=box, style=filled, fillcolor="#d5e8d4"',
             "more": "shape=box, style=dashed"}
    lines = ["digraph autograd {", f"  rankdir={rankdir};", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [color="#555555"];']
    lines += [f'  {key} [label="{_escape(label)}", {style[kind]}];' for key, label, kind in graph.nodes]
    lines += [f"  {a} -> {b}{' [style=dashed]' if dashed else ''};" for a, b, dashed in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- to_svg

_FILL = {"op": "#fff2cc", "leaf": "#dae8fc", "output": "#d5e8d4", "more": "#ffffff"}
_CHAR_W, _LINE_H, _PAD, _GAP_RANK, _GAP_NODE = 6.6, 13.0, 8.0, 46.0, 18.0


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _layers(keys, edges):
    """Rank of every node: the length of its longest path from a node with no inputs."""
    inputs = {k: [] for k in keys}
    outputs = {k: [] for k in keys}
    for a, b, _ in edges:
        inputs[b].append(a)
        outputs[a].append(b)
    indegree = {k: len(v) for k, v in inputs.items()}
    rank = {k: 0 for k in keys}
    ready = deque(k for k in keys if indegree[k] == 0)
    while ready:  # Kahn's topological order (an autograd graph has no cycles)
        k = ready.popleft()
        for b in outputs[k]:
            rank[b] = max(rank[b], rank[k] + 1)
            indegree[b] -= 1
            if indegree[b] == 0:
                ready.append(b)
    # pull each input next to its first consumer (a leaf is used one rank later, not at 0)
    for k in sorted(keys, key=lambda k: -rank[k]):
        if outputs[k]:
            rank[k] = min(rank[b] for b in outputs[k]) - 1
    return rank, inputs, outputs


def _order(columns, inputs, outputs):
    """Order nodes inside each column by the mean position of their neighbours
    (a few sweeps of the barycentre heuristic: fewer crossing edges)."""
    pos = {k: i for col in columns for i, k in enumerate(col)}
    for sweep in range(4):
        cols = columns if sweep % 2 == 0 else columns[::-1]
        for col in cols:
            def centre(k):
                nb = (inputs if sweep % 2 == 0 else outputs)[k]
                return sum(pos[n] for n in nb) / len(nb) if nb else pos[k]
            col.sort(key=centre)
            for i, k in enumerate(col):
                pos[k] = i
    return columns


def _svg(graph: _Graph, rankdir: str) -> str:
    keys = [k for k, _, _ in graph.nodes]
    info = {k: (label.split("\n"), kind) for k, label, kind in graph.nodes}
    rank, inputs, outputs = _layers(keys, graph.edges)
    columns = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for k in keys:
        columns[rank[k]].append(k)
    columns = _order([c for c in columns if c], inputs, outputs)
    size = {}
    for k in keys:
        lines, kind = info[k]
        w = max(len(line) for line in lines) * _CHAR_W + 2 * _PAD
        h = len(lines) * _LINE_H + 2 * _PAD
        if kind == "op":  # an ellipse needs more room than a box around the same text
            w, h = w * 1.25, h * 1.2
        size[k] = (w, h)
    horizontal = rankdir in ("LR", "RL")
    # along: the direction of the ranks; across: inside a rank
    along_len = (lambda k: size[k][0]) if horizontal else (lambda k: size[k][1])
    across_len = (lambda k: size[k][1]) if horizontal else (lambda k: size[k][0])
    col_len = [max(along_len(k) for k in col) for col in columns]
    col_span = [sum(across_len(k) for k in col) + _GAP_NODE * (len(col) - 1) for col in columns]
    total_across = max(col_span)
    total_along = sum(col_len) + _GAP_RANK * (len(columns) - 1)
    centre, col_of, col_start = {}, {}, []
    along = 0.0
    for c, (col, length, span) in enumerate(zip(columns, col_len, col_span)):
        col_start.append(along)
        across = (total_across - span) / 2
        for k in col:
            centre[k] = (along + length / 2, across + across_len(k) / 2)
            col_of[k] = c
            across += across_len(k) + _GAP_NODE
        along += length + _GAP_RANK
    margin = 6.0

    def point(a, c):
        """(x, y) of a point given along the ranks and across them."""
        if rankdir in ("RL", "BT"):
            a = total_along - a
        return (a + margin, c + margin) if horizontal else (c + margin, a + margin)

    def xy(k):
        return point(*centre[k])

    width = (total_along if horizontal else total_across) + 2 * margin
    height = (total_across if horizontal else total_along) + 2 * margin
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="Helvetica, Arial, sans-serif" font-size="10">',
           '<defs><marker id="mg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555555"/></marker></defs>']
    for a, b, dashed in graph.edges:
        # straight out of a's column, a curve through the gap, straight into b
        (aa, ca), (ab, cb) = centre[a], centre[b]
        ea, eb = col_of[a], col_of[b]
        pts = [point(aa + along_len(a) / 2, ca), point(col_start[ea] + col_len[ea], ca),
               None, None, point(col_start[eb], cb), point(ab - along_len(b) / 2, cb)]
        mid = (col_start[ea] + col_len[ea] + col_start[eb]) / 2
        pts[2], pts[3] = point(mid, ca), point(mid, cb)
        (x0, y0), (x1, y1), (x2, y2), (x3, y3), (x4, y4), (x5, y5) = pts
        path = (f"M {x0:.1f} {y0:.1f} L {x1:.1f} {y1:.1f} C {x2:.1f} {y2:.1f}, {x3:.1f} {y3:.1f}, "
                f"{x4:.1f} {y4:.1f} L {x5:.1f} {y5:.1f}")
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<path d="{path}" fill="none" stroke="#555555"{dash} marker-end="url(#mg-arrow)"/>')
    for k in keys:
        lines, kind = info[k]
        (x, y), (w, h) = xy(k), size[k]
        dash = ' stroke-dasharray="4 3"' if kind == "more" else ""
        if kind == "op":
            out.append(f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                       f'fill="{_FILL[kind]}" stroke="#333333"/>')
        else:
            out.append(f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" '
                       f'fill="{_FILL[kind]}" stroke="#333333"{dash}/>')
        top = y - (len(lines) - 1) * _LINE_H / 2
        spans = "".join(f'<tspan x="{x:.1f}" y="{top + i * _LINE_H:.1f}">{_xml(line)}</tspan>'
                        for i, line in enumerate(lines))
        out.append(f'<text text-anchor="middle" dominant-baseline="central">{spans}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_svg(root, rankdir: str = "LR", show_data: bool = True, max_nodes: int = 200, names=None) -> str:
    """The autograd graph that produced ``root`` as an SVG picture, laid out in Python.

    The same graph and labels as :func:`to_dot`, drawn without Graphviz: every node
    goes in the rank of its longest path from an input (an input sits just before
    its first use), the nodes of a rank are ordered by the mean position of their
    neighbours, and edges are curves from one rank to the next. Graphviz's layout
    is better for big graphs; this one needs nothing but the standard library.
    The arguments are those of :func:`to_dot`.

    Returns the SVG text (a string).
    """
    roots = _check_common("to_svg", root, rankdir, max_nodes)
    return _svg(_build(roots, show_data, max_nodes, _name_map(names, "to_svg")), rankdir)


def _count_reachable(roots) -> int:
    """How many op nodes and leaf tensors the graph has (iteratively: deep graphs are fine)."""
    seen = set()
    stack = []
    for r in roots:
        target = r.grad_fn if r.grad_fn is not None else r
        if id(target) not in seen:
            seen.add(id(target))
            stack.append(target)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Function):
            for nxt, _ in obj.next_functions:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append(nxt)
    return len(seen)


# ----------------------------------------------------------------------------- draw_graph

class GraphDrawing:
    """What :func:`draw_graph` returns: the picture, and the DOT text behind it.

    * ``source`` - the DOT text (also ``str(drawing)``);
    * ``format`` - ``"svg"``, ``"png"`` or ``"dot"`` (what you actually got);
    * ``data`` - the SVG text, the PNG bytes, or None for ``"dot"``;
    * ``engine`` - who drew it: ``"graphviz"``, ``"python"`` (:func:`to_svg`), or None;
    * ``reason`` - why you got something other than what you asked for (else None);
    * ``save(path)`` - write the picture (or the DOT text) to a file.

    In Jupyter it displays as the picture (or as a DOT code block for ``format="dot"``).
    """

    def __init__(self, source: str, format: str, data=None, reason: str | None = None,
                 engine: str | None = None):
        self.source = source
        self.format = format
        self.data = data
        self.reason = reason
        self.engine = engine

    def _repr_svg_(self):
        return self.data if self.format == "svg" else None

    def _repr_png_(self):
        return self.data if self.format == "png" else None

    def _repr_markdown_(self):
        if self.format != "dot":
            return None
        note = f"*({self.reason})*\n\n" if self.reason else ""
        return f"{note}```dot\n{self.source}```"

    def __str__(self):
        return self.source

    def __repr__(self):
        n = sum(1 for line in self.source.splitlines() if "[label=" in line)
        by = f" by {self.engine}" if self.engine else ""
        extra = f"; {self.reason}" if self.reason else ""
        return f"<GraphDrawing: {n} nodes as {self.format}{by}{extra}>"

    def save(self, path):
        """Write the picture to ``path`` (or the DOT text, when that is all there is). Returns ``path``."""
        if self.format == "png":
            with open(path, "wb") as f:
                f.write(self.data)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.data if self.format == "svg" else self.source)
        return path


def _render(source: str, fmt: str):
    """(data, reason): the picture rendered by Graphviz, or (None, why not)."""
    try:
        import graphviz
    except ImportError:
        return None, "the graphviz Python package is not installed (pip install graphviz)"
    try:
        if fmt == "svg":
            return graphviz.Source(source).pipe(format="svg", encoding="utf-8"), None
        return graphviz.Source(source).pipe(format=fmt), None
    except graphviz.ExecutableNotFound:
        return None, "the Graphviz 'dot' program is not installed (e.g. apt-get install graphviz)"
    except graphviz.CalledProcessError as e:  # a bug in our DOT text: say so rather than hide it
        raise RuntimeError(f"draw_graph: Graphviz could not render the graph: {e}") from None


def draw_graph(root, format: str = "svg", rankdir: str = "LR", show_data: bool = True, max_nodes: int = 200,
               names=None, engine: str = "auto") -> GraphDrawing:
    """Draw the autograd graph behind ``root``: a :class:`GraphDrawing` that Jupyter shows.

    Args:
        root: a Tensor (or a list of Tensors, drawn together).
        rankdir: ``"LR"``, ``"TB"``, ``"RL"`` or ``"BT"``, as in :func:`to_dot`.
        show_data: print the values and gradients of tiny tensors, as in :func:`to_dot`.
        max_nodes: draw at most this many nodes, as in :func:`to_dot`.
        names: ``{name: tensor}`` or a Module, to label tensors, as in :func:`to_dot`.
        format: ``"svg"`` (default), ``"png"`` (Graphviz only), or ``"dot"`` (the DOT
            text, never rendered).
        engine: ``"auto"`` (default) uses Graphviz when the ``graphviz`` package and
            the ``dot`` program are installed and :func:`to_svg` otherwise;
            ``"graphviz"`` insists on Graphviz (RuntimeError without it);
            ``"python"`` always uses :func:`to_svg`. A PNG asked for without Graphviz
            comes back as SVG, and ``drawing.reason`` says why.

    Example:
        >>> x = minigrad.tensor([1.0, 2.0], requires_grad=True)
        >>> draw_graph((x * x).sum(), names={"x": x})      # doctest: +SKIP
        <GraphDrawing: 4 nodes as svg by python>
    """
    if format not in _FORMATS:
        raise ValueError(f"draw_graph: format must be one of {_FORMATS}, got {format!r}")
    if engine not in _ENGINES:
        raise ValueError(f"draw_graph: engine must be one of {_ENGINES}, got {engine!r}")
    roots = _check_common("draw_graph", root, rankdir, max_nodes)
    source = to_dot(roots, rankdir=rankdir, show_data=show_data, max_nodes=max_nodes, names=names)
    if format == "dot":
        return GraphDrawing(source, "dot")
    reason = None
    if engine != "python":
        data, reason = _render(source, format)
        if data is not None:
            return GraphDrawing(source, format, data, engine="graphviz")
        if engine == "graphviz":
            raise RuntimeError(f"draw_graph: engine='graphviz' but {reason}")
        reason = f"drawn without Graphviz: {reason}" if format == "png" else None
    elif format == "png":
        reason = "PNG needs Graphviz; engine='python' draws SVG"
    svg = _svg(_build(roots, show_data, max_nodes, _name_map(names, "draw_graph")), rankdir)
    return GraphDrawing(source, "svg", svg, reason=reason, engine="python")
