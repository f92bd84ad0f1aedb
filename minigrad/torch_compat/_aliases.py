"""What ``torch.<name>`` means on minigrad: the table of modules and the few aliases.

``MODULES`` maps each torch module name a program may import to the minigrad module
behind it (None for a module that exists only as aliases, like ``torch.accelerator``).
``_overrides`` gives the names whose torch meaning differs from minigrad's layout
(``torch.utils.data`` is ``minigrad.data``; ``torch.LongTensor`` is a constructor),
``_fallbacks`` the torch names minigrad may lack that have a faithful one-line
meaning here. ``MISSING_WHY`` says why a missing feature is missing.
"""
from __future__ import annotations

import importlib
import types

import numpy as np

#: torch module name -> minigrad module name (None: aliases only)
MODULES = {
    "torch": "minigrad",
    "torch.nn": "minigrad.nn",
    "torch.nn.functional": "minigrad.nn.functional",
    "torch.nn.init": "minigrad.nn.init",
    "torch.nn.utils": "minigrad.nn.utils",
    "torch.nn.utils.clip_grad": "minigrad.nn.utils",
    "torch.nn.parameter": "minigrad.nn.parameter",
    "torch.nn.modules": "minigrad.nn",
    "torch.nn.modules.module": "minigrad.nn.module",
    "torch.nn.modules.container": "minigrad.nn.containers",
    "torch.nn.modules.linear": "minigrad.nn.linear",
    "torch.nn.modules.flatten": "minigrad.nn.linear",
    "torch.nn.modules.activation": "minigrad.nn.activation",
    "torch.nn.modules.dropout": "minigrad.nn.dropout",
    "torch.nn.modules.batchnorm": "minigrad.nn.normalization",
    "torch.nn.modules.normalization": "minigrad.nn.normalization",
    "torch.nn.modules.loss": "minigrad.nn.loss",
    "torch.nn.modules.conv": "minigrad.nn.conv",
    "torch.nn.modules.pooling": "minigrad.nn.pooling",
    "torch.nn.modules.rnn": "minigrad.nn.rnn",
    "torch.nn.modules.sparse": "minigrad.nn.sparse",
    "torch.nn.modules.transformer": "minigrad.nn.transformer",
    "torch.optim": "minigrad.optim",
    "torch.optim.optimizer": "minigrad.optim.optimizer",
    "torch.optim.lr_scheduler": "minigrad.optim.lr_scheduler",
    "torch.utils": None,
    "torch.utils.data": "minigrad.data",
    "torch.utils.data.dataset": "minigrad.data.dataset",
    "torch.utils.data.dataloader": "minigrad.data.dataloader",
    "torch.utils.data.distributed": "minigrad.data.distributed",
    "torch.distributed": "minigrad.distributed",
    "torch.nn.parallel": "minigrad.nn.parallel",
    "torch.autograd": "minigrad.autograd",
    "torch.autograd.function": "minigrad.autograd",
    "torch.cuda": "minigrad.cuda",
    "torch.random": "minigrad.random",
    "torch.serialization": "minigrad.io",
    "torch.accelerator": None,
    "torch.backends": None,
    "torch.backends.mps": None,
    "torch.backends.cudnn": None,
    "torch.backends.cuda": None,
}

#: why a torch feature is missing (looked up by the longest matching prefix)
MISSING_WHY = {
    "torch.fft": "Fourier transforms are not among minigrad's ops",
    "torch.onnx": "minigrad has no exporter to the ONNX format",
    "torch.jit": "minigrad runs Python eagerly; it has no tracer or compiler",
    "torch.compile": "minigrad runs Python eagerly; it has no tracer or compiler",
    "torch.fx": "minigrad runs Python eagerly; it has no tracer or compiler",
    "torch.export": "minigrad runs Python eagerly; it has no tracer or compiler",
    "torch.multiprocessing": "minigrad's processes are started by mpiexec (see minigrad.distributed)",
    "torch.nn.DataParallel": "minigrad splits work across processes only: use DistributedDataParallel",
    "torch.distributed.fsdp": "minigrad.distributed has data parallelism (DDP) only",
    "torch.distributed.rpc": "minigrad.distributed has data parallelism (DDP) only",
    "torch.distributions": "minigrad has no probability distributions module",
    "torch.sparse": "minigrad's tensors are dense arrays",
    "torch.quantization": "minigrad.compress has its own quantization, not torch's API",
    "torch.ao": "minigrad.compress has its own quantization and pruning, not torch's API",
    "torch.amp": "minigrad has no automatic mixed precision",
    "torch.cuda.amp": "minigrad has no automatic mixed precision",
    "torch.autocast": "minigrad has no automatic mixed precision",
    "torch.hub": "minigrad downloads no models",
    "torch.linalg": "minigrad has no linear-algebra module beyond matmul",
    "torch.special": "minigrad has no special-functions module",
    "torch.profiler": "minigrad has no profiler; time code with time.perf_counter",
    "torch.utils.tensorboard": "minigrad writes no TensorBoard logs",
    "torch.utils.checkpoint": "minigrad has no activation checkpointing",
    "torch.backends.mps": "minigrad runs on the CPU and on CUDA GPUs only",
    "torch.mps": "minigrad runs on the CPU and on CUDA GPUs only",
    "torch.xpu": "minigrad runs on the CPU and on CUDA GPUs only",
}

_REVERSE = {}
for _torch_name, _mg in MODULES.items():
    if _mg is not None:
        _REVERSE.setdefault(_mg, _torch_name)


def torch_name_of(minigrad_name: str) -> str | None:
    """The torch module name that stands for a minigrad module, or None."""
    return _REVERSE.get(minigrad_name)


# ----------------------------------------------------------------------------- aliases

