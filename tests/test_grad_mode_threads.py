"""Grad mode belongs to a thread (as in PyTorch): ``no_grad`` in one thread leaves the
others recording, a new thread starts with grad mode on, and two threads can train two
models at once. Also ``inference_mode`` and ``is_inference_mode_enabled``."""
import threading
import time

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def _in_thread(fn):
    """Run ``fn`` in a new thread; return its result (or raise its exception)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the thread did not finish"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_new_thread_starts_with_grad_mode_on():
    with mg.no_grad():
        assert _in_thread(mg.is_grad_enabled) is True
        assert not mg.is_grad_enabled()
    with mg.inference_mode():
        assert _in_thread(lambda: (mg.is_grad_enabled(), mg.is_inference_mode_enabled())) == (True, False)


def test_no_grad_in_one_thread_leaves_the_other_recording():
    entered, computed = threading.Event(), threading.Event()
    seen = {}

    def evaluator():
        with mg.no_grad():
            entered.set()
            assert computed.wait(30)
            seen["evaluator"] = (mg.ones(2, requires_grad=True) * 2).requires_grad

    def trainer():
        assert entered.wait(30)
        w = mg.ones(2, requires_grad=True)
        y = (w * 3).sum()
        seen["trainer"] = y.requires_grad and y.grad_fn is not None
        y.backward()
        seen["grad"] = w.grad.tolist()
        computed.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == {"evaluator": False, "trainer": True, "grad": [3.0, 3.0]}


def test_overlapping_no_grad_blocks_leave_every_thread_as_it_was():
    # A enters, B enters, A leaves, B leaves: with one global flag B would restore
    # "off" last and leave the whole program without grad mode
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with mg.no_grad():
            a_in.set()
            assert b_in.wait(30)
        after["a"] = mg.is_grad_enabled()
        a_out.set()

    def b():
        assert a_in.wait(30)
        with mg.no_grad():
            b_in.set()
            assert a_out.wait(30)
            after["b inside"] = mg.is_grad_enabled()
        after["b"] = mg.is_grad_enabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert after == {"a": True, "b inside": False, "b": True}
    assert mg.is_grad_enabled()


def _train(model, X, y, steps, barrier=None, wait_in_no_grad=False):
    """A few SGD steps, each followed by an evaluation under no_grad. With a barrier,
    two threads meet once a step: one inside its no_grad block (where it then lingers),
    the other just before its forward pass, which therefore runs while the first
    thread has grad mode off."""
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        if barrier is not None and not wait_in_no_grad:
            barrier.wait(30)
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        with mg.no_grad():
            if barrier is not None and wait_in_no_grad:
                barrier.wait(30)
                time.sleep(0.005)
            losses.append(nn.functional.mse_loss(model(X), y).item())
    return losses


def _models_and_data():
    mg.manual_seed(0)
    models = [nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)) for _ in range(2)]
    rng = np.random.default_rng(0)
    data = [(mg.tensor(rng.normal(size=(16, 4)), dtype=mg.float32), mg.tensor(rng.normal(size=(16, 1)), dtype=mg.float32))
            for _ in range(2)]
    return models, data


def test_two_threads_train_two_models_like_one_after_the_other():
    models, data = _models_and_data()
    expected = [_train(m, X, y, 15) for m, (X, y) in zip(models, data)]
    expected_weights = [[p.numpy().copy() for p in m.parameters()] for m in models]

    models, data = _models_and_data()
    barrier = threading.Barrier(2)
    results = [None, None]

    def run(i):
        results[i] = _train(models[i], *data[i], 15, barrier, wait_in_no_grad=(i == 0))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == expected
    for m, ws in zip(models, expected_weights):
        for p, w in zip(m.parameters(), ws):
            np.testing.assert_array_equal(p.numpy(), w)
    assert mg.is_grad_enabled()


def test_set_grad_enabled_as_a_call_is_per_thread():
    def off_here():
        mg.set_grad_enabled(False)
        return mg.is_grad_enabled()

    assert _in_thread(off_here) is False
    assert mg.is_grad_enabled()


def test_a_decorated_function_called_from_two_threads():
    inside = threading.Barrier(2)

    @mg.no_grad
    def evaluate():
        inside.wait(30)            # both threads are inside at once
        r = (mg.ones(1, requires_grad=True) * 2).requires_grad
        inside.wait(30)
        return r

    results = []
    threads = [threading.Thread(target=lambda: results.append(evaluate())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [False, False] and mg.is_grad_enabled()


# ---------------------------------------------------------------------- inference_mode

def test_inference_mode_is_no_grad_plus_the_flag():
    w = mg.ones(2, requires_grad=True)
    assert not mg.is_inference_mode_enabled()
    with mg.inference_mode():
        assert mg.is_inference_mode_enabled() and not mg.is_grad_enabled()
        y = w * 2
        assert not y.requires_grad and y.grad_fn is None
        with mg.inference_mode(False):
            assert not mg.is_inference_mode_enabled() and mg.is_grad_enabled()
        with mg.enable_grad():
            assert mg.is_inference_mode_enabled() and mg.is_grad_enabled()
        assert mg.is_inference_mode_enabled() and not mg.is_grad_enabled()
    assert not mg.is_inference_mode_enabled() and mg.is_grad_enabled()
    (y * w).sum().backward()        # a tensor made in inference mode is an ordinary tensor here
    assert w.grad.tolist() == [2.0, 2.0]


def test_inference_mode_as_a_decorator():
    @mg.inference_mode
    def bare():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    @mg.inference_mode()
    def called():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    @mg.inference_mode(mode=False)
    def off():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    assert bare() == called() == (False, True)
    with mg.no_grad():
        assert off() == (True, False)
        assert not mg.is_grad_enabled()
    assert bare.__name__ == "bare" and mg.is_grad_enabled() and not mg.is_inference_mode_enabled()


def test_modes_are_restored_after_an_exception():
    with pytest.raises(ValueError):
        with mg.inference_mode():
            raise ValueError("boom")
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()

    @mg.no_grad()
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert mg.is_grad_enabled()


@pytest.mark.oracle
def test_mode_flags_match_torch():
    torch = pytest.importorskip("torch")

    def table(lib):
        rows = []
        with lib.no_grad():
            with lib.inference_mode(False):
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        with lib.inference_mode():
            rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
            with lib.enable_grad():
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
            with lib.inference_mode(False):
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        with lib.no_grad():
            rows.append(_in_thread(lambda: (lib.is_grad_enabled(), lib.is_inference_mode_enabled())))
        return rows

    assert table(mg) == table(torch)
