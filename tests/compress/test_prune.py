"""minigrad.compress.prune: which entries get pruned, the mask mechanism, masks under
training and checkpoints, reports, iterative pruning and errors."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import nn, optim
from minigrad.nn import Parameter
from minigrad.compress import prune


# ---------------------------------------------------------------------------- helpers

class Holder(nn.Module):
    """A module with one parameter ``weight`` of any shape."""

    def __init__(self, w):
        super().__init__()
        self.weight = Parameter(minigrad.tensor(np.array(w)))

    def forward(self, x):
        return self.weight * x


def distinct_magnitudes(shape, seed):
    """Values whose absolute values are pairwise distinct (no ties), random signs."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    mags = rng.permutation(np.linspace(0.05, 2.0, n))
    signs = rng.choice([-1.0, 1.0], n)
    return (mags * signs).reshape(shape)


def mask_of(module, name="weight"):
    return module._buffers[name + "_mask"].array


def count_for(amount, n):
    return amount if isinstance(amount, int) else int(round(amount * n))


def mlp(seed=0):
    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))


amounts = st.one_of(st.floats(0.0, 1.0), st.integers(0, 10_000))


# ---------------------------------------------------------------------------- which entries

@settings(max_examples=40)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
       seed=st.integers(0, 2 ** 31), amount=amounts)
def test_l1_unstructured_prunes_smallest_magnitudes(shape, seed, amount):
    w = distinct_magnitudes(shape, seed)
    n = w.size
    if isinstance(amount, int):
        amount = amount % (n + 1)
    m = Holder(w)
    prune.l1_unstructured(m, "weight", amount=amount)
    k = count_for(amount, n)
    expected = np.ones(n)
    expected[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = 0
    np.testing.assert_array_equal(mask_of(m), expected.reshape(shape))
    assert mask_of(m).dtype == w.dtype
    np.testing.assert_array_equal(m.weight.array, w * expected.reshape(shape))
    assert prune.sparsity(m.weight) == pytest.approx(k / n)


def test_amount_int_and_float_agree_and_rounding():
    w = distinct_magnitudes((3, 4), 0)
    a, b = Holder(w), Holder(w)
    prune.l1_unstructured(a, amount=0.25)
    prune.l1_unstructured(b, amount=3)
    np.testing.assert_array_equal(mask_of(a), mask_of(b))
    assert int((mask_of(a) == 0).sum()) == 3
    c = Holder(w)
    prune.l1_unstructured(c, amount=0.3)   # 3.6 -> 4 entries
    assert int((mask_of(c) == 0).sum()) == 4
    for amount, pruned in ((0.0, 0), (1.0, 12), (0, 0), (12, 12)):
        d = Holder(w)
        prune.l1_unstructured(d, amount=amount)
        assert int((mask_of(d) == 0).sum()) == pruned


@settings(max_examples=30)
@given(shapes=st.lists(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), min_size=1, max_size=3),
       seed=st.integers(0, 2 ** 31), frac=st.floats(0.0, 1.0))
def test_global_unstructured_one_threshold(shapes, seed, frac):
    n_total = sum(int(np.prod(s)) for s in shapes)
    allw = distinct_magnitudes((n_total,), seed)
    ws, off = [], 0
    for s in shapes:
        k = int(np.prod(s))
        ws.append(allw[off:off + k].reshape(s))
        off += k
    mods = [Holder(w) for w in ws]
    prune.global_unstructured([(m, "weight") for m in mods], amount=frac)
    k = int(round(frac * n_total))
    expected = np.ones(n_total)
    expected[np.argsort(np.abs(allw), kind="stable")[:k]] = 0
    got = np.concatenate([mask_of(m).ravel() for m in mods])
    np.testing.assert_array_equal(got, expected)
    if 0 < k < n_total:  # one threshold: every pruned magnitude is below every kept one
        assert np.abs(allw)[got == 0].max() < np.abs(allw)[got == 1].min()


