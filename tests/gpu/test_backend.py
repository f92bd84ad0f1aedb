"""Devices on a real GPU: moving tensors and modules, creation with device=, optimizers
on CUDA parameters, the DataLoader's device=, and the error for mixing devices.
Marked ``gpu``: skipped without CuPy and a CUDA GPU."""
import numpy as np
import pytest

import minigrad
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.data import DataLoader, TensorDataset
from minigrad.data.dataloader import to_device

pytestmark = pytest.mark.gpu


def _is_cupy(a):
    import cupy

    return isinstance(a, cupy.ndarray)


def test_cuda_module_functions():
    assert minigrad.cuda.is_available()
    assert minigrad.cuda.device_count() >= 1
    assert minigrad.cuda.current_device() == 0 or minigrad.cuda.device_count() > 1
    minigrad.cuda.synchronize()
    minigrad.cuda.synchronize("cuda:0")
    assert isinstance(minigrad.cuda.get_device_name(), str) and minigrad.cuda.get_device_name()
    assert minigrad.cuda.why_unavailable() is None
    with pytest.raises(RuntimeError, match="only .* CUDA device"):
        minigrad.zeros(2, device=f"cuda:{minigrad.cuda.device_count()}")


def test_round_trips_keep_values_dtype_and_grad_flow():
    for dt in (np.float32, np.float64, np.int64, np.bool_):
        a = (np.arange(12).reshape(3, 4) % 5).astype(dt)
        t = minigrad.tensor(a)
        g = t.to("cuda")
        assert g.device == "cuda:0" and g.is_cuda and _is_cupy(g.array) and g.dtype == dt
        assert t.cuda().device == "cuda" and g.cpu().device == "cpu"
        back = g.cpu()
        assert isinstance(back.array, np.ndarray) and (back.numpy() == a).all(), f"round trip changed {dt}"
        assert g.to("cuda") is g and t.to("cpu") is t, "no copy when already on the device"
    x = minigrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.cuda() * 2.0).sum()
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 2.0, 2.0], "gradient must flow back through .cuda()"
    with pytest.raises(TypeError, match="call .cpu"):
        minigrad.ones(2, device="cuda").numpy()
    assert "device='cuda:0'" in repr(minigrad.ones(2, device="cuda"))
    assert minigrad.ones(3, device="cuda").sum().item() == 3.0
    assert np.asarray(minigrad.ones(2, device="cuda")).tolist() == [1.0, 1.0]


CREATORS = {
    "zeros": lambda d: minigrad.zeros(2, 3, device=d),
    "ones": lambda d: minigrad.ones((2, 3), device=d, dtype=minigrad.float64),
    "full": lambda d: minigrad.full((2, 3), 7, device=d),
    "empty": lambda d: minigrad.empty(4, device=d),
    "arange": lambda d: minigrad.arange(0, 5, 0.5, device=d),
    "linspace": lambda d: minigrad.linspace(-1, 1, 7, device=d),
    "eye": lambda d: minigrad.eye(3, 4, device=d),
    "rand": lambda d: minigrad.rand(3, 2, device=d),
    "randn": lambda d: minigrad.randn(3, 2, device=d, dtype=minigrad.float64),
    "randint": lambda d: minigrad.randint(0, 10, (5,), device=d),
    "randperm": lambda d: minigrad.randperm(6, device=d),
    "tensor": lambda d: minigrad.tensor([[1, 2], [3, 4]], device=d),
    "as_tensor": lambda d: minigrad.as_tensor(np.arange(3.0), device=d),
    "zeros_like": lambda d: minigrad.zeros_like(minigrad.ones(2, 2), device=d),
    "ones_like": lambda d: minigrad.ones_like(minigrad.ones(2, 2), device=d),
    "full_like": lambda d: minigrad.full_like(minigrad.ones(2, 2), 3.5, device=d),
    "empty_like": lambda d: minigrad.empty_like(minigrad.ones(2, 2), device=d),
    "rand_like": lambda d: minigrad.rand_like(minigrad.ones(2, 2), device=d),
    "randn_like": lambda d: minigrad.randn_like(minigrad.ones(2, 2), device=d),
    "randint_like": lambda d: minigrad.randint_like(minigrad.ones(2, 2), 0, 4, device=d),
}


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_creation_device_argument_gives_the_same_values(name):
    minigrad.manual_seed(3)
    c = CREATORS[name]("cpu")
    minigrad.manual_seed(3)
    g = CREATORS[name]("cuda")
    assert g.device == "cuda:0" and _is_cupy(g.array), f"{name}(device='cuda') made a tensor on '{g.device}'"
    assert g.dtype == c.dtype and g.shape == c.shape, f"{name}: {g.dtype}{g.shape} on cuda vs {c.dtype}{c.shape}"
    assert np.array_equal(g.cpu().numpy(), c.numpy()), f"{name}: values differ between devices (same seed)"


