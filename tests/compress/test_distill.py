"""minigrad.compress.distill: the KD loss (formula, gradients, PyTorch), the training
loop and the digits example (the distilled student beats the one trained from scratch)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import nn, optim
from minigrad.compress import distill
from minigrad.compress.distill import DistillationLoss, kd_loss


# ---------------------------------------------------------------------------- NumPy reference

def np_log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def np_kd(s, t, y, T, alpha, reduction="batchmean", ignore_index=-100):
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y), per sample."""
    log_pt, log_ps = np_log_softmax(t / T), np_log_softmax(s / T)
    soft = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1) * T * T
    per = alpha * soft
    n_lab = len(s)
    if y is not None and alpha < 1:
        lab = y != ignore_index
        n_lab = int(lab.sum())
        ce = np.zeros(len(s))
        ce[lab] = -np_log_softmax(s)[np.flatnonzero(lab), y[lab]]
        per = per + (1 - alpha) * ce
        if reduction == "batchmean":
            return alpha * soft.mean() + (1 - alpha) * (ce.sum() / n_lab if n_lab else 0.0)
    if reduction == "batchmean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    return per


@st.composite
def kd_case(draw, dtype=np.float64, min_n=1):
    n = draw(st.integers(min_n, 6))
    c = draw(st.integers(2, 7))
    elems = st.floats(-4, 4, allow_nan=False, width=64)
    s = draw(hnp.arrays(dtype, (n, c), elements=elems))
    t = draw(hnp.arrays(dtype, (n, c), elements=elems)) * draw(st.sampled_from([1.0, 3.0]))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    T = draw(st.floats(0.5, 8.0))
    alpha = draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0)))
    return s, t, y, T, alpha


# ---------------------------------------------------------------------------- value

@settings(max_examples=40)
@given(case=kd_case(), reduction=st.sampled_from(["batchmean", "mean", "sum", "none"]))
def test_kd_loss_matches_numpy_formula(case, reduction):
    s, t, y, T, alpha = case
    got = kd_loss(minigrad.tensor(s), minigrad.tensor(t), minigrad.tensor(y), temperature=T, alpha=alpha,
                  reduction=reduction)
    ref = np_kd(s, t, y, T, alpha, "batchmean" if reduction == "mean" else reduction)
    np.testing.assert_allclose(got.array, ref, rtol=1e-10, atol=1e-12)


def test_kd_loss_ignore_index_marks_unlabelled_samples():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    y = np.array([1, -100, 3, -100, 0])
    got = kd_loss(minigrad.tensor(s), minigrad.tensor(t), minigrad.tensor(y), temperature=2.0, alpha=0.3)
    np.testing.assert_allclose(got.array, np_kd(s, t, y, 2.0, 0.3), rtol=1e-10)
    none = kd_loss(minigrad.tensor(s), minigrad.tensor(t), y, temperature=2.0, alpha=0.3, reduction="none")
    np.testing.assert_allclose(none.array, np_kd(s, t, y, 2.0, 0.3, "none"), rtol=1e-10)
    # a batch with no labels at all: the label term is 0, not nan
    all_unlab = kd_loss(minigrad.tensor(s), minigrad.tensor(t), np.full(5, -100), temperature=2.0, alpha=0.3)
    np.testing.assert_allclose(all_unlab.array, 0.3 * np_kd(s, t, None, 2.0, 1.0), rtol=1e-10)


def test_kd_loss_special_cases():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(4, 3))
    same = kd_loss(minigrad.tensor(s), minigrad.tensor(s), temperature=3.0, alpha=1.0)
    assert abs(float(same.array)) < 1e-12                        # KL(p || p) = 0
    y = np.array([0, 2, 1, 1])
    ce = nn.functional.cross_entropy(minigrad.tensor(s), minigrad.tensor(y))
    only_ce = kd_loss(minigrad.tensor(s), minigrad.tensor(rng.normal(size=(4, 3))), y, alpha=0.0)
    np.testing.assert_allclose(only_ce.array, ce.array, rtol=1e-12)
    # the T^2 factor: for nearly equal logits the soft term hardly depends on T
    t = s + 1e-3 * rng.normal(size=s.shape)
    vals = [float(kd_loss(minigrad.tensor(s), minigrad.tensor(t), temperature=T, alpha=1.0).array)
            for T in (5.0, 50.0)]
    assert vals[0] == pytest.approx(vals[1], rel=0.1)


