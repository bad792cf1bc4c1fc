"""conv2d_backward written from the formulas: right.

    y[n, f, i, j] = b[f] + Σ_c Σ_p Σ_q w[f, c, p, q] · xpad[n, c, i·s + p, j·s + q]

Check it with:  cnngrad verify samples/verify/conv_right.py:conv2d_backward --op conv2d_backward
"""

import numpy as np


def conv2d_backward(x, w, delta, stride, padding):
    """x (N, C, H, W), w (F, C, kh, kw), delta (N, F, H', W') -> (dx, dw, db)."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    h_out, w_out = delta.shape[2:]
    sides = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    x_padded = np.pad(x, sides)
    dx_padded = np.zeros_like(x_padded)
    dw = np.zeros_like(w)
    for p in range(kh):
        for q in range(kw):
            # tap (p, q) of every window: rows i·s + p, columns j·s + q
            rows = slice(p, p + stride * (h_out - 1) + 1, stride)
            cols = slice(q, q + stride * (w_out - 1) + 1, stride)
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", delta, x_padded[:, :, rows, cols])
            dx_padded[:, :, rows, cols] += np.einsum("nfij,fc->ncij", delta, w[:, :, p, q])
    dx = dx_padded[:, :, padding:padding + h, padding:padding + width]
    db = delta.sum(axis=(0, 2, 3))
    return dx, dw, db