def test_global_unstructured_prunes_small_layer_more():
    a = Holder(np.full((4, 4), 0.01) + np.arange(16).reshape(4, 4) * 1e-4)
    b = Holder(np.full((4, 4), 1.0) + np.arange(16).reshape(4, 4) * 1e-3)
    prune.global_unstructured([(a, "weight"), (b, "weight")], amount=0.5)
    assert prune.sparsity(a.weight) == 1.0 and prune.sparsity(b.weight) == 0.0


@settings(max_examples=40)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
       seed=st.integers(0, 2 ** 31), amount=amounts, n=st.sampled_from([1, 2]), data=st.data())
def test_ln_structured_prunes_smallest_slices(shape, seed, amount, n, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    w = distinct_magnitudes(shape, seed)
    d = dim % len(shape)
    slices = shape[d]
    if isinstance(amount, int):
        amount = amount % (slices + 1)
    m = Holder(w)
    prune.ln_structured(m, "weight", amount=amount, n=n, dim=dim)
    flat = np.moveaxis(w, d, 0).reshape(slices, -1)
    norms = np.linalg.norm(flat, ord=n, axis=1)
    k = count_for(amount, slices)
    keep = np.ones(slices)
    keep[np.argsort(norms, kind="stable")[:k]] = 0
    bshape = [1] * len(shape)
    bshape[d] = slices
    np.testing.assert_array_equal(mask_of(m), np.broadcast_to(keep.reshape(bshape), shape))


def test_ln_structured_conv_removes_output_channels():
    minigrad.manual_seed(0)
    conv = nn.Conv2d(2, 6, 3)
    prune.ln_structured(conv, "weight", amount=0.5, n=2, dim=0)
    norms = np.linalg.norm(conv.weight_orig.array.reshape(6, -1), axis=1)
    dropped = np.argsort(norms)[:3]
    assert set(np.flatnonzero(np.all(conv.weight.array.reshape(6, -1) == 0, axis=1))) == set(dropped)
    x = minigrad.randn(2, 2, 5, 5)
    out = conv(x).array
    for c in dropped:  # a pruned filter outputs its bias only
        np.testing.assert_allclose(out[:, c], np.broadcast_to(conv.bias.array[c], out[:, c].shape), rtol=1e-6)


def test_random_unstructured_count_and_reproducible():
    w = distinct_magnitudes((5, 6), 1)
    a, b = Holder(w), Holder(w)
    prune.random_unstructured(a, "weight", amount=0.4, generator=7)
    prune.random_unstructured(b, "weight", amount=0.4, generator=np.random.default_rng(7))
    assert int((mask_of(a) == 0).sum()) == 12
    np.testing.assert_array_equal(mask_of(a), mask_of(b))
    before = mask_of(a).copy()
    prune.random_unstructured(a, "weight", amount=6, generator=3)   # only among the survivors
    assert int((mask_of(a) == 0).sum()) == 18
    assert np.all(mask_of(a)[before == 0] == 0)


# ---------------------------------------------------------------------------- repeated pruning

def test_repeated_l1_applies_to_unpruned_entries():
    w = distinct_magnitudes((4, 4), 3)
    m = Holder(w)
    prune.l1_unstructured(m, amount=0.5)
    first = mask_of(m).copy()
    prune.l1_unstructured(m, amount=0.5)       # half of the 8 survivors -> 12 pruned
    second = mask_of(m)
    assert int((second == 0).sum()) == 12
    assert np.all(second[first == 0] == 0)     # pruned stays pruned
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    expected = np.ones(16)
    expected[order[:12]] = 0                  # = the 12 smallest overall
    np.testing.assert_array_equal(second.ravel(), expected)
    prune.l1_unstructured(m, amount=2)         # an int is a count of additional entries
    assert int((mask_of(m) == 0).sum()) == 14
    assert len(m._forward_pre_hooks) == 1      # one hook, masks combined
    assert "l1_unstructured(amount=0.5) -> l1_unstructured(amount=0.5)" in repr(next(iter(m._forward_pre_hooks.values())))


def test_structured_then_unstructured_combine():
    w = distinct_magnitudes((4, 5), 4)
    m = Holder(w)
    prune.ln_structured(m, amount=1, n=1, dim=0)
    row = int(np.argmin(np.abs(w).sum(axis=1)))
    prune.l1_unstructured(m, amount=3)
    mask = mask_of(m)
    assert np.all(mask[row] == 0)
    assert int((mask == 0).sum()) == 5 + 3
    alive = np.abs(w)[mask == 1]
    newly = np.abs(w)[(mask == 0) & (np.arange(4)[:, None] != row)]
    assert newly.max() < alive.min()
    prune.ln_structured(m, amount=0.5, n=1, dim=0)   # 2 of the 4 remaining rows
    assert int(np.all(mask_of(m) == 0, axis=1).sum()) == 3


def test_custom_from_mask_and_identity():
    w = distinct_magnitudes((2, 3), 5)
    m = Holder(w)
    prune.identity(m)
    assert prune.is_pruned(m) and prune.sparsity(m.weight) == 0.0
    mask = np.array([[1, 0, 1], [0, 1, 1]])
    prune.custom_from_mask(m, "weight", mask)
    np.testing.assert_array_equal(m.weight.array, w * mask)
    prune.custom_from_mask(m, "weight", minigrad.tensor(np.array([[1.0, 1, 0], [1, 1, 1]])))
    np.testing.assert_array_equal(mask_of(m), [[1, 0, 0], [0, 1, 1]])


# ---------------------------------------------------------------------------- mechanism

def test_mechanism_names_and_state_dict_layout():
    lin = nn.Linear(4, 3)
    param = lin.weight
    prune.l1_unstructured(lin, "weight", amount=0.5)
    assert lin.weight_orig is param                         # the same Parameter object
    assert [k for k, _ in lin.named_parameters()] == ["weight_orig", "bias"]
    assert list(lin.state_dict()) == ["weight_orig", "bias", "weight_mask"]
    assert not isinstance(lin.weight, Parameter)
    assert lin.weight_mask.dtype == param.dtype and not lin.weight_mask.requires_grad
    assert prune.pruned_parameters(lin) == ["weight"]


def test_gradient_flows_only_through_kept_entries():
    lin = nn.Linear(5, 4)
    prune.l1_unstructured(lin, amount=0.6)
    x = minigrad.randn(7, 5)
    lin(x).pow(2).sum().backward()
    g = lin.weight_orig.grad.array
    mask = mask_of(lin)
    assert np.all(g[mask == 0] == 0)
    assert np.any(g[mask == 1] != 0)


def test_pruned_entries_of_orig_do_not_matter():
    lin = nn.Linear(5, 4)
    prune.l1_unstructured(lin, amount=0.5)
    x = minigrad.randn(3, 5)
    y0 = lin(x).array.copy()
    with minigrad.no_grad():
        lin.weight_orig.array[mask_of(lin) == 0] = 1e6       # whatever is stored there
    np.testing.assert_array_equal(lin(x).array, y0)
    prune.remove(lin, "weight")
    assert np.all(lin.weight.array[np.abs(lin.weight.array) > 1e5] == 0)
    np.testing.assert_array_equal(lin(x).array, y0)


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.05, weight_decay=1e-2),
    lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
], ids=["sgd_momentum_wd", "sgd_nesterov", "adam_wd", "adamw"])
@pytest.mark.parametrize("optimizer_first", [False, True])
def test_masks_survive_optimizer_steps(make_opt, optimizer_first):
    model = mlp()
    if optimizer_first:   # an optimizer created before pruning holds the same Parameter objects
        opt = make_opt(list(model.parameters()))
    prune.l1_unstructured(model[0], amount=0.5)
    prune.ln_structured(model[2], amount=2, n=2, dim=0)
    prune.global_unstructured([(model[2], "weight"), (model[4], "weight")], amount=0.3)
    if not optimizer_first:
        opt = make_opt(list(model.parameters()))
    masks = {i: mask_of(model[i]).copy() for i in (0, 2, 4)}
    orig0 = model[0].weight_orig.array.copy()
    x, y = minigrad.randn(16, 6), minigrad.tensor(np.random.default_rng(0).integers(0, 3, 16))
    for _ in range(5):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model(x)   # the hook recomputes the effective weights
    for i, mask in masks.items():
        np.testing.assert_array_equal(mask_of(model[i]), mask)
        assert np.all(model[i].weight.array[mask == 0] == 0)
        assert np.all((model[i].weight_orig.array * mask_of(model[i]))[mask == 0] == 0)
    assert not np.allclose(model[0].weight_orig.array[masks[0] == 1], orig0[masks[0] == 1])  # it did train


