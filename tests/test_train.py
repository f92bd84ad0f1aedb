"""Tests of the training loop (minigrad.train): fit, its metrics, evaluate, predict,
progress output and History. The callbacks are tested in test_callbacks.py."""
import math
import sys

import numpy as np
import pytest

import minigrad
from minigrad import nn, optim
from minigrad.callbacks import Callback
from minigrad.data import DataLoader, TensorDataset
from minigrad.train import History, evaluate, fit, predict
from fit_data import blob_data, classifier, line_data


# ----------------------------------------------------------------------------- helpers

class Recorder(nn.Module):
    """Wraps a model and records, at each forward, the training flag and grad mode."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, minigrad.is_grad_enabled(), x.shape[0]))
        return self.inner(x)


# ----------------------------------------------------------------------------- fit basics

def test_fit_decreases_loss_and_recovers_a_line():
    X, y = line_data()
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    h = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.2), (X, y), epochs=30, batch_size=16,
            progress=False, seed=0)
    assert isinstance(h, History)
    assert len(h["loss"]) == 30 and h.epoch == list(range(30)) and len(h.seconds) == 30
    assert h["loss"][-1] < 0.1 * h["loss"][0]
    assert abs(float(model.weight.array[0, 0]) - 2.0) < 0.05
    assert abs(float(model.bias.array[0]) - 1.0) < 0.05


def test_history_keys_and_values_with_validation_and_metrics():
    X, y = blob_data()
    model = classifier()
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05), (X, y), epochs=5,
            batch_size=16, validation_split=0.2, metrics=["accuracy"], progress=False)
    assert list(h.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert all(len(v) == 5 for v in h.history.values())
    assert h["lr"] == [0.05] * 5
    assert 0.0 <= min(h["accuracy"]) and max(h["val_accuracy"]) <= 1.0
    assert h["val_accuracy"][-1] == 1.0          # separable clusters
    assert h.params["epochs"] == 5 and h.params["steps"] == math.ceil(72 / 16)
    assert "val_accuracy" in h and "nope" not in h
    with pytest.raises(KeyError, match="recorded"):
        h["nope"]
    assert h.best("val_loss")[0] in h.epoch
    assert "5 epochs" in repr(h)


def test_validation_split_takes_the_last_fraction():
    X, y = blob_data(n=100)
    model = classifier()
    h = fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=10,
            validation_split=0.25, progress=False)
    assert h.params["samples"] == 75 and h.params["steps"] == 8
    # the validation loss is the model's loss on the last 25 samples, with the final weights
    val = evaluate(model, "cross_entropy", (X[75:], y[75:]))
    assert h["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-5)
    other = evaluate(model, "cross_entropy", (X[:25], y[:25]))
    assert other["loss"] != pytest.approx(val["loss"], rel=1e-5)


@pytest.mark.parametrize("split,n", [(0.2, 10), (0.5, 3), (0.01, 200)])
def test_validation_split_sizes(split, n):
    X, y = blob_data(n=n)
    model = classifier()
    rec = Recorder(model)
    fit(rec, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1, batch_size=1000,
        validation_split=split, progress=False)
    n_train = math.floor(n * (1 - split))
    assert [c[2] for c in rec.calls] == [n_train, n - n_train]


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, True, "0.2"])
def test_validation_split_rejects_bad_fractions(bad):
    X, y = blob_data(n=20)
    model = classifier()
    with pytest.raises(ValueError, match="validation_split"):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), validation_split=bad,
            progress=False)


def test_validation_split_zero_means_none():
    X, y = blob_data(n=20)
    model = classifier()
    h = fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), validation_split=0.0,
            progress=False)
    assert "val_loss" not in h and h.params["samples"] == 20


def test_validation_split_needs_a_sample_on_each_side():
    X, y = blob_data(n=3)
    model = classifier()
    with pytest.raises(ValueError, match="leaves 0 for training and 3 for validation; both must be at least 1"):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), validation_split=0.99,
            progress=False)
    with pytest.raises(ValueError, match="leaves 0 for training and 1 for validation"):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X[:1], y[:1]), validation_split=0.1,
            progress=False)
    with pytest.raises(ValueError, match="leaves 3 for training and 0 for validation"):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), validation_split=1e-17,
            progress=False)


def test_validation_split_refuses_a_dataloader():
    X, y = blob_data(n=20)
    model = classifier()
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    with pytest.raises(ValueError, match="validation_data"):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), loader, validation_split=0.2,
            progress=False)


def test_validation_data_overrides_split_and_accepts_datasets():
    X, y = blob_data(n=40)
    Xv, yv = blob_data(n=13, seed=1)
    model = classifier()
    rec = Recorder(model)
    h = fit(rec, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), TensorDataset(X, y), epochs=1,
            batch_size=40, validation_data=TensorDataset(Xv, yv), validation_split=0.5, progress=False)
    assert [c[2] for c in rec.calls] == [40, 13]
    assert h.params["samples"] == 40


def test_modes_and_no_grad_during_training_and_validation():
    X, y = blob_data(n=30)
    model = classifier()
    rec = Recorder(model)
    rec.eval()  # fit must switch to train mode for training and restore eval afterwards
    fit(rec, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=8,
        validation_split=0.2, progress=False)
    train_calls = [c for c in rec.calls if c[0]]
    val_calls = [c for c in rec.calls if not c[0]]
    assert len(train_calls) == 2 * 3 and all(c[1] for c in train_calls)        # grad on when training
    assert len(val_calls) == 2 and not any(c[1] for c in val_calls)            # no_grad for validation
    assert rec.training is False and model.training is False
    rec.train()
    fit(rec, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1, progress=False)
    assert rec.training is True


def test_dropout_is_active_only_in_training():
    X, y = blob_data(n=64)
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.Dropout(0.5), nn.Linear(32, 3))
    opt = optim.SGD(model.parameters(), lr=0.0)   # weights never move: any difference is dropout's
    h = fit(model, "cross_entropy", opt, (X, y), epochs=1, batch_size=64, validation_data=(X, y),
            progress=False, shuffle=False)
    clean = evaluate(model, "cross_entropy", (X, y))["loss"]
    assert h["val_loss"][0] == pytest.approx(clean, rel=1e-6)
    assert h["loss"][0] != pytest.approx(clean, rel=1e-6)


def test_zero_grad_every_step():
    """Gradients must not accumulate across batches: with lr=0 every step sees a fresh gradient."""
    X, y = line_data(n=8)
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    seen = []

    class Grab(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(self.model.weight.grad.array.copy())

    fit(model, "mse", optim.SGD(model.parameters(), lr=0.0), (X, y), epochs=2, batch_size=8, shuffle=False,
        callbacks=[Grab()], progress=False)
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-6)


def test_seed_makes_runs_repeatable_and_shuffle_changes_order():
    X, y = blob_data(n=50)

    def run(seed, shuffle=True):
        model = classifier(0)
        return fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3,
                   batch_size=8, shuffle=shuffle, seed=seed, progress=False)["loss"]

    assert run(5) == run(5)
    assert run(5) != run(6)
    assert run(5, shuffle=False) == run(6, shuffle=False)


def test_float64_tuple_data_trains_a_float32_model():
    X, y = line_data()
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    h = fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), (X.astype(np.float64), y.astype(np.float64)),
            epochs=2, progress=False)
    assert model.weight.dtype == np.float32 and math.isfinite(h["loss"][-1])


def test_fit_accepts_tensors_lists_and_dataloaders():
    X, y = line_data(n=32)
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    h1 = fit(model, "mse", opt, (minigrad.tensor(X), minigrad.tensor(y)), epochs=1, progress=False)
    h2 = fit(model, "mse", opt, DataLoader(TensorDataset(X, y), batch_size=5), epochs=1, progress=False)
    h3 = fit(model, "mse", opt, (X.tolist(), y.tolist()), epochs=1, batch_size=None, progress=False)
    assert h2.params["steps"] == 7 and h3.params["steps"] == 1
    assert all(math.isfinite(h["loss"][0]) for h in (h1, h2, h3))


def test_loss_is_the_mean_over_samples_of_the_epoch():
    """With lr=0 the epoch loss must equal evaluate's, whatever the (uneven) batch size."""
    X, y = blob_data(n=37)
    model = classifier()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), (X, y), epochs=1,
            batch_size=10, progress=False, metrics=["accuracy"])
    ev = evaluate(model, nn.CrossEntropyLoss(), (X, y), batch_size=7, metrics=["accuracy"])
    assert h["loss"][0] == pytest.approx(ev["loss"], rel=1e-5)
    assert h["accuracy"][0] == pytest.approx(ev["accuracy"])


