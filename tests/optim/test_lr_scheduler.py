"""Learning-rate schedulers: the lr sequences of PyTorch, state_dict, errors."""
import math
import pickle
import warnings

import numpy as np
import pytest

import minigrad
from minigrad import optim
from minigrad.optim import lr_scheduler as sched

STEPS = 50


def _mg_opt(name="SGD", lrs=(0.1, 0.03), **kw):
    ps = [minigrad.tensor(np.ones(2, np.float32), requires_grad=True) for _ in lrs]
    return getattr(optim, name)([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], **kw)


def _schedule(opt, scheduler, steps=STEPS, metrics=None):
    """The lr (and momentum/beta1) of every group after construction and each step."""
    rows = []

    def record():
        row = list(scheduler.get_last_lr()) + [g["lr"] for g in opt.param_groups]
        for g in opt.param_groups:
            if "momentum" in g:
                row.append(g["momentum"])
            if "betas" in g:
                row.extend(g["betas"])
        rows.append([float(v) for v in row])

    record()
    for t in range(steps):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[t])
        record()
    return np.array(rows)


# (scheduler name, kwargs, optimizer name, optimizer kwargs); callables are built per framework
CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5), "SGD", {}),
    ("StepLR", dict(step_size=1, gamma=0.9), "SGD", {}),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3), "SGD", {}),
    ("ExponentialLR", dict(gamma=0.93), "Adam", {}),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001), "SGD", {}),
    ("CosineAnnealingLR", dict(T_max=7), "SGD", {}),
    ("CosineAnnealingLR", dict(T_max=50, eta_min=0.01), "Adam", {}),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e), "SGD", {}),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (e + 1), lambda e: min(1.0, (e + 1) / 10)]), "SGD", {}),
    ("LinearLR", dict(), "SGD", {}),
    ("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=10), "SGD", {}),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=20), "Adam", {}),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS), "SGD", dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=STEPS, anneal_strategy="linear"),
     "SGD", dict(momentum=0.9, nesterov=True)),
    ("OneCycleLR", dict(max_lr=0.01, epochs=5, steps_per_epoch=10, three_phase=True), "Adam", {}),
    ("OneCycleLR", dict(max_lr=0.01, total_steps=STEPS, pct_start=0.25, three_phase=True,
                        anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                        base_momentum=[0.8, 0.7], max_momentum=0.9), "AdamW", {}),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=STEPS, cycle_momentum=False), "Adagrad", {}),
]


def _case_id(case):
    name, kw, oname, _ = case
    return f"{name}-{oname}-" + ",".join(f"{k}={v}" for k, v in kw.items() if not callable(v)
                                         and not (isinstance(v, list) and callable(v[0])))


@pytest.mark.oracle
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_lr_sequence_matches_torch(case):
    torch = pytest.importorskip("torch")
    name, kw, oname, okw = case
    mopt = _mg_opt(oname, **okw)
    mine = _schedule(mopt, getattr(sched, name)(mopt, **kw))
    tps = [torch.ones(2, requires_grad=True) for _ in range(2)]
    topt = getattr(torch.optim, oname)([{"params": [tps[0]], "lr": 0.1},
                                        {"params": [tps[1]], "lr": 0.03}], **okw)
    theirs = _schedule(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw))
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=0)


PLATEAU_CASES = [
    dict(),
    dict(mode="min", factor=0.5, patience=2, threshold=0.05, threshold_mode="rel", cooldown=3),
    dict(mode="min", factor=0.3, patience=0, threshold=0.01, threshold_mode="abs", min_lr=0.001),
    dict(mode="max", factor=0.5, patience=1, threshold=0.0, cooldown=1, min_lr=[0.01, 0.0]),
    dict(mode="max", factor=0.2, patience=3, threshold=0.1, threshold_mode="abs", eps=1e-3),
]


@pytest.mark.oracle
@pytest.mark.parametrize("kw", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # improves, then plateaus with noise, then improves a little again
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.02 * rng.standard_normal(25),
                              np.linspace(0.5, 0.45, 15)]).tolist()
    if kw.get("mode") == "max":
        metrics = [-m for m in metrics]
    mopt = _mg_opt()
    mine = _schedule(mopt, sched.ReduceLROnPlateau(mopt, **kw), metrics=metrics)
    tps = [torch.ones(2, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [tps[0]], "lr": 0.1}, {"params": [tps[1]], "lr": 0.03}])
    theirs = _schedule(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw),
                       metrics=metrics)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=0)
    assert mine[-1, 0] < mine[0, 0]   # the case reduced the lr at least once


