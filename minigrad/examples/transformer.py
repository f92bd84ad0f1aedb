"""An encoder-decoder Transformer that learns to reverse sequences of digits.

    source   7 2 9 4 <eos> <pad> <pad>       (lengths vary: padding fills the batch)
    target   4 9 2 7 <eos>

The task is trivial to program and a classic first test of a sequence-to-sequence
model: the answer depends on the *position* of every input token (output i is input
n - 1 - i), so the model must use the positional encoding and cross-attention to
find, for each output step, the one source position to copy.

The parts, all from :mod:`minigrad.nn` and named as in PyTorch:

* ``Embedding`` for source and target tokens (``padding_idx`` keeps <pad> at zero),
  plus the sinusoidal ``PositionalEncoding``;
* ``nn.Transformer`` (encoder and decoder stacks) with
  - ``src_key_padding_mask`` / ``memory_key_padding_mask``: True at <pad> source
    positions, so no query ever looks at padding;
  - ``tgt_mask = Transformer.generate_square_subsequent_mask(T)``: the causal mask
    that lets the decoder be trained on the whole target at once ("teacher
    forcing": its input is <bos> + target[:-1], its output target) while still
    seeing only the past at every position;
* a ``Linear`` head to vocabulary logits, ``F.cross_entropy`` with
  ``ignore_index=PAD`` and ``optim.Adam``.

At test time the decoder runs *greedily*: the encoder runs once, then the decoder is
fed <bos>, predicts the next token, appends it, and so on until <eos>. A sequence
counts as correct only if every token and the <eos> are right.

Run it with ``python -m minigrad.examples.transformer`` (``--quick`` for the short
version), or from Python::

    from minigrad.examples.transformer import run
    results = run(quick=True)   # {'what': ..., 'final_loss': ..., 'accuracy': ..., 'seconds': ...}
"""
from __future__ import annotations

import time

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad.nn import functional as F
from minigrad.examples._common import command_line, train_steps, warmup_then_decay
from minigrad.nn.sparse import Embedding
from minigrad.nn.transformer import Transformer, PositionalEncoding

__all__ = ["Seq2SeqTransformer", "make_reverse_data", "greedy_decode", "run"]

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


# ------------------------------------------------------------------------------- data

