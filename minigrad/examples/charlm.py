"""A character-level language model: a small decoder-only Transformer (GPT-style)
trained on Shakespeare's *A Midsummer Night's Dream* (public domain, shipped with
minigrad: ``minigrad/data/embedded/text/midsummer.txt``).

A language model predicts the next character from the ones before it. Given
``"Now, fair Hippolyt"`` it should put most of its probability on ``"a"``. Trained
on all 93,843 characters of the play, it learns spelling, then words, then the
layout of a play (``NAME:`` on its own line, then verse).

The model:

* ``Embedding``: character id -> vector; ``LearnedPositionalEncoding``: + a learned
  vector per position (GPT's choice);
* a stack of ``TransformerEncoderLayer`` blocks (pre-norm, GELU) used as *decoder*
  blocks: the self-attention gets the causal mask
  ``Transformer.generate_square_subsequent_mask(T)``, so position t sees only
  characters 0..t. That one mask is what makes a "decoder-only" model: every
  position of a training window is a prediction problem, all trained in parallel;
* a final ``LayerNorm`` and a ``Linear`` head to one logit per character.

Training minimises the cross-entropy of the next character (in nats; ``log(63) =
4.14`` is a uniform guess). :func:`sample` then generates text one character at a
time: feed the text so far, turn the last position's logits into probabilities
(divided by ``temperature``: < 1 sharper, > 1 flatter; optionally only the
``top_k`` most likely), draw one, append, repeat.

Run it with ``python -m minigrad.examples.charlm`` (``--quick`` for the short
version), or from Python::

    from minigrad.examples.charlm import run, sample
    results = run(quick=True)       # {'what', 'final_loss', 'accuracy', 'seconds', 'sample', ...}
    print(sample(results["model"], "THESEUS:\\n", 200, temperature=0.8))
"""
from __future__ import annotations

import time
from importlib import resources

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad import random as _random
from minigrad.nn import functional as F
from minigrad.examples._common import command_line, train_steps, warmup_then_decay
from minigrad.nn.sparse import Embedding
from minigrad.nn.transformer import (Transformer, TransformerEncoder, TransformerEncoderLayer,
                                     LearnedPositionalEncoding)

__all__ = ["load_text", "CharLM", "sample", "run"]

TEXT_FILE = "embedded/text/midsummer.txt"


def load_text():
    """The play as one string (read from the package data)."""
    return resources.files("minigrad.data").joinpath(TEXT_FILE).read_text(encoding="utf-8")


class CharLM(nn.Module):
    """Decoder-only Transformer over characters.

    ``chars`` is the vocabulary (a string, one character per id); ``forward(idx)``
    maps ids (N, T) with T <= ``block_size`` to next-character logits (N, T, vocab).
    """

    def __init__(self, chars, block_size=64, d_model=64, nhead=4, num_layers=2, dim_feedforward=None,
                 dropout=0.0):
        super().__init__()
        self.chars = "".join(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.block_size = block_size
        vocab = len(self.chars)
        self.tok = Embedding(vocab, d_model)
        self.pos = LearnedPositionalEncoding(d_model, dropout=dropout, max_len=block_size, batch_first=True)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model, dropout,
                                        activation="gelu", batch_first=True, norm_first=True)
        self.blocks = TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab)
        nn.init.normal_(self.tok.weight, 0.0, 0.02)  # GPT-style small embeddings (next to pos's N(0, 0.02^2))

    def forward(self, idx):
        """``idx`` (N, T) int64 token ids, T <= block_size -> logits (N, T, vocab_size) for the
        next character at each position."""
        T = idx.shape[1]
        if T > self.block_size:
            raise ValueError(f"CharLM: sequence length {T} exceeds block_size={self.block_size}")
        causal = Transformer.generate_square_subsequent_mask(T)
        h = self.blocks(self.pos(self.tok(idx)), mask=causal, is_causal=True)
        return self.head(h)

    def encode(self, text):
        """Text -> list of token ids (one per character); raises ValueError for characters outside
        the vocabulary."""
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"CharLM: characters {unknown!r} are not in the vocabulary {self.chars!r}")
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        """Token ids (any iterable of ints) -> text."""
        return "".join(self.chars[int(i)] for i in ids)


