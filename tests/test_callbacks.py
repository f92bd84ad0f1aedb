"""Tests of the callbacks (minigrad.callbacks) in the training loop: early stopping,
checkpoints, learning-rate schedules, the order of the hooks, stopping on NaN."""
import numpy as np
import pytest

import minigrad
from minigrad import nn, optim
from minigrad.callbacks import (Callback, EarlyStopping, LambdaCallback, LRSchedulerCallback, ModelCheckpoint,
                                TerminateOnNaN)
from minigrad.io import load
from minigrad.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR
from minigrad.train import evaluate, fit
from fit_data import blob_data, classifier, line_data, weights


def diverging_validation():
    """Training data y = x, validation data y = -x: the better the fit, the worse val_loss."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (32, 1)).astype(np.float32)
    return (X, X.copy()), (X, -X)


def test_early_stopping_stops_and_restores_best_weights():
    train, val = diverging_validation()
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    with minigrad.no_grad():
        model.weight.array[...] = 0.0
        model.bias.array[...] = 0.0
    snapshots = []
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    snap = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(weights(model)))
    h = fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), train, epochs=50, batch_size=8,
            validation_data=val, callbacks=[snap, es], progress=False)
    assert es.best_epoch == 0
    assert es.stopped_epoch == 2 and len(h["loss"]) == 3            # best + patience epochs, then stop
    assert h["val_loss"][1] > h["val_loss"][0]
    for k, v in weights(model).items():
        np.testing.assert_array_equal(v, snapshots[es.best_epoch][k])
    assert not np.array_equal(snapshots[-1]["weight"], snapshots[0]["weight"])


def test_early_stopping_without_restore_keeps_last_weights_and_respects_min_delta():
    X, y = line_data()
    minigrad.manual_seed(0)
    model = nn.Linear(1, 1)
    es = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)  # nothing improves by 10
    h = fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=20, callbacks=[es],
            progress=False)
    assert len(h["loss"]) == 2 and es.stopped_epoch == 1


def test_early_stopping_mode_auto_and_errors():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    X, y = line_data(n=8)
    model = nn.Linear(1, 1)
    with pytest.raises(ValueError, match="validation_data or validation_split"):
        fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), (X, y), callbacks=[EarlyStopping()],
            progress=False)


def test_model_checkpoint_writes_a_loadable_file(tmp_path):
    X, y = blob_data(n=40)
    model = classifier()
    path = tmp_path / "best.npz"
    ck = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), (X, y), epochs=4,
        validation_split=0.25, callbacks=[ck], progress=False)
    assert path.exists() and ck.saved and all(p == str(path) for p in ck.saved)
    fresh = classifier(seed=99)
    fresh.load_state_dict(load(path))
    state = load(path)
    assert set(state) == set(model.state_dict())
    # the best epoch's weights were saved; here the loss falls every epoch, so they are the last ones
    ev_saved = evaluate(fresh, "cross_entropy", (X[30:], y[30:]))["loss"]
    assert ev_saved == pytest.approx(ck.best, rel=1e-5)


def test_model_checkpoint_every_epoch_with_fields_and_optimizer(tmp_path):
    X, y = blob_data(n=20)
    model = classifier()
    opt = optim.Adam(model.parameters(), lr=0.05)
    ck = ModelCheckpoint(str(tmp_path / "ep{epoch:02d}-{loss:.3f}.npz"), monitor="loss", save_optimizer=True)
    fit(model, "cross_entropy", opt, (X, y), epochs=3, callbacks=[ck], progress=False)
    assert len(ck.saved) == 3 and ck.saved[0].split("/")[-1].startswith("ep01-")
    state = load(ck.saved[-1])
    assert state["epoch"] == 3 and set(state) == {"model", "optimizer", "epoch"}
    opt2 = optim.Adam(classifier().parameters(), lr=0.05)
    opt2.load_state_dict(state["optimizer"])
    bad = ModelCheckpoint(str(tmp_path / "{nope}.npz"), monitor="loss")
    with pytest.raises(ValueError, match="cannot fill in the path"):
        fit(model, "cross_entropy", opt, (X, y), epochs=1, callbacks=[bad], progress=False)


def test_lr_scheduler_callback_per_epoch_and_scheduler_argument():
    X, y = line_data(n=16)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=1.0)
    h = fit(model, "mse", opt, (X, y), epochs=4, batch_size=4, progress=False,
            callbacks=[LRSchedulerCallback(StepLR(opt, step_size=1, gamma=0.5))])
    assert h["lr"] == pytest.approx([1.0, 0.5, 0.25, 0.125])
    opt2 = optim.SGD(model.parameters(), lr=1.0)
    h2 = fit(model, "mse", opt2, (X, y), epochs=3, progress=False, scheduler=StepLR(opt2, 1, gamma=0.1))
    assert h2["lr"] == pytest.approx([1.0, 0.1, 0.01])


def test_reduce_on_plateau_gets_the_monitored_value():
    X, y = line_data(n=16)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.0)  # the loss never changes: a plateau
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    opt.param_groups[0]["lr"] = 0.0
    seen = []
    orig = sched.step

    def spy(value, epoch=None):
        seen.append(value)
        orig(value)

    sched.step = spy
    h = fit(model, "mse", opt, (X, y), epochs=3, validation_split=0.25, scheduler=sched, progress=False)
    assert seen == pytest.approx(h["val_loss"])
    # without validation data it falls back to the training loss
    seen.clear()
    h = fit(model, "mse", opt, (X, y), epochs=2, scheduler=sched, progress=False)
    assert seen == pytest.approx(h["loss"])


def test_reduce_on_plateau_reduces_lr():
    X, y = line_data(n=16)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=1e-3)  # slow progress: never the 50% the threshold asks
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.5)
    h = fit(model, "mse", opt, (X, y), epochs=3, callbacks=[LRSchedulerCallback(sched, monitor="loss")],
            progress=False)
    assert h["lr"] == pytest.approx([1e-3, 1e-3, 5e-4])  # epoch 0 sets the best; epoch 1 is bad


def test_one_cycle_steps_per_batch():
    X, y = line_data(n=20)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=5)
    fit(model, "mse", opt, (X, y), epochs=2, batch_size=4, scheduler=sched, progress=False)
    assert sched.last_epoch == 10
    with pytest.raises(ValueError, match="interval"):
        LRSchedulerCallback(sched, interval="step")
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        LRSchedulerCallback(ReduceLROnPlateau(opt), interval="batch")


def test_callback_hook_order_and_batch_stop():
    X, y = line_data(n=12)
    model = nn.Linear(1, 1)
    events = []

    class Log(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {sorted(logs)}")
            if batch == 1 and len([e for e in events if e.startswith("epoch_begin")]) == 2:
                self.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    cb = Log()
    fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=5, batch_size=4, shuffle=False,
        callbacks=[cb], progress=False)
    assert events[0] == "train_begin" and events[-1] == "train_end"
    assert events[1:9] == ["epoch_begin 0", "batch_begin 0", "batch_end 0 ['loss', 'size']", "batch_begin 1",
                           "batch_end 1 ['loss', 'size']", "batch_begin 2", "batch_end 2 ['loss', 'size']",
                           "epoch_end 0"]
    assert events[9:15] == ["epoch_begin 1", "batch_begin 0", "batch_end 0 ['loss', 'size']", "batch_begin 1",
                            "batch_end 1 ['loss', 'size']", "epoch_end 1"]
    assert cb.model is model and cb.params["epochs"] == 5


def test_terminate_on_nan():
    X, y = line_data(n=16)
    model = nn.Linear(1, 1)
    count = [0]

    def flaky_loss(out, target):
        count[0] += 1
        loss = ((out - target) ** 2).mean()
        return loss * float("nan") if count[0] == 3 else loss

    t = TerminateOnNaN()
    h = fit(model, flaky_loss, optim.SGD(model.parameters(), lr=0.0), (X, y), epochs=5, batch_size=4,
            callbacks=[t], progress=False)
    assert t.bad_batch == (0, 2) and len(h["loss"]) == 1
