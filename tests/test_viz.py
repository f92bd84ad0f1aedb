"""minigrad.viz: the autograd graph as DOT text, as an SVG laid out in Python, and through
Graphviz when it is installed."""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.viz import GraphDrawing, draw_graph, to_dot, to_svg


def _nodes(dot):
    """{node id: label} of a DOT text written by to_dot."""
    return {m.group(1): m.group(2) for m in re.finditer(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M)}


def _edges(dot):
    return set(re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M))


def _by_label(nodes, start):
    found = [k for k, v in nodes.items() if v.startswith(start)]
    assert len(found) == 1, f"expected one node labelled {start!r}, got {found} in {nodes}"
    return found[0]


def _small_graph():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor(3.0, requires_grad=True)
    c = mg.tensor([5.0, 6.0])             # a constant: no gradient, not drawn
    h = (a * b + c).tanh()
    out = h.sum()
    return a, b, h, out


def test_dot_has_the_ops_the_leaves_and_the_edges():
    a, b, h, out = _small_graph()
    dot = to_dot(out, names={"a": a, "b": b})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes = _nodes(dot)
    mul, add, tanh, s = (_by_label(nodes, op) for op in ("Mul\\n", "Add\\n", "Tanh\\n", "Sum\\n"))
    na, nb = _by_label(nodes, "a\\n"), _by_label(nodes, "b\\n")
    outn = _by_label(nodes, "output\\n")
    assert len(nodes) == 7  # 4 ops, 2 leaves, the output; the constant c is not a node
    assert _edges(dot) == {(na, mul), (nb, mul), (mul, add), (add, tanh), (tanh, s), (s, outn)}
    # shapes, dtypes and values of tiny tensors
    assert "(2,) float32" in nodes[na] and "data [1., 2.]" in nodes[na]
    assert "() float32" in nodes[nb] and "data 3" in nodes[nb]
    assert "-> (2,)" in nodes[tanh] and "-> ()" in nodes[s]


def test_gradients_appear_after_backward_and_names_label_ops():
    a, b, h, out = _small_graph()
    assert "\\ngrad " not in to_dot(out, names={"a": a})
    out.backward(retain_graph=True)
    nodes = _nodes(to_dot(out, names={"a": a, "h": h}))
    la = nodes[_by_label(nodes, "a\\n")]
    grad_text = [line for line in la.split("\\n") if line.startswith("grad ")]
    assert len(grad_text) == 1
    shown = [float(v) for v in re.findall(r"[-+0-9.e]+", grad_text[0])]
    np.testing.assert_allclose(shown, a.grad.array, rtol=1e-3, atol=1e-4)
    assert any(v.startswith("h = Tanh") for v in nodes.values())


def test_show_data_false_hides_values():
    a, b, h, out = _small_graph()
    dot = to_dot(out, show_data=False)
    assert "data" not in dot and "float32" in dot


def test_module_names_and_parameters():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = model(mg.randn(5, 3)).pow(2).mean()
    nodes = _nodes(to_dot(loss, names=model))
    labels = [v.split("\\n")[0] for v in nodes.values()]
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert name in labels
    assert "(4, 3) float32" in nodes[_by_label(nodes, "0.weight\\n")]
    unnamed = nn.Linear(2, 2)
    nodes = _nodes(to_dot(unnamed(mg.randn(1, 2)).sum()))
    assert sum(v.startswith("Parameter\\n") for v in nodes.values()) == 2


def test_leaf_root_is_one_node():
    x = mg.tensor([1.0], requires_grad=True)
    dot = to_dot(x, names={"x": x})
    assert len(_nodes(dot)) == 1 and not _edges(dot)


def test_shared_subexpression_is_drawn_once():
    x = mg.tensor(2.0, requires_grad=True)
    y = x * x
    z = y + y
    nodes = _nodes(to_dot(z))
    assert sum(v.startswith("Mul") for v in nodes.values()) == 1
    edges = _edges(to_dot(z))
    mul, add = _by_label(nodes, "Mul"), _by_label(nodes, "Add")
    assert (mul, add) in edges


def test_max_nodes_truncates_a_long_chain():
    x = mg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(300):  # a 300-op chain
        y = y * 1.001
    dot = to_dot(y, max_nodes=10)
    nodes = _nodes(dot)
    assert len(nodes) == 10 + 2  # 10 drawn, the output box, the "more" box
    assert "291 more nodes" in nodes["more"]  # 300 ops + 1 leaf - 10 drawn
    assert any(a == "more" for a, _ in _edges(dot))
    full = _nodes(to_dot(y, max_nodes=1000))
    assert len(full) == 302 and "more" not in full


