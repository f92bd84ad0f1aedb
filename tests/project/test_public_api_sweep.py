"""Every public op and layer against hostile inputs, in both kernel sets.

The list of ops comes from the public API itself (the functions of ``minigrad.ops`` and
``minigrad.nn.functional``, the Module classes of ``minigrad.nn``): an op that takes
one tensor is swept automatically, every other one needs a recipe below (how to call
it around one hostile tensor) or a reason in ``NOT_SWEPT``; a test fails when a new
public op has neither. For each op and each input of :func:`_hostile_inputs.variants`
(dtypes, zero-size, 0-d, transposed/reversed/stride-0/read-only memory, NaN/inf, 1e30)
the forward (and, for float inputs, the backward) must return or raise an allowed
error naming the op.
"""
import inspect

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.ops as ops

from _hostile_inputs import check_call, layer_names, names_of, variants

# NumPy warns about overflow and invalid values on these inputs; the results are what is tested
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _public_functions():
    out = {}
    for mod in (ops, F):
        for k, v in vars(mod).items():
            if k.startswith("_") or not inspect.isfunction(v):
                continue
            if not (v.__module__.startswith("minigrad.ops") or v.__module__.startswith("minigrad.nn")):
                continue
            out.setdefault(k, v)
    return out


def _required(fn):
    return [p for p in inspect.signature(fn).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


FUNCTIONS = _public_functions()
UNARY = []  # filled below, once RECIPES and NOT_SWEPT exist


def T(a):
    return mg.from_numpy(a) if isinstance(a, np.ndarray) and a.flags.writeable else mg.tensor(a)


def _f32(*shape):
    return mg.tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32))


def _i64(values):
    return mg.tensor(np.asarray(values, np.int64))


