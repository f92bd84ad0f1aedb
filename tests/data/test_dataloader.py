"""DataLoader and default_collate: batching, shuffling, the fast path, transforms, errors."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
from minigrad.data import DataLoader, Dataset, Subset, TensorDataset, default_collate
from minigrad.data.transforms import Lambda, RandomShift
from minigrad.tensor import Tensor


class Squares(Dataset):
    """A plain map-style dataset: the per-sample path."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 3


def _batches(loader):
    return [tuple(t.array.copy() for t in b) for b in loader]


@pytest.mark.parametrize("n, bs, drop_last, expected", [(10, 3, False, 4), (10, 3, True, 3),
                                                        (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0)])
def test_len(n, bs, drop_last, expected):
    loader = DataLoader(TensorDataset(np.zeros((n, 1))), batch_size=bs, drop_last=drop_last)
    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_batches_are_tensors_with_kept_dtypes_and_cover_everything():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int64)
    batches = list(DataLoader(TensorDataset(X, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert all(isinstance(t, Tensor) for b in batches for t in b)
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[1].array for b in batches]), y)


def test_shuffle_is_a_permutation_and_changes_each_epoch():
    y = np.arange(50)
    loader = DataLoader(TensorDataset(y), batch_size=7, shuffle=True, generator=0)
    e1 = np.concatenate([b[0].array for b in loader])
    e2 = np.concatenate([b[0].array for b in loader])
    assert sorted(e1) == list(y) and sorted(e2) == list(y)
    assert not np.array_equal(e1, y) and not np.array_equal(e1, e2)


def test_seeded_generator_reproduces():
    ds = TensorDataset(np.arange(30))
    a = _batches(DataLoader(ds, batch_size=4, shuffle=True, generator=123))
    b = _batches(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(123)))
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))


def test_manual_seed_makes_default_shuffle_reproducible():
    ds = TensorDataset(np.arange(30))
    minigrad.manual_seed(7)
    a = _batches(DataLoader(ds, batch_size=5, shuffle=True))
    minigrad.manual_seed(7)
    b = _batches(DataLoader(ds, batch_size=5, shuffle=True))
    minigrad.manual_seed(8)
    c = _batches(DataLoader(ds, batch_size=5, shuffle=True))
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, c))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**16), subset=st.booleans())
def test_fast_path_equals_per_sample_path(n, bs, shuffle, drop_last, seed, subset):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3, 2)).astype(np.float32)
    y = rng.integers(0, 5, n)
    ds = TensorDataset(X, y)
    if subset:
        ds = Subset(ds, rng.permutation(n)[: max(1, n // 2)])
    fast = DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last, generator=seed)
    slow = DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last, generator=seed,
                      collate_fn=default_collate)   # an explicit collate_fn disables the fast path
    fb, sb = _batches(fast), _batches(slow)
    assert len(fb) == len(sb) == len(fast)
    for (fx, fy), (sx, sy) in zip(fb, sb):
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype
        np.testing.assert_array_equal(fx, sx)
        np.testing.assert_array_equal(fy, sy)


def test_fast_path_does_not_call_getitem(monkeypatch):
    ds = TensorDataset(np.zeros((10, 2)), np.zeros(10))

    def boom(self, i):
        raise AssertionError("per-sample path used")
    monkeypatch.setattr(TensorDataset, "__getitem__", boom)
    assert len(list(DataLoader(ds, batch_size=3, shuffle=True, generator=0))) == 4


def test_fast_path_batch_owns_its_memory():
    X = np.zeros((6, 2), np.float32)
    xb, = next(iter(DataLoader(TensorDataset(X), batch_size=3)))
    xb.array[...] = 5
    assert np.all(X == 0)


def test_transform_applied_per_batch_and_per_sample():
    X = np.ones((8, 1, 4, 4), np.float32)
    calls = []
    t = Lambda(lambda x: x * 2, batch_fn=lambda xb: (calls.append(xb.shape), xb * 2)[1])
    ds = TensorDataset(X, np.arange(8), transform=t)
    np.testing.assert_array_equal(ds[0][0], 2 * X[0])
    xb, _ = next(iter(DataLoader(ds, batch_size=4)))
    assert calls == [(4, 1, 4, 4)]
    np.testing.assert_array_equal(xb.array, 2 * X[:4])
    # a plain function (no apply_batch) still works, sample by sample
    ds2 = TensorDataset(X, np.arange(8), transform=lambda x: x + 1)
    xb, _ = next(iter(DataLoader(ds2, batch_size=4)))
    np.testing.assert_array_equal(xb.array, X[:4] + 1)
    # random augmentation on the fast path
    ds3 = TensorDataset(np.random.default_rng(0).random((8, 6, 6)), np.arange(8),
                        transform=RandomShift(1, generator=0))
    xb, _ = next(iter(DataLoader(ds3, batch_size=8)))
    assert xb.shape == (8, 6, 6)


def test_generic_dataset_collation():
    loader = DataLoader(Squares(7), batch_size=3)
    (x, y), *_ = list(loader)
    assert isinstance(x, Tensor) and x.shape == (3, 2) and x.dtype == np.float32
    assert isinstance(y, Tensor) and y.dtype == np.int64
    np.testing.assert_array_equal(y.array, [0, 1, 2])


def test_default_collate_structures():
    P = namedtuple("P", "a b")
    batch = [{"x": np.array([1., 2.], np.float32), "n": i, "f": 0.5 * i, "b": i % 2 == 0,
              "name": f"s{i}", "p": P(np.int16(i), [i, -i])} for i in range(3)]
    out = default_collate(batch)
    assert out["x"].shape == (3, 2) and out["x"].dtype == np.float32
    assert out["n"].dtype == np.int64 and list(out["n"].array) == [0, 1, 2]
    assert out["f"].dtype == minigrad.get_default_dtype()
    assert out["b"].dtype == np.bool_ and list(out["b"].array) == [True, False, True]
    assert out["name"] == ["s0", "s1", "s2"]
    assert isinstance(out["p"], P) and out["p"].a.dtype == np.int16
    assert isinstance(out["p"].b, list) and list(out["p"].b[1].array) == [0, -1, -2]
    stacked = default_collate([minigrad.tensor([1., 2.]), minigrad.tensor([3., 4.])])
    np.testing.assert_array_equal(stacked.array, [[1, 2], [3, 4]])


def test_default_collate_errors():
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="don't know how to batch.*object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_dataloader_argument_errors():
    ds = TensorDataset(np.zeros(3))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=2)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(ds, shuffle=True, generator="seed")
    with pytest.raises(TypeError, match="length"):
        DataLoader(iter(range(3)))