class _TypedTensorMeta(type):
    def __instancecheck__(cls, obj):
        import minigrad

        return isinstance(obj, minigrad.Tensor) and obj.dtype == cls._dtype


def _typed_tensor(name, dtype):
    """``torch.LongTensor`` and friends: ``LongTensor([1, 2])`` is a tensor of those
    values, ``LongTensor(2, 3)`` (sizes) an uninitialised (here: zero) one."""
    def __new__(cls, *args):
        import minigrad

        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            return minigrad.tensor(args[0], dtype=cls._dtype)
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return minigrad.zeros(*[int(a) for a in args], dtype=cls._dtype)
        raise TypeError(f"torch.{name}: expected data (a list or array) or sizes (ints), got "
                        f"{', '.join(type(a).__name__ for a in args)}")

    return _TypedTensorMeta(name, (), {"__new__": __new__, "_dtype": np.dtype(dtype),
                                       "__doc__": f"torch.{name}: a {np.dtype(dtype)} tensor."})


class Size(tuple):
    """``torch.Size``: a tuple of dimensions."""

    def numel(self):
        """The number of elements of a tensor of this size."""
        return int(np.prod(self, dtype=np.int64))


def _cuda_device():
    import minigrad

    return minigrad.Device("cuda", 0) if minigrad.cuda.is_available() else None


def _accelerator():
    import minigrad

    def is_available():
        """True when minigrad sees a CUDA GPU (its only accelerator)."""
        return minigrad.cuda.is_available()

    def current_accelerator(check_available=False):
        """``device('cuda:0')`` when minigrad sees a CUDA GPU, else None."""
        return _cuda_device()

    def device_count():
        """The number of CUDA GPUs minigrad sees."""
        return minigrad.cuda.device_count()

    def current_device_index():
        """The index of the current CUDA GPU (-1 without one)."""
        return minigrad.cuda.current_device() if minigrad.cuda.is_available() else -1

    def set_device_index(index):
        """Make CUDA GPU ``index`` the current one."""
        minigrad.cuda.set_device(index)

    def synchronize(device=None):
        """Wait for the GPU's queued work (nothing to wait for without one)."""
        if minigrad.cuda.is_available():
            minigrad.cuda.synchronize()

    return dict(is_available=is_available, current_accelerator=current_accelerator, device_count=device_count,
                current_device_index=current_device_index, set_device_index=set_device_index,
                synchronize=synchronize)


def _false(*args, **kwargs):
    """False: minigrad does not have this backend."""
    return False


def _namespace(**kw):
    return types.SimpleNamespace(**kw)


def _variable(tensor, requires_grad=False, volatile=False):
    """``torch.autograd.Variable`` (a relic of PyTorch 0.3): returns the tensor itself,
    asking for gradients when ``requires_grad=True``."""
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def _add_safe_globals(globs):
    """Nothing to allow: minigrad's checkpoints never unpickle, so they hold no classes."""


def _get_worker_info():
    """None: minigrad's DataLoader loads in the main process, as torch's does with num_workers=0."""
    return None


def _is_tensor(obj):
    """True if ``obj`` is a minigrad Tensor."""
    import minigrad

    return isinstance(obj, minigrad.Tensor)


def _numel(t):
    """The number of elements of ``t``."""
    return t.numel()


def _overrides(name):
    """The names set on the stand-in module ``name``."""
    import minigrad

    if name == "torch":
        return {
            "__version__": f"{minigrad.__version__}+minigrad",
            "device": minigrad.Device,
            "Size": Size,
            "dtype": np.dtype,
            "FloatTensor": _typed_tensor("FloatTensor", "float32"),
            "DoubleTensor": _typed_tensor("DoubleTensor", "float64"),
            "HalfTensor": _typed_tensor("HalfTensor", "float16"),
            "LongTensor": _typed_tensor("LongTensor", "int64"),
            "IntTensor": _typed_tensor("IntTensor", "int32"),
            "ShortTensor": _typed_tensor("ShortTensor", "int16"),
            "CharTensor": _typed_tensor("CharTensor", "int8"),
            "ByteTensor": _typed_tensor("ByteTensor", "uint8"),
            "BoolTensor": _typed_tensor("BoolTensor", "bool"),
        }
    if name == "torch.accelerator":
        return _accelerator()
    if name == "torch.backends.mps":
        return {"is_available": _false, "is_built": _false}
    if name == "torch.backends.cudnn":
        return {"enabled": True, "benchmark": False, "deterministic": False,
                "is_available": lambda: minigrad.cuda.is_available()}
    if name == "torch.backends.cuda":
        return {"matmul": _namespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
                "is_built": lambda: minigrad.cuda.is_available()}
    if name == "torch.serialization":
        return {"add_safe_globals": _add_safe_globals}
    return {}


def _fallbacks(name):
    """Names looked up after the minigrad module (used only where it lacks them)."""
    import minigrad

    if name == "torch":
        return {"is_tensor": _is_tensor, "numel": _numel, "inference_mode": minigrad.no_grad}
    if name in ("torch.autograd", "torch.autograd.function"):
        return {"Variable": _variable}
    if name == "torch.utils.data":
        return {"get_worker_info": _get_worker_info}
    return {}


def build_module(name):
    """Make the stand-in module for the torch module ``name`` (a key of MODULES)."""
    from minigrad.torch_compat._finder import TorchModule

    target_name = MODULES[name]
    target = importlib.import_module(target_name) if target_name else None
    doc = None if target is not None else f"{name}: minigrad's stand-in (see minigrad.torch_compat)."
    module = TorchModule(name, target, _fallbacks(name), doc)
    for key, value in _overrides(name).items():
        setattr(module, key, value)
    return module
