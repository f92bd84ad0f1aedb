"""L-BFGS: the closure API, PyTorch's trajectory (fixed step and strong Wolfe line
search), saving and resuming, and its errors."""
import numpy as np
import pytest

import minigrad
from minigrad import optim


pytestmark = pytest.mark.usefixtures("reference_kernels")


def _problem(dtype, seed=0):
    """A smooth non-quadratic loss in two parameters: sum log(1 + r^2) + 0.1 |w|^4,
    r = A w + c - b (so the curvature changes and the line search has work to do)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((8, 6)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    w0 = rng.standard_normal(6).astype(dtype)
    c0 = np.array([0.3], dtype)
    return A, b, w0, c0


def _closure(opt, loss_fn):
    """What L-BFGS calls: clear the gradients, compute ``loss_fn()``, backpropagate."""
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss
    return closure


def _problem_loss(A, b, w, c):
    """The loss of ``_problem`` (minigrad or torch tensors alike)."""
    r = A @ w + c - b
    return (1 + r * r).log().sum() + 0.1 * ((w * w).sum()) ** 2


def _minigrad_closure(opt, A, b, w, c):
    A, b = minigrad.tensor(A), minigrad.tensor(b)
    return _closure(opt, lambda: _problem_loss(A, b, w, c))


def _make(dtype, **kw):
    A, b, w0, c0 = _problem(dtype)
    w = minigrad.tensor(w0.copy(), requires_grad=True)
    c = minigrad.tensor(c0.copy(), requires_grad=True)
    opt = optim.LBFGS([w, c], **kw)
    return opt, _minigrad_closure(opt, A, b, w, c), w, c


@pytest.mark.oracle
@pytest.mark.parametrize("kw", [
    dict(),
    dict(history_size=3),
    dict(line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe", history_size=2, max_iter=7),
    dict(lr=0.5, max_iter=4, max_eval=6),
    dict(line_search_fn="strong_wolfe", max_eval=4),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "defaults")
def test_matches_torch_float64(kw):
    torch = pytest.importorskip("torch")
    A, b, w0, c0 = _problem(np.float64)
    opt, closure, w, c = _make(np.float64, **kw)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    tc = torch.tensor(c0.copy(), requires_grad=True)
    topt = torch.optim.LBFGS([tw, tc], **kw)
    tA, tb = torch.tensor(A), torch.tensor(b)
    tclosure = _closure(topt, lambda: _problem_loss(tA, tb, tw, tc))

    for step in range(4):
        mine, theirs = opt.step(closure), topt.step(tclosure)
        assert float(mine) == pytest.approx(float(theirs.detach()), rel=1e-12)
        np.testing.assert_allclose(w.array, tw.detach().numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=f"after step {step + 1}")
        np.testing.assert_allclose(c.array, tc.detach().numpy(), rtol=1e-9, atol=1e-11)
        ms, ts = opt.state[w], topt.state[tw]
        assert (ms["func_evals"], ms["n_iter"]) == (ts["func_evals"], ts["n_iter"])
        assert len(ms["old_dirs"]) == len(ts["old_dirs"])


@pytest.mark.oracle
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_matches_torch_float32_first_iterations(line_search_fn):
    """In float32 the stopping tests meet rounding noise after a few iterations, so the
    comparison covers one step of five iterations on a well-conditioned quadratic."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6)).astype(np.float32)
    H = (M @ M.T / 6 + np.eye(6, dtype=np.float32)).astype(np.float32)
    target = rng.standard_normal(6).astype(np.float32)
    w0 = rng.standard_normal(6).astype(np.float32)
    w = minigrad.tensor(w0.copy(), requires_grad=True)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    opt = optim.LBFGS([w], max_iter=5, line_search_fn=line_search_fn)
    topt = torch.optim.LBFGS([tw], max_iter=5, line_search_fn=line_search_fn)
    mH, mt, tH, tt = minigrad.tensor(H), minigrad.tensor(target), torch.tensor(H), torch.tensor(target)

    def quadratic(H, target, w):
        e = w - target
        return 0.5 * (e * (H @ e)).sum()

    opt.step(_closure(opt, lambda: quadratic(mH, mt, w)))
    topt.step(_closure(topt, lambda: quadratic(tH, tt, tw)))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.array, tw.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_solves_least_squares(line_search_fn):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    true = rng.standard_normal(4)
    y = X @ true
    w = minigrad.tensor(np.zeros(4), requires_grad=True)
    opt = optim.LBFGS([w], line_search_fn=line_search_fn)
    Xt, yt = minigrad.tensor(X), minigrad.tensor(y)
    closure = _closure(opt, lambda: ((Xt @ w - yt) ** 2).mean())
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(w.array, true, atol=1e-5)


