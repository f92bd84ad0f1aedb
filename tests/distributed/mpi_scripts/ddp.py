"""DistributedDataParallel on P ranks against one process on the concatenated batch
(MLP, the seed CNN, a small Transformer), gradient accumulation with no_sync,
unused parameters, and fit() / checkpoints under DDP.
Run as ``mpiexec -n P python ddp.py``."""
import io
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run_cases  # noqa: E402

import minigrad  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

dist.init_process_group("mpi")
rank, p = dist.get_rank(), dist.get_world_size()
STEPS = 3


def params_of(model):
    return {n: t.array.copy() for n, t in model.named_parameters()}


def assert_same(got, want, rtol=2e-5, atol=1e-5):
    # float32 sums in another order (per-rank partial batches, other thread counts) differ
    # in the last bits; Adam's step, about lr in size whatever the gradient, can turn such a
    # difference in a near-zero gradient into a few 1e-6 in the weight
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


def train_both(make_model, make_opt, batch, loss_fn, steps=STEPS, clip=None, bucket_cap_mb=None):
    """``steps`` optimizer steps with DDP on this rank's share of each global batch,
    and the same steps in this process on the whole batch; returns both parameter sets.
    ``batch(step)`` gives the global batch (x, y): row blocks belong to the ranks in order."""
    minigrad.manual_seed(rank + 100)    # different on each rank: DDP must broadcast rank 0's weights
    ddp = DDP(make_model(), bucket_cap_mb=bucket_cap_mb)
    minigrad.manual_seed(100)           # rank 0's seed: the reference starts from the same weights
    ref = make_model()
    assert_same(params_of(ddp.module), params_of(ref), rtol=0, atol=0)
    opt_d, opt_r = make_opt(ddp.parameters()), make_opt(ref.parameters())
    for step in range(steps):
        x, y = batch(step)
        b = x.shape[0] // p
        xs, ys = x[rank * b:(rank + 1) * b], y[rank * b:(rank + 1) * b]
        for model, opt, xb, yb in ((ddp, opt_d, xs, ys), (ref, opt_r, x, y)):
            opt.zero_grad()
            loss = loss_fn(model(minigrad.tensor(xb)), minigrad.tensor(yb))
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    return params_of(ddp.module), params_of(ref), ddp


def case_mlp():
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((4 * p, 10)).astype(np.float32), rng.integers(0, 3, 4 * p)) for _ in range(STEPS)]
    make = lambda: nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))
    # tiny buckets: several all-reduces in flight during one backward
    got, want, ddp = train_both(make, lambda ps: optim.Adam(ps, lr=1e-2), data.__getitem__,
                                nn.CrossEntropyLoss(), clip=0.5, bucket_cap_mb=0.001)
    assert len(ddp.buckets) > 1, ddp.buckets
    assert_same(got, want)
    got, want, ddp = train_both(make, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), data.__getitem__,
                                nn.CrossEntropyLoss())
    assert len(ddp.buckets) == 1
    assert_same(got, want)


def case_seed_cnn():
    from minigrad.examples.cnn import SeedCNN

    rng = np.random.default_rng(1)
    data = [(rng.standard_normal((2 * p, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 2 * p))
            for _ in range(2)]
    # SGD with momentum, not Adam: with ReLUs and max pooling some weights get a gradient that
    # is a near-cancelling sum, and Adam's first steps, lr * g / (|g| + eps), turn
    # the last-bit differences of per-rank vs whole-batch sums into a sizeable share of an lr
    # step (one head weight off by 4e-5 with lr=1e-3)
    got, want, _ = train_both(lambda: SeedCNN(width=4), lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                              data.__getitem__, nn.CrossEntropyLoss(), steps=2, bucket_cap_mb=0.05)
    assert_same(got, want)


def case_transformer():
    from minigrad.examples.charlm import CharLM

    rng = np.random.default_rng(2)
    T, V = 8, 12
    data = [(rng.integers(0, V, (2 * p, T)), rng.integers(0, V, (2 * p, T))) for _ in range(2)]

    def loss_fn(logits, y):
        return nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))

    # SGD, not Adam: the key projection's bias has an exactly-zero gradient (softmax ignores a
    # constant added to every score), and Adam would turn its rounding noise into full steps
    got, want, _ = train_both(lambda: CharLM("abcdefghijkl", block_size=T, d_model=16, nhead=2, num_layers=1),
                              lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), data.__getitem__, loss_fn, steps=2,
                              bucket_cap_mb=0.005)
    assert_same(got, want)


def case_no_sync_accumulation():
    rng = np.random.default_rng(3)
    k, b = 3, 2                      # 3 micro-batches of 2 samples per rank
    x = rng.standard_normal((k * b * p, 6)).astype(np.float32)
    y = rng.standard_normal((k * b * p, 2)).astype(np.float32)
    make = lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    minigrad.manual_seed(7)
    ddp = DDP(make())
    minigrad.manual_seed(7)
    ref = make()
    loss_fn = nn.MSELoss()
    mine = x.reshape(p, k, b, 6)[rank], y.reshape(p, k, b, 2)[rank]
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    opt.zero_grad()
    for i in range(k):
        loss = loss_fn(ddp(minigrad.tensor(mine[0][i])), minigrad.tensor(mine[1][i])) / k
        if i < k - 1:
            with ddp.no_sync():
                loss.backward()
        else:
            loss.backward()
    opt.step()
    ropt = optim.SGD(ref.parameters(), lr=0.1)
    ropt.zero_grad()
    loss_fn(ref(minigrad.tensor(x)), minigrad.tensor(y)).backward()
    ropt.step()
    assert_same(params_of(ddp.module), params_of(ref))