def test_multi_input_batches():
    class Add(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, a, b):
            return self.lin(a + b)

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (40, 1)).astype(np.float32)
    b = rng.uniform(-1, 1, (40, 1)).astype(np.float32)
    y = 3 * (a + b)
    minigrad.manual_seed(0)
    model = Add()
    h = fit(model, "mse", optim.SGD(model.parameters(), lr=0.2), (a, b, y), epochs=40, batch_size=8,
            progress=False)
    assert h["loss"][-1] < 1e-3
    out = predict(model, (a, b))
    assert out.shape == (40, 1)


# ----------------------------------------------------------------------------- fit argument errors

def test_fit_argument_errors():
    X, y = line_data(n=8)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        fit(model, "msee", opt, (X, y), progress=False)
    with pytest.raises(TypeError, match="loss must be a callable"):
        fit(model, 3, opt, (X, y), progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fit(model, "mse", object(), (X, y), progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, "mse", opt, (X, y), epochs=-1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, "mse", opt, (X, y), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        fit(model, "mse", opt, (X, y), metrics=["acuracy"], progress=False)
    with pytest.raises(TypeError, match="must be a Dataset"):
        fit(model, "mse", opt, X, progress=False)
    with pytest.raises(TypeError, match="Callback"):
        fit(model, "mse", opt, (X, y), callbacks=[print], progress=False)
    with pytest.raises(ValueError, match="progress"):
        fit(model, "mse", opt, (X, y), progress="yes")
    with pytest.raises(ValueError, match=r"tuple \(inputs..., target\)"):
        fit(model, "mse", opt, (X,), progress=False)


def test_accuracy_metric_on_a_single_score_explains():
    X, y = line_data(n=8)
    model = nn.Linear(1, 1)
    with pytest.raises(ValueError, match="binary_accuracy"):
        fit(model, lambda out, target: (out ** 2).mean(), optim.SGD(model.parameters(), lr=0.1),
            (X, y.astype(np.int64).ravel()), metrics=["accuracy"], progress=False)


# ----------------------------------------------------------------------------- metrics

def test_metric_callables_get_the_whole_epoch():
    X, y = blob_data(n=30)
    model = classifier()
    calls = []

    def n_seen(y_true, y_pred):
        calls.append((y_true.shape, y_pred.shape))
        return float(len(y_true))

    h = fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=7,
            validation_split=0.2, metrics=[n_seen], progress=False)
    assert h["n_seen"] == [24.0, 24.0] and h["val_n_seen"] == [6.0, 6.0]
    assert calls[0] == ((24,), (24, 3))


def test_metric_callable_matches_minigrad_metrics():
    from minigrad.metrics import accuracy

    def sk_accuracy(y_true, y_pred):
        return accuracy(y_true, y_pred)

    X, y = blob_data(n=40)
    model = classifier()
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.05), (X, y), epochs=1, progress=False)
    ev = evaluate(model, None, (X, y), batch_size=9, metrics=["accuracy", sk_accuracy])
    assert set(ev) == {"accuracy", "sk_accuracy"}
    assert ev["accuracy"] == pytest.approx(ev["sk_accuracy"])
    assert 0.0 < ev["accuracy"] <= 1.0