def sample(model, prompt, n, temperature=1.0, top_k=None, generator=None):
    """Continue ``prompt`` by ``n`` characters drawn from the model; returns prompt + them.

    Each step looks at the last ``block_size`` characters, divides the last logits by
    ``temperature`` (> 0), keeps only the ``top_k`` largest if given, and draws from
    the softmax with ``generator`` (a ``numpy.random.Generator``; default: minigrad's
    global one, so ``minigrad.manual_seed`` makes samples repeatable).
    """
    if temperature <= 0:
        raise ValueError(f"sample: temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be >= 1 or None, got {top_k}")
    if not prompt:
        raise ValueError("sample: the prompt must contain at least one character")
    rng = generator if generator is not None else _random.default_generator()
    ids = list(model.encode(prompt))
    was_training = model.training
    model.eval()
    with minigrad.no_grad():
        for _ in range(n):
            ctx = np.array(ids[-model.block_size:], dtype=np.int64)[None]
            logits = np.asarray(model(minigrad.tensor(ctx)).array[0, -1], dtype=np.float64) / temperature
            if top_k is not None and top_k < logits.size:
                cut = np.partition(logits, -top_k)[-top_k]
                logits = np.where(logits < cut, -np.inf, logits)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            ids.append(int(rng.choice(p.size, p=p)))
    model.train(was_training)
    return model.decode(ids)


def _batch(data, block, batch_size, rng):
    starts = rng.integers(0, len(data) - block - 1, size=batch_size)
    x = np.stack([data[s:s + block] for s in starts])
    y = np.stack([data[s + 1:s + block + 1] for s in starts])
    return x, y


def evaluate(model, data, block, batch_size=64, n_batches=8, seed=123):
    """Mean next-character loss and top-1 accuracy on random windows of ``data``."""
    rng = np.random.default_rng(seed)
    model.eval()
    losses, correct, total = [], 0, 0
    with minigrad.no_grad():
        for _ in range(n_batches):
            x, y = _batch(data, block, batch_size, rng)
            logits = model(minigrad.tensor(x))
            V = logits.shape[-1]
            losses.append(F.cross_entropy(logits.reshape(-1, V), minigrad.tensor(y.reshape(-1))).item())
            correct += int((logits.array.argmax(-1) == y).sum())
            total += y.size
    model.train()
    return float(np.mean(losses)), correct / total


def run(quick=False, seed=0, progress=False, steps=None, block_size=None, batch_size=32, d_model=None,
        num_layers=None, nhead=4, dim_feedforward=None, dropout=None, lr=3e-3, sample_chars=300):
    """Train the character model on 90% of the play and evaluate on the last 10%.

    ``quick=True``: 64-character windows, d_model 64, 2 layers, 300 steps (about 30 s
    on two CPU cores); otherwise 128-character windows, d_model 96, 3 layers, dropout
    0.1, 1000 steps. Returns ``{what, final_loss, val_loss, accuracy, seconds, sample, model}``:
    ``final_loss`` is the training loss (nats/char) at the end, ``accuracy`` the
    next-character accuracy on the held-out text.
    """
    if steps is None:
        steps = 300 if quick else 1000
    if block_size is None:
        block_size = 64 if quick else 128
    if d_model is None:
        d_model = 64 if quick else 96
    if num_layers is None:
        num_layers = 2 if quick else 3
    if dropout is None:
        dropout = 0.0 if quick else 0.1   # 93k characters are few: a longer run overfits without it
    minigrad.manual_seed(seed)
    text = load_text()
    chars = sorted(set(text))
    model = CharLM(chars, block_size=block_size, d_model=d_model, nhead=nhead, num_layers=num_layers,
                   dim_feedforward=dim_feedforward, dropout=dropout)
    data = model.encode(text)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    opt = optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    sched = warmup_then_decay(opt, steps, warmup=max(1, steps // 20))
    rng = np.random.default_rng(seed)

    def batch(step):   # a random window of the play; the target is the window moved on by one character
        x, y = _batch(train, block_size, batch_size, rng)
        return (x,), y

    def loss_fn(logits, y):
        return F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))

    t0 = time.perf_counter()
    losses = train_steps(model, opt, sched, steps, batch, loss_fn, "char LM", progress)
    train_seconds = time.perf_counter() - t0
    val_loss, acc = evaluate(model, val, block_size)
    text_out = sample(model, "THESEUS:\n", sample_chars, temperature=0.8, top_k=10,
                      generator=np.random.default_rng(seed)) if sample_chars else ""
    return {
        "what": f"character LM on A Midsummer Night's Dream (block {block_size}, d_model={d_model}, "
                f"{num_layers} layers, dropout {dropout}, {steps} steps of {batch_size})",
        "final_loss": float(np.mean(losses[-20:])),
        "val_loss": val_loss,
        "accuracy": float(acc),
        "seconds": float(time.perf_counter() - t0),
        "train_seconds": float(train_seconds),
        "parameters": sum(p.numel() for p in model.parameters()),
        "sample": text_out,
        "model": model,
    }


def main(argv=None):
    res = command_line(run, __doc__.splitlines()[0], argv, hidden=("model", "sample"))
    print("sample:\n" + res["sample"])


if __name__ == "__main__":
    main()