# How to call each multi-argument op around one hostile 2-D tensor x (shape (2, 3) for
# the float32 variant). The other arguments are valid for that shape.
RECIPES = {
    "add": lambda x: ops.add(x, x), "sub": lambda x: ops.sub(x, 1.0), "mul": lambda x: ops.mul(x, x),
    "div": lambda x: ops.div(x, x), "pow": lambda x: ops.pow(x, x), "maximum": lambda x: ops.maximum(x, x),
    "minimum": lambda x: ops.minimum(x, x), "eq": lambda x: ops.eq(x, x), "ne": lambda x: ops.ne(x, 0),
    "lt": lambda x: ops.lt(x, x), "le": lambda x: ops.le(x, x), "gt": lambda x: ops.gt(x, 0),
    "ge": lambda x: ops.ge(x, x), "logical_and": lambda x: ops.logical_and(x, x),
    "logical_or": lambda x: ops.logical_or(x, x), "allclose": lambda x: ops.allclose(x, x),
    "equal": lambda x: ops.equal(x, x), "where": lambda x: ops.where(x > 0, x, x),
    "lerp": lambda x: ops.lerp(x, x, 0.5), "logaddexp": lambda x: ops.logaddexp(x, x),
    "matmul": lambda x: ops.matmul(x, ops.t(x)),
    "mm": lambda x: ops.mm(x, ops.t(x)), "bmm": lambda x: ops.bmm(ops.unsqueeze(x, 0), ops.unsqueeze(ops.t(x), 0)),
    "dot": lambda x: ops.dot(ops.flatten(x), ops.flatten(x)), "outer": lambda x: ops.outer(x, x),
    "addmm": lambda x: ops.addmm(x, x, ops.t(x)),
    "baddbmm": lambda x: ops.baddbmm(x, x, x),
    "einsum": lambda x: ops.einsum("ij,kj->ik", x, x), "cdist": lambda x: ops.cdist(x, x),
    "broadcast_to": lambda x: ops.broadcast_to(x, (4,) + tuple(x.shape)),
    "expand": lambda x: ops.expand(x, 4, *x.shape), "reshape": lambda x: ops.reshape(x, -1),
    "view": lambda x: ops.view(x, -1), "sum_to": lambda x: ops.sum_to(x, (1,) * x.ndim),
    "unflatten": lambda x: ops.unflatten(x, -1, (-1, 1)), "unsqueeze": lambda x: ops.unsqueeze(x, 0),
    "permute": lambda x: ops.permute(x, *reversed(range(x.ndim))),
    "transpose": lambda x: ops.transpose(x, 0, -1), "swapaxes": lambda x: ops.swapaxes(x, 0, -1),
    "swapdims": lambda x: ops.swapdims(x, 0, -1), "movedim": lambda x: ops.movedim(x, 0, -1),
    "split": lambda x: ops.split(x, 1, -1), "chunk": lambda x: ops.chunk(x, 2, -1),
    "flip": lambda x: ops.flip(x, -1), "repeat": lambda x: ops.repeat(x, *(2,) * x.ndim),
    "tile": lambda x: ops.tile(x, (2,)), "repeat_interleave": lambda x: ops.repeat_interleave(x, 2),
    "pad": lambda x: ops.pad(x, (1, 1)), "roll": lambda x: ops.roll(x, 1, -1),
    "narrow": lambda x: ops.narrow(x, -1, 0, 1), "select": lambda x: ops.select(x, -1, 0),
    "index_select": lambda x: ops.index_select(x, -1, _i64([0, 0])),
    "gather": lambda x: ops.gather(x, -1, mg.tensor(np.zeros(x.shape[:-1] + (1,), np.int64))),
    "scatter_add": lambda x: ops.scatter_add(x, -1, mg.tensor(np.zeros(x.shape, np.int64)), x),
    "masked_fill": lambda x: ops.masked_fill(x, x > 0, 0.0), "getitem": lambda x: ops.getitem(x, 0),
    "cumsum": lambda x: ops.cumsum(x, -1), "cumprod": lambda x: ops.cumprod(x, -1),
    "logcumsumexp": lambda x: ops.logcumsumexp(x, -1), "diff": lambda x: ops.diff(x),
    "topk": lambda x: ops.topk(x, 1), "cast": lambda x: ops.cast(x, np.float64),
    "isin": lambda x: ops.isin(x, x), "bucketize": lambda x: ops.bucketize(x, mg.tensor([0.0, 1.0])),
    "searchsorted": lambda x: ops.searchsorted(mg.tensor([0.0, 1.0]), x),
    "multinomial": lambda x: ops.multinomial(ops.abs(x) + 1, 1),
    "linear": lambda x: ops.linear(x, _f32(4, x.shape[-1] if x.ndim else 1).to(x.dtype)),
    "bilinear": lambda x: F.bilinear(x, x, _f32(4, *(x.shape[-1:] * 2 or (1, 1))).to(x.dtype)),
    "layer_norm": lambda x: ops.layer_norm(x, x.shape[-1:]),
    "rms_norm": lambda x: F.rms_norm(x, x.shape[-1:]),
    "group_norm": lambda x: F.group_norm(ops.unsqueeze(x, -1), 1),
    "batch_norm": lambda x: F.batch_norm(x, None, None, training=True),
    "embedding": lambda x: ops.embedding(x, _f32(5, 3)),
    "embedding_bag": lambda x: F.embedding_bag(x, _f32(5, 3)),
    "one_hot": lambda x: ops.one_hot(x, 5),
    "cross_entropy": lambda x: ops.cross_entropy(x, _i64(np.zeros(x.shape[:1], np.int64))),
    "nll_loss": lambda x: F.nll_loss(x, _i64(np.zeros(x.shape[:1], np.int64))),
    "mse_loss": lambda x: F.mse_loss(x, x), "l1_loss": lambda x: F.l1_loss(x, x),
    "huber_loss": lambda x: F.huber_loss(x, x), "smooth_l1_loss": lambda x: F.smooth_l1_loss(x, x),
    "kl_div": lambda x: F.kl_div(x, x, reduction="batchmean"),
    "binary_cross_entropy": lambda x: F.binary_cross_entropy(x, x),
    "binary_cross_entropy_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, x),
    "cosine_similarity": lambda x: F.cosine_similarity(x, x),
    "pairwise_distance": lambda x: F.pairwise_distance(x, x),
    "triplet_margin_loss": lambda x: F.triplet_margin_loss(x, x, x),
    "prelu": lambda x: F.prelu(x, mg.tensor(np.full(1, 0.25, np.float32)).to(x.dtype)),
    "conv1d": lambda x: ops.conv1d(x, _f32(4, x.shape[0] if x.ndim else 1, 1).to(x.dtype)),
    "conv2d": lambda x: ops.conv2d(ops.unsqueeze(x, 0), _f32(4, 1, 1, 1).to(x.dtype)),
    "conv_transpose2d": lambda x: ops.conv_transpose2d(ops.unsqueeze(x, 0), _f32(1, 2, 2, 2).to(x.dtype)),
    "max_pool1d": lambda x: ops.max_pool1d(x, 2), "avg_pool1d": lambda x: ops.avg_pool1d(x, 2),
    "max_pool2d": lambda x: ops.max_pool2d(ops.unsqueeze(x, 0), 2, padding=1),
    "avg_pool2d": lambda x: ops.avg_pool2d(ops.unsqueeze(x, 0), 2, padding=1),
    "adaptive_avg_pool2d": lambda x: ops.adaptive_avg_pool2d(ops.unsqueeze(x, 0), 1),
    "unfold": lambda x: ops.unfold(ops.unsqueeze(x, 0), 2),
    "fold": lambda x: ops.fold(x, (3, 2), (2, 1)),
    "interpolate": lambda x: F.interpolate(ops.unsqueeze(x, 0), scale_factor=2),
    "pixel_shuffle": lambda x: F.pixel_shuffle(ops.unsqueeze(x, 0), 1),
    "pixel_unshuffle": lambda x: F.pixel_unshuffle(ops.unsqueeze(x, 0), 1),
    "scaled_dot_product_attention": lambda x: ops.scaled_dot_product_attention(
        ops.unsqueeze(ops.unsqueeze(x, 0), 0), ops.unsqueeze(ops.unsqueeze(x, 0), 0),
        ops.unsqueeze(ops.unsqueeze(x, 0), 0)),
}