def test_teacher_is_detached_and_module_wrapper():
    rng = np.random.default_rng(2)
    s = minigrad.tensor(rng.normal(size=(3, 5)), requires_grad=True)
    t = minigrad.tensor(rng.normal(size=(3, 5)), requires_grad=True)
    y = minigrad.tensor(np.array([0, 4, 2]))
    loss_fn = DistillationLoss(temperature=2.5, alpha=0.6)
    assert "temperature=2.5, alpha=0.6" in repr(loss_fn)
    loss = loss_fn(s, t, y)
    np.testing.assert_allclose(loss.array, kd_loss(s, t, y, temperature=2.5, alpha=0.6).array)
    loss.backward()
    assert s.grad is not None and t.grad is None


def test_kd_loss_float32_stays_float32():
    s = minigrad.randn(4, 3, requires_grad=True)
    out = kd_loss(s, np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 1, 2, 0]))
    assert out.dtype == np.float32 and out.shape == ()


# ---------------------------------------------------------------------------- gradients

@settings(max_examples=25)
@given(case=kd_case(), reduction=st.sampled_from(["batchmean", "sum", "none"]))
def test_kd_loss_gradcheck(case, reduction):
    s, t, y, T, alpha = case
    st_ = minigrad.tensor(s, requires_grad=True)
    minigrad.gradcheck(lambda a: kd_loss(a, minigrad.tensor(t), minigrad.tensor(y), temperature=T, alpha=alpha,
                                         reduction=reduction), (st_,))


def test_kd_soft_gradient_is_difference_of_softmaxes():
    """d(T^2 KL)/ds = T * (softmax(s/T) - softmax(t/T)) per sample (the docstring's claim)."""
    rng = np.random.default_rng(3)
    s, t, T = rng.normal(size=(2, 4)), rng.normal(size=(2, 4)), 3.0
    st_ = minigrad.tensor(s, requires_grad=True)
    kd_loss(st_, minigrad.tensor(t), temperature=T, alpha=1.0, reduction="sum").backward()
    np.testing.assert_allclose(st_.grad.array, T * (np.exp(np_log_softmax(s / T)) - np.exp(np_log_softmax(t / T))),
                               rtol=1e-10)


# ---------------------------------------------------------------------------- PyTorch