def test_like_functions_follow_their_input_device():
    g = minigrad.ones(2, 3, device="cuda")
    for fn in (minigrad.zeros_like, minigrad.ones_like, minigrad.rand_like, minigrad.randn_like):
        assert fn(g).device == "cuda:0", fn.__name__
    assert minigrad.zeros_like(g, device="cpu").device == "cpu"


def test_module_to_moves_parameters_buffers_and_grads_in_place():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    params = list(m.parameters())
    m(minigrad.randn(5, 3)).sum().backward()
    assert m.to("cuda") is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params], "Parameter objects must be kept"
    for name, p in m.named_parameters():
        assert p.device == "cuda:0" and p.grad.device == "cuda:0", name
    for name, b in m.named_buffers():
        assert b.device == "cuda:0", name
    out = m(minigrad.randn(5, 3, device="cuda"))
    assert out.device == "cuda:0"
    m.cpu()
    assert all(p.device == "cpu" for p in m.parameters())
    m.cuda().double()
    assert all(p.device == "cuda:0" and p.dtype == np.float64 for p in m.parameters())
    sd = m.state_dict()
    m2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    m2.load_state_dict(sd)  # GPU state into a CPU model
    assert all(p.device == "cpu" for p in m2.parameters())
    for (k, a), b in zip(sd.items(), m2.state_dict().values()):
        assert np.array_equal(a.cpu().numpy(), b.numpy()), k


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_steps_match_between_devices(opt_name):
    def run(device):
        minigrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().to(device)
        kw = {"momentum": 0.9} if opt_name == "SGD" else {}
        opt = getattr(minigrad.optim, opt_name)(model.parameters(), lr=0.05, **kw)
        rng = np.random.default_rng(1)
        x = minigrad.tensor(rng.standard_normal((6, 4)), device=device)
        y = minigrad.tensor(rng.integers(0, 3, 6), device=device)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        for st in opt.state.values():
            for k, v in st.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    assert minigrad.backend.device_of(v) == device, f"{opt_name} state {k} on the wrong device"
        return [p.cpu().numpy().copy() for p in model.parameters()], opt.state_dict()

    pc, sdc = run("cpu")
    pg, sdg = run("cuda")
    for i, (a, b) in enumerate(zip(pg, pc)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{opt_name}: parameter {i} differs after 3 steps on cuda vs cpu")
    # a GPU optimizer state loads into a CPU optimizer (arrays move to the parameter's device)
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    opt = getattr(minigrad.optim, opt_name)(model.parameters(), lr=0.05)
    opt.load_state_dict(sdg)
    for st in opt.state.values():
        for k, v in st.items():
            if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                assert isinstance(v, np.ndarray), f"{opt_name}: loaded state {k} stayed on the GPU"


def test_clip_grad_norm_on_cuda_parameters():
    m = nn.Linear(5, 3).to("cuda")
    (m(minigrad.randn(4, 5, device="cuda")) * 100).sum().backward()
    total = nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    assert float(total) > 1.0
    norm = sum(float((p.grad.cpu().numpy().astype(np.float64) ** 2).sum()) for p in m.parameters()) ** 0.5
    assert abs(norm - 1.0) < 1e-3


def test_dataloader_device_and_to_device():
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = np.arange(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, device="cuda")
    batches = list(loader)
    assert len(batches) == 3 and "device='cuda:0'" in repr(loader)
    for xb, yb in batches:
        assert xb.device == "cuda:0" and yb.device == "cuda:0"
    assert np.array_equal(batches[0][0].cpu().numpy(), X[:4])
    moved = to_device({"x": minigrad.ones(2), "pair": (np.zeros(3), "label"), "n": 3}, "cuda")
    assert moved["x"].device == "cuda:0" and _is_cupy(moved["pair"][0]) and moved["pair"][1] == "label"
    assert moved["n"] == 3
    back = to_device(moved, "cpu")
    assert back["x"].device == "cpu" and isinstance(back["pair"][0], np.ndarray)


@pytest.mark.parametrize("op", [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: minigrad.matmul(a, b),
    lambda a, b: minigrad.maximum(a, b),
    lambda a, b: minigrad.where(a > 0, a, b),
    lambda a, b: minigrad.cat([a, b]),
    lambda a, b: F.mse_loss(a, b),
    lambda a, b: F.linear(a, b),
], ids=["add", "mul", "matmul", "maximum", "where", "cat", "mse_loss", "linear"])
def test_mixing_devices_raises_naming_both(op):
    a = minigrad.ones(3, 3)
    b = minigrad.ones(3, 3, device="cuda")
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError) as info:
            op(x, y)
        msg = str(info.value)
        assert "cpu" in msg and "cuda:0" in msg, f"the error must name both devices, got: {msg}"


def test_model_on_gpu_with_cpu_input_raises_clearly():
    m = nn.Linear(3, 2).to("cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
        m(minigrad.ones(4, 3))