def case_buffers():
    """BatchNorm's running statistics are not averaged; broadcast_buffers copies rank 0's
    at each training forward (as in PyTorch), and without it they stay per process."""
    x = minigrad.tensor(np.random.default_rng(6).standard_normal((8, 3)).astype(np.float32))
    for broadcast in (True, False):
        model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
        model[1].running_mean.array[...] = rank + 1.0
        ddp = DDP(model, broadcast_buffers=broadcast)
        assert np.all(model[1].running_mean.array == 1.0)        # rank 0's, from construction
        model[1].running_mean.array[...] = rank + 1.0           # per-process values again
        ddp(x).sum().backward()                                  # same batch on every rank
        everyone = [None] * p
        dist.all_gather_object(everyone, model[1].running_mean.array.copy())
        same = all(np.array_equal(e, everyone[0]) for e in everyone)
        assert same == broadcast, (broadcast, everyone)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.a = nn.Linear(4, 1)
        self.b = nn.Linear(4, 1)

    def forward(self, x, use_b=False):
        h = self.body(x).relu()
        return self.b(h) if use_b else self.a(h)


def case_unused_parameters():
    x = minigrad.tensor(np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32))
    ddp = DDP(TwoHeads(), find_unused_parameters=True)
    ddp(x)                        # a forward without backward (e.g. a look at the loss) is harmless
    ddp(x).sum().backward()
    assert np.all(ddp.module.b.weight.grad.array == 0)     # unused everywhere: an averaged zero
    g = ddp.module.a.weight.grad.array.copy()
    dist.all_reduce(minigrad.tensor(g))        # every rank has the same averaged gradient
    ddp_plain = DDP(TwoHeads())
    ddp_plain(x).sum().backward()
    try:
        ddp_plain(x)
    except RuntimeError as e:
        assert "find_unused_parameters=True" in str(e) and "b.weight" in str(e), str(e)
    else:
        raise AssertionError("a forward after a backward that left parameters without gradients must raise")


def case_models_differ():
    width = 5 if rank == p - 1 else 4
    try:
        DDP(nn.Linear(3, width))
    except RuntimeError as e:
        assert f"rank {p - 1}" in str(e) and f"({width}, 3)" in str(e) and "(4, 3)" in str(e), str(e)
    else:
        raise AssertionError("different models on different ranks must raise")


def case_fit_and_checkpoint():
    from minigrad import io as mio
    from minigrad.callbacks import ModelCheckpoint
    from minigrad.train import fit

    rng = np.random.default_rng(5)
    X = rng.standard_normal((61, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    minigrad.manual_seed(rank)
    model = DDP(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2)))
    tmp = [tempfile.mkdtemp() if rank == 0 else None]
    folder = dist_broadcast_str(tmp[0])
    path = os.path.join(folder, "ckpt.npz")
    writes = []
    real_save = mio.save
    mio.save = lambda obj, path: (writes.append(path), real_save(obj, path))[1]
    err = io.StringIO()
    old_err = sys.stderr
    sys.stderr = err
    try:
        hist = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (X, y), epochs=3,
                   batch_size=8, validation_split=0.2, metrics=["accuracy"], progress=True, seed=0,
                   callbacks=[ModelCheckpoint(path)])
    finally:
        sys.stderr = old_err
        mio.save = real_save
    assert (err.getvalue() != "") == (rank == 0), f"rank {rank} printed {err.getvalue()!r}"
    assert len(writes) == (3 if rank == 0 else 0), writes
    # every rank: identical weights and identical (averaged) logs
    everyone = [None] * p
    dist.all_gather_object(everyone, (params_of(model.module), dict(hist.history)))
    for w, h in everyone:
        assert_same(w, everyone[0][0], rtol=0, atol=0)
        assert h == everyone[0][1], (h, everyone[0][1])
    # the validation values are averages over the ranks' slices: exactly the whole validation set's
    from minigrad.train import evaluate

    full = evaluate(model.module, nn.CrossEntropyLoss(), (X[48:], y[48:]), metrics=["accuracy"])
    np.testing.assert_allclose(hist["val_loss"][-1], full["loss"], rtol=1e-5)
    assert abs(hist["val_accuracy"][-1] - full["accuracy"]) < 1e-12, (hist["val_accuracy"][-1], full)
    # each epoch: ceil(ceil(48 / p) / 8) steps on this rank's share of the 48 training samples
    assert hist.params["steps"] == -(-(-(-48 // p)) // 8), hist.params
    # loading the checkpoint gives every rank the same weights
    fresh = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    fresh.load_state_dict(mio.load(path))
    assert_same(params_of(fresh), params_of(model.module), rtol=0, atol=0)
    dist.barrier()
    if rank == 0:
        shutil.rmtree(folder)


def dist_broadcast_str(s):
    got = [None] * p
    dist.all_gather_object(got, s)
    return got[0]


code = run_cases([(n[5:], f) for n, f in list(globals().items()) if n.startswith("case_")], rank)
dist.barrier()
dist.destroy_process_group()
sys.exit(code)
