"""minigrad/data/distributed.py: DistributedSampler, each rank's share of a data set,
alone and in a DataLoader."""
import numpy as np
import pytest

from minigrad.data import DataLoader, DistributedSampler, TensorDataset


@pytest.mark.parametrize("n", [10, 11, 3])
@pytest.mark.parametrize("p", [1, 2, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shares(n, p, drop_last):
    shares = [list(DistributedSampler(range(n), p, r, shuffle=True, seed=5, drop_last=drop_last))
              for r in range(p)]
    assert len({len(s) for s in shares}) == 1
    flat = [i for s in shares for i in s]
    if drop_last:
        assert len(flat) == len(set(flat)) == (n // p) * p
    else:
        assert set(flat) == set(range(n)) and len(flat) == -(-n // p) * p
    assert all(0 <= i < n for i in flat)


def test_sampler_epochs_and_errors():
    s = DistributedSampler(range(100), 2, 1, seed=0)
    first = list(s)
    assert list(s) == first                 # same epoch, same order
    s.set_epoch(1)
    assert list(s) != first
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]
    with pytest.raises(ValueError, match="rank must be"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(ValueError, match="epoch"):
        s.set_epoch(-1)
    with pytest.raises(TypeError, match="length"):
        DistributedSampler(iter(range(4)), 2, 0)
    assert "rank 1 of 2" in repr(s)


def test_dataloader_with_a_sampler():
    ds = TensorDataset(np.arange(14, dtype=np.float32).reshape(7, 2), np.arange(7))
    s = DistributedSampler(ds, 2, 0, shuffle=True, seed=1)
    loader = DataLoader(ds, batch_size=3, sampler=s)
    assert len(loader) == 2
    ys = [int(v) for _, yb in loader for v in yb.array]
    assert ys == list(s)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=s, shuffle=True)