@pytest.mark.oracle
def test_two_schedulers_on_one_optimizer_compose_like_torch():
    torch = pytest.importorskip("torch")
    mopt = _mg_opt()
    s1, s2 = sched.StepLR(mopt, 5, 0.5), sched.ExponentialLR(mopt, 0.9)
    tps = [torch.ones(2, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [tps[0]], "lr": 0.1}, {"params": [tps[1]], "lr": 0.03}])
    t1 = torch.optim.lr_scheduler.StepLR(topt, 5, 0.5)
    t2 = torch.optim.lr_scheduler.ExponentialLR(topt, 0.9)
    for _ in range(20):
        mopt.step()
        topt.step()
        s1.step()
        s2.step()
        t1.step()
        t2.step()
        assert s2.get_last_lr() == pytest.approx(t2.get_last_lr(), rel=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("name,kw", [("ExponentialLR", dict(gamma=0.9)),
                                     ("CosineAnnealingLR", dict(T_max=10)),
                                     ("LinearLR", dict(start_factor=0.5, total_iters=8))])
def test_resuming_with_last_epoch_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    rows = []
    for lib, opt_mod, sched_mod in [("mg", optim, sched),
                                    ("torch", torch.optim, torch.optim.lr_scheduler)]:
        p = minigrad.tensor([1.0], requires_grad=True) if lib == "mg" else torch.ones(1, requires_grad=True)
        opt = opt_mod.SGD([p], lr=0.1)
        opt.param_groups[0]["initial_lr"] = 0.2
        s = getattr(sched_mod, name)(opt, last_epoch=4, **kw)
        row = [opt.param_groups[0]["lr"]]
        for _ in range(10):
            opt.step()
            s.step()
            row.append(opt.param_groups[0]["lr"])
        rows.append(row)
    np.testing.assert_allclose(rows[0], rows[1], rtol=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("name,kw", [("StepLR", dict(step_size=3, gamma=0.5)),
                                     ("MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.5)),
                                     ("ExponentialLR", dict(gamma=0.9)),
                                     ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01)),
                                     ("LinearLR", dict(start_factor=0.25, total_iters=4))])
def test_step_with_epoch_uses_the_closed_form_like_torch(name, kw):
    torch = pytest.importorskip("torch")
    mopt = _mg_opt()
    tps = [torch.ones(2, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [tps[0]], "lr": 0.1}, {"params": [tps[1]], "lr": 0.03}])
    ms = getattr(sched, name)(mopt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 7, 1, 12, 6]:
            topt.step()
            ms.step(epoch)
            ts.step(epoch)
            assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


# ---------------------------------------------------------------------- without torch