def test_duplicate_metric_names_are_rejected():
    X, y = blob_data(n=10)
    model = classifier()
    with pytest.raises(ValueError, match="distinct"):
        evaluate(model, None, (X, y), metrics=["accuracy", "accuracy"])


def test_regression_and_binary_metrics():
    X = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    y = np.array([[0.0], [1.0], [2.0], [5.0]], np.float32)

    class Ident(nn.Module):
        def forward(self, x):
            return x

    ev = evaluate(Ident(), "mse", (X, y), metrics=["mae", "mse"], batch_size=3)
    assert ev["mae"] == pytest.approx(0.5) and ev["mse"] == pytest.approx(1.0) and ev["loss"] == pytest.approx(1.0)
    p = np.array([[0.9], [0.2], [0.6], [0.4]], np.float32)
    t = np.array([[1.0], [0.0], [0.0], [0.0]], np.float32)
    ev = evaluate(Ident(), None, (p, t), metrics=["binary_accuracy"])
    assert ev["binary_accuracy"] == pytest.approx(0.75)
    ev = evaluate(Ident(), None, (p - 0.5, t), metrics=["binary_accuracy_logits"])
    assert ev["binary_accuracy_logits"] == pytest.approx(0.75)


# ----------------------------------------------------------------------------- evaluate / predict

