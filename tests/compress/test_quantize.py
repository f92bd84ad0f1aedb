"""minigrad.compress.quantize: primitives, observers, PTQ, QAT, quantized layers, sizes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import nn, optim
from minigrad.compress import quantize as Q
from minigrad.data import digits, train_test_split
from minigrad.examples.cnn import SeedCNN
from minigrad.train import evaluate, fit

floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)
arrays = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=floats)


# ============================================================================ primitives

@settings(max_examples=40)
@given(x=arrays, symmetric=st.booleans(), dtype=st.sampled_from(["int8", "uint8"]))
def test_round_trip_error_at_most_half_a_step(x, symmetric, dtype):
    scale, zp = Q.calc_qparams(x.min(), x.max(), symmetric, dtype)
    q = Q.quantize_per_tensor(x, scale, zp, dtype)
    assert q.dtype == np.dtype(dtype) and q.shape == x.shape
    back = Q.dequantize(q, scale, zp)
    assert back.dtype == np.float32
    err = np.abs(back.astype(np.float64) - x)
    # half a step, plus float32 rounding of x / scale and of (q - z) * scale
    assert np.all(err <= 0.5 * scale * (1 + 1e-5) + 1e-6 * np.abs(x)), (err.max(), scale)
    # 0 is always exactly representable
    assert Q.dequantize(Q.quantize_per_tensor(np.zeros(1, np.float32), scale, zp, dtype), scale, zp)[0] == 0


@settings(max_examples=30)
@given(w=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, max_side=5), elements=floats),
       axis=st.integers(0, 1))
def test_per_channel_round_trip(w, axis):
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    scales, zps = Q.calc_qparams(rows.min(1), rows.max(1), symmetric=True)
    assert scales.shape == zps.shape == (w.shape[axis],) and not zps.any()
    q = Q.quantize_per_channel(w, scales, zps, axis=axis)
    assert q.dtype == np.int8 and q.min() >= -127   # symmetric: -128 is never produced
    back = Q.dequantize(q, scales, zps, axis=axis)
    shape = [1] * w.ndim
    shape[axis] = -1
    step = scales.reshape(shape).astype(np.float64)
    assert np.all(np.abs(back - w) <= 0.5 * step * (1 + 1e-5) + 1e-6 * np.abs(w))


def test_rounding_is_half_to_even_and_values_clamp():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0], np.float32)
    q = Q.quantize_per_tensor(x, 1.0, 0)
    np.testing.assert_array_equal(q, [0, 2, 2, 0, -2, 127, -128])
    q = Q.quantize_per_tensor(x, 1.0, 0, dtype="uint8")
    np.testing.assert_array_equal(q, [0, 2, 2, 0, 0, 255, 0])
    q = Q.quantize_per_tensor(np.array([3.0, -3.0], np.float32), 0.01, 10)
    np.testing.assert_array_equal(q, [127, -128])


def test_qparams_edge_cases():
    assert Q.calc_qparams(0.0, 0.0) == (1.0, -128)
    assert Q.calc_qparams(0.0, 0.0, symmetric=True) == (1.0, 0)
    assert Q.calc_qparams(0.0, 0.0, dtype="uint8") == (1.0, 0)
    # min == max != 0: the range is widened to include 0
    s, z = Q.calc_qparams(3.0, 3.0)
    assert z == -128 and s == pytest.approx(3.0 / 255)
    s, z = Q.calc_qparams(-2.0, -2.0)
    assert z == 127 and s == pytest.approx(2.0 / 255)
    # symmetric: the largest magnitude maps to +-127; uint8 symmetric centres on 128
    s, z = Q.calc_qparams(-1.0, 0.5, symmetric=True)
    assert (s, z) == (pytest.approx(1 / 127), 0)
    assert Q.calc_qparams(-1.0, 0.5, symmetric=True, dtype="uint8")[1] == 128
    # affine: [min, max] spread over the whole range
    s, z = Q.calc_qparams(-1.0, 3.0, dtype="uint8")
    assert s == pytest.approx(4 / 255) and z == 64
    # per-channel with some all-zero channels
    s, z = Q.calc_qparams(np.array([0.0, -1.0]), np.array([0.0, 1.0]), symmetric=True)
    assert s.dtype == np.float32 and z.dtype == np.int32
    np.testing.assert_allclose(s, [1.0, 1 / 127])
    with pytest.raises(ValueError, match="finite"):
        Q.calc_qparams(np.inf, -np.inf)
    with pytest.raises(ValueError, match="min_val must be <= max_val"):
        Q.calc_qparams(1.0, 0.0)
    with pytest.raises(ValueError, match="'int8' or 'uint8'"):
        Q.calc_qparams(0.0, 1.0, dtype="int4")


def test_primitives_errors_and_tensors():
    x = minigrad.tensor([0.1, -0.2, 0.3])
    q = Q.quantize_per_tensor(x, 0.01, 0)
    assert isinstance(q, minigrad.Tensor) and q.dtype == np.int8 and not q.requires_grad
    np.testing.assert_array_equal(q.array, [10, -20, 30])
    back = Q.dequantize(q, 0.01, 0)
    assert isinstance(back, minigrad.Tensor)
    np.testing.assert_allclose(back.array, x.array, atol=1e-6)
    with pytest.raises(ValueError, match="scale must be a positive"):
        Q.quantize_per_tensor(x, 0.0, 0)
    with pytest.raises(ValueError, match="zero_point 300 is outside"):
        Q.quantize_per_tensor(x, 1.0, 300)
    with pytest.raises(ValueError, match="3 channels along axis 0, but got 2 scales"):
        Q.quantize_per_channel(np.zeros((3, 4), np.float32), [1.0, 1.0], [0, 0])
    with pytest.raises(TypeError, match="dequantize: expected an integer array"):
        Q.dequantize(np.zeros(3, np.float32), 1.0, 0)


# ============================================================================ observers

def test_observers():
    obs = Q.MinMaxObserver()
    assert not obs.observed
    with pytest.raises(RuntimeError, match="no data observed"):
        obs.calculate_qparams()
    x = minigrad.tensor([-1.0, 2.0])
    assert obs(x) is x
    obs(np.array([0.5, 3.0], np.float32))
    assert float(obs.min_val.array) == -1.0 and float(obs.max_val.array) == 3.0
    assert obs.calculate_qparams() == Q.calc_qparams(-1.0, 3.0)

    ema = Q.MovingAverageMinMaxObserver(averaging_constant=0.5)
    ema(np.array([-1.0, 1.0], np.float32))
    ema(np.array([-3.0, 5.0], np.float32))
    assert float(ema.min_val.array) == -2.0 and float(ema.max_val.array) == 3.0

    pc = Q.PerChannelMinMaxObserver(axis=1)
    pc(np.array([[1.0, -2.0, 0.5], [3.0, 1.0, 0.25]], np.float32))
    np.testing.assert_array_equal(pc.min_val.array, [1.0, -2.0, 0.25])
    np.testing.assert_array_equal(pc.max_val.array, [3.0, 1.0, 0.5])
    s, z = pc.calculate_qparams()
    np.testing.assert_allclose(s, np.array([3.0, 2.0, 0.5]) / 127, rtol=1e-6)
    with pytest.raises(ValueError, match="expected 3 channels"):
        pc(np.zeros((2, 4), np.float32))


# ============================================================================ quantized layers

def _calibrated(layer, x):
    prepared = Q.prepare(layer)
    with minigrad.no_grad():
        prepared(x)
    return prepared, Q.convert(prepared)


def _dequantized_operands(qlayer, x):
    sx, zx = float(qlayer.input_scale.array), int(qlayer.input_zero_point.array)
    xh = Q.dequantize(Q.quantize_per_tensor(x, sx, zx), sx, zx).astype(np.float64)
    wh = Q.dequantize(qlayer.weight.array, qlayer.weight_scale.array, np.zeros(qlayer.weight.shape[0], np.int32),
                      axis=0).astype(np.float64)
    return sx, xh, wh


def test_quantized_linear_matches_float_within_the_quantization_bound(kernel_set):
    rng = np.random.default_rng(1)
    lin = nn.Linear(37, 13)
    x = rng.standard_normal((9, 37)).astype(np.float32)
    _, ql = _calibrated(lin, minigrad.tensor(x))
    assert isinstance(ql, Q.QuantizedLinear) and ql.weight.dtype == np.int8
    with minigrad.no_grad():
        y = ql(minigrad.tensor(x)).array
        y_float = lin(minigrad.tensor(x)).array
    assert y.dtype == np.float32 and y.shape == (9, 13)
    sx, xh, wh = _dequantized_operands(ql, x)
    b = lin.bias.array.astype(np.float64)
    # 1) the integer pipeline is exact: y is x_hat @ w_hat^T + b up to float32 rounding
    scale_terms = np.abs(xh) @ np.abs(wh).T + np.abs(b)
    assert np.all(np.abs(y - (xh @ wh.T + b)) <= 1e-5 * scale_terms + 1e-6)
    # 2) the float layer differs by at most the rounding of x and w:
    #    |x - x_hat| <= s_x / 2 and |w - w_hat| <= s_w / 2 (no clamping: calibrated on x)
    w = lin.weight.array.astype(np.float64)
    sw = ql.weight_scale.array.astype(np.float64)
    bound = 0.5 * sx * np.abs(w).sum(1)[None, :] + 0.5 * np.abs(xh).sum(1)[:, None] * sw[None, :]
    assert np.all(np.abs(y - y_float) <= bound * (1 + 1e-4) + 1e-5)
    assert np.abs(y - y_float).max() > 0  # it really is quantized


@pytest.mark.parametrize("conf", [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(kernel_size=3, padding=1, groups=2, bias=False),
    dict(kernel_size=4, padding="same"),            # odd total padding: extra row/column at the end
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=2, padding="valid"),
])
def test_quantized_conv2d_matches_float_within_the_quantization_bound(conf, kernel_set):
    rng = np.random.default_rng(2)
    conv = nn.Conv2d(4, 6, **conf)
    x = rng.standard_normal((3, 4, 7, 8)).astype(np.float32)
    _, qc = _calibrated(conv, minigrad.tensor(x))
    assert isinstance(qc, Q.QuantizedConv2d)
    with minigrad.no_grad():
        y = qc(minigrad.tensor(x)).array
        y_float = conv(minigrad.tensor(x)).array
        y_unbatched = qc(minigrad.tensor(x[1])).array
    assert y.shape == y_float.shape
    np.testing.assert_array_equal(y_unbatched, y[1])
    # reference: the float conv of the dequantized operands, through the layer's own padding
    sx, xh, wh = _dequantized_operands(qc, x)
    float64_conv = nn.Conv2d(4, 6, **conf).double()
    float64_conv.weight.array[...] = wh
    with minigrad.no_grad():
        if conv.bias is not None:
            float64_conv.bias.array[...] = conv.bias.array
        want = float64_conv(minigrad.tensor(xh)).array
        float64_conv.weight.array[...] = np.abs(wh)
        if conv.bias is not None:
            float64_conv.bias.array[...] = np.abs(conv.bias.array)
        terms = float64_conv(minigrad.tensor(np.abs(xh))).array
    assert np.all(np.abs(y - want) <= 1e-5 * terms + 1e-6)
    # and the float layer is within the rounding bound
    w = conv.weight.array.astype(np.float64)
    sw = qc.weight_scale.array.astype(np.float64)
    probe = nn.Conv2d(4, 6, **dict(conf, bias=False)).double()
    with minigrad.no_grad():
        probe.weight.array[...] = 0.5 * sx * np.abs(w)
        b1 = probe(minigrad.tensor(np.ones_like(xh))).array
        probe.weight.array[...] = 0.5 * sw.reshape(-1, 1, 1, 1) * np.ones_like(w)
        b2 = probe(minigrad.tensor(np.abs(xh))).array
    assert np.all(np.abs(y - y_float) <= (b1 + b2) * (1 + 1e-4) + 1e-5)


def test_quantized_layers_are_inference_only():
    lin = nn.Linear(4, 3)
    _, ql = _calibrated(lin, minigrad.randn(5, 4))
    x = minigrad.randn(2, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="inference-only"):
        ql(x)
    with minigrad.no_grad():
        assert ql(x).shape == (2, 3)
    assert ql(x.detach()).requires_grad is False
    assert list(ql.parameters()) == []
    with pytest.raises(ValueError, match="in_features 4"):
        ql(minigrad.randn(2, 5))


def test_state_dict_and_checkpoint_round_trip(tmp_path):
    model = SeedCNN(width=4)
    x = minigrad.randn(3, 1, 28, 28)
    qmodel = Q.quantize_ptq(model, [x])
    sd = qmodel.state_dict()
    assert sd["features.0.weight"].dtype == np.int8
    assert sd["features.0.weight_scale"].shape == (4,)
    assert sd["head.1.input_zero_point"].dtype == np.int32
    minigrad.save(sd, tmp_path / "q.npz")
    # a fresh quantized model calibrated on other data, then loaded from the file
    other = Q.quantize_ptq(SeedCNN(width=4), [minigrad.randn(2, 1, 28, 28) * 5])
    with minigrad.no_grad():
        before = other(x).array
    other.load_state_dict(minigrad.load(tmp_path / "q.npz"))
    with minigrad.no_grad():
        np.testing.assert_array_equal(other(x).array, qmodel(x).array)
        assert not np.array_equal(before, qmodel(x).array)
    # a model built layer by layer from the constructors loads it too
    fresh = QuantizedSeedCNN(width=4)
    fresh.load_state_dict(sd)
    with minigrad.no_grad():
        np.testing.assert_array_equal(fresh(x).array, qmodel(x).array)


def QuantizedSeedCNN(width):
    m = SeedCNN(width=width)
    m.features[0] = Q.QuantizedConv2d(1, width, 3, padding=1)
    m.features[3] = Q.QuantizedConv2d(width, 2 * width, 3, padding=1)
    m.head[1] = Q.QuantizedLinear(2 * width * 7 * 7, 128)
    m.head[3] = Q.QuantizedLinear(128, 10)
    return m


def test_model_size_is_about_four_times_smaller():
    model = SeedCNN()
    qmodel = Q.quantize_ptq(model, minigrad.randn(4, 1, 28, 28))
    fb, qb = Q.model_size_bytes(model), Q.model_size_bytes(qmodel)
    n_weights = sum(p.array.size for p in model.parameters())
    assert fb == 4 * n_weights
    assert 3.9 < fb / qb < 4.0     # int8 weights; float32 biases and scales cost a little
    rep = Q.size_report(qmodel)
    assert rep["total_bytes"] == qb and set(rep["by_dtype"]) == {"int8", "float32", "int32"}
    assert rep["by_dtype"]["int8"] == sum(m.weight.array.size for m in qmodel.modules()
                                          if isinstance(m, (Q.QuantizedLinear, Q.QuantizedConv2d)))


# ============================================================================ the model-level flow

def test_prepare_and_quantize_ptq_leave_the_float_model_alone():
    model = SeedCNN(width=4)
    snapshot = {k: v.array.copy() for k, v in model.state_dict().items()}
    text = repr(model)
    prepared = Q.prepare(model)
    assert "input_observer" in prepared.head[1]._modules and "input_observer" not in model.head[1]._modules
    q = Q.quantize_ptq(model, [(minigrad.randn(2, 1, 28, 28), None)])
    assert repr(model) == text and not model.head[1]._forward_pre_hooks
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.array, snapshot[k])
    assert isinstance(q.head[3], Q.QuantizedLinear) and not q.training
    same = Q.quantize_ptq(model, [minigrad.randn(2, 1, 28, 28)], inplace=True)
    assert same is model and isinstance(model.head[1], Q.QuantizedLinear)


def test_convert_errors():
    prepared = Q.prepare(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(RuntimeError, match="layer '0' has seen no data"):
        Q.convert(prepared)
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        Q.prepare(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="calibration_batches is empty"):
        Q.quantize_ptq(nn.Linear(3, 2), [])
    too_long = Q.prepare(nn.Linear(66312, 1))
    with minigrad.no_grad():
        too_long(minigrad.randn(1, 66312))
    with pytest.raises(ValueError, match="exact only up to 66311"):
        Q.convert(too_long)
    # a bare layer is converted too
    q = Q.quantize_ptq(nn.Linear(3, 2), minigrad.randn(4, 3))
    assert isinstance(q, Q.QuantizedLinear)


def _digits(seed=0):
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, seed=seed)
    return X_train, X_test, y_train, y_test


def _accuracy(model, X, y):
    return evaluate(model, None, (X, y), metrics=["accuracy"])["accuracy"]


def test_ptq_of_a_trained_mlp_on_digits_keeps_accuracy():
    X_train, X_test, y_train, y_test = _digits()
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (X_train, y_train),
        epochs=5, batch_size=64, progress=False, seed=0)
    acc = _accuracy(model, X_test, y_test)
    assert acc > 0.9
    qmodel = Q.quantize_ptq(model, [X_train[i:i + 256] for i in range(0, 1024, 256)])
    qacc = _accuracy(qmodel, X_test, y_test)
    assert qacc >= acc - 0.01, (acc, qacc)
    # weights: exactly 4x fewer bytes; the whole model (float biases and scales too) ~3.7x
    float_w = sum(m.weight.array.nbytes for m in model if isinstance(m, nn.Linear))
    int8_w = sum(m.weight.array.nbytes for m in qmodel if isinstance(m, Q.QuantizedLinear))
    assert float_w == 4 * int8_w
    assert Q.model_size_bytes(model) / Q.model_size_bytes(qmodel) > 3.6


def test_qat_trains_and_converts():
    X_train, X_test, y_train, y_test = _digits(1)
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    qat = Q.prepare_qat(model)
    assert isinstance(qat[0], Q.QATLinear) and isinstance(model[0], nn.Linear) and qat.training
    opt = optim.Adam(qat.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    xb, yb = minigrad.tensor(X_train[:256]), minigrad.tensor(y_train[:256])
    losses = []
    for _ in range(15):
        loss = loss_fn(qat(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.array))
    assert losses[-1] < 0.7 * losses[0]
    assert qat[0].weight.grad is not None and np.abs(qat[0].weight.grad.array).sum() > 0
    qat.eval()
    qmodel = Q.convert(qat)
    assert isinstance(qmodel[0], Q.QuantizedLinear) and isinstance(qat[0], Q.QATLinear)
    with minigrad.no_grad():
        x = minigrad.tensor(X_test)
        fq_out, q_out = qat(x).array, qmodel(x).array
    # the int8 model computes what the fake-quantized float model simulated
    assert np.abs(fq_out - q_out).max() <= 1e-4 * max(1.0, np.abs(fq_out).max())
    assert _accuracy(qmodel, X_test, y_test) == _accuracy(qat, X_test, y_test)


def test_prepare_qat_inplace_shares_parameters_with_the_optimizer():
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Flatten(), nn.Linear(3 * 5 * 5, 2))
    params = list(model.parameters())
    opt = optim.SGD(params, lr=0.1)
    qat = Q.prepare_qat(model, inplace=True)
    assert qat is model and isinstance(model[0], Q.QATConv2d)
    assert [id(p) for p in qat.parameters()] == [id(p) for p in params]
    before = model[2].weight.array.copy()
    out = qat(minigrad.randn(4, 1, 5, 5))
    out.sum().backward()
    opt.step()
    assert not np.array_equal(before, model[2].weight.array)


def test_seed_cnn_qat_then_convert():
    minigrad.manual_seed(3)
    model = SeedCNN(width=8)
    qat = Q.prepare_qat(model)
    opt = optim.Adam(qat.parameters(), lr=1e-3)
    x = minigrad.randn(8, 1, 28, 28)
    y = minigrad.tensor(np.arange(8) % 10)
    losses = []
    for _ in range(4):
        loss = nn.CrossEntropyLoss()(qat(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.array))
    assert losses[-1] < losses[0]
    qat.eval()
    qmodel = Q.convert(qat)
    assert isinstance(qmodel.features[0], Q.QuantizedConv2d) and isinstance(qmodel.head[1], Q.QuantizedLinear)
    with minigrad.no_grad():
        a, b = qat(x).array, qmodel(x).array
    assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max())


@pytest.mark.slow
def test_ptq_of_the_trained_seed_cnn_on_digits():
    """The seed CNN trained on the 28x28 digits loses <= 1 point of accuracy in int8."""
    from minigrad.examples.cnn import digits_cnn, load_28x28

    result = digits_cnn(epochs=4)
    model = result["model"]
    X_train, X_test, y_train, y_test = load_28x28("digits", seed=0)
    acc = _accuracy(model, X_test, y_test)
    qmodel = Q.quantize_ptq(model, [X_train[i:i + 128] for i in range(0, 512, 128)])
    qacc = _accuracy(qmodel, X_test, y_test)
    assert qacc >= acc - 0.01, (acc, qacc)
    assert Q.model_size_bytes(model) / Q.model_size_bytes(qmodel) > 3.9


# ============================================================================ fusing a ReLU

_SEED_CNN_PAIRS = SeedCNN.relu_pairs


def test_fuse_modules_keeps_the_float_model_and_its_outputs():
    minigrad.manual_seed(0)
    model = SeedCNN().eval()
    fused = Q.fuse_modules(model, _SEED_CNN_PAIRS)
    assert isinstance(model.features[0], nn.Conv2d) and isinstance(model.features[1], nn.ReLU)  # untouched
    assert isinstance(fused.features[0], Q.ConvReLU2d) and isinstance(fused.features[1], nn.Identity)
    assert isinstance(fused.head[1], Q.LinearReLU) and isinstance(fused.head[2], nn.Identity)
    assert fused.features[0][0].weight is not model.features[0].weight      # a deep copy
    x = minigrad.randn(3, 1, 28, 28)
    with minigrad.no_grad():
        np.testing.assert_array_equal(fused(x).array, model(x).array)
    one = Q.fuse_modules(model, ["features.3", "features.4"], inplace=True)   # one pair, in place
    assert one is model and isinstance(model.features[3], Q.ConvReLU2d)


def test_fuse_modules_errors():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(ValueError, match=r"fuse_modules: cannot fuse \['0', '1'\] of types \['Linear', 'Tanh'\]"):
        Q.fuse_modules(model, ["0", "1"])
    with pytest.raises(ValueError, match="fuse_modules: Sequential has no submodule '7'"):
        Q.fuse_modules(model, [["2", "7"]])
    with pytest.raises(TypeError, match="fuse_modules: expected an nn.Module"):
        Q.fuse_modules([nn.ReLU()], ["0", "1"])
    with pytest.raises(TypeError, match=r"ConvReLU2d: expected \(Conv2d, ReLU\)"):
        Q.ConvReLU2d(nn.Linear(2, 2), nn.ReLU())


def test_quantized_fused_model_equals_the_unfused_one_exactly():
    """The ReLU applied while converting to float gives the very floats that a separate
    ReLU after the layer gives; the fused layers say relu=True."""
    minigrad.manual_seed(1)
    model = SeedCNN().eval()
    x = minigrad.randn(16, 1, 28, 28)
    qm = Q.quantize_ptq(model, [x])
    qf = Q.quantize_ptq(Q.fuse_modules(model, _SEED_CNN_PAIRS), [x])
    assert qf.features[0].relu and qf.features[3].relu and qf.head[1].relu and not qf.head[3].relu
    assert not qm.features[0].relu
    assert "relu=True" in repr(qf.features[0]) and "relu=True" in repr(qf.head[1])
    with minigrad.no_grad():
        for batch in (x, minigrad.randn(5, 1, 28, 28) * 3):
            np.testing.assert_array_equal(qf(batch).array, qm(batch).array)
        with minigrad.kernels.use("reference"):
            np.testing.assert_array_equal(qf(x).array, qm(x).array)


@pytest.mark.parametrize("relu", [False, True])
def test_one_call_kernels_equal_the_step_by_step_layer(relu):
    """A float32 input on the CPU runs the layer in one kernel call (quantize, int8
    product, back to float); other inputs go step by step. Same floats either way."""
    rng = np.random.default_rng(4)
    for float_layer, shape in ((nn.Linear(20, 7), (6, 20)), (nn.Conv2d(3, 5, 3, padding=1), (2, 3, 6, 6))):
        x = rng.standard_normal(shape).astype(np.float32)
        _, q = _calibrated(float_layer, minigrad.tensor(x))
        q.relu = relu
        with minigrad.no_grad():
            y = q(minigrad.tensor(x)).array
        sx, zx = q._qparams()
        xq = Q.quantize_per_tensor(x, sx, zx)
        if isinstance(q, Q.QuantizedLinear):
            acc = minigrad.backend.get_kernel("qmatmul_int8")(xq, q.weight.array) - np.int32(zx) * q._weight_row_sums()
        else:
            acc = minigrad.backend.get_kernel("qconv2d_int8")(xq, q.weight.array, zx, q.stride, q.padding,
                                                              q.dilation, q.groups)
        np.testing.assert_array_equal(y, q._dequantize_output(acc, np.dtype(np.float32), 1))
        assert (y >= 0).all() if relu else (y < 0).any()


def test_qat_of_a_fused_model_converts_to_fused_int8_layers():
    minigrad.manual_seed(2)
    model = Q.prepare_qat(Q.fuse_modules(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), [["0", "1"]]))
    assert isinstance(model[0], Q.LinearReLU) and isinstance(model[0][0], Q.QATLinear)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = minigrad.randn(10, 6), minigrad.tensor(np.arange(10) % 3)
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    q = Q.convert(model.eval())
    assert isinstance(q[0], Q.QuantizedLinear) and q[0].relu and isinstance(q[1], nn.Identity)
    with minigrad.no_grad():
        h = q[0](x).array
        assert (h >= 0).all() and (h == 0).any()
        q[0].relu = False                   # the same layer without its ReLU, then a ReLU
        np.testing.assert_array_equal(np.maximum(q[0](x).array, np.float32(0)), h)


def test_a_quantized_layer_sees_its_new_weight_after_load_state_dict():
    """The one-call kernels keep the weight packed between calls; loading new buffers
    into the same layer must not leave the old packing in use."""
    rng = np.random.default_rng(6)
    x = minigrad.tensor(rng.standard_normal((4, 12)).astype(np.float32))
    _, q1 = _calibrated(nn.Linear(12, 5), x)
    _, q2 = _calibrated(nn.Linear(12, 5), x)
    with minigrad.no_grad():
        q1(x)                                   # packs q1's weight
        q1.load_state_dict(q2.state_dict())
        np.testing.assert_array_equal(q1(x).array, q2(x).array)