def test_closed_forms_agree_with_the_recursive_forms():
    for make, closed in [
        (lambda o: sched.StepLR(o, 4, 0.5), lambda base, t: base * 0.5 ** (t // 4)),
        (lambda o: sched.ExponentialLR(o, 0.9), lambda base, t: base * 0.9 ** t),
        (lambda o: sched.CosineAnnealingLR(o, 8, 0.001),
         lambda base, t: 0.001 + (base - 0.001) * (1 + math.cos(math.pi * t / 8)) / 2),
        (lambda o: sched.LinearLR(o, 0.2, 1.0, 5),
         lambda base, t: base * (0.2 + 0.8 * min(t, 5) / 5)),
        (lambda o: sched.MultiStepLR(o, [3, 9], 0.1),
         lambda base, t: base * 0.1 ** ((t >= 3) + (t >= 9))),
    ]:
        opt = _mg_opt()
        s = make(opt)
        for t in range(30):
            for base, lr in zip((0.1, 0.03), s.get_last_lr()):
                assert lr == pytest.approx(closed(base, t), rel=1e-9, abs=1e-15), (type(s).__name__, t)
            opt.step()
            s.step()


def test_scheduler_sets_initial_lr_and_base_lrs():
    opt = _mg_opt()
    s = sched.LinearLR(opt, start_factor=0.5, total_iters=4)
    assert s.base_lrs == [0.1, 0.03]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert s.last_epoch == 0
    assert s.get_last_lr() == pytest.approx([0.05, 0.015])
    for _ in range(10):
        s.step()
    assert s.get_last_lr() == pytest.approx([0.1, 0.03])


def test_onecycle_shape_of_the_schedule():
    opt = _mg_opt("SGD", momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=100, pct_start=0.3)
    rows = _schedule(opt, s, steps=99)
    lr = rows[:, 0]
    assert lr[0] == pytest.approx(1.0 / 25)
    assert lr.argmax() == 29 and lr.max() == pytest.approx(1.0)
    assert lr[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert np.all(np.diff(lr[:30]) > 0) and np.all(np.diff(lr[29:]) < 0)
    momentum = rows[:, 4]
    assert momentum[0] == pytest.approx(0.95) and momentum[29] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="tried to step 101 times"):
        s.step()
        s.step()


def _roundtrip(make_opt, make_sched, metrics=None):
    rng = np.random.default_rng(0)
    vals = rng.random(40).tolist() if metrics else [None] * 40
    opt = make_opt()
    s = make_sched(opt)
    for t in range(15):
        opt.step()
        s.step(vals[t]) if metrics else s.step()
    saved_opt = pickle.loads(pickle.dumps(opt.state_dict()))
    saved_sched = pickle.loads(pickle.dumps(s.state_dict()))
    opt2 = make_opt()
    s2 = make_sched(opt2)
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved_sched)
    assert s2.get_last_lr() == s.get_last_lr()
    seen = set()
    for t in range(15, 40):
        for o, sc in ((opt, s), (opt2, s2)):
            o.step()
            sc.step(vals[t]) if metrics else sc.step()
        assert s2.get_last_lr() == s.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
        seen.add(tuple(s.get_last_lr()))
    assert len(seen) > 1   # the schedule kept changing the lr after the reload


class _Warmup:
    """A callable object: its attributes are saved by LambdaLR.state_dict."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


@pytest.mark.parametrize("make_sched,metrics", [
    (lambda o: sched.StepLR(o, 4, 0.5), False),
    (lambda o: sched.CosineAnnealingLR(o, 12, 0.001), False),
    (lambda o: sched.OneCycleLR(o, 0.5, total_steps=40), False),
    (lambda o: sched.LambdaLR(o, [_Warmup(30), lambda e: 0.9 ** e]), False),
    (lambda o: sched.ReduceLROnPlateau(o, patience=1, factor=0.5), True),
])
def test_scheduler_state_dict_round_trip(make_sched, metrics):
    _roundtrip(lambda: _mg_opt("SGD", momentum=0.9), make_sched, metrics)


def test_lambda_state_dict_saves_callable_objects_only():
    opt = _mg_opt()
    s = sched.LambdaLR(opt, [_Warmup(5), lambda e: 1.0])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"n": 5}, None]
    s2 = sched.LambdaLR(_mg_opt(), [_Warmup(99), lambda e: 1.0])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].n == 5


def test_plateau_accepts_a_tensor_metric_and_reduces():
    opt = _mg_opt()
    s = sched.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for _ in range(4):
        s.step(minigrad.tensor(1.0))
    assert s.get_last_lr() == pytest.approx([0.05, 0.015])
    assert s.last_epoch == 4


@pytest.mark.parametrize("make,exc,match", [
    (lambda o: sched.StepLR(o, 0), ValueError, "step_size must be a positive integer"),
    (lambda o: sched.CosineAnnealingLR(o, 0), ValueError, "T_max must be > 0"),
    (lambda o: sched.LinearLR(o, start_factor=0), ValueError, r"start_factor must be in \(0, 1\]"),
    (lambda o: sched.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: sched.LambdaLR(o, [lambda e: 1.0]), ValueError, "expected 2 lr_lambdas"),
    (lambda o: sched.LambdaLR(o, 3.0), TypeError, "must be callable"),
    (lambda o: sched.OneCycleLR(o, 0.1), ValueError, "give either total_steps"),
    (lambda o: sched.OneCycleLR(o, 0.1, total_steps=0), ValueError, "positive integer total_steps"),
    (lambda o: sched.OneCycleLR(o, [0.1], total_steps=10), ValueError, "expected 2 values for max_lr"),
    (lambda o: sched.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: sched.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1), ValueError, "has no steps"),
    (lambda o: sched.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"), ValueError, "'cos' or 'linear'"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be < 1.0"),
    (lambda o: sched.ReduceLROnPlateau(o, mode="up"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: sched.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 values for min_lr"),
    (lambda o: sched.ExponentialLR(o, 0.9, last_epoch=3), KeyError, "initial_lr"),
    (lambda o: sched.StepLR(object(), 3), TypeError, "expected an Optimizer"),
])
def test_scheduler_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_mg_opt())


def test_onecycle_cycle_momentum_needs_momentum():
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with a momentum"):
        sched.OneCycleLR(_mg_opt("Adagrad"), 0.1, total_steps=10)