# Public functions the sweep does not call, and why.
NOT_SWEPT = {
    "is_tensor": "takes any object, never raises",
    "numel": "reads a shape",
    "to_device": "moves memory; devices are tested in tests/examples/test_transfer.py",
    "cat": "takes a list; called through stack/split recipes' inverses in tests/ops",
    "stack": "takes a list; tested in tests/ops",
    "concat": "alias of cat", "concatenate": "alias of cat",
    "broadcast_tensors": "takes *tensors; tested in tests/ops",
    "clone": "copies",
}

UNARY = sorted(k for k, v in FUNCTIONS.items()
               if len(_required(v)) == 1 and k not in RECIPES and k not in NOT_SWEPT)

# Layers: (constructor, the input shape its recipe is built for).
LAYERS = {
    "Identity": (lambda: nn.Identity(), (2, 3)), "Linear": (lambda: nn.Linear(3, 4), (2, 3)),
    "Bilinear": None, "Flatten": (lambda: nn.Flatten(), (2, 3)),
    "Unflatten": (lambda: nn.Unflatten(1, (3, 1)), (2, 3)),
    "ReLU": (nn.ReLU, (2, 3)), "ReLU6": (nn.ReLU6, (2, 3)), "Hardtanh": (nn.Hardtanh, (2, 3)),
    "Sigmoid": (nn.Sigmoid, (2, 3)), "Tanh": (nn.Tanh, (2, 3)), "GELU": (nn.GELU, (2, 3)),
    "SiLU": (nn.SiLU, (2, 3)), "LeakyReLU": (nn.LeakyReLU, (2, 3)), "ELU": (nn.ELU, (2, 3)),
    "Softplus": (nn.Softplus, (2, 3)), "LogSigmoid": (nn.LogSigmoid, (2, 3)),
    "Softmax": (lambda: nn.Softmax(-1), (2, 3)), "LogSoftmax": (lambda: nn.LogSoftmax(-1), (2, 3)),
    "Softmin": (lambda: nn.Softmin(-1), (2, 3)), "Mish": (nn.Mish, (2, 3)),
    "Hardswish": (nn.Hardswish, (2, 3)), "Hardsigmoid": (nn.Hardsigmoid, (2, 3)),
    "PReLU": (nn.PReLU, (2, 3)), "Dropout": (nn.Dropout, (2, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (2, 3)), "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 2, 2)),
    "LayerNorm": (lambda: nn.LayerNorm(3), (2, 3)), "GroupNorm": (lambda: nn.GroupNorm(1, 3), (2, 3, 2)),
    "RMSNorm": (lambda: nn.RMSNorm(3), (2, 3)),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 2), (2, 3, 5)), "Conv2d": (lambda: nn.Conv2d(3, 4, 2), (2, 3, 4, 4)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 2), (2, 3, 4, 4)),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (2, 3, 4)), "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 3, 4, 4)),
    "AvgPool1d": (lambda: nn.AvgPool1d(2), (2, 3, 4)), "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 3, 4, 4)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    "Dropout2d": (nn.Dropout2d, (2, 3, 4, 4)), "Upsample": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 4)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (2, 4, 2, 2)),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), (2, 1, 4, 4)),
    "RNNCell": (lambda: nn.RNNCell(3, 4), (2, 3)), "LSTMCell": (lambda: nn.LSTMCell(3, 4), (2, 3)),
    "GRUCell": (lambda: nn.GRUCell(3, 4), (2, 3)),
    "RNN": (lambda: nn.RNN(3, 4, batch_first=True), (2, 5, 3)),
    "LSTM": (lambda: nn.LSTM(3, 4, batch_first=True), (2, 5, 3)),
    "GRU": (lambda: nn.GRU(3, 4, batch_first=True), (2, 5, 3)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2, batch_first=True), (2, 3, 4)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8, batch_first=True), (2, 3, 4)),
    "PositionalEncoding": (lambda: nn.PositionalEncoding(4, batch_first=True), (2, 3, 4)),
    "LearnedPositionalEncoding": (lambda: nn.LearnedPositionalEncoding(4, max_len=8, batch_first=True), (2, 3, 4)),
}