def test_labels_are_escaped():
    class Weird(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = mg.tensor([1.0], requires_grad=True)
    dot = to_dot(Weird.apply(x), names={'say "hi"\\': x})
    assert 'say \\"hi\\"\\\\' in dot
    assert "Weird" in dot


@pytest.mark.parametrize("bad", [np.ones(3), [1.0, 2.0], None, 3.0, []])
def test_non_tensor_input_is_a_type_error(bad):
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        to_dot(bad)
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        draw_graph(bad)


def test_bad_arguments():
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(x * 2, rankdir="sideways")
    with pytest.raises(ValueError, match="max_nodes"):
        to_dot(x * 2, max_nodes=0)
    with pytest.raises(ValueError, match="format"):
        draw_graph(x * 2, format="jpeg-ish")
    with pytest.raises(TypeError, match="names"):
        to_dot(x * 2, names=["x"])
    with pytest.raises(TypeError, match="names"):
        to_dot(x * 2, names={"x": 1.0})


def test_dot_format_never_renders(tmp_path):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = draw_graph((x * x).sum(), format="dot", rankdir="TB")
    assert isinstance(d, GraphDrawing) and d.format == "dot" and d.data is None
    assert "rankdir=TB" in str(d)
    assert d._repr_svg_() is None and d._repr_png_() is None
    md = d._repr_markdown_()
    assert md.startswith("```dot\ndigraph") and md.endswith("```")
    p = d.save(tmp_path / "g.dot")
    assert open(p).read() == d.source


def _no_graphviz(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)


def test_without_graphviz_the_picture_is_drawn_in_python(monkeypatch):
    _no_graphviz(monkeypatch)
    a, b, h, out = _small_graph()
    d = draw_graph(out, names={"a": a})
    assert d.format == "svg" and d.engine == "python" and d.reason is None
    assert d._repr_svg_() == d.data and d._repr_markdown_() is None and "Mul" in str(d)
    ET.fromstring(d.data)  # well-formed
    png = draw_graph(out, format="png")
    assert png.format == "svg" and png.engine == "python" and "pip install graphviz" in png.reason
    with pytest.raises(RuntimeError, match="engine='graphviz'.*pip install graphviz"):
        draw_graph(out, engine="graphviz")


SVG = "{http://www.w3.org/2000/svg}"


def _svg_boxes(svg):
    """[(first label line, (x0, y0, x1, y1))] of every node of a to_svg picture, and the edge count."""
    root = ET.fromstring(svg)
    shapes = [e for e in root if e.tag in (SVG + "rect", SVG + "ellipse")]
    texts = [e for e in root if e.tag == SVG + "text"]
    assert len(shapes) == len(texts)
    boxes = []
    for shape, text in zip(shapes, texts):
        f = {k: float(v) for k, v in shape.attrib.items() if k in ("x", "y", "width", "height", "cx", "cy", "rx", "ry")}
        if shape.tag == SVG + "rect":
            box = (f["x"], f["y"], f["x"] + f["width"], f["y"] + f["height"])
        else:
            box = (f["cx"] - f["rx"], f["cy"] - f["ry"], f["cx"] + f["rx"], f["cy"] + f["ry"])
        lines = [t.text for t in text]
        assert all(box[0] <= float(t.attrib["x"]) <= box[2] for t in text)
        boxes.append((lines[0], box))
    edges = [e for e in root if e.tag == SVG + "path"]
    return boxes, len(edges)


@pytest.mark.parametrize("rankdir", ["LR", "TB", "RL", "BT"])
def test_to_svg_lays_out_every_node_without_overlaps_and_edges_point_forward(rankdir):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = model(mg.randn(5, 3)).pow(2).mean()
    dot = to_dot(loss, names=model)
    found, n_edges = _svg_boxes(to_svg(loss, names=model, rankdir=rankdir))
    assert len(found) == len(_nodes(dot)) and n_edges == len(_edges(dot))
    boxes = dict(found)
    assert {"0.weight", "0.bias", "2.weight", "2.bias", "Relu", "output"} <= set(boxes)
    items = [box for _, box in found]
    for i, p in enumerate(items):
        for q in items[i + 1:]:
            apart = p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1]
            assert apart, f"overlapping nodes {p} {q}"
    # data flows along rankdir: input before its op, op before the output
    axis, sign = {"LR": (0, 1), "RL": (0, -1), "TB": (1, 1), "BT": (1, -1)}[rankdir]

    def centre(name):
        b = boxes[name]
        return round((b[axis] + b[axis + 2]) / 2 * sign, 3)

    assert centre("0.weight") < centre("Relu") <= centre("2.weight") < centre("output")


def test_to_svg_escapes_text_and_keeps_labels():
    x = mg.tensor([1.0], requires_grad=True)
    svg = to_svg((x * 2).sum(), names={"<x> & y": x})
    boxes = dict(_svg_boxes(svg)[0])
    assert "<x> & y" in boxes and "Mul" in boxes and "Sum" in boxes


def test_to_svg_truncated_graph_has_the_more_box():
    x = mg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(50):
        y = y * 1.001
    found, n_edges = _svg_boxes(to_svg(y, max_nodes=5))
    assert "... 46 more nodes" in dict(found) and len(found) == 7 and n_edges == 6


def test_engine_python_and_bad_engine():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = draw_graph((x * x).sum(), engine="python", rankdir="TB")
    assert d.format == "svg" and d.engine == "python" and "<svg" in d.data
    assert repr(d) == "<GraphDrawing: 4 nodes as svg by python>"
    with pytest.raises(ValueError, match="engine"):
        draw_graph(x * 2, engine="matplotlib")
    with pytest.raises(TypeError, match="to_svg: expected a Tensor"):
        to_svg([1.0])


def _have_dot():
    graphviz = pytest.importorskip("graphviz")
    try:
        graphviz.Source("digraph { a }").pipe(format="svg")
    except graphviz.ExecutableNotFound:
        pytest.skip("the Graphviz 'dot' program is not installed")


def test_svg_when_graphviz_is_installed(tmp_path):
    _have_dot()
    a, b, h, out = _small_graph()
    d = draw_graph(out, names={"a": a})
    assert d.format == "svg" and d.reason is None and d.engine == "graphviz"
    svg = d._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "Tanh" in svg
    assert d._repr_markdown_() is None
    assert open(d.save(tmp_path / "g.svg")).read() == svg
    png = draw_graph(out, format="png")
    assert png.format == "png" and png._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
