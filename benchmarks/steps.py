"""Every seed training step, minigrad next to PyTorch CPU, side by side in one run.

    python benchmarks/steps.py                 # all steps, conv2d and matmul
    python benchmarks/steps.py --quick         # shorter timings
    python benchmarks/steps.py --only cnn,charlm
    python benchmarks/steps.py --threads 1     # same thread count for everyone

Each row is one training step (forward, loss, backward, optimizer step) of a seed
system of ``minigrad/examples/``, built with the same shapes, layers and optimizer
in both frameworks, on a fixed batch. With one thread the two frameworks are timed in
alternating rounds in one process and each column is a median (``_common.time_pair_ms``);
the ``mg / torch`` column is the median of the round-by-round ratios of minigrad's time
over PyTorch's: below 1, minigrad is faster. With several threads each framework is
timed in its own child process (``timed_apart``: two OpenMP thread pools in one process
slow each other down by up to 100x), alternating over ``--rounds`` pairs of children
(default 3), and the ratio is the median of the round-by-round ratios. Then two
kernels: conv2d 32->64 on 14x14, batch 64, forward + backward through the ops
(autograd included), and square float32 matmul against NumPy/OpenBLAS
(``mg / numpy`` > 1: minigrad slower).

Both frameworks get the same number of threads (``--threads``, default: Numba's
count); glibc's malloc thresholds are raised in-process for everyone (see
``_common.set_malloc_thresholds``). Read ratios, not absolute times: a shared
2-core VM drifts 10-25% between runs.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn, optim  # noqa: E402


# ----------------------------------------------------------------------------- the steps

def _pair(mg_model, mg_opt, mg_loss, t_build, x, y, clip=None):
    """Step closures for a model that maps one input array ``x`` to what the loss takes.

    ``t_build(torch)`` returns (torch model, optimizer, loss function)."""
    xm, ym = mg.tensor(x), mg.tensor(y)

    mg_clip = (lambda: nn.utils.clip_grad_norm_(mg_model.parameters(), clip)) if clip else None
    mg_step = _common.training_step(mg_opt, mg_loss, lambda: mg_model(xm), ym, mg_clip)

    torch = _common.torch_or_none()
    if torch is None:
        return mg_step, None
    tm, topt, tloss = t_build(torch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    t_clip = (lambda: torch.nn.utils.clip_grad_norm_(tm.parameters(), clip)) if clip else None
    return mg_step, _common.training_step(topt, tloss, lambda: tm(xt), yt, t_clip)


def _mlp(layers, act):
    mods = []
    for i in range(len(layers) - 1):
        mods.append(nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(getattr(nn, act)())
    return nn.Sequential(*mods)


def _torch_mlp(torch, layers, act):
    mods = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(getattr(torch.nn, act)())
    return torch.nn.Sequential(*mods)


def mlp_steps(layers, act, batch, opt, lr, loss, rng):
    """An MLP step: ``loss`` "mse" (float targets, one output) or "ce" (class targets)."""
    x = rng.standard_normal((batch, layers[0])).astype(np.float32)
    y = rng.standard_normal((batch, layers[-1])).astype(np.float32) if loss == "mse" else \
        rng.integers(0, layers[-1], batch)
    model = _mlp(layers, act)
    mopt = (optim.SGD if opt == "sgd" else optim.Adam)(model.parameters(), lr=lr)
    mloss = nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()

    def t_build(torch):
        tm = _torch_mlp(torch, layers, act)
        topt = (torch.optim.SGD if opt == "sgd" else torch.optim.Adam)(tm.parameters(), lr=lr)
        return tm, topt, torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()

    return _pair(model, mopt, mloss, t_build, x, y)


def rnn_steps(cell, rng, batch=64, rows=8, hidden=128, layers=2):
    """The seed LSTM / GRU: digits read as ``rows`` rows, 2 layers, last step -> Linear, Adam."""
    from minigrad.examples.sequence import SequenceClassifier

    x = rng.standard_normal((batch, rows, rows)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    model = SequenceClassifier(rows, hidden, layers, 10, cell=cell)
    mopt = optim.Adam(model.parameters(), lr=2e-3)

    def t_build(torch):
        class TorchSeq(torch.nn.Module):
            def __init__(self):
                super().__init__()
                kind = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
                self.rnn = kind(rows, hidden, num_layers=layers, batch_first=True)
                self.fc = torch.nn.Linear(hidden, 10)

            def forward(self, v):
                out, _ = self.rnn(v)
                return self.fc(out[:, -1])
        tm = TorchSeq()
        return tm, torch.optim.Adam(tm.parameters(), lr=2e-3), torch.nn.CrossEntropyLoss()

    return _pair(model, mopt, nn.CrossEntropyLoss(), t_build, x, y)


def seq2seq_steps(rng, batch=64, src_len=6, d_model=64, nhead=4, layers=2):
    """The seed seq2seq Transformer (reverse a digit string): 2+2 pre-norm layers, feed-forward
    2*d_model, teacher forcing, cross-entropy, gradient clipping at 1, Adam."""
    from minigrad.examples.transformer import N_SPECIAL, Seq2SeqTransformer

    vocab = N_SPECIAL + 10
    src = rng.integers(N_SPECIAL, vocab, (batch, src_len))
    tgt = rng.integers(N_SPECIAL, vocab, (batch, src_len + 2))
    model = Seq2SeqTransformer(vocab, d_model=d_model, nhead=nhead, num_layers=layers,
                               dim_feedforward=2 * d_model, dropout=0.0, max_len=src_len + 2)
    mopt = optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.98))
    s, ti, to = mg.tensor(src), mg.tensor(tgt[:, :-1]), mg.tensor(tgt[:, 1:].reshape(-1))

    mg_step = _common.training_step(
        mopt, lambda logits, t: nn.functional.cross_entropy(logits.reshape(-1, vocab), t, ignore_index=0),
        lambda: model(s, ti), to, lambda: nn.utils.clip_grad_norm_(model.parameters(), 1.0))

    torch = _common.torch_or_none()
    if torch is None:
        return mg_step, None

    class TorchSeq2Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = torch.nn.Embedding(vocab, d_model, padding_idx=0)
            self.tgt_embed = torch.nn.Embedding(vocab, d_model, padding_idx=0)
            n = src_len + 2
            pos = np.arange(n)[:, None] / np.power(10000.0, np.arange(0, d_model, 2)[None] / d_model)
            pe = np.zeros((n, d_model), np.float32)
            pe[:, 0::2], pe[:, 1::2] = np.sin(pos), np.cos(pos)
            self.register_buffer("pe", torch.from_numpy(pe))
            self.transformer = torch.nn.Transformer(d_model, nhead, layers, layers, 2 * d_model, 0.0,
                                                    batch_first=True, norm_first=True)
            self.head = torch.nn.Linear(d_model, vocab)

        def forward(self, a, b):
            pad = a == 0
            ea = self.src_embed(a) * 1.0 + self.pe[:a.shape[1]]
            eb = self.tgt_embed(b) * 1.0 + self.pe[:b.shape[1]]
            mask = torch.nn.Transformer.generate_square_subsequent_mask(b.shape[1])
            mem = self.transformer.encoder(ea, src_key_padding_mask=pad)
            h = self.transformer.decoder(eb, mem, tgt_mask=mask, memory_key_padding_mask=pad, tgt_is_causal=True)
            return self.head(h)

    import warnings

    with warnings.catch_warnings():  # PyTorch notes that norm_first disables its nested-tensor path
        warnings.simplefilter("ignore", UserWarning)
        tm = TorchSeq2Seq()
    topt = torch.optim.Adam(tm.parameters(), lr=2e-3, betas=(0.9, 0.98))
    ts, tti, tto = torch.from_numpy(src), torch.from_numpy(tgt[:, :-1].copy()), torch.from_numpy(tgt[:, 1:].reshape(-1))

    t_step = _common.training_step(
        topt, lambda logits, t: torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), t, ignore_index=0),
        lambda: tm(ts, tti), tto, lambda: torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0))
    return mg_step, t_step


def all_steps():
    """(key, description, builder) for every seed step; a builder returns (mg_step, torch_step)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:  # the sibling scripts that define the CNN and char-LM steps
        sys.path.insert(0, here)
    import train_cnn
    import train_transformer

    def rng():
        return np.random.default_rng(0)
    return [
        ("linreg", "linear regression Linear(1,1), SGD, MSE, batch 32",
         lambda: mlp_steps([1, 1], None, 32, "sgd", 0.1, "mse", rng())),
        ("mlp2", "2-10-1 MLP (tanh), Adam, MSE, batch 32",
         lambda: mlp_steps([2, 10, 1], "Tanh", 32, "adam", 0.01, "mse", rng())),
        ("digits", "digits MLP 64-128-10 (ReLU), Adam, CE, batch 64",
         lambda: mlp_steps([64, 128, 10], "ReLU", 64, "adam", 2e-3, "ce", rng())),
        ("mlp784", "MLP 784-256-256-10 (ReLU), SGD, CE, batch 128",
         lambda: mlp_steps([784, 256, 256, 10], "ReLU", 128, "sgd", 0.01, "ce", rng())),
        ("cnn", "seed CNN (conv 1->32->64, pool, FC 3136-128-10), Adam, batch 64",
         lambda: train_cnn.make_steps(64)),
        ("lstm", "LSTM(8, 128, 2 layers), 8 steps -> Linear, Adam, batch 64",
         lambda: rnn_steps("lstm", rng())),
        ("gru", "GRU(8, 128, 2 layers), 8 steps -> Linear, Adam, batch 64",
         lambda: rnn_steps("gru", rng())),
        ("seq2seq", "seq2seq Transformer d64, 2+2 layers, src 6 / tgt 7, Adam, batch 64",
         lambda: seq2seq_steps(rng())),
        ("charlm", "char LM Transformer d64, 2 layers, block 64, AdamW, batch 32",
         lambda: train_transformer.make_steps(32, 64, 64, 2)),
    ]