# Layer classes not swept, and why.
LAYERS_NOT_SWEPT = {
    "Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "RNNCellBase",
    "RNNBase", "DistributedDataParallel", "Bilinear", "Embedding", "EmbeddingBag", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer", "CosineSimilarity", "PairwiseDistance",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss", "TripletMarginLoss",
}  # containers and abstract bases; two-input layers and losses go through their functions' recipes


def _layer_variants(shape):
    """The variants of ``shape`` (zero-size: zero batch)."""
    out = []
    for label, a in variants(shape):
        if label == "zero-cols":
            continue
        out.append((label, a))
    return out


def test_every_public_op_and_layer_is_swept():
    missing = [k for k in FUNCTIONS if k not in UNARY and k not in RECIPES and k not in NOT_SWEPT]
    assert not missing, f"public ops with no recipe in tests/project/test_public_api_sweep.py: {missing}"
    classes = [k for k, v in vars(nn).items() if isinstance(v, type) and issubclass(v, nn.Module)]
    missing = [k for k in classes if k not in LAYERS and k not in LAYERS_NOT_SWEPT]
    assert not missing, f"public layers with no recipe: {missing}"


def _run(label, names, fn, a, backward=True):
    """Forward (and backward for float inputs) of fn on array a, checked."""
    problems = []
    x = T(a.copy() if a.flags.writeable else a)
    p = check_call(label, names, lambda: fn(x))
    if p:
        return [p]
    if backward and a.dtype in (np.float32, np.float64):
        x = T(a.copy()).requires_grad_(True)

        def fwd_bwd():
            y = fn(x)
            y = (y[0] if y else None) if isinstance(y, tuple) else y
            if isinstance(y, mg.Tensor) and y.requires_grad:
                y.sum().backward()
        p = check_call(label + " (backward)", names, fwd_bwd)
        if p:
            problems.append(p)
    return problems


def _sweep_functions():
    problems = []
    for name in UNARY:
        fn = FUNCTIONS[name]
        for label, a in variants():
            problems += _run(f"{name}[{label}]", names_of(fn), fn, a)
    for name, recipe in RECIPES.items():
        if name not in FUNCTIONS:
            continue
        for label, a in variants():
            problems += _run(f"{name}[{label}]", names_of(FUNCTIONS[name]), recipe, a)
    return problems


# Findings the sweep knows about and has not fixed yet: "op[variant]" prefixes. A fixed
# one makes the test fail until it is removed here, so the list only shrinks.
KNOWN = set()


def _filter(problems):
    new = [p for p in problems if not any(p.startswith(k) for k in KNOWN)]
    fixed = [k for k in KNOWN if not any(p.startswith(k) for p in problems)]
    return new, fixed


def test_public_ops_on_hostile_inputs(kernel_set):
    new, fixed = _filter(_sweep_functions())
    assert not new, f"{len(new)} op calls broke the rule:\n" + "\n".join(new)
    assert not fixed, f"remove these from KNOWN, they pass now: {fixed}"


def test_public_layers_on_hostile_inputs(kernel_set):
    problems = []
    for name, spec in LAYERS.items():
        if spec is None:
            continue
        make, shape = spec
        layer = make()
        names = layer_names(name)
        for label, a in _layer_variants(shape):
            problems += _run(f"{name}[{label}]", names, lambda x: layer(x), a)
    new, fixed = _filter(problems)
    assert not new, f"{len(new)} layer calls broke the rule:\n" + "\n".join(new)