@pytest.mark.oracle
@settings(max_examples=25)
@given(case=kd_case())
def test_kd_loss_matches_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    s, t, y, T, alpha = case
    ts = torch.tensor(s, requires_grad=True)
    ref = alpha * T * T * F.kl_div(F.log_softmax(ts / T, 1), F.softmax(torch.tensor(t) / T, 1),
                                   reduction="batchmean") + (1 - alpha) * F.cross_entropy(ts, torch.tensor(y))
    ref.backward()
    ms = minigrad.tensor(s, requires_grad=True)
    got = kd_loss(ms, minigrad.tensor(t), minigrad.tensor(y), temperature=T, alpha=alpha)
    got.backward()
    np.testing.assert_allclose(got.array, ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ms.grad.array, ts.grad.numpy(), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------- errors

def test_kd_loss_errors():
    s, t = minigrad.randn(3, 4), minigrad.randn(3, 4)
    with pytest.raises(ValueError, match=r"kd_loss: alpha=0.9 puts weight 1 - alpha = 0.1 on the label term"):
        kd_loss(s, t)
    with pytest.raises(ValueError, match=r"teacher_logits of shape \(3, 5\) do not match student_logits of shape \(3, 4\)"):
        kd_loss(s, minigrad.randn(3, 5), alpha=1.0)
    with pytest.raises(ValueError, match=r"temperature must be a number in \(0, inf\), got 0"):
        kd_loss(s, t, alpha=1.0, temperature=0)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], got 1.5"):
        kd_loss(s, t, alpha=1.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        kd_loss(s, t, alpha=1.0, reduction="avg")
    with pytest.raises(ValueError, match=r"student_logits must have shape \(N, C\), got \(4,\)"):
        kd_loss(minigrad.randn(4), minigrad.randn(4), alpha=1.0)
    with pytest.raises(TypeError, match="student_logits must be a Tensor"):
        kd_loss(np.zeros((3, 4)), t, alpha=1.0)
    with pytest.raises(ValueError, match="DistillationLoss: alpha"):
        DistillationLoss(alpha=-0.1)


# ---------------------------------------------------------------------------- the loop

def test_distill_loop_student_learns_teacher():
    minigrad.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    student = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    X = np.random.default_rng(0).normal(size=(128, 4)).astype(np.float32)
    teacher_before = [p.array.copy() for p in teacher.parameters()]
    teacher.train()
    student.eval()
    hist = distill.distill(teacher, student, (X,), optim.Adam(student.parameters(), lr=0.02), epochs=8,
                           temperature=2.0, alpha=1.0, batch_size=32, seed=0)
    assert len(hist["loss"]) == 8 and hist["loss"][-1] < 0.3 * hist["loss"][0]
    for p, before in zip(teacher.parameters(), teacher_before):
        np.testing.assert_array_equal(p.array, before)          # the teacher is not trained
        assert p.grad is None
    assert teacher.training and not student.training           # modes restored
    with minigrad.no_grad():
        agree = (teacher(minigrad.tensor(X)).argmax(1).numpy() == student(minigrad.tensor(X)).argmax(1).numpy())
    assert agree.mean() > 0.85


def test_distill_with_labels_and_validation():
    minigrad.manual_seed(1)
    X = np.random.default_rng(1).normal(size=(64, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    teacher = nn.Sequential(nn.Linear(5, 2))
    student = nn.Sequential(nn.Linear(5, 2))
    hist = distill.distill(teacher, student, (X, y), optim.SGD(student.parameters(), lr=0.1), epochs=3,
                           alpha=0.5, batch_size=16, validation_data=(X, y))
    assert len(hist["val_accuracy"]) == 3 and 0.0 <= hist["val_accuracy"][-1] <= 1.0
    with pytest.raises(ValueError, match="kd_loss: alpha=0.5"):
        distill.distill(teacher, student, (X,), optim.SGD(student.parameters(), lr=0.1), alpha=0.5)
    with pytest.raises(ValueError, match="distill: epochs"):
        distill.distill(teacher, student, (X, y), optim.SGD(student.parameters(), lr=0.1), epochs=-1)


def test_distill_reads_unlabelled_datasets_and_loaders_like_tuples():
    from minigrad.data import DataLoader, TensorDataset

    minigrad.manual_seed(2)
    teacher = nn.Sequential(nn.Linear(4, 3))
    X = np.random.default_rng(2).normal(size=(40, 4)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 3, 40)

    def losses(data, **kw):
        minigrad.manual_seed(3)
        student = nn.Sequential(nn.Linear(4, 3))
        return distill.distill(teacher, student, data, optim.SGD(student.parameters(), lr=0.5), epochs=2,
                               alpha=1.0, batch_size=16, shuffle=False, **kw)["loss"]

    expected = losses((X,))
    assert expected[1] < expected[0]
    assert losses(TensorDataset(X)) == pytest.approx(expected, rel=1e-6)
    assert losses(DataLoader(TensorDataset(X), batch_size=16)) == pytest.approx(expected, rel=1e-6)
    labelled = losses((X, y), has_target=True)           # alpha=1: the labels change nothing
    assert labelled == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------------------- the example

def _check_example(r):
    assert r["teacher_acc"] > 0.95
    assert r["student_kd_acc"] > r["student_scratch_acc"] + 0.02, r["summary"]
    assert r["passed"]
    assert r["student_params"] == 64 * 32 + 32 + 32 * 10 + 10
    assert r["teacher_params"] > 20 * r["student_params"]


def test_digits_example_kd_beats_scratch():
    _check_example(distill.digits_example(seed=0, quick=True))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_digits_example_kd_beats_scratch_more_seeds(seed):
    _check_example(distill.digits_example(seed=seed, quick=True))
