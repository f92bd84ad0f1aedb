"""DistributedDataParallel: the same model on every process, gradients averaged.

Data parallelism in one paragraph: every process (rank) holds a full copy of the
model and computes the loss on its own slice of the batch. The gradient of the mean
loss over the whole batch is the mean of the ranks' gradients, so if every rank
replaces its gradient by the average over ranks (one *all-reduce*) before
``optimizer.step()``, all copies take the same step and stay identical - as if one
process had trained on the concatenated batch. Wrapping the model is all it takes::

    import minigrad.distributed as dist
    from minigrad.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    model = DDP(make_model())              # rank 0's weights are broadcast to all
    for xb, yb in loader:                  # loader: this rank's share (DistributedSampler)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()                    # gradients are averaged across ranks here
        optimizer.step()                   # every optimizer, clip_grad_norm_, ... unchanged

**Buckets and overlap.** Sending each parameter's gradient separately would pay the
message latency hundreds of times; sending all of them after ``backward`` would leave
the network idle while the backward pass runs. DDP does what PyTorch's does: the
parameters are grouped into *buckets* of about ``bucket_cap_mb`` megabytes, in
reverse order of ``model.parameters()`` (roughly the order in which backward produces
their gradients: the last layer's first). A hook on every parameter runs as soon as
its gradient has been accumulated; it copies the gradient into its bucket's flat
buffer, and when the bucket is complete its all-reduce is *started* (MPI's nonblocking
``Iallreduce``) while backward goes on computing the earlier layers' gradients. When the
last bucket has been started, DDP waits for all of them, divides by the world size and
writes the averages back into ``.grad``. Buckets are started strictly in order, so all
ranks issue the same collectives in the same order.

**Gradient accumulation.** Inside ``with model.no_sync():`` backward only accumulates
local gradients; the first backward after it all-reduces the accumulated sum - so
``k`` micro-batches with one synchronisation equal one ``k`` times larger batch.

**What stays per process.** Buffers (BatchNorm's running statistics) are not averaged;
with ``broadcast_buffers=True`` (the default, as in PyTorch) rank 0's buffers are
copied to every rank at the start of each forward in training. Batch statistics in the
forward pass are each rank's own.
"""
from __future__ import annotations

import contextlib

import numpy as np

from minigrad.nn.module import Module
from minigrad import distributed as dist
from minigrad.autograd import is_grad_enabled
from minigrad.backend import xp_of
from minigrad.tensor import Tensor

__all__ = ["DistributedDataParallel"]

#: the default bucket size (MB): large enough that a bucket's message is
#: bandwidth-bound, small enough that several buckets overlap the backward pass
DEFAULT_BUCKET_CAP_MB = 4.0
#: the first bucket (the last layers' gradients) is kept small so that communication
#: starts early in the backward pass (PyTorch does the same)
FIRST_BUCKET_CAP_MB = 1.0


