"""Transforms on (H, W) / (C, H, W) samples and (N, ...) batches; resize against torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
from minigrad.data.transforms import (Compose, Lambda, Normalize, RandomCrop, RandomHorizontalFlip,
                                      RandomShift, Resize, ToArray, ToTensor, resize)
from minigrad.tensor import Tensor


def test_toarray_and_totensor():
    img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    a = ToArray()(img)
    assert a.shape == (1, 2, 2) and a.dtype == np.float32
    np.testing.assert_allclose(a[0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert ToArray(add_channel=False)(img).shape == (2, 2)
    assert ToArray(scale=16)(np.full((3, 2, 2), 16, np.uint8)).max() == 1.0
    b = ToArray().apply_batch(np.zeros((5, 2, 2), np.uint8))
    assert b.shape == (5, 1, 2, 2)
    t = ToTensor()(img)
    assert isinstance(t, Tensor) and t.shape == (1, 2, 2)
    with pytest.raises(ValueError, match=r"ToArray: expected .*\(H, W\) or \(C, H, W\).*\(3,\)"):
        ToArray()(np.zeros(3))


def test_normalize_per_channel_and_single():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)]).astype(np.float32)
    out = Normalize([1.0, 2.0], [0.5, 2.0])(x)
    np.testing.assert_allclose(out[0], 0.0)
    np.testing.assert_allclose(out[1], 0.5)
    assert out.dtype == np.float32
    out2 = Normalize(0.5, 0.25)(np.ones((3, 3), np.float32))
    np.testing.assert_allclose(out2, 2.0)
    batch = np.ones((4, 2, 3, 3), np.float64)
    assert Normalize([0, 1], [1, 1]).apply_batch(batch)[:, 1].max() == 0
    with pytest.raises(ValueError, match="3 values but the image has 2 channel"):
        Normalize([0, 0, 0], [1, 1, 1])(x)
    with pytest.raises(ValueError, match="non-zero"):
        Normalize(0, 0)


def test_random_shift_moves_content_and_fills():
    img = np.zeros((5, 5), np.float32)
    img[2, 2] = 1.0
    t = RandomShift(2, generator=0)
    seen = set()
    for _ in range(40):
        out = t(img)
        assert out.shape == (5, 5) and out.sum() == 1.0
        r, c = np.argwhere(out == 1)[0]
        seen.add((r - 2, c - 2))
    assert all(abs(a) <= 2 and abs(b) <= 2 for a, b in seen) and len(seen) > 10
    # a shifted-out pixel becomes fill
    corner = np.zeros((3, 3), np.float32)
    corner[0, 0] = 1
    outs = RandomShift(1, fill=-1, generator=1).apply_batch(np.repeat(corner[None], 50, 0))
    assert (outs == -1).any() and outs.shape == (50, 3, 3)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       s=st.integers(0, 3), seed=st.integers(0, 1000))
def test_random_shift_batch_matches_np_roll_reference(n, c, h, w, s, seed):
    x = np.random.default_rng(seed).random((n, c, h, w))
    out = RandomShift(s, generator=seed).apply_batch(x)
    rng = np.random.default_rng(seed)
    dy, dx = rng.integers(-s, s + 1, n), rng.integers(-s, s + 1, n)
    for k in range(n):
        ref = np.zeros_like(x[k])
        for i in range(h):
            for j in range(w):
                si, sj = i - dy[k], j - dx[k]
                if 0 <= si < h and 0 <= sj < w:
                    ref[:, i, j] = x[k, :, si, sj]
        np.testing.assert_array_equal(out[k], ref)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), h=st.integers(2, 7), w=st.integers(2, 7), pad=st.integers(0, 3),
       seed=st.integers(0, 1000), chan=st.booleans())
def test_random_crop_windows_come_from_padded_image(n, h, w, pad, seed, chan):
    x = np.random.default_rng(seed).random((n, 2, h, w) if chan else (n, h, w)) + 1  # > 0, pad is 0
    ch, cw = max(1, h - 1), w
    out = RandomCrop((ch, cw), padding=pad, generator=seed).apply_batch(x)
    assert out.shape == x.shape[:-2] + (ch, cw)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)])
    for k in range(n):
        found = any(np.array_equal(out[k], padded[k][..., i:i + ch, j:j + cw])
                    for i in range(h + 2 * pad - ch + 1) for j in range(w + 2 * pad - cw + 1))
        assert found


def test_random_crop_errors_and_seeding():
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(10)(np.zeros((5, 5)))
    x = np.random.default_rng(0).random((6, 8, 8))
    a = RandomCrop(6, padding=2, generator=3).apply_batch(x)
    b = RandomCrop(6, padding=2, generator=3).apply_batch(x)
    np.testing.assert_array_equal(a, b)
    minigrad.manual_seed(5)
    c = RandomCrop(6, padding=2).apply_batch(x)
    minigrad.manual_seed(5)
    d = RandomCrop(6, padding=2).apply_batch(x)
    np.testing.assert_array_equal(c, d)


def test_flip_and_compose():
    x = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    always = RandomHorizontalFlip(1.0)
    np.testing.assert_array_equal(always.apply_batch(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0).apply_batch(x), x)
    pipe = Compose([ToArray(), Normalize(0.5, 0.5), Lambda(lambda a: a * 2)])
    img = np.full((2, 2), 255, np.uint8)
    np.testing.assert_allclose(pipe(img), np.full((1, 2, 2), 2.0))
    np.testing.assert_allclose(pipe.apply_batch(np.stack([img, img])), np.full((2, 1, 2, 2), 2.0))


def test_resize_nearest_keeps_values_and_bilinear_is_smooth():
    img = np.array([[0, 16], [8, 4]], np.uint8)
    up = resize(img, 4, mode="nearest")
    np.testing.assert_array_equal(up, np.kron(img, np.ones((2, 2), np.uint8)))
    assert up.dtype == np.uint8
    const = resize(np.full((3, 8, 8), 0.25, np.float32), 28)
    assert const.shape == (3, 28, 28) and const.dtype == np.float32
    np.testing.assert_allclose(const, 0.25, rtol=1e-6)
    assert Resize((5, 7)).apply_batch(np.zeros((2, 4, 4))).shape == (2, 5, 7)
    with pytest.raises(ValueError, match="mode"):
        resize(img, 3, mode="cubic")


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("src, dst", [((8, 8), (28, 28)), ((5, 7), (3, 11)), ((28, 28), (8, 8))])
def test_resize_matches_torch_interpolate(mode, src, dst):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((2, 3) + src)
    ours = resize(x, dst, mode=mode)
    kw = {"align_corners": False} if mode == "bilinear" else {}
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=dst, mode=mode, **kw).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