def test_returns_first_loss_and_stops_at_a_stationary_point():
    w = minigrad.tensor(np.zeros(3), requires_grad=True)
    calls = []
    opt = optim.LBFGS([w])

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == 0.0 and len(calls) == 1          # gradient 0: nothing to do
    np.testing.assert_array_equal(w.array, np.zeros(3))


def test_closure_runs_with_grad_mode_on_and_versions_bump():
    opt, closure, w, c = _make(np.float64, max_iter=3)
    seen = []

    def wrapped():
        seen.append(minigrad.is_grad_enabled())
        return closure()

    version = w._version[0]
    with minigrad.no_grad():
        opt.step(wrapped)
    assert seen and all(seen)
    assert w._version[0] > version


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_through_a_checkpoint_resumes_exactly(line_search_fn, tmp_path):
    opt, closure, w, c = _make(np.float64, max_iter=3, history_size=4,
                               line_search_fn=line_search_fn)
    for _ in range(2):
        opt.step(closure)
    sd = opt.state_dict()
    assert list(sd["state"]) == [0] and len(sd["state"][0]["old_dirs"]) >= 1
    minigrad.save({"opt": sd, "w": w.array, "c": c.array}, tmp_path / "lbfgs.pt")
    ckpt = minigrad.load(tmp_path / "lbfgs.pt")
    opt2, closure2, w2, c2 = _make(np.float64, max_iter=3, history_size=4,
                                   line_search_fn=line_search_fn)
    w2.array[...] = ckpt["w"]
    c2.array[...] = ckpt["c"]
    opt2.load_state_dict(ckpt["opt"])
    for _ in range(2):
        opt.step(closure)
        opt2.step(closure2)
    np.testing.assert_array_equal(w.array, w2.array)
    np.testing.assert_array_equal(c.array, c2.array)


def test_bad_state_dict_is_refused_and_changes_nothing():
    opt, closure, w, c = _make(np.float64, max_iter=3)
    opt.step(closure)
    sd = opt.state_dict()
    sd["state"][0]["old_dirs"] = [np.zeros(5)]                 # 7 parameter elements, not 5
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"LBFGS.load_state_dict: state 'old_dirs'\[0\] should be "
                                         r"a vector of 7 elements"):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["state"][0]["n_iter"] == before["state"][0]["n_iter"]
    np.testing.assert_array_equal(after["state"][0]["d"], before["state"][0]["d"])


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: optim.LBFGS(p, lr=-1), ValueError, r"LBFGS: invalid learning rate: -1"),
    (lambda p: optim.LBFGS(p, max_iter=0), ValueError, r"LBFGS: invalid max_iter: 0"),
    (lambda p: optim.LBFGS(p, history_size=2.5), ValueError, r"invalid history_size: 2.5"),
    (lambda p: optim.LBFGS(p, tolerance_grad=-1), ValueError, r"invalid tolerance_grad"),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"), ValueError,
     r"line_search_fn must be None or 'strong_wolfe', got 'armijo'"),
    (lambda p: optim.LBFGS([{"params": p[:1]}, {"params": p[1:], "lr": 0.1}]), ValueError,
     r"doesn't support per-parameter options \(parameter groups\)"),
])
def test_invalid_options_raise(make, exc, match):
    p = [minigrad.tensor(np.ones(2), requires_grad=True), minigrad.tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(exc, match=match):
        make(p)


def test_step_without_closure_explains():
    opt, _, _, _ = _make(np.float64)
    with pytest.raises(TypeError, match=r"LBFGS.step: L-BFGS needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match="per-parameter options"):
        opt.add_param_group({"params": [minigrad.tensor(np.ones(2), requires_grad=True)]})


def test_parameters_without_gradient_count_as_zero_and_stay():
    opt, closure, w, c = _make(np.float64, max_iter=5)
    unused = minigrad.tensor(np.full(4, 7.0), requires_grad=True)
    opt = optim.LBFGS([w, unused, c], max_iter=5)
    A, b, _, _ = _problem(np.float64)
    closure = _minigrad_closure(opt, A, b, w, c)
    first = float(closure())
    opt.step(closure)
    assert float(closure()) < first
    np.testing.assert_array_equal(unused.array, np.full(4, 7.0))
    assert opt.state[w]["d"].shape == (6 + 4 + 1,)
