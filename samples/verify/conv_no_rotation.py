"""conv2d_backward with a classic slip: dx by a "full" correlation of the delta with the
kernel as it is — the kernel is not rotated by 180°.  dw and db are right.

Check it with:
    cnngrad verify samples/verify/conv_no_rotation.py:conv2d_backward --op conv2d_backward
"""

import numpy as np


def conv2d_backward(x, w, delta, stride, padding):
    """x (N, C, H, W), w (F, C, kh, kw), delta (N, F, H', W') -> (dx, dw, db)."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    h_out, w_out = delta.shape[2:]
    sides = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    x_padded = np.pad(x, sides)
    dw = np.zeros_like(w)
    for p in range(kh):
        for q in range(kw):
            rows = slice(p, p + stride * (h_out - 1) + 1, stride)
            cols = slice(q, q + stride * (w_out - 1) + 1, stride)
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", delta, x_padded[:, :, rows, cols])
    db = delta.sum(axis=(0, 2, 3))

    # dx: the delta dilated by the stride, padded by k - 1, correlated with the kernel
    dilated = np.zeros((n, f, stride * (h_out - 1) + 1, stride * (w_out - 1) + 1))
    dilated[:, :, ::stride, ::stride] = delta
    full = np.pad(dilated, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    out_h, out_w = dilated.shape[2] + kh - 1, dilated.shape[3] + kw - 1
    dx_padded = np.zeros_like(x_padded)
    for p in range(kh):
        for q in range(kw):
            window = full[:, :, p:p + out_h, q:q + out_w]
            # the slip: this should be w[:, :, kh - 1 - p, kw - 1 - q]
            dx_padded[:, :, :out_h, :out_w] += np.einsum("nfij,fc->ncij", window, w[:, :, p, q])
    dx = dx_padded[:, :, padding:padding + h, padding:padding + width]
    return dx, dw, db
