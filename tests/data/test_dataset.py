"""Dataset, TensorDataset, Subset, ConcatDataset and random_split (minigrad/data/dataset.py)."""
import numpy as np
import pytest

import minigrad
from minigrad.data import ConcatDataset, DataLoader, Subset, TensorDataset, random_split
from minigrad.tensor import Tensor


def test_tensordataset_items_and_validation():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    x0, y0 = ds[-1]
    np.testing.assert_array_equal(x0, [10, 11])
    assert y0 == 5
    with pytest.raises(IndexError, match="index 6 is out of range.*length 6"):
        ds[6]
    with pytest.raises(ValueError, match=r"same first dimension.*\(6, 2\), \(5,\)"):
        TensorDataset(X, y[:5])
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_tensordataset_of_tensors_gives_tensors():
    ds = TensorDataset(minigrad.tensor([[1., 2.], [3., 4.]]), minigrad.tensor([0, 1]))
    x, y = ds[1]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    np.testing.assert_array_equal(x.array, [3., 4.])
    assert y.array == 1 and y.dtype == np.int64
    assert all(isinstance(t, Tensor) for t in ds.tensors)


def test_subset_and_concat():
    base = TensorDataset(np.arange(10))
    s = Subset(base, [9, 0, -1])
    assert len(s) == 3 and [int(s[i][0]) for i in range(3)] == [9, 0, 9]
    with pytest.raises(IndexError):
        Subset(base, [10])
    with pytest.raises(TypeError):
        Subset(base, [0.5])
    c = ConcatDataset([base, Subset(base, [3, 4])])
    assert len(c) == 12 and int(c[10][0]) == 3 and int(c[-1][0]) == 4
    assert len(base + base) == 20
    nested = Subset(Subset(base, [5, 6, 7, 8]), [3, 0])
    (xb,), = list(DataLoader(nested, batch_size=2))
    np.testing.assert_array_equal(xb.array, [8, 5])


def test_random_split():
    ds = TensorDataset(np.arange(10))
    a, b = random_split(ds, [7, 3], generator=0)
    got = sorted(int(a[i][0]) for i in range(7)) + sorted(int(b[i][0]) for i in range(3))
    assert len(a) == 7 and len(b) == 3
    assert sorted(got) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=1)
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(TensorDataset(np.arange(11)), [0.5, 0.5], generator=1)
    assert [len(p) for p in parts] == [6, 5]     # leftover goes to the first part, as in PyTorch
    a2, _ = random_split(ds, [7, 3], generator=0)
    np.testing.assert_array_equal(a.indices, a2.indices)
    with pytest.raises(ValueError, match="add up to 9"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 4.5])
