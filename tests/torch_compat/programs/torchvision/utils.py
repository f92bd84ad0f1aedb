"""``torchvision.utils.save_image``: a (B, C, H, W) batch in [0, 1] as a PNG grid."""
import struct
import zlib

import numpy as np


def save_image(tensor, fp, nrow=8, padding=2):
    """Write the images of ``tensor`` side by side, ``nrow`` to a row, as a grey PNG."""
    a = tensor.detach().cpu().numpy() if hasattr(tensor, "cpu") else np.asarray(tensor)
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 3:
        a = a[None]
    b, _, h, w = a.shape
    cols = min(nrow, b)
    rows = -(-b // cols)
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding), np.float32)
    for i in range(b):
        r, c = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[y:y + h, x:x + w] = a[i].mean(0)
    pixels = (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    if hasattr(fp, "write"):
        fp.write(png)
    else:
        with open(fp, "wb") as f:
            f.write(png)
