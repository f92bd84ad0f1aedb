"""The character language model seed (minigrad/examples/charlm.py): sampling and runs."""


import numpy as np
import pytest


def test_charlm_sample_and_tiny_run():
    from minigrad.examples.charlm import CharLM, sample, run, load_text
    text = load_text()
    assert len(text) > 90_000 and "Hippolyta" in text
    model = CharLM("abc \n", block_size=8, d_model=8, nhead=2, num_layers=1)
    out = sample(model, "ab", 20, temperature=0.7, top_k=2, generator=np.random.default_rng(0))
    assert out.startswith("ab") and len(out) == 22 and set(out) <= set("abc \n")
    greedy = [sample(model, "a", 10, top_k=1, generator=np.random.default_rng(s)) for s in (1, 2)]
    assert greedy[0] == greedy[1]          # top_k=1 is argmax: no randomness left
    for bad in (dict(prompt="xyz"), dict(temperature=0.0), dict(top_k=0)):
        kw = dict(prompt="a", temperature=1.0, top_k=None) | bad
        with pytest.raises(ValueError):
            sample(model, kw["prompt"], 3, temperature=kw["temperature"], top_k=kw["top_k"])
    res = run(steps=2, block_size=16, d_model=16, num_layers=1, batch_size=4, sample_chars=10)
    assert set(res) >= {"what", "final_loss", "accuracy", "seconds", "sample"}
    assert np.isfinite(res["final_loss"]) and res["sample"].startswith("THESEUS:")


@pytest.mark.slow
def test_charlm_example_quick_learns():
    from minigrad.examples.charlm import run
    res = run(quick=True, sample_chars=50)
    assert res["final_loss"] < 2.4 and res["val_loss"] < 2.5 and res["accuracy"] > 0.3, res