def run_steps(args, keys=None, alone=None):
    """One row per step. ``alone``: {key: (minigrad ms, torch ms)} already timed in
    separate processes (several threads, see ``timed_apart``); else both are timed here,
    in alternating rounds."""
    rows = []
    for key, what, build in all_steps():
        if keys and key not in keys:
            continue
        if alone is not None:
            t_mg, t_t, ratio = alone[key]
            rows.append({"step": key, "what": what, "minigrad ms": t_mg, "torch ms": t_t,
                         "mg / torch": None if ratio is None else f"{ratio:.2f}"})
            continue
        mg.manual_seed(0)
        mg_step, t_step = build()
        _common.pause()
        if t_step is None:
            rows.append({"step": key, "what": what, "minigrad ms": _common.time_ms(mg_step, args),
                         "torch ms": None, "mg / torch": None})
            continue
        t_mg, t_t, ratio = _common.time_pair_ms(mg_step, t_step, args)
        rows.append({"step": key, "what": what, "minigrad ms": t_mg, "torch ms": t_t,
                     "mg / torch": f"{ratio:.2f}"})
    return rows


def time_one_framework(args, framework, keys, conv):
    """{key: ms} for ``framework``'s steps (and "conv"), nothing of the other one run."""
    times = {}
    for key, _, build in all_steps():
        if keys and key not in keys:
            continue
        mg.manual_seed(0)
        mg_step, t_step = build()
        _common.pause()
        times[key] = _common.time_ms(mg_step if framework == "minigrad" else t_step, args)
    if conv:
        mg_fb, t_fb = conv_steps()
        _common.pause()
        times["conv"] = _common.time_ms(mg_fb if framework == "minigrad" else t_fb, args)
    return times


