# Train the GPT of model.py on characters of a play, then sample from it, after karpathy/nanoGPT train.py and
# sample.py with the shakespeare_char data (https://github.com/karpathy/nanoGPT, MIT licence; see
# ../LICENSE-nanoGPT). Same batching (random windows), warmup + cosine learning rate, AdamW groups, gradient
# clipping, loss estimates and sampling; written out anew as one script, without DDP, mixed precision and
# checkpoint resumption, with the settings as command-line flags instead of configurator.py.
import argparse
import math
import os
import time

import numpy as np
import torch

from model import GPT, GPTConfig

parser = argparse.ArgumentParser(description='train a character-level GPT')
parser.add_argument('--data', type=str, required=True, help='a text file')
parser.add_argument('--batch_size', type=int, default=64)
parser.add_argument('--block_size', type=int, default=256)
parser.add_argument('--n_layer', type=int, default=6)
parser.add_argument('--n_head', type=int, default=6)
parser.add_argument('--n_embd', type=int, default=384)
parser.add_argument('--dropout', type=float, default=0.2)
parser.add_argument('--bias', action='store_true')
parser.add_argument('--no_flash', action='store_true', help='the masked attention instead of the fused one')
parser.add_argument('--learning_rate', type=float, default=1e-3)
parser.add_argument('--max_iters', type=int, default=5000)
parser.add_argument('--weight_decay', type=float, default=1e-1)
parser.add_argument('--beta1', type=float, default=0.9)
parser.add_argument('--beta2', type=float, default=0.99)
parser.add_argument('--grad_clip', type=float, default=1.0)
parser.add_argument('--warmup_iters', type=int, default=100)
parser.add_argument('--lr_decay_iters', type=int, default=5000)
parser.add_argument('--min_lr', type=float, default=1e-4)
parser.add_argument('--eval_interval', type=int, default=250)
parser.add_argument('--eval_iters', type=int, default=200)
parser.add_argument('--log_interval', type=int, default=10)
parser.add_argument('--out_dir', type=str, default='out-shakespeare-char')
parser.add_argument('--num_samples', type=int, default=1)
parser.add_argument('--max_new_tokens', type=int, default=500)
parser.add_argument('--temperature', type=float, default=0.8)
parser.add_argument('--top_k', type=int, default=200)
parser.add_argument('--seed', type=int, default=1337)
args = parser.parse_args()

torch.manual_seed(args.seed)
device = 'cuda' if torch.cuda.is_available() else 'cpu'
device_type = 'cuda' if 'cuda' in device else 'cpu'

# data: characters of the text, 90% to train, 10% to validate
with open(args.data, 'r', encoding='utf-8') as f:
    text = f.read()
chars = sorted(list(set(text)))
vocab_size = len(chars)
stoi = {ch: i for i, ch in enumerate(chars)}
itos = {i: ch for i, ch in enumerate(chars)}


def encode(s):
    return [stoi[c] for c in s]


def decode(tokens):
    return ''.join([itos[i] for i in tokens])


ids = np.array(encode(text), dtype=np.uint16)
n = int(0.9 * len(ids))
train_data, val_data = ids[:n], ids[n:]
print(f"vocab size: {vocab_size:,}; train has {len(train_data):,} tokens, val has {len(val_data):,} tokens")


def get_batch(split):
    data = train_data if split == 'train' else val_data
    ix = torch.randint(len(data) - args.block_size, (args.batch_size,))
    x = torch.stack([torch.from_numpy((data[i:i + args.block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + args.block_size]).astype(np.int64)) for i in ix])
    x, y = x.to(device), y.to(device)
    return x, y


model_args = dict(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size,
                  bias=args.bias, vocab_size=vocab_size, dropout=args.dropout, no_flash=args.no_flash)
model = GPT(GPTConfig(**model_args))
model.to(device)
optimizer = model.configure_optimizers(args.weight_decay, args.learning_rate, (args.beta1, args.beta2),
                                       device_type)


@torch.no_grad()
def estimate_loss():
    """The mean loss over eval_iters batches of each split."""
    out = {}
    model.eval()
    for split in ['train', 'val']:
        losses = torch.zeros(args.eval_iters)
        for k in range(args.eval_iters):
            X, Y = get_batch(split)
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


def get_lr(it):
    """Learning-rate decay scheduler (cosine with warmup)."""
    # 1) linear warmup for warmup_iters steps
    if it < args.warmup_iters:
        return args.learning_rate * (it + 1) / (args.warmup_iters + 1)
    # 2) if it > lr_decay_iters, return min learning rate
    if it > args.lr_decay_iters:
        return args.min_lr
    # 3) in between, use cosine decay down to min learning rate
    decay_ratio = (it - args.warmup_iters) / (args.lr_decay_iters - args.warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
    return args.min_lr + coeff * (args.learning_rate - args.min_lr)


X, Y = get_batch('train')  # fetch the very first batch
t0 = time.time()
best_val_loss = 1e9
for iter_num in range(args.max_iters + 1):
    # determine and set the learning rate for this iteration
    lr = get_lr(iter_num)
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr

    # evaluate the loss on train/val sets and write checkpoints
    if iter_num % args.eval_interval == 0:
        losses = estimate_loss()
        print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        if losses['val'] < best_val_loss:
            best_val_loss = losses['val']
            if iter_num > 0:
                os.makedirs(args.out_dir, exist_ok=True)
                checkpoint = {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                              'model_args': model_args, 'iter_num': iter_num,
                              'best_val_loss': best_val_loss.item()}
                print(f"saving checkpoint to {args.out_dir}")
                torch.save(checkpoint, os.path.join(args.out_dir, 'ckpt.pt'))

    logits, loss = model(X, Y)
    X, Y = get_batch('train')  # prefetch the next batch while the model works
    loss.backward()
    if args.grad_clip != 0.0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

    t1 = time.time()
    dt = t1 - t0
    t0 = t1
    if iter_num % args.log_interval == 0:
        print(f"iter {iter_num}: loss {loss.item():.4f}, time {dt * 1000:.2f}ms")

# sample from the model, as nanoGPT's sample.py does from the checkpoint
model.eval()
start_ids = encode('\n')
x = torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...]
with torch.no_grad():
    for k in range(args.num_samples):
        y = model.generate(x, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k)
        print(decode(y[0].tolist()))
        print('---------------')