def make_reverse_data(n, min_len, max_len, n_symbols=10, seed=0):
    """``n`` random sequences of ``n_symbols`` symbols (tokens 3..), lengths in
    [min_len, max_len]. Returns int64 arrays

    * ``src`` (n, max_len + 1): the sequence, <eos>, then <pad>;
    * ``tgt`` (n, max_len + 2): <bos>, the reversed sequence, <eos>, then <pad>.

    The decoder's input is ``tgt[:, :-1]`` and its expected output ``tgt[:, 1:]``.
    """
    rng = np.random.default_rng(seed)
    src = np.full((n, max_len + 1), PAD, dtype=np.int64)
    tgt = np.full((n, max_len + 2), PAD, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    for i, L in enumerate(lengths):
        seq = rng.integers(N_SPECIAL, N_SPECIAL + n_symbols, size=L)
        src[i, :L], src[i, L] = seq, EOS
        tgt[i, 0], tgt[i, 1:L + 1], tgt[i, L + 1] = BOS, seq[::-1], EOS
    return src, tgt


# ------------------------------------------------------------------------------- model

class Seq2SeqTransformer(nn.Module):
    """Token embeddings + positional encoding -> nn.Transformer -> Linear to logits."""

    def __init__(self, vocab_size, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, dropout=0.0,
                 max_len=64):
        super().__init__()
        self.src_embed = Embedding(vocab_size, d_model, padding_idx=PAD)
        self.tgt_embed = Embedding(vocab_size, d_model, padding_idx=PAD)
        self.pos = PositionalEncoding(d_model, dropout=dropout, max_len=max_len, batch_first=True)
        self.transformer = Transformer(d_model, nhead, num_layers, num_layers, dim_feedforward, dropout,
                                       batch_first=True, norm_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def encode(self, src):
        """src (N, S) token ids -> (memory (N, S, d_model), src padding mask (N, S))."""
        pad_mask = src.array == PAD
        memory = self.transformer.encoder(self.pos(self.src_embed(src)), src_key_padding_mask=pad_mask)
        return memory, pad_mask

    def decode(self, tgt_in, memory, src_pad_mask):
        """tgt_in (N, T) token ids -> logits (N, T, vocab) for the next token at each position."""
        T = tgt_in.shape[1]
        causal = Transformer.generate_square_subsequent_mask(T)
        h = self.transformer.decoder(self.pos(self.tgt_embed(tgt_in)), memory, tgt_mask=causal,
                                     memory_key_padding_mask=src_pad_mask, tgt_is_causal=True)
        return self.head(h)

    def forward(self, src, tgt_in):
        """``src`` (N, S) and ``tgt_in`` (N, T) token ids -> logits (N, T, vocab) (teacher
        forcing)."""
        memory, pad_mask = self.encode(src)
        return self.decode(tgt_in, memory, pad_mask)


def greedy_decode(model, src, max_steps):
    """Generate up to ``max_steps`` tokens per sequence, always taking the most likely
    one; stops early when every sequence has produced <eos>. Returns (N, steps) ids."""
    model.eval()
    with minigrad.no_grad():
        memory, pad_mask = model.encode(src)
        out = np.full((src.shape[0], 1), BOS, dtype=np.int64)
        done = np.zeros(src.shape[0], dtype=bool)
        for _ in range(max_steps):
            logits = model.decode(minigrad.tensor(out), memory, pad_mask)
            nxt = logits.array[:, -1].argmax(-1)
            nxt[done] = PAD
            out = np.concatenate([out, nxt[:, None]], axis=1)
            done |= nxt == EOS
            if done.all():
                break
    return out[:, 1:]


def exact_match(pred, tgt):
    """Fraction of sequences whose tokens up to and including <eos> are all right."""
    want = tgt[:, 1:]
    correct = 0
    for p, w in zip(pred, want):
        n = int(np.argmax(w == EOS)) + 1
        correct += p.shape[0] >= n and np.array_equal(p[:n], w[:n])
    return correct / len(pred)


# ------------------------------------------------------------------------------- training

def run(quick=False, seed=0, progress=False, steps=None, batch_size=64, min_len=3, max_len=None,
        d_model=64, nhead=4, num_layers=None, lr=2e-3, n_test=500):
    """Train on fresh random batches, then greedy-decode ``n_test`` held-out sequences.

    ``quick=True``: sequences of 3..6 symbols, 2+2 layers, 400 steps (about 12 s of
    CPU time, under 40 s on two busy cores); otherwise 3..10 symbols, 1500 steps.
    Returns a dict
    ``{what, final_loss, accuracy, seconds, ...}``; ``accuracy`` is the exact-sequence
    accuracy of greedy decoding on the held-out set.
    """
    if max_len is None:
        max_len = 6 if quick else 10
    if num_layers is None:
        num_layers = 2
    if steps is None:
        steps = 400 if quick else 1500
    minigrad.manual_seed(seed)
    vocab = N_SPECIAL + 10
    model = Seq2SeqTransformer(vocab, d_model=d_model, nhead=nhead, num_layers=num_layers,
                               dim_feedforward=2 * d_model, dropout=0.0, max_len=max_len + 2)
    opt = optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    sched = warmup_then_decay(opt, steps, warmup=max(1, steps // 10))
    test_src, test_tgt = make_reverse_data(n_test, min_len, max_len, seed=10_000 + seed)
    held_out = {a.tobytes() for a in test_src}

    def batch(step):   # teacher forcing: the decoder reads <bos> + target[:-1] and predicts target
        src, tgt = make_reverse_data(batch_size, min_len, max_len, seed=seed * 1_000_003 + step)
        keep = np.array([s.tobytes() not in held_out for s in src])  # never train on a test sequence
        src, tgt = src[keep], tgt[keep]
        return (src, tgt[:, :-1]), tgt[:, 1:]

    def loss_fn(logits, target):
        return F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), ignore_index=PAD)

    t0 = time.perf_counter()
    losses = train_steps(model, opt, sched, steps, batch, loss_fn, "seq2seq Transformer", progress)
    train_seconds = time.perf_counter() - t0
    pred = greedy_decode(model, minigrad.tensor(test_src), max_len + 1)
    acc = exact_match(pred, test_tgt)
    seconds = time.perf_counter() - t0
    return {
        "what": f"seq2seq Transformer reversing {min_len}..{max_len} digits "
                f"(d_model={d_model}, {num_layers}+{num_layers} layers, {steps} steps of {batch_size})",
        "final_loss": float(np.mean(losses[-20:])),
        "accuracy": float(acc),
        "seconds": float(seconds),
        "train_seconds": float(train_seconds),
        "n_test": n_test,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv=None):
    command_line(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
