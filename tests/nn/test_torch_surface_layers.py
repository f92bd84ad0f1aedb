"""GroupNorm, RMSNorm, PReLU, Mish, Hardswish, Hardsigmoid, PixelShuffle/PixelUnshuffle,
EmbeddingBag, CosineSimilarity, PairwiseDistance, TripletMarginLoss and Dropout2d's
PyTorch 2.13 input ranks: gradcheck of the functions on hypothesis-drawn float64
inputs, the PyTorch oracle (weights copied, outputs and every gradient compared,
parameter names, shapes and reprs equal), and the errors bad input gets."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from strategies import arrays, tensor

rng = np.random.default_rng(11)
RTOL, ATOL = 1e-4, 1e-5


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- gradcheck

@given(data=st.data())
def test_gradcheck_group_norm_rms_norm(data):
    n, g, per, hw = (data.draw(st.integers(1, 3)) for _ in range(4))
    c = g * per
    x = tensor(data.draw(arrays((n, c, hw))))
    w, b = tensor(data.draw(arrays((c,)))), tensor(data.draw(arrays((c,))))
    if c * hw > 1:  # one element per group has variance 0: the normalisation is flat there
        mg.gradcheck(lambda t, ww, bb: F.group_norm(t, g, ww, bb, eps=1e-3), (x, w, b))
    shape = data.draw(st.sampled_from([(3,), (2, 3)]))
    x2 = tensor(data.draw(arrays((2,) + shape)))
    w2 = tensor(data.draw(arrays(shape)))
    mg.gradcheck(lambda t, ww: F.rms_norm(t, shape, ww, eps=1e-3), (x2, w2))


@given(data=st.data())
def test_gradcheck_activations(data):
    shape = data.draw(st.sampled_from([(5,), (2, 3), (2, 3, 4)]))
    x = tensor(data.draw(arrays(shape, -5.0, 5.0, away_from=[-3.0, 0.0, 3.0], margin=0.05)))
    mg.gradcheck(F.mish, (x,))
    mg.gradcheck(F.hardswish, (x,))
    mg.gradcheck(F.hardsigmoid, (x,))
    k = shape[1] if len(shape) > 1 and data.draw(st.booleans()) else 1
    w = tensor(data.draw(arrays((k,), 0.05, 0.5)))
    mg.gradcheck(F.prelu, (x, w))


@given(data=st.data())
def test_gradcheck_pixel_shuffle_and_distances(data):
    r = data.draw(st.integers(1, 2))
    c, h, w = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = tensor(data.draw(arrays((2, c * r * r, h, w))))
    mg.gradcheck(lambda t: F.pixel_shuffle(t, r), (x,))
    mg.gradcheck(lambda t: F.pixel_unshuffle(F.pixel_shuffle(t, r) * 2.0, r), (x,))
    n, d = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    a, p, q = (tensor(data.draw(arrays((n, d)))) for _ in range(3))
    mg.gradcheck(lambda u, v: F.cosine_similarity(u + 3.0, v - 3.0, dim=1), (a, p))
    mg.gradcheck(lambda u, v: F.pairwise_distance(u, v + 5.0), (a, p))
    swap = data.draw(st.booleans())
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    mg.gradcheck(lambda u, v, z: F.triplet_margin_loss(u, v + 1.0, z - 1.0, margin=20.0, swap=swap,
                                                       reduction=reduction), (a, p, q))


@given(data=st.data())
def test_gradcheck_embedding_bag(data):
    num, dim = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 3))
    weight = tensor(data.draw(arrays((num, dim))))
    ids = data.draw(st.lists(st.integers(0, num - 1), min_size=0, max_size=7))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ids)), min_size=0, max_size=3)))
    offsets = mg.tensor([0] + cuts, dtype=mg.int64)
    mode = data.draw(st.sampled_from(["sum", "mean"]))
    inp = mg.tensor(ids, dtype=mg.int64)
    mg.gradcheck(lambda w: F.embedding_bag(inp, w, offsets, mode=mode), (weight,))
    psw = tensor(data.draw(arrays((len(ids),))))
    mg.gradcheck(lambda w, s: F.embedding_bag(inp, w, offsets, mode="sum", per_sample_weights=s), (weight, psw))
    distinct = tensor(data.draw(arrays((num, dim))) + np.arange(num * dim).reshape(num, dim) * 0.5)
    mg.gradcheck(lambda w: F.embedding_bag(inp, w, offsets, mode="max"), (distinct,))


# ----------------------------------------------------------------------------- oracle

def copy_weights(ours, theirs):
    sd = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k
    ours.load_state_dict(sd)


def compare(ours, theirs, *inputs, **kwargs):
    """Same inputs and cotangent into both: outputs, float input gradients and parameter
    gradients must agree; reprs too."""
    import torch

    assert repr(ours) == repr(theirs)
    mins = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tins = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out = ours(*mins, **{k: mg.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in kwargs.items()})
    tkw = {k: torch.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in kwargs.items()}
    tout = theirs(*tins, **tkw)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = randn(*out.shape)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    for m, t in zip(mins, tins):
        if t.requires_grad:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=RTOL, atol=ATOL)
    tparams = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tparams)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("groups,channels,shape,affine", [
    (2, 4, (3, 4, 5), True), (1, 3, (2, 3, 2, 2), True), (3, 3, (2, 3, 4), False), (2, 6, (1, 6), True)])
def test_oracle_group_norm(groups, channels, shape, affine):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.GroupNorm(groups, channels, affine=affine), torch.nn.GroupNorm(groups, channels, affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(*shape))
    bias_off = nn.GroupNorm(2, 4, bias=False)
    assert bias_off.bias is None and repr(bias_off) == repr(torch.nn.GroupNorm(2, 4, bias=False))


@pytest.mark.oracle
@pytest.mark.parametrize("ns,eps,affine", [(4, None, True), ((3, 4), 1e-3, True), (4, 1e-6, False)])
def test_oracle_rms_norm(ns, eps, affine):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.RMSNorm(ns, eps=eps, elementwise_affine=affine), torch.nn.RMSNorm(ns, eps, affine)
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(2, 3, 4))


@pytest.mark.oracle
@pytest.mark.parametrize("name,args", [("Mish", ()), ("Hardswish", ()), ("Hardsigmoid", ()), ("PReLU", ()),
                                       ("PReLU", (3, 0.1))])
def test_oracle_activations(name, args):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    copy_weights(ours, theirs)
    x = randn(2, 3, 4) * 3
    compare(ours, theirs, x)
    assert F.__dict__[name.lower()] is not None


@pytest.mark.oracle
def test_oracle_prelu_init_and_functional():
    torch = pytest.importorskip("torch")
    assert nn.PReLU(5).weight.tolist() == torch.nn.PReLU(5).weight.tolist()
    x, w = randn(7), np.array([0.3], np.float32)
    np.testing.assert_allclose(F.prelu(mg.tensor(x), mg.tensor(w)).numpy(),
                               torch.nn.functional.prelu(torch.tensor(x), torch.tensor(w)).numpy())


@pytest.mark.oracle
@pytest.mark.parametrize("r,shape", [(2, (1, 8, 3, 2)), (3, (9, 2, 2)), (2, (2, 3, 4, 4, 2))])
def test_oracle_pixel_shuffle(r, shape):
    torch = pytest.importorskip("torch")
    compare(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), randn(*shape))
    un_shape = shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
    compare(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), randn(*un_shape))


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["offsets", "2d", "last_offset", "padding"])
def test_oracle_embedding_bag(mode, layout):
    torch = pytest.importorskip("torch")
    kw = {}
    if layout == "last_offset":
        kw["include_last_offset"] = True
    if layout == "padding":
        kw["padding_idx"] = 2
    ours, theirs = nn.EmbeddingBag(10, 3, mode=mode, **kw), torch.nn.EmbeddingBag(10, 3, mode=mode, **kw)
    copy_weights(ours, theirs)
    if layout == "2d":
        compare(ours, theirs, np.array([[1, 2, 4], [4, 3, 9]]))
        return
    ids = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2, 2])
    offsets = np.array([0, 4, 4, 8] + ([10] if layout == "last_offset" else []))  # bag 1 is empty
    compare(ours, theirs, ids, offsets)


@pytest.mark.oracle
def test_oracle_embedding_bag_per_sample_weights_and_max_norm():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.EmbeddingBag(6, 4, mode="sum"), torch.nn.EmbeddingBag(6, 4, mode="sum")
    copy_weights(ours, theirs)
    ids, offsets = np.array([0, 5, 5, 1, 3]), np.array([0, 3])
    compare(ours, theirs, ids, offsets, per_sample_weights=randn(5))
    ours, theirs = nn.EmbeddingBag(6, 4, max_norm=1.0), torch.nn.EmbeddingBag(6, 4, max_norm=1.0)
    copy_weights(ours, theirs)
    compare(ours, theirs, ids, offsets)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.oracle
@pytest.mark.parametrize("s1,s2,dim", [((4, 5), (4, 5), 1), ((2, 3, 4), (1, 3, 4), 2), ((5,), (5,), 0),
                                       ((3, 4), (4,), -1)])
def test_oracle_cosine_similarity(s1, s2, dim):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.CosineSimilarity(dim), torch.nn.CosineSimilarity(dim)
    compare(ours, theirs, randn(*s1), randn(*s2))


@pytest.mark.oracle
@pytest.mark.parametrize("p,keepdim", [(2.0, False), (1.0, True), (3.0, False)])
def test_oracle_pairwise_distance(p, keepdim):
    torch = pytest.importorskip("torch")
    compare(nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim),
            randn(4, 3), randn(4, 3))
    compare(nn.PairwiseDistance(p), torch.nn.PairwiseDistance(p), randn(3), randn(3))


@pytest.mark.oracle
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_oracle_triplet_margin_loss(swap, reduction):
    torch = pytest.importorskip("torch")
    ours = nn.TripletMarginLoss(margin=2.0, p=2, swap=swap, reduction=reduction)
    theirs = torch.nn.TripletMarginLoss(margin=2.0, p=2, swap=swap, reduction=reduction)
    compare(ours, theirs, randn(6, 5), randn(6, 5), randn(6, 5))
    a, p, n = randn(4), randn(4), randn(4)
    np.testing.assert_allclose(F.triplet_margin_loss(mg.tensor(a), mg.tensor(p), mg.tensor(n), p=1, swap=swap).numpy(),
                               torch.nn.functional.triplet_margin_loss(*map(torch.tensor, (a, p, n)), p=1,
                                                                       swap=swap).numpy(), rtol=1e-5)


@pytest.mark.oracle
def test_oracle_dropout2d_input_ranks():
    torch = pytest.importorskip("torch")
    for shape in [(6, 40), (4, 6, 40), (2, 3, 4, 5, 6)]:
        x = np.ones(shape, np.float32)
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            y = nn.Dropout2d(0.5)(mg.tensor(x)).numpy()
        with warnings.catch_warnings(record=True) as torch_w:
            warnings.simplefilter("always")
            torch.nn.Dropout2d(0.5)(torch.tensor(x))
        assert len(ours_w) == len(torch_w) >= 1
        flat = y.reshape(shape[0], shape[1], -1)  # one decision per (dim 0, dim 1) pair, as in PyTorch
        assert np.all((flat == 0).all(-1) | (flat == 2).all(-1))
        assert 0 < (flat[..., 0] == 0).mean() < 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Dropout2d(0.5)(mg.ones(2, 3, 4, 4))  # 4-D: no warning
    with pytest.raises(RuntimeError, match="at least 2 dimensions"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F.dropout2d(mg.ones(3), 0.5)


def test_embedding_bag_from_pretrained_and_prelu_reset():
    table = mg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    bag = nn.EmbeddingBag.from_pretrained(table, mode="sum")
    assert not bag.weight.requires_grad
    assert bag(mg.tensor([[0, 2], [1, 1]])).tolist() == [[6.0, 8.0], [6.0, 8.0]]
    assert nn.EmbeddingBag.from_pretrained(table, freeze=False).weight.requires_grad
    assert nn.EmbeddingBag(4, 2, padding_idx=1).weight.numpy()[1].tolist() == [0.0, 0.0]
    p = nn.PReLU(3, init=0.1)
    with mg.no_grad():
        p.weight.array[:] = 5.0
    p.reset_parameters()
    np.testing.assert_allclose(p.weight.numpy(), [0.1] * 3, rtol=1e-6)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.GroupNorm(3, 4), ValueError, r"GroupNorm: num_channels \(4\) must be divisible by num_groups \(3\)"),
    (lambda: nn.GroupNorm(2, 4)(mg.ones(2, 6, 3)), ValueError, r"GroupNorm: expected input of shape \(N, 4, \*\)"),
    (lambda: F.group_norm(mg.ones(2, 6), 4), ValueError, "group_norm: the 6 channels"),
    (lambda: F.group_norm(mg.ones(3), 1), ValueError, r"group_norm: expected input of shape \(N, C, \*\)"),
    (lambda: nn.RMSNorm(4)(mg.ones(2, 3)), ValueError, "rms_norm: expected input of shape"),
    (lambda: F.prelu(mg.ones(2, 3), mg.ones(2)), ValueError, "prelu: weight of shape"),
    (lambda: nn.PReLU(0), ValueError, "PReLU: num_parameters"),
    (lambda: F.pixel_shuffle(mg.ones(1, 3, 2, 2), 2), ValueError, "pixel_shuffle: the 3 channels"),
    (lambda: F.pixel_shuffle(mg.ones(4, 2), 2), ValueError, r"pixel_shuffle: expected input of shape \(\*, C, H, W\)"),
    (lambda: F.pixel_unshuffle(mg.ones(1, 1, 3, 2), 2), ValueError, "pixel_unshuffle: height 3"),
    (lambda: nn.PixelShuffle(0)(mg.ones(1, 1, 2, 2)), ValueError, "upscale_factor must be a positive int"),
    (lambda: nn.EmbeddingBag(5, 2, mode="median"), ValueError, "EmbeddingBag: mode must be"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2])), ValueError, "a 1-D input needs offsets"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([[1, 2]]), mg.tensor([0])), ValueError, "offsets must be None"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2]), mg.tensor([1])), ValueError, "offsets must start at 0"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 7]), mg.tensor([0])), IndexError, r"ids must be in \[0, 5\)"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2]), mg.tensor([0]), mg.ones(2)), ValueError,
     "per_sample_weights is only supported for mode='sum'"),
    (lambda: nn.EmbeddingBag(5, 2, sparse=True), NotImplementedError, "sparse=True"),
    (lambda: F.cosine_similarity(mg.ones(2, 3), mg.ones(2, 4)), ValueError, "cosine_similarity: shapes"),
    (lambda: F.cosine_similarity(mg.ones(2, 3), mg.ones(2, 3), dim=2), IndexError, "cosine_similarity: dim 2"),
    (lambda: F.pairwise_distance(mg.ones(2, 3), mg.ones(3, 2)), ValueError, "pairwise_distance: shapes"),
    (lambda: F.triplet_margin_loss(mg.ones(2, 3), mg.ones(2, 3), mg.ones(3)), ValueError,
     "triplet_margin_loss: anchor, positive and negative must have the same number of dims"),
    (lambda: nn.TripletMarginLoss(margin=0), ValueError, "margin must be greater than 0"),
    (lambda: nn.TripletMarginLoss(reduction="avg"), ValueError, "reduction must be one of"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()
