"""minigrad.random: Generator objects are reproducible and independent of the global seed,
in DataLoader shuffling and random_split too."""
import pytest

import minigrad as mg


def test_generator_reproducible_and_independent():
    g = mg.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    a = [mg.randperm(10, generator=g).tolist(), mg.rand(3, generator=g).tolist(), mg.randn(2, generator=g).tolist(),
         mg.randint(0, 9, (4,), generator=g).tolist(), mg.multinomial(mg.ones(5), 3, generator=g).tolist()]
    g.manual_seed(5)
    mg.rand(7)  # the global generator does not disturb g
    b = [mg.randperm(10, generator=g).tolist(), mg.rand(3, generator=g).tolist(), mg.randn(2, generator=g).tolist(),
         mg.randint(0, 9, (4,), generator=g).tolist(), mg.multinomial(mg.ones(5), 3, generator=g).tolist()]
    assert a == b
    state = g.get_state()
    assert state.dtype == mg.uint8
    x = mg.rand(4, generator=g).tolist()
    g.set_state(state)
    assert mg.rand(4, generator=g).tolist() == x
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(TypeError, match="manual_seed"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="37-byte"):
        g.set_state(mg.zeros(3, dtype=mg.uint8))
    with pytest.raises(TypeError, match="generator"):
        mg.rand(2, generator="seed")
    assert mg.Generator().device.type == "cpu" and mg.Generator(device="cuda").device.type == "cuda"
    with pytest.raises(ValueError, match="unknown device type"):
        mg.Generator(device="tpu")


def test_generator_in_dataloader_and_random_split():
    from minigrad.data import DataLoader, TensorDataset, random_split

    ds = TensorDataset(mg.arange(20))
    g = mg.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=20, shuffle=True, generator=g)
    first = next(iter(loader))[0].tolist()
    g.manual_seed(0)  # re-seeding the same generator restarts the loader's order
    assert next(iter(loader))[0].tolist() == first
    assert sorted(first) == list(range(20)) and first != list(range(20))
    parts = random_split(ds, [15, 5], generator=mg.Generator().manual_seed(3))
    again = random_split(ds, [15, 5], generator=mg.Generator().manual_seed(3))
    assert list(parts[1].indices) == list(again[1].indices)
    assert sorted(list(parts[0].indices) + list(parts[1].indices)) == list(range(20))
