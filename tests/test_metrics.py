"""minigrad.metrics against hand-computed values and, where installed, scikit-learn."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
from minigrad import metrics as M

# a small multiclass example, worked by hand:
#   true: 0 0 1 1 1 2 2 2 2
#   pred: 0 1 1 1 2 2 2 0 2
Y_TRUE = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
CM = np.array([[1, 1, 0],
               [0, 2, 1],
               [1, 0, 3]])


def test_accuracy_labels_logits_tensors():
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(6 / 9)
    logits = np.eye(3)[Y_PRED] * 5 - 1
    assert M.accuracy(Y_TRUE, logits) == pytest.approx(6 / 9)
    assert M.accuracy(minigrad.tensor(Y_TRUE), minigrad.tensor(logits)) == pytest.approx(6 / 9)
    assert M.accuracy([1, 0, 1], [0.9, 0.2, 0.4], threshold=0.5) == pytest.approx(2 / 3)
    assert M.accuracy([1, 0], np.array([[2.0], [-1.0]]), threshold=0.0) == 1.0
    with pytest.raises(ValueError, match="threshold=0.5"):
        M.accuracy([1, 0], np.array([[0.9], [0.1]]))
    with pytest.raises(ValueError, match="non-integer"):
        M.accuracy([1, 0], [0.9, 0.1])
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        M.accuracy([1, 0, 1], [1, 0])


def test_fit_metrics_turn_scores_into_labels_by_the_same_rule():
    from minigrad import nn
    from minigrad.train import evaluate

    class Scores(nn.Module):   # the "model" outputs its input: the scores under test
        def forward(self, x):
            return x

    rng = np.random.default_rng(0)
    scores = rng.standard_normal((30, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 30)
    ev = evaluate(Scores(), None, (scores, labels), batch_size=7, metrics=["accuracy"])
    assert ev["accuracy"] == pytest.approx(M.accuracy(labels, scores))
    probs = rng.uniform(0, 1, (30, 1)).astype(np.float32)
    binary = rng.integers(0, 2, 30)
    ev = evaluate(Scores(), None, (probs, binary), batch_size=7, metrics=["binary_accuracy"])
    assert ev["binary_accuracy"] == pytest.approx(M.accuracy(binary, probs, threshold=0.5))
    # sequences: (N, L, C) scores for (N, L) labels, argmax over the last (class) axis
    seq = rng.standard_normal((5, 6, 4)).astype(np.float32)
    seq_labels = rng.integers(0, 4, (5, 6))
    ev = evaluate(Scores(), None, (seq, seq_labels), metrics=["accuracy"])
    assert ev["accuracy"] == pytest.approx(M.accuracy(seq_labels.ravel(), seq.reshape(30, 4)))


def test_top_k_accuracy():
    scores = np.array([[0.5, 0.3, 0.2],    # true 1: rank 2
                       [0.1, 0.2, 0.7],    # true 2: rank 1
                       [0.6, 0.3, 0.1]])   # true 2: rank 3
    y = [1, 2, 2]
    assert M.top_k_accuracy(y, scores, k=1) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(y, scores, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(y, scores, k=3) == 1.0
    # ties are broken by class index
    assert M.top_k_accuracy([1], [[1.0, 1.0, 0.0]], k=1) == 0.0
    assert M.top_k_accuracy([0], [[1.0, 1.0, 0.0]], k=1) == 1.0


def test_confusion_matrix():
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED), CM)
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)[:3, :3], CM)
    np.testing.assert_allclose(M.confusion_matrix(Y_TRUE, Y_PRED, normalize="true").sum(1), 1.0)
    np.testing.assert_allclose(M.confusion_matrix(Y_TRUE, Y_PRED, normalize="pred")[2, 2], 3 / 4)
    np.testing.assert_allclose(M.confusion_matrix(Y_TRUE, Y_PRED, normalize="all").sum(), 1.0)
    # labels picks and orders classes; others are ignored
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED, labels=[2, 0]), [[3, 1], [0, 1]])
    # string labels work too
    cm = M.confusion_matrix(np.array(["cat", "dog", "dog"]), np.array(["cat", "cat", "dog"]))
    np.testing.assert_array_equal(cm, [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match="outside 0..1"):
        M.confusion_matrix([0, 2], [0, 1], num_classes=2)


def test_precision_recall_f1_by_hand():
    # per class: precision = diag / column sum, recall = diag / row sum
    p_cls = np.array([1 / 2, 2 / 3, 3 / 4])
    r_cls = np.array([1 / 2, 2 / 3, 3 / 4])
    f_cls = 2 * p_cls * r_cls / (p_cls + r_cls)
    p, r, f = M.precision_recall_fscore(Y_TRUE, Y_PRED, average=None)
    np.testing.assert_allclose(p, p_cls)
    np.testing.assert_allclose(r, r_cls)
    np.testing.assert_allclose(f, f_cls)
    assert M.precision(Y_TRUE, Y_PRED, average="macro") == pytest.approx(p_cls.mean())
    assert M.recall(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(np.average(r_cls, weights=[2, 3, 4]))
    assert M.f1_score(Y_TRUE, Y_PRED, average="micro") == pytest.approx(6 / 9)   # = accuracy
    # binary: tp=2 fp=1 fn=2
    t, pr = [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0]
    assert M.precision(t, pr) == pytest.approx(2 / 3)
    assert M.recall(t, pr) == pytest.approx(1 / 2)
    assert M.f1_score(t, pr) == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert M.precision(t, pr, pos_label=0) == pytest.approx(1 / 3)
    # zero division: nothing predicted positive
    assert M.precision([1, 0], [0, 0]) == 0.0
    assert M.precision([1, 0], [0, 0], zero_division=1.0) == 1.0
    with pytest.raises(ValueError, match="average='binary' needs two classes"):
        M.f1_score(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match="average must be one of"):
        M.f1_score(Y_TRUE, Y_PRED, average="samples")


def test_roc_curve_and_auc_by_hand():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    fpr, tpr, thr = M.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert thr[0] == np.inf
    np.testing.assert_allclose(thr[1:], [0.8, 0.4, 0.35, 0.1])
    assert M.auc(fpr, tpr) == pytest.approx(0.75)
    assert M.roc_auc_score(y, s) == pytest.approx(0.75)
    assert M.auc(fpr[::-1], tpr[::-1]) == pytest.approx(0.75)
    # ties count one half
    assert M.roc_auc_score([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # (N, 2) scores use column 1
    assert M.roc_auc_score(y, np.stack([1 - np.array(s), s], 1)) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="only one class"):
        M.roc_auc_score([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        M.auc([0, 1, 0.5], [0, 1, 1])


def test_roc_drop_intermediate_keeps_area():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 2)
    full = M.roc_curve(y, s, drop_intermediate=False)
    thin = M.roc_curve(y, s)
    assert len(thin[0]) < len(full[0])
    assert M.auc(thin[0], thin[1]) == pytest.approx(M.auc(full[0], full[1]))
    assert M.auc(full[0], full[1]) == pytest.approx(M.roc_auc_score(y, s))


def test_multiclass_roc_auc():
    scores = np.eye(3)[Y_TRUE] + 0.01 * np.arange(9)[:, None]
    assert M.roc_auc_score(Y_TRUE, scores) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="class 2 has no samples"):
        M.roc_auc_score([0, 1, 0], np.random.default_rng(0).random((3, 3)))


def test_plot_confusion_matrix_returns_axes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = M.plot_confusion_matrix(CM, class_names=["a", "b", "c"], normalize="true")
    assert ax.get_xlabel() == "predicted" and len(ax.texts) == 9
    assert ax.texts[0].get_text() == "0.50"
    import matplotlib.pyplot as plt
    plt.close("all")
    with pytest.raises(ValueError, match="square"):
        M.plot_confusion_matrix(np.zeros((2, 3)))


def test_plot_confusion_matrix_without_matplotlib(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        M.plot_confusion_matrix(CM)


# ----------------------------------------------------------------------------- scikit-learn oracle

@pytest.mark.oracle
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_against_sklearn_classification(data):
    skm = pytest.importorskip("sklearn.metrics")
    n = data.draw(st.integers(2, 40))
    t = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p), skm.confusion_matrix(t, p))
    for avg in ("macro", "micro", "weighted", None):
        ours = M.precision_recall_fscore(t, p, average=avg)
        ref = skm.precision_recall_fscore_support(t, p, average=avg, zero_division=0.0)[:3]
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b, atol=1e-12)
    tb, pb = (t > 1).astype(int), (p > 1).astype(int)
    if len(np.union1d(tb, pb)) == 2:
        assert M.f1_score(tb, pb) == pytest.approx(skm.f1_score(tb, pb, zero_division=0.0))


@pytest.mark.oracle
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 60), ties=st.booleans())
def test_against_sklearn_ranking(seed, n, ties):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.random(n)
    if ties:
        s = np.round(s, 1)
    for drop in (False, True):
        ours = M.roc_curve(y, s, drop_intermediate=drop)
        ref = skm.roc_curve(y, s, drop_intermediate=drop)
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b)
    assert M.roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    k = 4
    yk = rng.integers(0, k, n)
    yk[:k] = np.arange(k)
    sk = rng.random((n, k))
    probs = sk / sk.sum(1, keepdims=True)
    for avg in ("macro", "weighted"):
        assert M.roc_auc_score(yk, probs, average=avg) == pytest.approx(
            skm.roc_auc_score(yk, probs, multi_class="ovr", average=avg))
    assert M.top_k_accuracy(yk, sk, k=2) == pytest.approx(skm.top_k_accuracy_score(yk, sk, k=2))
