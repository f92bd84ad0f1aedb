"""One training step of the char language model (decoder-only Transformer, batch 32,
block 64, d_model 64, 2 layers, pre-norm, GELU): minigrad vs the same architecture in
PyTorch CPU (if installed), in one process; medians of --repeats after warm-up.

    python benchmarks/train_transformer.py [--repeats 9]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from _common import print_step_ratios, training_step  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.examples.charlm import CharLM  # noqa: E402



def make_steps(batch=32, block=64, d_model=64, layers=2, seed=0):
    """(minigrad step, PyTorch step or None): one AdamW training step of the char LM on a
    fixed random batch, in each framework (same architecture and shapes)."""
    vocab, B, T, D = 65, batch, block, d_model
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, (B, T))
    tgt = rng.integers(0, vocab, (B, T))
    model = CharLM("".join(chr(33 + i) for i in range(vocab)), block_size=T, d_model=D, nhead=4,
                   num_layers=layers)
    opt = mg.optim.AdamW(model.parameters(), lr=3e-4)
    loss_fn = nn.CrossEntropyLoss()
    it, tt = mg.tensor(idx), mg.tensor(tgt.reshape(-1))

    mg_step = training_step(opt, loss_fn, lambda: model(it).reshape(-1, vocab), tt)

    try:
        import torch
    except ImportError:
        return mg_step, None

    class TorchCharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = torch.nn.Embedding(vocab, D)
            self.pos = torch.nn.Parameter(torch.zeros(1, T, D))
            layer = torch.nn.TransformerEncoderLayer(D, 4, 4 * D, 0.0, activation="gelu", batch_first=True,
                                                     norm_first=True)
            self.blocks = torch.nn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(D),
                                                      enable_nested_tensor=False)
            self.head = torch.nn.Linear(D, vocab)

        def forward(self, i):
            mask = torch.nn.Transformer.generate_square_subsequent_mask(i.shape[1])
            return self.head(self.blocks(self.tok(i) + self.pos, mask=mask, is_causal=True))

    tm = TorchCharLM()
    topt = torch.optim.AdamW(tm.parameters(), lr=3e-4)
    ti, ttg = torch.tensor(idx), torch.tensor(tgt.reshape(-1))
    tl = torch.nn.CrossEntropyLoss()

    return mg_step, training_step(topt, tl, lambda: tm(ti).reshape(-1, vocab), ttg)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()
    mg_step, t_step = make_steps(args.batch, args.block, args.d_model, args.layers)
    print_step_ratios(f"char LM training step, batch {args.batch}, block {args.block}, d_model {args.d_model}, "
                      f"{args.layers} layers", mg_step, t_step, args.repeats)


if __name__ == "__main__":
    main()