def test_eval_and_no_grad_forward_apply_mask():
    lin = nn.Linear(3, 2)
    prune.l1_unstructured(lin, amount=3)
    with minigrad.no_grad():
        lin.weight_orig.array[...] = 1.0
        out = lin(minigrad.ones(1, 3)).array
    np.testing.assert_allclose(out[0], 3.0 - (mask_of(lin) == 0).sum(axis=1) + lin.bias.array, rtol=1e-6)


def test_remove_keeps_values_and_drops_hooks():
    model = mlp()
    p = model[0].weight
    prune.l1_unstructured(model[0], amount=0.5)
    x = minigrad.randn(4, 6)
    y = model(x).array.copy()
    expected = model[0].weight.array.copy()
    prune.remove(model[0], "weight")
    assert model[0].weight is p and isinstance(model[0].weight, Parameter)
    np.testing.assert_array_equal(model[0].weight.array, expected)
    assert "weight_mask" not in model[0]._buffers and "weight_orig" not in model[0]._parameters
    assert not model[0]._forward_pre_hooks and not prune.is_pruned(model)
    assert list(model[0].state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(model(x).array, y)
    with pytest.raises(ValueError, match="remove: parameter 'weight' of Linear is not pruned"):
        prune.remove(model[0], "weight")


def test_deepcopy_and_to_double():
    model = mlp()
    prune.l1_unstructured(model[0], amount=0.5)
    model(minigrad.randn(2, 6)).sum().backward()
    twin = copy.deepcopy(model)
    assert prune.is_pruned(twin)
    with minigrad.no_grad():
        twin[0].weight_orig.array[...] = 5.0
    x = minigrad.randn(3, 6)
    assert not np.allclose(twin(x).array, model(x).array)
    np.testing.assert_array_equal(twin[0].weight.array == 0, mask_of(model[0]) == 0)
    model.double()
    assert model[0].weight_mask.dtype == np.float64
    assert model(x.double()).dtype == np.float64


# ---------------------------------------------------------------------------- checkpoints

def test_state_dict_roundtrip_via_io(tmp_path):
    model = mlp(0)
    prune.l1_unstructured(model[0], amount=0.5)
    prune.ln_structured(model[2], amount=0.25, n=1, dim=0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = minigrad.randn(8, 6)
    model(x).sum().backward()
    opt.step()
    path = tmp_path / "pruned.npz"
    minigrad.save(model.state_dict(), path)

    other = mlp(1)                         # other weights, pruned "the same way" (other masks)
    prune.l1_unstructured(other[0], amount=0.1)
    prune.identity(other[2])
    other.load_state_dict(minigrad.load(path))
    for i in (0, 2):
        np.testing.assert_array_equal(mask_of(other[i]), mask_of(model[i]))
    np.testing.assert_array_equal(other(x).array, model(x).array)

    plain = mlp(2)                         # not pruned: Module.load_state_dict refuses
    with pytest.raises(RuntimeError, match="weight_orig"):
        plain.load_state_dict(minigrad.load(path))
    assert not prune.is_pruned(plain)
    prune.load_state_dict(plain, minigrad.load(path))   # ... this one prunes first
    assert prune.pruned_parameters(plain) == ["0.weight", "2.weight"]
    np.testing.assert_array_equal(plain(x).array, model(x).array)


def test_prune_load_state_dict_failure_leaves_model_unchanged():
    model = mlp(0)
    prune.l1_unstructured(model[0], amount=0.5)
    sd = dict(model.state_dict())
    sd["4.weight"] = np.zeros((9, 9), dtype=np.float32)   # wrong shape
    plain = mlp(3)
    before = {k: v.array.copy() for k, v in plain.state_dict().items()}
    with pytest.raises(RuntimeError, match="size mismatch for 4.weight"):
        prune.load_state_dict(plain, sd)
    assert not prune.is_pruned(plain)
    assert list(plain.state_dict()) == list(before)
    for k, v in plain.state_dict().items():
        np.testing.assert_array_equal(v.array, before[k])


# ---------------------------------------------------------------------------- reports

def test_sparsity_and_report():
    model = mlp()
    prune.l1_unstructured(model[0], amount=12)     # 12 of 48
    prune.ln_structured(model[2], amount=2, dim=0)  # 2 rows of 8 -> 16 of 40
    assert prune.sparsity(model[0].weight) == 0.25
    assert prune.sparsity(np.array([0.0, 1.0, 0.0, 2.0])) == 0.5
    total = 48 + 8 + 40 + 5 + 15 + 3
    assert prune.sparsity(model) == pytest.approx(28 / total)
    assert prune.sparsity(model, param_names=("weight",)) == pytest.approx(28 / (48 + 40 + 15))
    rows = prune.sparsity_report(model)
    assert [(r["layer"], r["param"]) for r in rows] == [("0", "weight"), ("0", "bias"), ("2", "weight"),
                                                        ("2", "bias"), ("4", "weight"), ("4", "bias")]
    r0 = rows[0]
    assert r0["shape"] == (8, 6) and r0["numel"] == 48 and r0["nonzero"] == 36
    assert r0["sparsity"] == 0.25 and r0["pruned"] and not rows[1]["pruned"]
    text = prune.format_sparsity_report(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["layer", "param", "shape"]
    assert "25.0%" in lines[2] and "8x6" in lines[2]
    assert lines[-1].split()[:3] == ["total", str(total), str(total - 28)]
    with pytest.raises(TypeError, match="sparsity: expected a Module"):
        prune.sparsity([1, 2])


# ---------------------------------------------------------------------------- iterative pruning

def test_iterative_prune_reaches_targets_and_records():
    model = mlp()
    x = minigrad.randn(32, 6)
    y = minigrad.tensor(np.random.default_rng(0).integers(0, 3, 32))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    calls = []

    def fine_tune(m, step):
        calls.append(step)
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        return {"loss": float(loss.array), "sparsity": -1}

    history = prune.iterative_prune(model, [0.5, 0.8, 0.9], fine_tune)
    assert calls == [0, 1, 2]
    n = 48 + 40 + 15
    for row, target in zip(history, [0.5, 0.8, 0.9]):
        assert row["target"] == target
        assert row["sparsity"] == pytest.approx(round(target * n) / n)
        assert row["sparsity_after"] == row["sparsity"]
        assert row["loss"] == row["result"]["loss"]
    assert history[-1]["sparsity"] != -1   # the callback's keys do not overwrite ours
    assert prune.sparsity(model, param_names="weight") == pytest.approx(round(0.9 * n) / n)
    assert prune.sparsity(model[0].bias) == 0.0


def test_iterative_prune_structured_and_permanent():
    model = mlp()
    history = prune.iterative_prune(model, [0.25, 0.5], lambda m, i: i * 10, structured=True,
                                    make_permanent=True)
    assert [r["result"] for r in history] == [0, 10]
    assert not prune.is_pruned(model)
    dead_rows = [int(np.all(model[i].weight.array == 0, axis=1).sum()) for i in (0, 2, 4)]
    # rows of 8, 5 and 3: round(0.5 * 8) = 4, round(2.5) = 2 (Python rounds half to even), round(1.5) = 2
    assert dead_rows == [4, 2, 2]


def test_iterative_prune_errors():
    model = mlp()
    with pytest.raises(ValueError, match=r"non-decreasing"):
        prune.iterative_prune(model, [0.5, 0.3], lambda m, i: None)
    with pytest.raises(ValueError, match=r"amounts\[0\]=1.5"):
        prune.iterative_prune(model, [1.5], lambda m, i: None)
    with pytest.raises(TypeError, match="fine_tune"):
        prune.iterative_prune(model, [0.5], None)
    assert not prune.is_pruned(model)


# ---------------------------------------------------------------------------- errors

def test_errors_leave_module_unchanged():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"l1_unstructured: Linear has no parameter named 'wieght' "
                                         r"\(its parameters: weight, bias\)"):
        prune.l1_unstructured(lin, "wieght", 0.5)
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=1.5 is out of range.*\[0.0, 1.0\]"):
        prune.l1_unstructured(lin, "weight", 1.5)
    with pytest.raises(ValueError, match=r"amount=-0.1 is out of range"):
        prune.random_unstructured(lin, "weight", -0.1)
    with pytest.raises(ValueError, match=r"amount=7 is larger than the number of unpruned entries \(6\)"):
        prune.l1_unstructured(lin, "weight", 7)
    with pytest.raises(ValueError, match=r"amount=-1 is negative"):
        prune.l1_unstructured(lin, "weight", -1)
    with pytest.raises(TypeError, match="amount must be"):
        prune.l1_unstructured(lin, "weight", True)
    with pytest.raises(ValueError, match=r"amount=nan"):
        prune.l1_unstructured(lin, "weight", float("nan"))
    with pytest.raises(ValueError, match=r"ln_structured: dim=2 is out of range.*\(2, 3\).*-2 to 1"):
        prune.ln_structured(lin, "weight", 0.5, dim=2)
    with pytest.raises(ValueError, match=r"ln_structured: n must be a positive number"):
        prune.ln_structured(lin, "weight", 0.5, n=0)
    with pytest.raises(ValueError, match=r"slices along dim 0"):
        prune.ln_structured(lin, "weight", 3, dim=0)
    with pytest.raises(ValueError, match="global_unstructured: importance"):
        prune.global_unstructured([(lin, "weight")], 0.5, importance="l3")
    with pytest.raises(ValueError, match="appears more than once"):
        prune.global_unstructured([(lin, "weight"), (lin, "weight")], 0.5)
    with pytest.raises(TypeError, match="wrap a single pair in a list"):
        prune.global_unstructured((lin, "weight"), 0.5)
    with pytest.raises(ValueError, match=r"custom_from_mask: mask of shape \(3,\)"):
        prune.custom_from_mask(lin, "weight", np.ones(3))
    with pytest.raises(TypeError, match="expected an nn.Module"):
        prune.l1_unstructured(minigrad.ones(3), "weight", 0.5)
    assert not prune.is_pruned(lin) and list(lin.state_dict()) == ["weight", "bias"]

    no_bias = nn.Linear(3, 2, bias=False)
    with pytest.raises(ValueError, match="'bias' of Linear is None"):
        prune.l1_unstructured(no_bias, "bias", 0.5)
    ints = Holder(np.zeros(4))
    ints._parameters["weight"] = Parameter(np.arange(4), requires_grad=False)
    with pytest.raises(TypeError, match=r"can only prune floating-point parameters, 'weight' of Holder has dtype int64"):
        prune.l1_unstructured(ints, "weight", 0.5)


def test_bias_and_inf_norm():
    lin = nn.Linear(4, 6)
    prune.l1_unstructured(lin, "bias", amount=3)
    assert prune.sparsity(lin.bias) == 0.5 and prune.pruned_parameters(lin) == ["bias"]
    w = distinct_magnitudes((5, 3), 9)
    m = Holder(w)
    prune.ln_structured(m, amount=2, n=math.inf, dim=0)
    expected = np.argsort(np.abs(w).max(axis=1), kind="stable")[:2]
    assert set(np.flatnonzero(np.all(mask_of(m) == 0, axis=1))) == set(expected)
