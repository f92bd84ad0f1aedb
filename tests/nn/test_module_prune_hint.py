"""Module.load_state_dict explains a pruned / unpruned mismatch and changes nothing.

A pruned parameter ``weight`` is stored as ``weight_orig`` + ``weight_mask``; loading
such a checkpoint into an unpruned model (or the reverse) reports the keys as missing
and unexpected, and the error adds what to do about it.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.compress import prune


def _net():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _snapshot(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    after = _snapshot(model)
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_pruned_checkpoint_into_unpruned_model_names_the_fix():
    mg.manual_seed(0)
    pruned = _net()
    prune.l1_unstructured(pruned[0], "weight", amount=0.5)
    plain = _net()
    before = _snapshot(plain)
    with pytest.raises(RuntimeError) as info:
        plain.load_state_dict(pruned.state_dict())
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "0.weight"' in msg
    assert "comes from a pruned model" in msg and '"0.weight"' in msg
    assert "minigrad.compress.prune.load_state_dict(model, state_dict)" in msg
    assert "This model is pruned" not in msg
    _assert_unchanged(plain, before)
    assert not prune.is_pruned(plain)
    # the advice works
    prune.load_state_dict(plain, pruned.state_dict())
    x = mg.randn(5, 4)
    np.testing.assert_allclose(plain(x).numpy(), pruned(x).numpy(), rtol=1e-6)


def test_unpruned_checkpoint_into_pruned_model_names_the_fix():
    mg.manual_seed(1)
    model = _net()
    prune.l1_unstructured(model[2], "weight", amount=0.5)
    before = _snapshot(model)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(_net().state_dict())
    msg = str(info.value)
    assert "This model is pruned" in msg and '"2.weight"' in msg
    assert "prune.remove" in msg
    assert "comes from a pruned model" not in msg
    _assert_unchanged(model, before)
    assert prune.is_pruned(model)


def test_several_pruned_parameters_are_all_named():
    src = _net()
    prune.l1_unstructured(src[0], "weight", amount=0.25)
    prune.l1_unstructured(src[2], "weight", amount=0.25)
    with pytest.raises(RuntimeError, match=r'pruned model \("0\.weight", "2\.weight"'):
        _net().load_state_dict(src.state_dict())


def test_no_hint_for_an_ordinary_mismatch():
    sd = _net().state_dict()
    sd["0.weight_orig"] = sd.pop("0.weight")  # an _orig key but no _mask: not pruning
    with pytest.raises(RuntimeError) as info:
        _net().load_state_dict(sd)
    msg = str(info.value)
    assert "Missing key(s)" in msg and "pruned" not in msg


def test_non_strict_load_still_reports_the_keys_without_raising():
    src = _net()
    prune.l1_unstructured(src[0], "weight", amount=0.5)
    dst = _net()
    w0 = dst[0].weight.numpy().copy()
    missing, unexpected = dst.load_state_dict(src.state_dict(), strict=False)
    assert missing == ["0.weight"]
    assert sorted(unexpected) == ["0.weight_mask", "0.weight_orig"]
    np.testing.assert_array_equal(dst[0].weight.numpy(), w0)  # nothing to copy it from
    np.testing.assert_array_equal(dst[0].bias.numpy(), src[0].bias.numpy())