def test_evaluate_returns_loss_and_metrics_and_restores_mode():
    X, y = blob_data(n=50)
    model = classifier()
    model.train()
    ev = evaluate(model, nn.CrossEntropyLoss(), (X, y), batch_size=16, metrics=["accuracy"])
    assert set(ev) == {"loss", "accuracy"}
    logits = predict(model, X).numpy()
    expected_acc = float((logits.argmax(1) == y).mean())
    assert ev["accuracy"] == pytest.approx(expected_acc)
    z = logits - logits.max(1, keepdims=True)
    expected_loss = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(50), y]))
    assert ev["loss"] == pytest.approx(expected_loss, rel=1e-4)
    assert model.training is True
    with pytest.raises(ValueError, match="nothing to compute"):
        evaluate(model, None, (X, y))


def test_predict_batches_concatenate_to_the_full_output():
    X, y = blob_data(n=45)
    model = classifier()
    with minigrad.no_grad():
        full = model(minigrad.tensor(X)).numpy()
    for bs in (1, 7, 45, 1000):
        out = predict(model, X, batch_size=bs)
        assert isinstance(out, minigrad.Tensor) and not out.requires_grad
        np.testing.assert_allclose(out.numpy(), full, rtol=1e-5, atol=1e-6)
    # a Dataset of (x, y) samples: y is ignored
    np.testing.assert_allclose(predict(model, TensorDataset(X, y), batch_size=8).numpy(), full, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(predict(model, minigrad.tensor(X)).numpy(), full, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- progress output

def test_progress_false_prints_nothing(capsys):
    X, y = blob_data(n=40)
    model = classifier()
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3, batch_size=8,
        validation_split=0.2, metrics=["accuracy"], progress=False)
    evaluate(model, "cross_entropy", (X, y), metrics=["accuracy"])
    predict(model, X)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("progress,epochs,expect", [(True, 2, "Epoch 2/2"), ("batches", 2, "Epoch 1/2"),
                                                     ("epochs", 3, "epoch"), (True, 25, "25/25")])
def test_progress_bars_go_to_stderr(capsys, progress, epochs, expect):
    X, y = blob_data(n=20)
    model = classifier()
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=epochs,
        batch_size=8 if epochs < 5 else None, progress=progress)
    out, err = capsys.readouterr()
    assert out == "" and expect in err and "loss=" in err


# ----------------------------------------------------------------------------- History.plot

def test_history_plot(monkeypatch):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    X, y = blob_data(n=30)
    model = classifier()
    h = fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=3,
            validation_split=0.2, metrics=["accuracy"], progress=False)
    axes = h.plot()
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].get_lines()] == ["loss", "val_loss"]
    assert [line.get_label() for line in axes[1].get_lines()] == ["accuracy", "val_accuracy"]
    ax = h.plot(keys="loss")
    assert len(ax.get_lines()) == 1
    with pytest.raises(KeyError):
        h.plot(keys=["nope"])
    plt.close("all")


def test_history_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    h = History()
    with pytest.raises(ImportError, match="pip install matplotlib"):
        h.plot()
