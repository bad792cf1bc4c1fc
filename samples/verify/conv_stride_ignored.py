"""conv2d_backward with a classic slip: in dx, the window of output (i, j) is taken at
(i, j) instead of (i·stride, j·stride) — the stride is ignored.  dw and db are right.

Check it with:
    cnngrad verify samples/verify/conv_stride_ignored.py:conv2d_backward --op conv2d_backward
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
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            window = x_padded[:, :, top:top + kh, left:left + kw]
            dw += np.einsum("nf,nchw->fchw", delta[:, :, i, j], window)
            # the slip: this window starts at (top, left), not at (i, j)
            dx_padded[:, :, i:i + kh, j:j + kw] += np.einsum("nf,fchw->nchw", delta[:, :, i, j], w)
    dx = dx_padded[:, :, padding:padding + h, padding:padding + width]
    db = delta.sum(axis=(0, 2, 3))
    return dx, dw, db