def timed_apart(args, keys, conv):
    """{key: (minigrad ms, torch ms or None, median ratio or None)}, each framework timed in
    a child process, ``args.rounds`` times.

    With several threads, two thread pools in one process (Numba's and PyTorch's OpenMP
    runtimes) slow each other down: measured here, PyTorch's 2-thread char-LM step went
    from 22 ms to 2.3 s once minigrad's kernels had run in the process, and minigrad's
    from 23 to 31 ms after PyTorch's. A child process per framework keeps each alone."""
    import json
    import subprocess

    def child(framework):
        cmd = [sys.executable, os.path.abspath(__file__), "--framework", framework,
               "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        cmd += ["--only", ",".join(sorted(keys) + (["conv"] if conv else []))]
        env = dict(os.environ)
        if framework == "minigrad":
            env["MINIGRAD_BENCH_TORCH"] = "0"
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"steps.py: the {framework} child process failed:\n{res.stderr[-3000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    # Rounds of (minigrad, PyTorch) children, alternating: the VM's speed drifts by tens of
    # percent between processes, so one child of each gave ratios from 0.75 to 1.85 for
    # one step within a few minutes. Each key gets the median of its round ratios.
    torch_there = _common.torch_or_none() is not None
    rounds = []
    for _ in range(args.rounds):
        t_mg = child("minigrad")
        rounds.append((t_mg, child("torch") if torch_there else {}))
    out = {}
    for k in rounds[0][0]:
        mg_ms = float(np.median([r[0][k] for r in rounds]))
        if not torch_there or rounds[0][1].get(k) is None:
            out[k] = (mg_ms, None, None)
            continue
        t_ms = float(np.median([r[1][k] for r in rounds]))
        out[k] = (mg_ms, t_ms, float(np.median([r[0][k] / r[1][k] for r in rounds])))
    return out


# ----------------------------------------------------------------------------- kernels

def conv_steps():
    """(minigrad, PyTorch or None) closures: conv2d 32->64, 14x14, 3x3 pad 1, batch 64,
    forward + backward through the op."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    gy = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
    mx, mw, mb, mgy = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True), \
        mg.tensor(b, requires_grad=True), mg.tensor(gy)

    def mg_fb():
        nn.functional.conv2d(mx, mw, mb, padding=1).backward(mgy)
        mx.grad = mw.grad = mb.grad = None
    torch = _common.torch_or_none()
    if torch is None:
        return mg_fb, None
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    tgy = torch.from_numpy(gy)

    def t_fb():
        torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tgy)
        tx.grad = tw.grad = tb.grad = None
    return mg_fb, t_fb


def run_conv(args, alone=None):
    """The conv2d row (``alone``: as in ``run_steps``)."""
    row = {"kernel": "conv2d 32->64 14x14 b64 fwd+bwd"}
    if alone is not None:
        row["minigrad ms"], row["torch ms"], ratio = alone["conv"]
        if ratio is not None:
            row["mg / torch"] = f"{ratio:.2f}"
        return [row]
    mg_fb, t_fb = conv_steps()
    _common.pause()
    if t_fb is None:
        row["minigrad ms"] = _common.time_ms(mg_fb, args)
        return [row]
    row["minigrad ms"], row["torch ms"], ratio = _common.time_pair_ms(mg_fb, t_fb, args)
    row["mg / torch"] = f"{ratio:.2f}"
    return [row]


def run_matmul(args, sizes=(512, 1024, 2048)):
    """Square float32 matmul through minigrad's registry (the kernel ``@`` runs) vs NumPy."""
    from minigrad.backend import get_kernel
    from minigrad.kernels.cpu import _runtime

    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        kern = get_kernel("matmul")
        _common.pause()
        t_mg = _common.time_ms(lambda: kern(a, b), args)
        with _runtime.blas_threads(args.threads):
            _common.pause()
            t_np = _common.time_ms(lambda: a @ b, args)
        flop = 2.0 * n ** 3
        rows.append({"kernel": f"matmul {n}", "minigrad ms": t_mg, "numpy ms": t_np,
                     "minigrad GF/s": flop / t_mg / 1e6, "numpy GF/s": flop / t_np / 1e6,
                     "mg / numpy": f"{t_mg / t_np:.2f}"})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    ap.add_argument("--rounds", type=int, default=3,
                    help="with several threads: pairs of child processes (minigrad, PyTorch) timed in turn")
    ap.add_argument("--threads", type=int, help="threads for Numba, OpenBLAS and PyTorch (default: Numba's)")
    ap.add_argument("--only", help="comma-separated step keys (linreg,mlp2,digits,mlp784,cnn,lstm,gru,"
                                   "seq2seq,charlm), 'conv', 'matmul'")
    ap.add_argument("--framework", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    _common.set_malloc_thresholds()
    # PyTorch first: its own copy of the OpenMP runtime (libgomp.so.1) must be the one
    # loaded, before Numba's threading layer loads the system's under the same name;
    # the other way round PyTorch's 2-thread digits step took 3.2 ms instead of 0.42
    torch = _common.torch_or_none()
    import numba

    from minigrad.kernels.cpu import _runtime

    threads = args.threads or numba.get_num_threads()
    _runtime.set_num_threads(threads)
    args.threads = threads
    if torch is not None:
        torch.set_num_threads(threads)
    only = set(args.only.split(",")) if args.only else None
    step_keys = None if only is None else only - {"conv", "matmul"}
    conv = only is None or "conv" in only
    if args.framework:          # a child of timed_apart: one framework, JSON on stdout
        import json

        print(json.dumps(time_one_framework(args, args.framework, step_keys, conv)))
        return
    apart = threads > 1 and torch is not None
    _common.print_header("seed training steps, minigrad vs PyTorch CPU (same threads; "
                         + ("each framework in its own process)" if apart else "one process, alternating rounds)"))
    alone = None
    if apart and (conv or only is None or step_keys):
        keys = step_keys if step_keys is not None else {k for k, _, _ in all_steps()}
        alone = timed_apart(args, keys, conv)
    if only is None or step_keys:
        print("-- training steps (median ms per step; mg / torch < 1: minigrad faster)")
        _common.print_table(run_steps(args, step_keys, alone))
    if conv:
        print("-- conv2d forward + backward (through the op and autograd)")
        _common.print_table(run_conv(args, alone))
    if only is None or "matmul" in only:
        print("-- square float32 matmul, minigrad's registry choice vs NumPy/OpenBLAS (mg / numpy > 1: slower)")
        _common.print_table(run_matmul(args))


if __name__ == "__main__":
    main()
