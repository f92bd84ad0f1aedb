"""Drawing the computation graph that autograd records.

Every Tensor computed from a tensor that requires a gradient carries a
``grad_fn``: the :class:`~minigrad.autograd.Function` node that made it. A node
points at the nodes of its inputs through ``node.next_functions`` - one entry per
forward argument: another node, a *leaf* Tensor (one you created, e.g. a weight),
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
standard library; :func:`draw_graph` renders the DOT text to SVG (or PNG) with the
``graphviz`` Python package and the ``dot`` program when both are installed
(``pip install graphviz`` and your system's graphviz package), and otherwise
returns the DOT text, shown as a code block in Jupyter.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from minigrad.autograd import Function
from minigrad.tensor import Tensor

__all__ = ["to_dot", "draw_graph", "GraphDrawing"]

#: tensors with at most this many elements show their values when ``show_data`` is on
TINY = 8

_FORMATS = ("svg", "png", "dot")
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
    who = "to_dot"
    roots = _roots(root, who)
    if rankdir not in _RANKDIRS:
        raise ValueError(f"{who}: rankdir must be one of {_RANKDIRS}, got {rankdir!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
        raise ValueError(f"{who}: max_nodes must be a positive integer, got {max_nodes!r}")
    labels = _name_map(names, who)

    ids: dict[int, str] = {}
    lines = []

    def node_id(obj):
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    def tensor_label(t: Tensor, default: str) -> str:
        parts = [labels.get(id(t), default)]
        parts.append(f"{_shape(t.shape)} {t.dtype}")
        if show_data and t.data.size <= TINY:
            parts.append("data " + _fmt_values(t.data))
            if t.grad is not None and t.grad.data.size <= TINY:
                parts.append("grad " + _fmt_values(t.grad.data))
        return "\n".join(parts)

    def op_label(node: Function) -> str:
        op = type(node).__name__
        name = labels.get(id(node))
        head = f"{name} = {op}" if name else op
        text = f"{head}\n-> {_shape(node._out_shape)}"
        retained = getattr(node, "_retained", None)
        t = retained() if retained is not None else None
        if show_data and t is not None and t.grad is not None and t.grad.data.size <= TINY:
            text += "\ngrad " + _fmt_values(t.grad.data)
        return text

    # Breadth-first from the outputs: the nodes closest to the output are kept when
    # the graph is cut at max_nodes.
    queue = deque()
    seen = set()
    for r in roots:
        target = r.grad_fn if r.grad_fn is not None else r
        if id(target) not in seen:
            seen.add(id(target))
            queue.append(target)
    drawn = []          # objects drawn, in BFS order
    frontier = set()    # ids of drawn nodes with inputs that were not drawn
    while queue:
        obj = queue.popleft()
        if len(drawn) >= max_nodes:
            break
        drawn.append(obj)
        if isinstance(obj, Function):
            for nxt in obj.next_functions:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    queue.append(nxt)
    drawn_ids = {id(o) for o in drawn}
    hidden = _count_reachable(roots) - len(drawn)

    lines.append("digraph autograd {")
    lines.append(f"  rankdir={rankdir};")
    lines.append('  node [fontname="Helvetica", fontsize=10];')
    lines.append('  edge [color="#555555"];')
    for obj in drawn:
        if isinstance(obj, Function):
            lines.append(f'  {node_id(obj)} [label="{_escape(op_label(obj))}", shape=ellipse, '
                         'style=filled, fillcolor="#fff2cc"];')
        else:
            kind = "Parameter" if type(obj).__name__ == "Parameter" else "leaf"
            lines.append(f'  {node_id(obj)} [label="{_escape(tensor_label(obj, kind))}", shape=box, '
                         'style=filled, fillcolor="#dae8fc"];')
    # the outputs themselves (a computed root is drawn as a box after its op)
    for r in roots:
        if r.grad_fn is None:
            continue
        rid = f"out{roots.index(r)}"
        label = tensor_label(r, labels.get(id(r.grad_fn), "output"))
        lines.append(f'  {rid} [label="{_escape(label)}", shape=box, style=filled, '
                     'fillcolor="#d5e8d4"];')
        lines.append(f"  {node_id(r.grad_fn)} -> {rid};")
    # edges input -> op (the direction data flows in the forward pass)
    for obj in drawn:
        if not isinstance(obj, Function):
            continue
        for nxt in obj.next_functions:
            if nxt is None:
                continue
            if id(nxt) in drawn_ids:
                lines.append(f"  {node_id(nxt)} -> {node_id(obj)};")
            else:
                frontier.add(id(obj))
    if hidden > 0:
        lines.append(f'  more [label="... {hidden} more node{"s" if hidden != 1 else ""}\\n(max_nodes={max_nodes})", '
                     'shape=box, style=dashed];')
        for obj in drawn:
            if id(obj) in frontier:
                lines.append(f"  more -> {node_id(obj)} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
            for nxt in obj.next_functions:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append(nxt)
    return len(seen)


# ----------------------------------------------------------------------------- draw_graph

class GraphDrawing:
    """What :func:`draw_graph` returns: the DOT text, and the rendered picture when
    Graphviz could draw it.

    * ``source`` - the DOT text (also ``str(drawing)``);
    * ``format`` - ``"svg"``, ``"png"`` or ``"dot"`` (what you actually got);
    * ``data`` - the SVG text, the PNG bytes, or None for ``"dot"``;
    * ``reason`` - why there is no picture (None when there is one);
    * ``save(path)`` - write the picture (or the DOT text) to a file.

    In Jupyter it displays as the picture, or as a DOT code block without Graphviz.
    """

    def __init__(self, source: str, format: str, data=None, reason: str | None = None):
        self.source = source
        self.format = format
        self.data = data
        self.reason = reason

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
        extra = f"; {self.reason}" if self.reason else ""
        return f"<GraphDrawing: {n} nodes as {self.format}{extra}>"

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
    """(data, reason): the rendered picture, or (None, why not)."""
    try:
        import graphviz
    except ImportError:
        return None, "the graphviz Python package is not installed: pip install graphviz"
    try:
        if fmt == "svg":
            return graphviz.Source(source).pipe(format="svg", encoding="utf-8"), None
        return graphviz.Source(source).pipe(format=fmt), None
    except graphviz.ExecutableNotFound:
        return None, "the Graphviz 'dot' program is not installed (e.g. apt-get install graphviz)"
    except graphviz.CalledProcessError as e:  # a bug in our DOT text: say so rather than hide it
        raise RuntimeError(f"draw_graph: Graphviz could not render the graph: {e}") from None


def draw_graph(root, format: str = "svg", rankdir: str = "LR", show_data: bool = True, max_nodes: int = 200,
               names=None) -> GraphDrawing:
    """Draw the autograd graph behind ``root``: a :class:`GraphDrawing` that Jupyter shows.

    ``format``: ``"svg"`` (default) or ``"png"`` render with Graphviz when the
    ``graphviz`` package and the ``dot`` program are installed, and fall back to the
    DOT text otherwise (``drawing.reason`` says why); ``"dot"`` never renders.
    The other arguments are those of :func:`to_dot`.

    >>> x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    >>> draw_graph((x * x).sum(), names={"x": x})      # doctest: +SKIP
    """
    if format not in _FORMATS:
        raise ValueError(f"draw_graph: format must be one of {_FORMATS}, got {format!r}")
    _roots(root, "draw_graph")  # the TypeError names draw_graph, not to_dot
    source = to_dot(root, rankdir=rankdir, show_data=show_data, max_nodes=max_nodes, names=names)
    if format == "dot":
        return GraphDrawing(source, "dot")
    data, reason = _render(source, format)
    if data is None:
        return GraphDrawing(source, "dot", reason=reason)
    return GraphDrawing(source, format, data)