class _Bucket:
    """A flat buffer for the gradients of some parameters (one dtype)."""

    def __init__(self, index, params, xp):
        self.index = index
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.array.size
        self.buffer = xp.zeros(n, dtype=params[0].array.dtype)
        self.pending = len(params)
        self.work = None

    def view(self, i):
        p = self.params[i]
        off = self.offsets[i]
        return self.buffer[off:off + p.array.size].reshape(p.array.shape)


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the default process group of
    :mod:`minigrad.distributed` (call ``init_process_group`` first).

    Args:
        module: the model. Its parameters and buffers are replaced by rank 0's here.
        device_ids: accepted for PyTorch compatibility; minigrad uses the module's own
            device (one process per GPU with the ``nccl`` backend).
        output_device: accepted for PyTorch compatibility, as ``device_ids``.
        broadcast_buffers: copy rank 0's buffers to every rank at each training forward.
        bucket_cap_mb: the size of a gradient bucket in megabytes (default 4; the first
            bucket is at most 1).
        find_unused_parameters: walk each forward's graph to find parameters that will
            get no gradient (so their buckets do not wait for them); needed when
            some parameters are not used in every forward.

    ``model.module`` is the wrapped model; ``state_dict()`` keys start with
    ``module.`` as in PyTorch (save ``model.module.state_dict()`` for a checkpoint that
    loads without the wrapper). ``buckets`` lists the parameter names of each bucket.
    """

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True,
                 bucket_cap_mb=None, find_unused_parameters=False):
        super().__init__()
        who = "DistributedDataParallel"
        if not isinstance(module, Module):
            raise TypeError(f"{who}: module must be a minigrad nn.Module, got {type(module).__name__}")
        group = dist._default_group()
        if group is None:
            raise RuntimeError(f"{who}: the default process group is not initialized; call "
                               f"minigrad.distributed.init_process_group() first (also for one process)")
        if bucket_cap_mb is None:
            bucket_cap_mb = DEFAULT_BUCKET_CAP_MB
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or bucket_cap_mb <= 0:
            raise ValueError(f"{who}: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        object.__setattr__(self, "_group", group)
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.find_unused_parameters = bool(find_unused_parameters)
        self._sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_same_model(named, who)
        self._broadcast_state()
        object.__setattr__(self, "_buckets", self._make_buckets(named))
        self.buckets = [[self._names[id(p)] for p in b.params] for b in self._buckets]
        self._where = {}
        for b in self._buckets:
            for i, p in enumerate(b.params):
                self._where[id(p)] = (b, i)
        self._ready = set()
        self._grads_seen = 0
        self._next_launch = 0
        self._expect_reduction = False
        self._handles = []
        if group.size > 1:
            for _, p in named:
                if not hasattr(p, "register_post_accumulate_grad_hook"):
                    raise RuntimeError(f"{who}: this version of minigrad's Tensor has no "
                                       f"register_post_accumulate_grad_hook, which DDP needs")
                self._handles.append(p.register_post_accumulate_grad_hook(self._grad_ready))

    # ------------------------------------------------------------------ construction
    def _check_same_model(self, named, who):
        """Every rank must wrap the same architecture: compare names, shapes, dtypes."""
        g = self._group
        self._names = {id(p): n for n, p in named}
        if g.size == 1:
            return
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        everyone = g.allgather_object(mine)
        ref = everyone[0]
        for r, theirs in enumerate(everyone):
            if theirs == ref:
                continue
            if len(theirs) != len(ref):
                raise RuntimeError(f"{who}: rank {r}'s model has {len(theirs)} trainable parameters, rank 0's "
                                   f"has {len(ref)}; every rank must wrap the same model")
            for a, b in zip(ref, theirs):
                if a != b:
                    raise RuntimeError(f"{who}: the ranks' models differ: parameter {b[0]!r} of rank {r} has "
                                       f"shape {b[1]} and dtype {b[2]}, rank 0's {a[0]!r} has shape {a[1]} and "
                                       f"dtype {a[2]}; every rank must wrap the same model")

    def _broadcast_state(self):
        """Rank 0's parameters and buffers on every rank (one broadcast per tensor)."""
        g = self._group
        if g.size == 1:
            return
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            _broadcast_into(g, t)

    def _make_buckets(self, named):
        params = [p for _, p in named][::-1]   # backward produces the last layers' gradients first
        buckets, current, size, cap = [], [], 0, min(FIRST_BUCKET_CAP_MB, self.bucket_cap_mb) * 2**20
        for p in params:
            nbytes = p.array.nbytes
            if current and (size + nbytes > cap or p.array.dtype != current[0].array.dtype
                            or xp_of(p.array) is not xp_of(current[0].array)):
                buckets.append(_Bucket(len(buckets), current, xp_of(current[0].array)))
                current, size, cap = [], 0, self.bucket_cap_mb * 2**20
            current.append(p)
            size += nbytes
        if current:
            buckets.append(_Bucket(len(buckets), current, xp_of(current[0].array)))
        return buckets

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        """Run the wrapped module (after syncing buffers); the next backward averages
        the gradients across ranks unless inside :meth:`no_sync`."""
        g = self._group
        if self._grads_seen and self._expect_reduction:
            missing = [self._names[id(p)] for b in self._buckets for p in b.params if id(p) not in self._ready]
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not produce gradients for "
                f"{len(missing)} parameter(s) ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}), "
                "so their gradients were never averaged. If some parameters are not used in every forward, "
                "pass find_unused_parameters=True")
        self._reset()
        if g.size > 1 and self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                _broadcast_into(g, b)
        out = self.module(*args, **kwargs)
        self._expect_reduction = g.size > 1 and self._sync and is_grad_enabled() and self.training
        if self._expect_reduction and self.find_unused_parameters:
            used = _reachable_leaves(out)
            for b in self._buckets:
                for i, p in enumerate(b.params):
                    if id(p) not in used:
                        self._mark_ready(b, i, None)
        return out

    def _reset(self):
        for b in self._buckets:   # a bucket of unused parameters may have started without a backward
            if b.work is not None:
                b.work.wait()
            b.pending = len(b.params)
            b.work = None
        self._ready = set()
        self._grads_seen = 0
        self._next_launch = 0

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this block backward accumulates gradients locally without
        communicating; the first synchronised backward after it averages the sum."""
        old = self._sync
        self._sync = False
        try:
            yield
        finally:
            self._sync = old

    # ------------------------------------------------------------------ backward
    def _grad_ready(self, p):
        """Hook: ``p.grad`` is final for this backward."""
        if not self._expect_reduction:
            return
        b, i = self._where[id(p)]
        if id(p) in self._ready:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names[id(p)]!r} got its gradient "
                               f"twice in one backward (backward called twice after one forward?); call "
                               f"the model again before each backward")
        self._grads_seen += 1
        self._mark_ready(b, i, p.grad)

    def _mark_ready(self, b, i, grad):
        p = b.params[i]
        self._ready.add(id(p))
        if grad is None:
            b.view(i)[...] = 0
        else:
            b.view(i)[...] = grad.array
        b.pending -= 1
        # start every complete bucket, in order (all ranks issue the same sequence)
        while self._next_launch < len(self._buckets) and self._buckets[self._next_launch].pending == 0:
            nb = self._buckets[self._next_launch]
            nb.work = self._group.iallreduce(nb.buffer, "sum")
            self._next_launch += 1
        for ob in self._buckets[:self._next_launch]:   # let MPI progress the ones in flight
            ob.work.is_completed()
        if self._next_launch == len(self._buckets):
            self._finish()

    def _finish(self):
        """Every bucket is on its way: wait, average, write back into ``.grad``."""
        p_world = self._group.size
        for b in self._buckets:
            b.work.wait()
            b.buffer /= p_world
            for i, p in enumerate(b.params):
                avg = b.view(i)
                if p.grad is None:
                    p.grad = Tensor(avg.copy())
                else:
                    p.grad.array[...] = avg
        self._expect_reduction = False

    def extra_repr(self):
        return (f"world_size={self._group.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb:g}")


def _broadcast_into(group, t):
    a = t.array
    if a.flags.c_contiguous:
        group.broadcast(a, 0)
    else:
        tmp = a.copy()
        group.broadcast(tmp, 0)
        a[...] = tmp


def _reachable_leaves(out):
    """ids of the leaf tensors the graph of ``out`` (a Tensor or a tuple/list/dict of
    them) reaches: the parameters this forward used."""
    roots = []

    def collect(o):
        if isinstance(o, Tensor):
            roots.append(o)
        elif isinstance(o, (tuple, list)):
            for x in o:
                collect(x)
        elif isinstance(o, dict):
            for x in o.values():
                collect(x)

    collect(out)
    seen, found = set(), set()
    stack = [t.grad_fn if t.grad_fn is not None else t for t in roots]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Tensor):
            found.add(id(node))
            continue
        stack.extend(nxt for nxt, _ in getattr(node, "next_functions", ()))
    return found


def data_parallel_group(model):
    """The process group when ``model`` is a :class:`DistributedDataParallel` in a job of
    more than one process (then ``fit`` shards the data and averages the logs, and
    ``ModelCheckpoint`` saves the wrapped model from rank 0), else None."""
    if isinstance(model, DistributedDataParallel) and model._group.size > 1:
        return model._group
    return None
