"""Transfer learning (minigrad/examples/transfer.py): freezing, parameter groups,
checkpoints that round-trip exactly, loads that fail without side effects, and the
worked example."""
import os

import numpy as np
import pytest

import minigrad
from minigrad import nn, optim
from minigrad.examples.cnn import SeedCNN
from minigrad.examples.transfer import (few_shot, freeze_body, load_pretrained, pretrain_finetune,
                                        replace_head, split_classes, trainable_parameters)


def small_cnn(num_classes=5, seed=0):
    minigrad.manual_seed(seed)
    return SeedCNN(num_classes=num_classes, width=2)


def snapshot(model):
    return {k: v.array.copy() for k, v in model.state_dict().items()}


def assert_state_equal(model, snap):
    now = model.state_dict()
    assert list(now) == list(snap)
    for k, v in snap.items():
        assert np.array_equal(now[k].array, v), k


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 1, 28, 28)).astype(np.float32),
            rng.integers(0, 5, size=n).astype(np.int64))


def train_steps(model, opt, steps=3):
    X, y = batch()
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        loss = loss_fn(model(minigrad.tensor(X)), minigrad.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()


# ----------------------------------------------------------------------------- data helpers

def test_split_classes_renumbers_labels():
    X = np.arange(10)[:, None].astype(np.float32)
    y = np.arange(10)
    Xb, yb = split_classes(X, y, range(5, 10))
    assert yb.tolist() == [0, 1, 2, 3, 4] and Xb[:, 0].tolist() == [5, 6, 7, 8, 9]
    Xa, ya = split_classes(X, y, [3, 1])
    assert ya.tolist() == [1, 0] and Xa[:, 0].tolist() == [1, 3]
    with pytest.raises(ValueError, match="split_classes"):
        split_classes(X, y, [])


def test_few_shot_takes_per_class_samples():
    y = np.repeat(np.arange(3), 7)
    X = np.arange(len(y))[:, None]
    Xf, yf = few_shot(X, y, 4, seed=1)
    assert np.bincount(yf).tolist() == [4, 4, 4]
    assert len(set(Xf[:, 0].tolist())) == 12 and np.array_equal(y[Xf[:, 0]], yf)
    with pytest.raises(ValueError, match="only 7 samples"):
        few_shot(X, y, 8)


# ----------------------------------------------------------------------------- freezing

@pytest.mark.parametrize("make_opt", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: optim.AdamW(params, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-wd", "adamw"])
def test_frozen_parameters_do_not_change(make_opt):
    model = small_cnn()
    new_head = replace_head(model, 5)
    freeze_body(model)
    body_ids = {id(p) for p in model.parameters()} - {id(p) for p in new_head.parameters()}
    before = snapshot(model)
    # the optimizer gets ALL parameters: frozen ones must be skipped, weight decay included
    train_steps(model, make_opt(list(model.parameters())))
    after = model.state_dict()
    for name, p in model.named_parameters():
        if id(p) in body_ids:
            assert not p.requires_grad and p.grad is None, name
            assert np.array_equal(after[name].array, before[name]), name
        else:
            assert p.requires_grad and not np.array_equal(after[name].array, before[name]), name
    assert [id(p) for p in trainable_parameters(model)] == [id(p) for p in new_head.parameters()]


@pytest.mark.parametrize("make_opt", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: optim.AdamW(params, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-wd", "adamw"])
def test_freezing_after_steps_keeps_stale_grads_and_state_from_moving_weights(make_opt):
    """Freeze mid-training: a parameter with a leftover .grad and momentum / Adam state
    must still not move (weight decay and momentum would move it if it were not skipped)."""
    model = small_cnn()
    opt = make_opt(list(model.parameters()))
    train_steps(model, opt, steps=2)
    X, y = batch(seed=1)
    nn.CrossEntropyLoss()(model(minigrad.tensor(X)), minigrad.tensor(y)).backward()  # leave grads behind
    freeze_body(model)
    before = snapshot(model)
    opt.step()
    train_steps(model, opt, steps=2)
    after = model.state_dict()
    for name in before:
        if name.startswith("head.3."):
            assert not np.array_equal(after[name].array, before[name]), name
        else:
            assert np.array_equal(after[name].array, before[name]), name


def test_frozen_body_records_no_graph():
    model = freeze_body(small_cnn())
    X, _ = batch()
    with minigrad.no_grad():
        feats = model.head[:3](model.features(minigrad.tensor(X)))
    out = model.head[3](feats)
    assert out.requires_grad
    out.sum().backward()
    assert all(p.grad is None for p in model.features.parameters())
    assert model.head[3].weight.grad is not None


def test_replace_head_needs_a_linear():
    model = small_cnn()
    model.head[3] = nn.ReLU()
    with pytest.raises(TypeError, match="replace_head"):
        replace_head(model, 5)


# ----------------------------------------------------------------------------- parameter groups

def test_param_groups_apply_their_own_lr_sgd():
    model = small_cnn()
    head = model.head[3]
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    opt = optim.SGD([{"params": body, "lr": 1e-3}, {"params": head.parameters(), "lr": 0.5}], lr=0.1)
    before = {id(p): p.array.copy() for p in model.parameters()}
    X, y = batch()
    loss = nn.CrossEntropyLoss()(model(minigrad.tensor(X)), minigrad.tensor(y))
    opt.zero_grad()
    loss.backward()
    grads = {id(p): p.grad.array.copy() for p in model.parameters()}
    opt.step()
    for p in model.parameters():
        lr = 0.5 if id(p) in head_ids else 1e-3
        expected = before[id(p)] - np.float32(lr) * grads[id(p)]
        np.testing.assert_allclose(p.array, expected, rtol=1e-6, atol=1e-7)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.5]


def test_param_groups_apply_their_own_lr_adam():
    """Adam's first step moves each entry by about lr (m / sqrt(v) = g / |g|)."""
    model = small_cnn()
    head = model.head[3]
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    opt = optim.Adam([{"params": body, "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-2}])
    before = {id(p): p.array.copy() for p in model.parameters()}
    train_steps(model, opt, steps=1)
    for p in model.parameters():
        lr = 1e-2 if id(p) in head_ids else 1e-4
        step = np.abs(p.array - before[id(p)])
        moved = step[step > 0]
        assert moved.size > 0
        assert np.all(moved <= lr * 1.001)
        assert np.median(moved) > 0.5 * lr


# ----------------------------------------------------------------------------- checkpoints

def test_save_load_round_trip_reproduces_outputs_exactly(tmp_path):
    model = small_cnn(seed=0)
    path = tmp_path / "ckpt.npz"
    minigrad.save(model.state_dict(), path)
    other = small_cnn(seed=1)
    X, _ = batch()
    with minigrad.no_grad():
        assert not np.array_equal(model(minigrad.tensor(X)).array, other(minigrad.tensor(X)).array)
        keys = load_pretrained(other, path)
        assert keys == list(model.state_dict())
        assert np.array_equal(model(minigrad.tensor(X)).array, other(minigrad.tensor(X)).array)
    assert [f for f in os.listdir(tmp_path)] == ["ckpt.npz"]  # no temporary file left behind


def test_load_pretrained_can_skip_the_head(tmp_path):
    source = small_cnn(num_classes=5, seed=0)
    path = tmp_path / "five.npz"
    minigrad.save(source.state_dict(), path)
    target = small_cnn(num_classes=10, seed=1)
    head_before = target.head[3].weight.array.copy()
    load_pretrained(target, path, exclude=("head.3.",))
    assert np.array_equal(target.head[1].weight.array, source.head[1].weight.array)
    assert np.array_equal(target.features[0].weight.array, source.features[0].weight.array)
    assert np.array_equal(target.head[3].weight.array, head_before)


def _failing_loads(tmp_path):
    good = small_cnn(num_classes=10, seed=3)
    sd = {k: v.array.copy() for k, v in good.state_dict().items()}
    cases = {}
    p = tmp_path / "ten_classes.npz"
    minigrad.save(sd, p)
    cases["shape mismatch"] = (p, RuntimeError, "size mismatch|head.3")
    missing = dict(sd)
    del missing["features.3.bias"]
    p = tmp_path / "missing.npz"
    minigrad.save(missing, p)
    cases["missing key"] = (p, RuntimeError, "features.3.bias")
    extra = dict(sd, **{"head.9.weight": np.zeros(3, np.float32)})
    p = tmp_path / "unexpected.npz"
    minigrad.save(extra, p)
    cases["unexpected key"] = (p, RuntimeError, "head.9.weight")
    p = tmp_path / "truncated.npz"
    data = (tmp_path / "ten_classes.npz").read_bytes()
    p.write_bytes(data[: len(data) // 2])
    cases["truncated file"] = (p, ValueError, "truncated|corrupted|not a valid")
    p = tmp_path / "list.npz"
    minigrad.save([1, 2, 3], p)
    cases["not a state dict"] = (p, ValueError, "not a state_dict")
    return cases


@pytest.mark.parametrize("case", ["shape mismatch", "missing key", "unexpected key", "truncated file",
                                  "not a state dict"])
def test_failed_load_leaves_the_model_as_it_was(tmp_path, case):
    path, exc, match = _failing_loads(tmp_path)[case]
    model = small_cnn(num_classes=5, seed=0)  # for the shape mismatch every other entry fits
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        load_pretrained(model, path)
    assert_state_equal(model, before)


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    model = small_cnn(seed=0)
    minigrad.save(model.state_dict(), path)
    old = path.read_bytes()
    with pytest.raises(TypeError):
        minigrad.save({"weights": model.state_dict(), "bad": object()}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.npz"]


# ----------------------------------------------------------------------------- the worked example

def test_example_runs_and_keeps_the_frozen_body_exactly():
    r = pretrain_finetune(seed=0, per_class=5, pretrain_epochs=1, finetune_epochs=12)
    for key in ("pretrain_accuracy", "finetune_accuracy", "discriminative_accuracy", "scratch_accuracy"):
        assert 0.0 <= r[key] <= 1.0, key
    assert r["n_finetune"] == 25 and r["n_test"] > 150
    assert r["pretrain_accuracy"] >= 0.8
    assert r["finetune_accuracy"] > 0.3 and r["scratch_accuracy"] > 0.3  # chance is 0.2
    pre, ft, disc = r["models"]["pretrained"], r["models"]["finetuned"], r["models"]["discriminative"]
    pre_sd, ft_sd, disc_sd = pre.state_dict(), ft.state_dict(), disc.state_dict()
    for k in pre_sd:
        if not k.startswith("head.3."):
            assert np.array_equal(ft_sd[k].array, pre_sd[k].array), k      # frozen: bit for bit
            assert not np.array_equal(disc_sd[k].array, pre_sd[k].array), k  # small lr: it moved
    assert not np.array_equal(ft_sd["head.3.weight"].array, disc_sd["head.3.weight"].array)


@pytest.mark.slow
def test_example_quick_numbers():
    """The quick example's accuracies. On the embedded digits the pre-trained body does
    NOT beat training from scratch (see docs/transfer.md); what must hold is that
    fine-tuning starts from a good checkpoint and every variant learns."""
    r = pretrain_finetune(seed=0)
    assert r["pretrain_accuracy"] >= 0.9
    assert r["finetune_accuracy"] >= 0.6
    assert r["discriminative_accuracy"] > r["finetune_accuracy"]
    assert r["scratch_accuracy"] >= 0.8
