"""``cnngrad verify`` against from-scratch implementations written as students write them:
right ones in NCHW and NHWC and in the CS231n and DLS styles pass; each one with a classic
slip fails, with that slip named."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnngrad.verify import run_battery


def _pad(x, p, axes=(2, 3)):
    sides = [(0, 0)] * x.ndim
    for axis in axes:
        sides[axis] = (p, p)
    return np.pad(x, sides)


# --------------------------------------------------------------------------- conv2d, NCHW


def conv_forward_nchw(x, w, b, stride, padding):
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (width + 2 * padding - kw) // stride + 1
    y = np.zeros((n, f, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nchw,fchw->nf", window, w) + b
    return y


def conv_forward_nchw_flipped(x, w, b, stride, padding):
    # true convolution: the kernel rotated before sliding
    return conv_forward_nchw(x, w[:, :, ::-1, ::-1], b, stride, padding)


def conv_backward_nchw(x, w, delta, stride, padding, *, db_axes=(0, 2, 3), crop=True):
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            dw += np.einsum("nf,nchw->fchw", delta[:, :, i, j], xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nf,fchw->nchw", delta[:, :, i, j], w)
    dx = dxp[:, :, padding:padding + h, padding:padding + width] if crop else dxp
    return dx, dw, delta.sum(axis=db_axes)


def conv_backward_cropped_negative(x, w, delta, stride, padding):
    # dxp[p:-p]: right for p > 0, but at padding 0 the slice [0:-0] is empty
    dxp = conv_backward_uncropped(x, w, delta, stride, padding)[0]
    dx = dxp[:, :, padding:-padding, padding:-padding]
    return (dx, *conv_backward_nchw(x, w, delta, stride, padding)[1:])


def conv_backward_db_per_image(x, w, delta, stride, padding):
    return conv_backward_nchw(x, w, delta, stride, padding, db_axes=(2, 3))


def conv_backward_uncropped(x, w, delta, stride, padding):
    return conv_backward_nchw(x, w, delta, stride, padding, crop=False)


def conv_backward_db_over_n_and_w(x, w, delta, stride, padding):
    return conv_backward_nchw(x, w, delta, stride, padding, db_axes=(0, 3))


# --------------------------------------------------------------------------- conv2d, NHWC


def conv_backward_nhwc(x, w, delta, stride, padding):
    """x (N, H, W, C), w (kh, kw, C, F), delta (N, H', W', F): vectorised over taps."""
    n, h, width, c = x.shape
    kh, kw, _, f = w.shape
    xp = _pad(x, padding, axes=(1, 2))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    ho, wo = delta.shape[1:3]
    for p in range(kh):
        for q in range(kw):
            rows = slice(p, p + stride * (ho - 1) + 1, stride)
            cols = slice(q, q + stride * (wo - 1) + 1, stride)
            dw[p, q] = np.einsum("nijf,nijc->cf", delta, xp[:, rows, cols])
            dxp[:, rows, cols] += np.einsum("nijf,cf->nijc", delta, w[p, q])
    return dxp[:, padding:padding + h, padding:padding + width], dw, delta.sum(axis=(0, 1, 2))


def conv_backward_nhwc_db_over_n_and_w(x, w, delta, stride, padding):
    dx, dw, _ = conv_backward_nhwc(x, w, delta, stride, padding)
    return dx, dw, delta.sum(axis=(0, 2))  # (H', F): axis 2 is W' here


def conv_backward_nhwc_dw_nchw(x, w, delta, stride, padding):
    # dw handed back in PyTorch's (F, C, kh, kw) order though the call is NHWC
    dx, dw, db = conv_backward_nhwc(x, w, delta, stride, padding)
    return dx, dw.transpose(3, 2, 0, 1), db


# --------------------------------------------------------------------------- DLS style


def dls_conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = _pad(A_prev, pad, axes=(1, 2))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    a_slice = A_prev_pad[i, vs:vs + f, hs:hs + f, :]
                    Z[i, h, w, c] = np.sum(a_slice * W[:, :, :, c]) + float(b[0, 0, 0, c])
    return Z, (A_prev, W, b, hparameters)


def dls_conv_backward(dZ, cache):
    (A_prev, W, b, hparameters) = cache
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    (m, n_H, n_W, n_C) = dZ.shape
    dA_prev = np.zeros(A_prev.shape)
    dW = np.zeros(W.shape)
    db = np.zeros((1, 1, 1, n_C))
    A_prev_pad = _pad(A_prev, pad, axes=(1, 2))
    dA_prev_pad = _pad(dA_prev, pad, axes=(1, 2))
    for i in range(m):
        a_prev_pad, da_prev_pad = A_prev_pad[i], dA_prev_pad[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    a_slice = a_prev_pad[vs:vs + f, hs:hs + f, :]
                    da_prev_pad[vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
        dA_prev[i, :, :, :] = da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :] \
            if pad else da_prev_pad
    return dA_prev, dW, db


def dls_conv_backward_course_crop(dZ, cache):
    dA_prev, dW, db = dls_conv_backward(dZ, cache)
    return _cropped_as_the_course(dA_prev, cache[3]["pad"]), dW, db


def _cropped_as_the_course(dA_prev, pad):
    # the course's own template: dA_prev[i] = da_prev_pad[pad:-pad, pad:-pad, :], right for
    # pad > 0; at pad 0 the slice is empty and assigning it raises
    dA_prev_pad = _pad(dA_prev, pad, axes=(1, 2))
    for i in range(dA_prev.shape[0]):
        dA_prev[i, :, :, :] = dA_prev_pad[i][pad:-pad, pad:-pad, :]
    return dA_prev


def dls_conv_backward_no_stride(dZ, cache):
    # the slip: the window of output (h, w) read at (h, w) in dA_prev
    (A_prev, W, b, hparameters) = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    dA_prev_pad = _pad(np.zeros(A_prev.shape), pad, axes=(1, 2))
    dW = np.zeros(W.shape)
    A_prev_pad = _pad(A_prev, pad, axes=(1, 2))
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            dA_prev_pad[:, h:h + f, w:w + f, :] += np.einsum("nc,pqkc->npqk", dZ[:, h, w], W)
            window = A_prev_pad[:, h * stride:h * stride + f, w * stride:w * stride + f]
            dW += np.einsum("nc,npqk->pqkc", dZ[:, h, w], window)
    n_H_prev, n_W_prev = A_prev.shape[1:3]
    dA_prev = dA_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]
    return dA_prev, dW, dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, -1)


def dls_pool_forward(A_prev, hparameters, mode="max"):
    (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = int(1 + (n_H_prev - f) / stride), int(1 + (n_W_prev - f) / stride)
    A = np.zeros((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f]
            A[:, h, w] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return A, (A_prev, hparameters)


def dls_pool_backward(dA, cache, mode="max"):
    (A_prev, hparameters) = cache
    stride, f = hparameters["stride"], hparameters["f"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        a_prev = A_prev[i]
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    if mode == "max":
                        a_slice = a_prev[vs:vs + f, hs:hs + f, c]
                        mask = a_slice == np.max(a_slice)  # every tied maximum
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += dA[i, h, w, c] / (f * f)
    return dA_prev


def dls_linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = np.dot(dZ, A_prev.T) / m
    db = np.sum(dZ, axis=1, keepdims=True) / m
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


# --------------------------------------------------------------------------- CS231n style


def conv_forward_naive(x, w, b, conv_param):
    out = conv_forward_nchw(x, w, b, conv_param["stride"], conv_param["pad"])
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return conv_backward_nchw(x, w, dout, conv_param["stride"], conv_param["pad"])


def conv_backward_naive_uncropped(dout, cache):
    x, w, b, conv_param = cache
    return conv_backward_uncropped(x, w, dout, conv_param["stride"], conv_param["pad"])


def conv_forward_naive_keeping_x_pad(x, w, b, conv_param):
    out, cache = conv_forward_naive(x, w, b, conv_param)
    pad = conv_param["pad"]
    return out, cache + (np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))),)


def conv_backward_naive_of_x_pad(dout, cache):
    x, w, b, conv_param, x_pad = cache
    return conv_backward_nchw(x, w, dout, conv_param["stride"], conv_param["pad"])


def test_a_cache_of_the_user_s_own_forward_is_asked_for():
    # cnngrad builds the assignment's cache, (x, w, b, conv_param): a backward unpacking the
    # padded x its own forward keeps raises in every case, and is told to give --forward
    report = run_battery(conv_backward_naive_of_x_pad, "conv2d_backward", style="cs231n")
    assert {r.status for r in report.results} == {"raised"}
    assert all("give your own forward with --forward NAME" in r.message
               for r in report.results)
    report = run_battery(conv_backward_naive_of_x_pad, "conv2d_backward", style="cs231n",
                         forward=conv_forward_naive_keeping_x_pad)
    assert report.ok


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    out = np.zeros((n, c, 1 + (h - ph) // s, 1 + (w - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    r, q = np.unravel_index(np.argmax(window), window.shape)  # the first max
                    dx[n, c, i * s + r, j * s + q] += dout[n, c, i, j]
    return dx


def affine_backward(dout, cache):
    # CS231n's: x of any shape (N, d_1, ..., d_k), read as (N, D); dx in x's shape
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def affine_backward_x_never_reshaped(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def test_an_affine_backward_that_never_reshapes_x_fails_and_is_told_to():
    # it passed: every case's x was (N, D); the assignment's own test has x (10, 2, 3)
    from cnngrad.verify.report import render_text

    report = run_battery(affine_backward_x_never_reshaped, "dense_backward", style="cs231n")
    assert not report.ok and {r.case.arrays["x"].shape[1] for r in report.failed} == {4, 6}
    text = " ".join(render_text(report).split())
    assert ("dx has shape (3, 4) where cnngrad's is (3, 2, 2): the right numbers in another "
            "shape; reshape it to (3, 2, 2), the shape of x") in text


def affine_backward_x_never_reshaped_db_mean(dout, cache):
    dx, dw, _ = affine_backward_x_never_reshaped(dout, cache)
    return dx, dw, dout.mean(axis=0)


def test_a_wrong_shape_beside_another_output_s_slip_has_its_own_slip_line():
    # db's batch mean was named, and dx, wrong in shape alone, had no line at all
    from cnngrad.verify.report import render_text

    report = run_battery(affine_backward_x_never_reshaped_db_mean, "dense_backward",
                         style="cs231n")
    text = " ".join(render_text(report).split())
    assert "Slip: db matches the mean instead of the sum over the batch" in text
    assert ("Slip: dx has shape (3, 4) where cnngrad's is (3, 2, 2): the right numbers in "
            "another shape; reshape it to (3, 2, 2), the shape of x") in text


def dls_linear_backward_db_not_summed(dZ, cache):
    dA_prev, dW, db = dls_linear_backward(dZ, cache)
    return dA_prev, dW, dZ / cache[0].shape[1]  # one column per example, not summed


def affine_backward_dx_untransposed(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dout @ cache[1], dw, db  # cs231n's w is (in, out): dx = dout·wᵀ


def affine_backward_db_mean(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw, dout.mean(axis=0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def softmax_loss_no_shift(x, y):
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return -np.log(p[np.arange(n), y]).mean(), dx / n


def softmax_loss_max_shift_only(x, y):
    # CS231n's way: the row maximum subtracted, then log of the probability (no log-sum-exp)
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = x.shape[0]
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return -np.log(p[np.arange(n), y]).mean(), dx / n


def softmax_loss_not_averaged(x, y):
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, (x_hat, gamma, var, eps)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    m = dout.size // dout.shape[1]
    axes = (0, 2, 3)
    dgamma = (dout * x_hat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    dx_hat = dout * gamma[None, :, None, None]
    dx = (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)) / (m * np.sqrt(var + eps))
    return dx, dgamma, dbeta


def batchnorm_nchw(x, gamma, delta, eps):
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    _, (xh, g, v, e) = None, (x_hat, gamma, var, eps)
    return spatial_batchnorm_backward(delta, (xh, g, v, e))


def batchnorm_constant_stats(x, gamma, delta, eps):
    var = x.var(axis=(0, 2, 3), keepdims=True)
    dx, dgamma, dbeta = batchnorm_nchw(x, gamma, delta, eps)
    return delta * gamma[None, :, None, None] / np.sqrt(var + eps), dgamma, dbeta


def batchnorm_nhwc(x, gamma, delta, eps):
    dx, dgamma, dbeta = batchnorm_nchw(x.transpose(0, 3, 1, 2), gamma,
                                       delta.transpose(0, 3, 1, 2), eps)
    return dx.transpose(0, 2, 3, 1), dgamma, dbeta


def batchnorm_forward(x, gamma, beta, bn_param):
    """CS231n's batchnorm_forward on (N, D), training mode."""
    eps = bn_param.get("eps", 1e-5)
    mu, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, var, eps)


def batchnorm_backward(dout, cache, *, through_mean=True, ddof=0):
    """CS231n's batchnorm_backward_alt, with switches for two slips: the − Σδ/M term left out,
    and the unbiased variance (÷(m − 1)) throughout."""
    x_hat, gamma, var, eps = cache
    m = dout.shape[0]
    if ddof:  # the statistics and the backward pass both over m − 1
        var = var * m / (m - 1)
        x_hat = x_hat * np.sqrt((var * (m - 1) / m + eps) / (var + eps))
    dx_hat = dout * gamma
    mean_term = dx_hat.sum(axis=0) if through_mean else 0
    dx = (m * dx_hat - mean_term - x_hat * (dx_hat * x_hat).sum(axis=0) * m / (m - ddof)) \
        / (m * np.sqrt(var + eps))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def batchnorm_staged(x, gamma, delta, eps, eps_outside=False, axes=(0,)):
    """CS231n's staged backward, one node of the graph at a time (vectors, or maps over
    ``axes``), with ε inside the square root or, the slip, outside it."""
    shape = [1] * x.ndim
    shape[1] = -1
    gamma = gamma.reshape(shape)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    xmu = x - mu
    var = (xmu ** 2).mean(axis=axes, keepdims=True)
    sqrtvar = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dxhat = delta * gamma
    divar = (dxhat * xmu).sum(axis=axes, keepdims=True)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar ** 2
    dvar = 0.5 * dsqrtvar / (np.sqrt(var) if eps_outside else np.sqrt(var + eps))
    dxmu2 = 2 * xmu * dvar / m
    dx1 = dxmu1 + dxmu2
    dx = dx1 - dx1.mean(axis=axes, keepdims=True)
    return dx, (delta * xhat).sum(axis=axes), delta.sum(axis=axes)


def batchnorm_slipped(x, gamma, delta, eps, slip):
    """The compact formula on maps (N, C, H, W), with one slip."""
    axes = (0, 2, 3)
    m = x.size // x.shape[1]
    g = gamma[None, :, None, None]
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    std = np.sqrt(var) + eps if slip == "eps_outside" else np.sqrt(var + (slip != "no_eps") * eps)
    xhat = (x - mu) / std
    dxhat = delta * (1 if slip == "no_gamma" else g)
    dx = (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)) / (m * std)
    dgamma, dbeta = (delta * xhat).sum(axis=axes), delta.sum(axis=axes)
    if slip == "mean":
        dgamma, dbeta = dgamma / m, dbeta / m
    if slip == "not_back":  # CS231n's rows (N·H·W, C) reshaped straight back
        dx = dx.transpose(0, 2, 3, 1).reshape(x.shape)
    return dx, dgamma, dbeta


@pytest.mark.parametrize("seed", [0, 1, 2, 4])
@pytest.mark.parametrize("fn, op, outputs, slip", [
    (lambda x, g, d, e: batchnorm_staged(x, g, d, e, eps_outside=True), "batchnorm1d_backward",
     {"dx", "dgamma"}, "eps_outside_sqrt"),
    (lambda x, g, d, e: batchnorm_staged(x, g, d, e, eps_outside=True, axes=(0, 2, 3)),
     "batchnorm2d_backward", {"dx", "dgamma"}, "eps_outside_sqrt"),
    (lambda *a: batchnorm_slipped(*a, "eps_outside"), "batchnorm2d_backward", {"dx", "dgamma"},
     "eps_outside_sqrt"),
    (lambda *a: batchnorm_slipped(*a, "no_eps"), "batchnorm2d_backward", {"dx", "dgamma"},
     "eps_forgotten"),
    (lambda *a: batchnorm_slipped(*a, "no_gamma"), "batchnorm2d_backward", {"dx"},
     "gamma_missing"),
    (lambda *a: batchnorm_slipped(*a, "mean"), "batchnorm2d_backward", {"dgamma", "dbeta"},
     "averaged_not_summed"),
    (lambda *a: batchnorm_slipped(*a, "not_back"), "batchnorm2d_backward", {"dx"},
     "rows_not_transposed_back"),
], ids=["staged-eps-outside-1d", "staged-eps-outside-2d", "compact-eps-outside", "no-eps",
        "no-gamma", "mean", "not-transposed-back"])
def test_batch_norm_slips_of_eps_gamma_and_layout_are_named(fn, op, outputs, slip, seed):
    # ε outside the square root passed every case of some seeds: with a spread of 2 its
    # effect, 1e-5 of the answer, is within the tolerances
    right = {"batchnorm1d_backward": batchnorm_staged,
             "batchnorm2d_backward": lambda *a: batchnorm_slipped(*a, None)}[op]
    assert run_battery(right, op, seed=seed).ok
    report = run_battery(fn, op, seed=seed)
    assert not report.ok
    named = {(m.output, m.name): m for m in report.slips}
    for output in outputs:
        match = named[(output, slip)]
        assert match.matched == match.of >= 1, match


def batchnorm_dout_first(dout, x, gamma, eps):
    return batchnorm1d_plain(x, gamma, dout, eps)


def dense_backward_delta_first(delta, x, w):
    return dense_backward_torch(x, w, delta)


def test_arguments_in_another_order_are_not_also_told_to_change_the_layout():
    # the order's hint alone: the shapes they raise on are the order's, not a layout's
    from cnngrad.verify.report import render_text

    report = run_battery(dense_backward_delta_first, "dense_backward")
    text = " ".join(render_text(report).split())
    assert report.by_name == "--arg x=x" and "pass them by name, --arg x=x" in text
    assert "--layout" not in text


def test_arguments_taken_in_another_order_are_told_to_be_passed_by_name():
    # (dout, x, gamma, eps) called as (x, gamma, delta, eps): every case wrong, no slip
    from cnngrad.verify.report import render_text

    report = run_battery(batchnorm_dout_first, "batchnorm1d_backward")
    assert not report.ok and report.by_name == "--arg delta=dout"
    assert ("Hint: your function names its parameters in another order than the op passes "
            "them (batchnorm1d_backward(x, gamma, delta, eps)): pass them by name, --arg "
            "delta=dout") in " ".join(render_text(report).split())
    assert run_battery(batchnorm_dout_first, "batchnorm1d_backward",
                       keywords={"delta": "dout"}).ok


@pytest.mark.parametrize("params, expected", [
    ("dout, x, gamma, eps", "--arg delta=dout"),
    ("x, gamma, delta, eps", None),  # the op's order
    ("A_prev, gamma, dZ, epsilon", None),  # renamed, but in the op's order
    ("dZ, A_prev, W, stride, pad", None),  # for batch norm: no gamma
    ("x, gamma, eps, delta", "--arg x=x"),  # reordered, every name the op's own
    ("dout, x, gamma, /, eps", None),  # positional only: no name reaches them
    ("x, gamma, delta, *, eps", "--arg eps=eps"),  # the op's order, eps by keyword alone
    ("x, gamma, *, delta, eps", "--arg delta=delta"),  # one --arg passes every argument
    ("x, gamma, dout, *, eps", "--arg delta=dout"),
    ("dout, x, gamma, *, eps", "--arg delta=dout"),
])
def test_which_orders_are_told_to_pass_by_name(params, expected):
    from cnngrad.verify.runner import arguments_by_name

    namespace: dict = {}
    exec(f"def f({params}): pass", namespace)
    assert arguments_by_name(namespace["f"], ("x", "gamma", "delta", "eps")) == expected


def test_a_parameter_taken_by_keyword_alone_is_named_as_the_reason():
    from cnngrad.verify.report import render_text

    def keyword_eps(x, gamma, delta, *, eps):
        return batchnorm_staged(x, gamma, delta, eps)

    report = run_battery(keyword_eps, "batchnorm1d_backward")
    assert not report.ok and report.keyword_only == ("eps",)
    assert ("Hint: your function takes eps by keyword alone (after * in its parameters), and "
            "the op passes its arguments by position (batchnorm1d_backward(x, gamma, delta, "
            "eps)): pass them by name, --arg eps=eps") in " ".join(render_text(report).split())
    assert run_battery(keyword_eps, "batchnorm1d_backward", keywords={"eps": "eps"}).ok


@pytest.mark.parametrize("params, keyword_only", [
    ("x, gamma, delta, *, eps", ("eps",)),
    ("x, gamma, dout, *, eps", ("eps",)),  # renamed, in the op's order: eps is the reason
    ("dout, x, gamma, *, eps", ()),  # out of order as well: the order is the reason
    ("*, x, gamma, delta, eps", ("x", "gamma", "delta", "eps")),
    ("x, gamma, delta, eps", ()),
])
def test_keyword_only_parameters_are_the_reason_only_where_the_rest_are_in_order(
        params, keyword_only):
    from cnngrad.verify.runner import keyword_only_arguments

    namespace: dict = {}
    exec(f"def f({params}): pass", namespace)
    assert keyword_only_arguments(namespace["f"], ("x", "gamma", "delta", "eps")) == keyword_only


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_a_right_float32_vector_batch_norm_passes_every_case(seed):
    # the case of values 0.03 apart drew δ of 1 at first: dx near 80, and a right float32
    # implementation missed a cell of −0.17 by 4e-6 (seed 3)
    def in_float32(x, gamma, delta, eps):
        return batchnorm_staged(*(a.astype(np.float32) for a in (x, gamma, delta)),
                                np.float32(eps))

    assert run_battery(in_float32, "batchnorm1d_backward", seed=seed).failed == []


def test_a_failing_case_of_answers_near_zero_is_passed_over_for_the_one_shown():
    # batch norm's first two cases have two values a channel: their dx is about ε/σ²·δ, under
    # 1e-5, and a grid of got against expected there shows nothing of a γ left out
    from cnngrad.verify.report import render_text

    report = run_battery(lambda *a: batchnorm_slipped(*a, "no_gamma"), "batchnorm2d_backward")
    assert [result.case.index for result in report.failed[:3]] == [1, 2, 3]
    text = " ".join(render_text(report).split())
    shown = report.failed[2].case
    assert f"Smallest failing case: 3, {shown.corner} (" in text
    assert "; cases 1 and 2 fail too, but with answers all within 0.0001 of 0, where a grid " \
           "shows little." in text


def batchnorm1d_plain(x, gamma, delta, eps, **slips):
    _, cache = batchnorm_forward(x, gamma, np.zeros_like(gamma), {"eps": eps})
    return batchnorm_backward(delta, cache, **slips)


def batchnorm_backward_no_mean_term(dout, cache):
    return batchnorm_backward(dout, cache, through_mean=False)


def batchnorm1d_unbiased(x, gamma, delta, eps):
    return batchnorm1d_plain(x, gamma, delta, eps, ddof=1)


def batchnorm_dgamma_over_n_and_h(x, gamma, delta, eps):
    dx, _, dbeta = batchnorm_nchw(x, gamma, delta, eps)
    x_hat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(0, 2, 3), keepdims=True) + eps)
    return dx, (delta * x_hat).sum(axis=(0, 2)), dbeta  # (C, W)


def batchnorm1d_on_maps(x, gamma, delta, eps):
    # a batch norm of vectors, statistics over axis 0, handed maps: every position its own
    mu, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    g = gamma.reshape(-1, *[1] * (x.ndim - 2))
    m = x.shape[0]
    dgamma, dbeta = (delta * x_hat).sum(axis=0), delta.sum(axis=0)
    return g / np.sqrt(var + eps) / m * (m * delta - dbeta - x_hat * dgamma), dgamma, dbeta


def batchnorm1d_dgamma_over_d(x, gamma, delta, eps):
    dx, _, dbeta = batchnorm1d_plain(x, gamma, delta, eps)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return dx, (delta * x_hat).sum(axis=1), dbeta  # (N,)


def batchnorm_no_mean_term(x, gamma, delta, eps):
    # dx through x̂ and the variance only: the − Σδ/M term of the path through μ left out
    m = x.size // x.shape[1]
    axes = (0, 2, 3)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dx_hat = delta * gamma[None, :, None, None]
    dx = (dx_hat - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True) / m) \
        / np.sqrt(var + eps)
    return dx, (delta * x_hat).sum(axis=axes), delta.sum(axis=axes)


def spatial_batchnorm_backward_no_mean_term(dout, cache):
    x_hat, gamma, var, eps = cache
    m = dout.size // dout.shape[1]
    axes = (0, 2, 3)
    dx_hat = dout * gamma[None, :, None, None]
    dx = (m * dx_hat - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)) \
        / (m * np.sqrt(var + eps))
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


# --------------------------------------------------------------------------- pools, plain


def maxpool_backward_nhwc(x, delta, size, stride, padding):
    """x (N, H, W, C); padding with −∞; ties to the first maximum in row-major order."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)),
                constant_values=-np.inf)
    dxp = np.zeros(xp.shape)
    n, ho, wo, c = delta.shape
    for i in range(ho):
        for j in range(wo):
            window = xp[:, i * stride:i * stride + size, j * stride:j * stride + size]
            flat = window.reshape(n, size * size, c)
            first = flat.argmax(axis=1)  # (n, c)
            r, q = np.divmod(first, size)
            nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
            np.add.at(dxp, (nn, i * stride + r, j * stride + q, cc), delta[:, i, j])
    h, w = x.shape[1:3]
    return dxp[:, padding:padding + h, padding:padding + w]


def avgpool_backward_nchw(x, delta, size, stride, padding):
    dxp = np.zeros(_pad(x, padding).shape)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            dxp[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += \
                delta[:, :, i:i + 1, j:j + 1] / (size * size)
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def maxpool_backward_nhwc_cropped_negative(x, delta, size, stride, padding):
    h, w = x.shape[1:3]
    dxp = maxpool_backward_nhwc(np.pad(x, ((0, 0), (padding, padding), (padding, padding),
                                           (0, 0)), constant_values=-np.inf),
                                delta, size, stride, 0)
    return dxp[:, padding:-padding, padding:-padding]


def avgpool_backward_not_divided(x, delta, size, stride, padding):
    return avgpool_backward_nchw(x, delta, size, stride, padding) * size * size


def dense_backward_torch(x, w, delta):
    return delta @ w, delta.T @ x, delta.sum(axis=0)


def dense_backward_db_over_out(x, w, delta):
    return delta @ w, delta.T @ x, delta.sum(axis=1)


def dense_backward_dw_transposed(x, w, delta):
    return delta @ w, x.T @ delta, delta.sum(axis=0)


def dense_backward_dw_reset_per_sample(x, w, delta):
    # dw = np.zeros_like(w) inside the loop over samples: the last sample's product is left
    for sample in range(x.shape[0]):
        dw = np.outer(delta[sample], x[sample])
    return delta @ w, dw, delta.sum(axis=0)


# --------------------------------------------------------------------------- conv1d, conv_t


def conv1d_backward_right(x, w, delta, stride, padding, dilation, *, flip=False):
    left, right = padding
    length = x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (left, right)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    k, out = w.shape[2], delta.shape[2]
    kernel = w[:, :, ::-1] if flip else w
    for m in range(k):
        cells = slice(m * dilation, m * dilation + stride * (out - 1) + 1, stride)
        dxp[:, :, cells] += np.einsum("nfi,fc->nci", delta, kernel[:, :, m])
        dw[:, :, m] = np.einsum("nfi,nci->fc", delta, xp[:, :, cells])
    return dxp[:, :, left:left + length], dw, delta.sum(axis=(0, 2))


def conv1d_backward_not_reversed(x, w, delta, stride, padding, dilation):
    return conv1d_backward_right(x, w, delta, stride, padding, dilation, flip=True)


def conv1d_backward_padding_mirrored(x, w, delta, stride, padding, dilation):
    # np.pad with (right, left): x read mirrored, so dw is off as well as dx
    left, right = padding
    return conv1d_backward_right(x, w, delta, stride, (right, left), dilation)


def conv_forward_stride_left_out_of_the_slice(x, w, b, stride, padding):
    # the output's size right, each window read at (i, j)
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    y = np.zeros((n, f, (h + 2 * padding - kh) // stride + 1,
                  (width + 2 * padding - kw) // stride + 1))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            y[:, :, i, j] = np.einsum("nchw,fchw->nf", xp[:, :, i:i + kh, j:j + kw], w) + b
    return y


def maxpool_forward_stride_left_out_of_the_slice(x, size, stride, padding):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=-np.inf)
    y = np.zeros((n, c, (h + 2 * padding - size) // stride + 1,
                  (w + 2 * padding - size) // stride + 1))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            y[:, :, i, j] = xp[:, :, i:i + size, j:j + size].max(axis=(2, 3))
    return y


def avgpool_backward_divided_by_side(x, delta, size, stride, padding):
    return avgpool_backward_nchw(x, delta, size, stride, padding) * size


def conv1d_backward_left_padding_both_sides(x, w, delta, stride, padding, dilation):
    # padding[0] taken for both sides: right only where the two are equal or the windows
    # never reach the right side's extra cells
    return conv1d_backward_right(x, w, delta, stride, (padding[0], padding[0]), dilation)


def test_a_conv1d_that_pads_the_right_side_as_the_left_fails():
    report = run_battery(conv1d_backward_left_padding_both_sides, "conv1d_backward")
    assert "asymmetric padding (0, 2)" in [r.case.corner for r in report.failed]


def conv_t_backward_right(x, w, delta, stride, padding, output_padding, dilation, *,
                          rotate=False):
    # y[n, f, i·s + p·d − pad, j·s + q·d − pad] += x[n, c, i, j] · w[c, f, p, q]
    n, c, h, width = x.shape
    _, f, kh, kw = w.shape
    kernel = w[:, :, ::-1, ::-1] if rotate else w
    dp = _pad(delta, padding)
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dilation, p * dilation + stride * (h - 1) + 1, stride)
            cols = slice(q * dilation, q * dilation + stride * (width - 1) + 1, stride)
            dx += np.einsum("nfij,cf->ncij", dp[:, :, rows, cols], kernel[:, :, p, q])
            dw[:, :, p, q] = np.einsum("nfij,ncij->cf", dp[:, :, rows, cols], x)
    return dx, dw, delta.sum(axis=(0, 2, 3))


def conv_t_backward_rotated(x, w, delta, stride, padding, output_padding, dilation):
    return conv_t_backward_right(x, w, delta, stride, padding, output_padding, dilation,
                                 rotate=True)


# --------------------------------------------------------------------------- output order


def conv_backward_outputs_swapped(x, w, delta, stride, padding):
    dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
    return dw, dx, db


def conv_backward_swapped_not_rotated(x, w, delta, stride, padding):
    # swapped, and dx correlated with w itself: the order is read from the shapes
    dx, dw, db = conv_backward_nchw(x, w[:, :, ::-1, ::-1], delta, stride, padding)
    return dw, dx, db


def softmax_loss_swapped(x, y):
    loss, dx = softmax_loss(x, y)
    return dx, loss


def batchnorm_dgamma_first(x, gamma, delta, eps):
    dx, dgamma, dbeta = batchnorm_nchw(x, gamma, delta, eps)
    return dgamma, dx, dbeta


def affine_backward_swapped(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dw, dx, db


# --------------------------------------------------------------------------- the verdicts

RIGHT = [
    (conv_forward_nchw, "conv2d_forward", {}),
    (conv_backward_nchw, "conv2d_backward", {}),
    (conv_backward_nhwc, "conv2d_backward", {"layout": "nhwc"}),
    (dls_conv_forward, "conv2d_forward", {"style": "dls"}),
    (dls_conv_backward, "conv2d_backward", {"style": "dls"}),
    (dls_conv_backward, "conv2d_backward", {"style": "dls", "forward": dls_conv_forward}),
    (dls_pool_forward, "maxpool2d_forward", {"style": "dls"}),
    (dls_pool_forward, "avgpool2d_forward", {"style": "dls"}),
    (dls_pool_backward, "maxpool2d_backward", {"style": "dls", "ties": "all"}),
    (dls_pool_backward, "avgpool2d_backward", {"style": "dls", "forward": dls_pool_forward}),
    (dls_linear_backward, "dense_backward", {"style": "dls"}),
    (conv_forward_naive, "conv2d_forward", {"style": "cs231n"}),
    (conv_backward_naive, "conv2d_backward", {"style": "cs231n"}),
    (conv_backward_naive, "conv2d_backward", {"style": "cs231n",
                                              "forward": conv_forward_naive}),
    (max_pool_forward_naive, "maxpool2d_forward", {"style": "cs231n"}),
    (max_pool_backward_naive, "maxpool2d_backward", {"style": "cs231n",
                                                     "forward": max_pool_forward_naive}),
    (affine_backward, "dense_backward", {"style": "cs231n"}),
    (softmax_loss, "softmax_cross_entropy_backward", {"style": "cs231n"}),
    (softmax_loss, "softmax_cross_entropy_backward", {}),
    (softmax_loss_max_shift_only, "softmax_cross_entropy_backward", {"style": "cs231n"}),
    (spatial_batchnorm_backward, "batchnorm2d_backward",
     {"style": "cs231n", "forward": spatial_batchnorm_forward}),
    (batchnorm_nchw, "batchnorm2d_backward", {}),
    (batchnorm1d_plain, "batchnorm1d_backward", {}),
    (batchnorm1d_plain, "batchnorm1d_backward", {"layout": "nhwc"}),  # vectors: the same
    (batchnorm_backward, "batchnorm1d_backward",
     {"style": "cs231n", "forward": batchnorm_forward}),
    (batchnorm_nhwc, "batchnorm2d_backward", {"layout": "nhwc"}),
    (maxpool_backward_nhwc, "maxpool2d_backward", {"layout": "nhwc"}),
    (avgpool_backward_nchw, "avgpool2d_backward", {}),
    (dense_backward_torch, "dense_backward", {}),
    (conv1d_backward_right, "conv1d_backward", {}),
    (conv_t_backward_right, "conv_transpose2d_backward", {}),
]


def _run(fn, op, settings):
    from cnngrad.verify.ops import Options

    settings = dict(settings)
    ties = settings.pop("ties", "first")
    return run_battery(fn, op, options=Options(ties=ties), **settings)


@pytest.mark.parametrize("fn, op, settings", RIGHT,
                         ids=[f"{fn.__name__}-{op}" for fn, op, _ in RIGHT])
def test_right_implementations_pass(fn, op, settings):
    report = _run(fn, op, settings)
    assert report.ok, [r.message for r in report.results if not r.ok]
    assert len(report.results) >= 6 and not report.slips
    assert not any(r.changed for r in report.results)


WRONG = [
    # function, op, settings, the output named, the slip
    (conv_forward_nchw_flipped, "conv2d_forward", {}, "y", "convolution_kind"),
    (conv_backward_db_per_image, "conv2d_backward", {}, "db", "bias_not_summed_over_batch"),
    (conv_backward_uncropped, "conv2d_backward", {}, "dx", "padding_not_cropped"),
    (conv_backward_cropped_negative, "conv2d_backward", {}, "dx",
     "padding_cropped_to_nothing"),
    (maxpool_backward_nhwc_cropped_negative, "maxpool2d_backward", {"layout": "nhwc"}, "dx",
     "padding_cropped_to_nothing"),
    (conv_backward_nhwc_dw_nchw, "conv2d_backward", {"layout": "nhwc"}, "dw",
     "channel_order"),
    (dls_conv_backward_no_stride, "conv2d_backward", {"style": "dls"}, "dx",
     "delta_not_dilated"),
    (dls_conv_backward_course_crop, "conv2d_backward", {"style": "dls"}, "dx",
     "padding_cropped_to_nothing"),
    (dls_pool_backward, "maxpool2d_backward", {"style": "dls"}, "dx", "ties_all"),
    (conv_backward_naive_uncropped, "conv2d_backward", {"style": "cs231n"}, "dx",
     "padding_not_cropped"),
    (affine_backward_db_mean, "dense_backward", {"style": "cs231n"}, "db", "batch_mean"),
    # dls: db was compared as an (N·out, 1) column, and no slip was named
    (dls_linear_backward_db_not_summed, "dense_backward", {"style": "dls"}, "db",
     "bias_not_summed_over_batch"),
    (affine_backward_dx_untransposed, "dense_backward", {"style": "cs231n"}, "dx",
     "weights_transposed"),
    (softmax_loss_no_shift, "softmax_cross_entropy_backward", {}, "loss", "no_max_shift"),
    (softmax_loss_not_averaged, "softmax_cross_entropy_backward", {"style": "cs231n"}, "dx",
     "batch_sum"),
    (batchnorm_constant_stats, "batchnorm2d_backward", {}, "dx", "statistics_constant"),
    (avgpool_backward_not_divided, "avgpool2d_backward", {}, "dx", "not_divided"),
    (dense_backward_dw_transposed, "dense_backward", {}, "dw", "transpose"),
    (dense_backward_dw_reset_per_sample, "dense_backward", {}, "dw", "last_image_only"),
    (conv1d_backward_not_reversed, "conv1d_backward", {}, "dx", "kernel_not_rotated"),
    (conv_t_backward_rotated, "conv_transpose2d_backward", {}, "dx", "kernel_rotated"),
    (batchnorm_no_mean_term, "batchnorm2d_backward", {}, "dx", "no_mean_term"),
    (spatial_batchnorm_backward_no_mean_term, "batchnorm2d_backward",
     {"style": "cs231n", "forward": spatial_batchnorm_forward}, "dx", "no_mean_term"),
    (conv_backward_outputs_swapped, "conv2d_backward", {}, None, "outputs_swapped"),
    (batchnorm_backward_no_mean_term, "batchnorm1d_backward",
     {"style": "cs231n", "forward": batchnorm_forward}, "dx", "no_mean_term"),
    (batchnorm1d_unbiased, "batchnorm1d_backward", {}, "dx", "unbiased_variance"),
    # a per-channel sum over another set of axes, in either layout
    (conv_backward_db_over_n_and_w, "conv2d_backward", {}, "db", "summed_over_other_axes"),
    (conv_backward_nhwc_db_over_n_and_w, "conv2d_backward", {"layout": "nhwc"}, "db",
     "summed_over_other_axes"),
    (dense_backward_db_over_out, "dense_backward", {}, "db", "summed_over_other_axes"),
    (batchnorm_dgamma_over_n_and_h, "batchnorm2d_backward", {}, "dgamma",
     "summed_over_other_axes"),
    (batchnorm1d_dgamma_over_d, "batchnorm1d_backward", {}, "dgamma",
     "summed_over_other_axes"),
    # a vector batch norm's function run on maps: dgamma per position, (C, H, W)
    (batchnorm1d_on_maps, "batchnorm2d_backward", {}, "dgamma", "statistics_per_position"),
    (conv1d_backward_padding_mirrored, "conv1d_backward", {}, "dw", "padding_sides_swapped"),
    (conv1d_backward_padding_mirrored, "conv1d_backward", {}, "dx", "padding_sides_swapped"),
    (conv_forward_stride_left_out_of_the_slice, "conv2d_forward", {}, "y", "stride_ignored"),
    (maxpool_forward_stride_left_out_of_the_slice, "maxpool2d_forward", {}, "y",
     "stride_ignored"),
    # f where f·f was needed: twice the answer for a 2×2 window only
    (avgpool_backward_divided_by_side, "avgpool2d_backward", {}, "dx", "divided_by_one_side"),
]


@pytest.mark.parametrize("fn, op, settings, output, slip", WRONG,
                         ids=[f"{fn.__name__}-{slip}" for fn, _, _, _, slip in WRONG])
def test_each_slip_is_named(fn, op, settings, output, slip):
    report = _run(fn, op, settings)
    assert not report.ok
    named = {(m.output, m.name): m for m in report.slips}
    assert (output, slip) in named, report.slips
    match = named[(output, slip)]
    # the slip explains every failing case it applies to, not one by chance
    assert match.matched == match.of >= 1


@pytest.mark.parametrize("fn, op, words", [
    (avgpool_backward_not_divided, "avgpool2d_backward",
     "matches the delta not divided by the window's cell count (kh·kw)"),
    (avgpool_backward_divided_by_side, "avgpool2d_backward",
     "matches the delta divided by one side of the window (k of a k×k window) instead of by "
     "its cells (k·k)"),
])
def test_a_pool_divisor_slip_names_no_one_window_of_the_cases_it_matches(fn, op, words):
    # "not divided by the window size 4" was said of 2×2 and 3×3 windows' cases alike
    report = _run(fn, op, {})
    matches = [m for m in report.slips if m.output == "dx"]
    assert [m.description for m in matches] == [words]
    assert matches[0].matched == matches[0].of > 1


def conv_forward_naive_without_cache(x, w, b, conv_param):
    return conv_forward_naive(x, w, b, conv_param)[0]


def test_a_course_forward_that_returns_no_cache_fails():
    # it passed, though the report's header says -> (out, cache) and the same function as
    # --forward fails every case of the backward
    report = run_battery(conv_forward_naive_without_cache, "conv2d_forward", style="cs231n")
    assert not report.ok and report.results
    for result in report.results:
        assert result.message.startswith("returned one array of shape (")
        assert result.message.endswith("; expected (out, cache): the backward function needs "
                                       "the cache")


def conv_forward_nchw_with_cache(x, w, b, stride, padding):
    return conv_forward_nchw(x, w, b, stride, padding), (x, w, b)


def test_a_plain_forward_that_returns_a_cache_is_told_to_return_out_alone():
    # "say --style cs231n or dls" alone: those styles call another signature
    report = run_battery(conv_forward_nchw_with_cache, "conv2d_forward")
    assert not report.ok
    assert report.results[0].message == (
        "returned a tuple of 2 values; expected one array (y) — an (out, cache) pair? return "
        "out alone here; --style cs231n or dls calls the courses' forward functions, which "
        "return both")


def softmax_loss_float16(x, y):
    loss, dx = softmax_loss(x, y)
    return np.float16(loss), dx.astype(np.float16)


FLOAT16_WORDS = ("matches the right values to float16's precision (about 3 significant "
                 "digits), every value one float16 holds: computed or kept in float16; "
                 "compute in float32 or float64")


def test_float16_outputs_are_said_to_be_and_named():
    # nothing was said of the float16 that lost the digits but each case's line: the slip
    # line was "no known slip matches"
    from cnngrad.verify.report import render_text

    report = run_battery(softmax_loss_float16, "softmax_cross_entropy_backward")
    assert not report.ok
    text = " ".join(render_text(report).split())
    assert "; it is float16: compute in float32 or float64" in text
    assert [(m.output, m.name, m.description, m.matched, m.of) for m in report.slips] == [
        ("loss", "float16_precision", FLOAT16_WORDS, 6, 6),
        ("dx", "float16_precision", FLOAT16_WORDS, 6, 6)]


def _library(name):
    import cnngrad

    return getattr(cnngrad, name)


#: right functions of each op that has a case of values float16 cannot hold, plain style
PRECISION_RIGHT = [
    (conv_forward_nchw, "conv2d_forward", {}),
    (conv_backward_nchw, "conv2d_backward", {}),
    (conv_backward_nhwc, "conv2d_backward", {"layout": "nhwc"}),
    (lambda *a: _library("maxpool2d_forward")(*a), "maxpool2d_forward", {}),
    (lambda *a: _library("maxpool2d_backward")(*a), "maxpool2d_backward", {}),
    (lambda *a: _library("avgpool2d_forward")(*a), "avgpool2d_forward", {}),
    (avgpool_backward_nchw, "avgpool2d_backward", {}),
    (dense_backward_torch, "dense_backward", {}),
    (conv1d_backward_right, "conv1d_backward", {}),
    (conv_t_backward_right, "conv_transpose2d_backward", {}),
]


def _in_dtype(fn, dtype, back=None):
    """``fn`` computing in ``dtype``: its float arrays cast going in, its outputs cast to
    ``back`` (default ``dtype``) coming out."""
    def run(*args):
        args = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                for a in args]
        out = fn(*args)
        cast = back or dtype
        return tuple(np.asarray(o).astype(cast) for o in out) if isinstance(out, tuple) \
            else np.asarray(out).astype(cast)
    return run


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 11, 42])
@pytest.mark.parametrize("fn, op, settings", PRECISION_RIGHT,
                         ids=[f"{op}-{i}" for i, (_, op, _) in enumerate(PRECISION_RIGHT)])
def test_float32_passes_the_case_of_values_float16_cannot_hold(fn, op, settings, seed):
    report = run_battery(_in_dtype(fn, np.float32), op, seed=seed, **settings)
    assert report.ok, [(r.case.corner, r.message) for r in report.failed]


@pytest.mark.parametrize("back", [None, np.float64], ids=["kept-float16", "cast-back"])
@pytest.mark.parametrize("fn, op, settings", PRECISION_RIGHT,
                         ids=[f"{op}-{i}" for i, (_, op, _) in enumerate(PRECISION_RIGHT)])
def test_float16_fails_the_case_of_values_it_cannot_hold_and_is_named(fn, op, settings, back):
    # every value of the battery was a small integer or a half, which float16 holds: code
    # computing in float16 passed every case of conv2d, dense and max pooling
    report = run_battery(_in_dtype(fn, np.float16, back), op, **settings)
    failed = report.failed[-1]
    assert failed.case.corner.startswith("values float16 cannot hold")
    assert failed.case.index == len(report.results)  # listed last
    assert [m.output for m in report.slips] == [f.name for f in failed.failures]
    if op.startswith("avgpool"):
        # a 3×3 window's mean of integers (÷ 9) is a number float16 cannot hold either
        assert [r.case.index for r in report.failed] == [3, 5, 7, 9, 10]
        assert all((m.name, m.description) == ("float16_precision", FLOAT16_WORDS)
                   and 2 * m.matched > m.of == 5 for m in report.slips)
    else:
        assert len(report.failed) == 1
        assert all((m.name, m.description, m.matched, m.of) == (
            "float16_precision", FLOAT16_WORDS, 1, 1) for m in report.slips)


def batchnorm1d_float16(x, gamma, delta, eps):
    return tuple(g.astype(np.float16) for g in batchnorm1d_plain(
        *(a.astype(np.float16) for a in (x, gamma, delta)), eps))


def test_a_float16_batch_norm_is_named():
    # "no known slip matches", though every output came back float16
    report = run_battery(batchnorm1d_float16, "batchnorm1d_backward")
    assert len(report.failed) == 7
    assert [(m.output, m.name, m.matched, m.of) for m in report.slips] == [
        ("dx", "float16_precision", 6, 6), ("dgamma", "float16_precision", 7, 7),
        ("dbeta", "float16_precision", 6, 6)]


def softmax_loss_a_little_off(x, y):
    loss, dx = softmax_loss(x, y)
    return loss * 1.001, dx


def test_a_number_is_no_grid():
    # "no known slip matches: compare the grid above" under a loss shown as two numbers
    from cnngrad.verify.report import render_text

    text = " ".join(render_text(run_battery(softmax_loss_a_little_off,
                                            "softmax_cross_entropy_backward")).split())
    assert ("no known slip matches: compare the values above with your code, smallest case "
            "first") in text


def softmax_loss_off_and_dx_short(x, y):
    loss, dx = softmax_loss(x, y)
    return loss * 1.01, dx[:, :-1]  # the last class's column left out


def test_a_wrong_shape_is_advised_on_beside_a_wrong_number():
    # "compare the values above" (for the loss) took the place of the shape's advice
    from cnngrad.verify.report import render_text

    report = run_battery(softmax_loss_off_and_dx_short, "softmax_cross_entropy_backward")
    text = " ".join(render_text(report).split())
    assert "no known slip matches: dx's K is 1 where cnngrad's is 2" in text
    assert "compare the values above" not in text


def conv_forward_float_of_a_bias_slice(x, w, b, stride, padding):
    # the course's float(b) of a (1, 1, 1) slice: numpy's own words where it refuses it (the
    # numpy installed may only warn, so they are raised here as it raises them)
    raise TypeError("only 0-dimensional arrays can be converted to Python scalars")


def test_float_of_an_array_with_axes_of_1_gets_its_own_hint_not_a_layout_one():
    # "dimension" in numpy's words read as an array in another layout: say --layout nhwc
    from cnngrad.verify.report import render_text

    report = run_battery(conv_forward_float_of_a_bias_slice, "conv2d_forward")
    text = " ".join(render_text(report).split())
    assert ("Hint: float() or int() of an array with axes of 1 (as float(b) of a bias slice of "
            "shape (1, 1, 1) in the Deep Learning Specialization's conv_single_step) is an "
            "error in recent numpy, which converts only 0-d arrays: write b.item(), or "
            "float(b.squeeze())") in text
    assert "--layout" not in text


def test_a_dense_bias_averaged_over_the_batch_is_one_slip_not_two():
    # bias_averaged ("over the batch and positions") said it beside batch_mean: a dense
    # layer has no positions
    report = _run(affine_backward_db_mean, "dense_backward", {"style": "cs231n"})
    assert [(m.output, m.name) for m in report.slips] == [("db", "batch_mean")]


def test_the_weights_transposed_words_hold_in_either_orientation_of_w():
    # they said "δ·Wᵀ instead of δ·W (W of shape (out, in))": with cs231n's (in, out) w the
    # right dx is δ·Wᵀ, the student's own product
    report = _run(affine_backward_dx_untransposed, "dense_backward", {"style": "cs231n"})
    [match] = [m for m in report.slips if m.name == "weights_transposed"]
    assert match.description == ("matches dx computed with the weight matrix transposed (for "
                                 "y = x·Wᵀ + b, dx = δ·W; for y = x·W + b, dx = δ·Wᵀ)")


def test_a_slip_is_found_whatever_the_seed():
    for seed in (1, 2, 3):
        report = run_battery(dls_conv_backward_no_stride, "conv2d_backward", style="dls",
                             seed=seed)
        assert [m.name for m in report.slips] == ["delta_not_dilated"]


def test_the_dls_style_is_nhwc_and_skips_non_square_kernels():
    report = run_battery(dls_conv_backward, "conv2d_backward", style="dls")
    assert report.layout == "nhwc" and report.skipped == 3
    assert all(r.case.square for r in report.results)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_verdicts_hold_for_any_seed(seed):
    from cnngrad.verify.ops import Options

    right = [(conv_backward_nchw, "conv2d_backward", {}),
             (conv_backward_nhwc, "conv2d_backward", {"layout": "nhwc"}),
             (dls_pool_backward, "maxpool2d_backward", {"style": "dls", "ties": "all"}),
             (avgpool_backward_nchw, "avgpool2d_backward", {})]
    for fn, op, settings_ in right:
        ties = settings_.pop("ties", "first")
        report = run_battery(fn, op, seed=seed, options=Options(ties=ties), **settings_)
        assert report.ok, (fn.__name__, seed)
    wrong = [(conv_forward_nchw_flipped, "conv2d_forward", {}, "y", "convolution_kind"),
             (dls_conv_backward_no_stride, "conv2d_backward", {"style": "dls"}, "dx",
              "delta_not_dilated"),
             (conv1d_backward_not_reversed, "conv1d_backward", {}, "dx",
              "kernel_not_rotated")]
    for fn, op, settings_, output, slip in wrong:
        report = run_battery(fn, op, seed=seed, **settings_)
        named = {(m.output, m.name): m for m in report.slips}
        assert named[(output, slip)].matched == named[(output, slip)].of, (slip, seed)


# --------------------------------------------------------------------------- more slips


def _pad_for_max(x, padding):
    """x padded with −inf, which no window takes as its maximum."""
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                  constant_values=-np.inf)


def maxpool_stride_ignored(x, delta, size, stride, padding):
    # each window's delta to the maximum of the window at (i, j), not (i·s, j·s)
    xp = _pad_for_max(x, padding)
    dxp = np.zeros(xp.shape)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            window = xp[:, :, i:i + size, j:j + size].reshape(*x.shape[:2], -1)
            r, q = np.divmod(window.argmax(axis=2), size)
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    dxp[n, c, i + r[n, c], j + q[n, c]] += delta[n, c, i, j]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def maxpool_write_without_stride(x, delta, size, stride, padding):
    # the maximum of the right window, at (i·s, j·s), its delta added at (i + r, j + q):
    # "stride_ignored in 1 of 12 failing cases" and no better line, before it was a slip
    xp = _pad_for_max(x, padding)
    dxp = np.zeros(xp.shape)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            window = xp[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            r, q = np.divmod(window.reshape(*x.shape[:2], -1).argmax(axis=2), size)
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    dxp[n, c, i + r[n, c], j + q[n, c]] += delta[n, c, i, j]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def maxpool_assigned(x, delta, size, stride, padding):
    # dx[max] = δ where dx[max] += δ was needed: with overlapping windows a shared maximum
    # keeps the last window's delta
    xp = _pad_for_max(x, padding)
    dxp = np.zeros(xp.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(delta.shape[2]):
                for j in range(delta.shape[3]):
                    window = xp[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    r, q = np.divmod(window.argmax(), size)
                    dxp[n, c, i * stride + r, j * stride + q] = delta[n, c, i, j]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def conv_backward_db_last_image(x, w, delta, stride, padding):
    # db = δ[n].sum(...) in the loop over images, where += was needed
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, delta[-1].sum(axis=(1, 2))


@pytest.mark.parametrize("fn, op, output, slip", [
    (maxpool_assigned, "maxpool2d_backward", "dx", "assigned_not_added"),
    (conv_backward_db_last_image, "conv2d_backward", "db", "bias_last_image_only"),
])
def test_a_sum_assigned_in_a_loop_over_windows_or_images_is_named(fn, op, output, slip):
    report = run_battery(fn, op)
    assert not report.ok
    named = {(m.output, m.name): m for m in report.slips}
    assert named[(output, slip)].matched == named[(output, slip)].of


def conv_backward_db_averaged(x, w, delta, stride, padding):
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, delta.mean(axis=(0, 2, 3))


@pytest.mark.parametrize("turn", [lambda w: np.rot90(w, 2), np.flip],
                         ids=["rot90-default-axes", "flip-every-axis"])
def test_a_kernel_turned_over_its_filter_and_channel_axes_is_named(turn):
    # dx as the full convolution of the padded delta with the turned kernel, summed over
    # filters: right with w[:, :, ::-1, ::-1]
    def conv_backward_turned(x, w, delta, stride, padding):
        _, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        dilated = np.zeros((n, f, (delta.shape[2] - 1) * stride + 1,
                            (delta.shape[3] - 1) * stride + 1))
        dilated[:, :, ::stride, ::stride] = delta
        hp, wp = h + 2 * padding, wd + 2 * padding
        full = np.pad(dilated, ((0, 0), (0, 0), (kh - 1, hp), (kw - 1, wp)))
        turned = turn(w)
        dxp = np.zeros((n, c, hp, wp))
        for i in range(hp):
            for j in range(wp):
                dxp[:, :, i, j] = np.einsum("nfhw,fchw->nc", full[:, :, i:i + kh, j:j + kw],
                                            turned)
        return dxp[:, :, padding:padding + h, padding:padding + wd], dw, db

    report = run_battery(conv_backward_turned, "conv2d_backward")
    assert [(m.output, m.name, m.matched == m.of) for m in report.slips] == [
        ("dx", "kernel_axes_wrong", True)]


def test_a_bias_gradient_averaged_instead_of_summed_is_named():
    # it was "no known slip matches" (only dividing by N was named, batch_mean)
    report = run_battery(conv_backward_db_averaged, "conv2d_backward")
    assert [(m.output, m.name, m.matched == m.of) for m in report.slips] == [
        ("db", "bias_averaged", True)]


def test_a_maximum_written_back_without_the_stride_is_named_in_every_failing_case():
    report = run_battery(maxpool_write_without_stride, "maxpool2d_backward")
    assert [(m.output, m.name, m.matched, m.of) for m in report.slips] == [
        ("dx", "delta_not_strided", 13, 13)]


def maxpool_last_maximum(x, delta, size, stride, padding):
    # a scan keeping >=: each window's delta goes to its last maximum, not its first
    xp = _pad_for_max(x, padding)
    dxp = np.zeros(xp.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(delta.shape[2]):
                for j in range(delta.shape[3]):
                    best, where = -np.inf, (0, 0)
                    for r in range(size):
                        for q in range(size):
                            cell = xp[n, c, i * stride + r, j * stride + q]
                            if cell >= best:
                                best, where = cell, (r, q)
                    dxp[n, c, i * stride + where[0], j * stride + where[1]] += delta[n, c, i, j]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def test_the_delta_sent_to_the_last_tied_maximum_is_named():
    report = run_battery(maxpool_last_maximum, "maxpool2d_backward")
    assert report.failed  # the tie cases
    assert [(m.output, m.name, m.matched == m.of) for m in report.slips] == [
        ("dx", "ties_last", True)]


def maxpool_whole_window(x, delta, size, stride, padding):
    return avgpool_backward_nchw(x, delta, size, stride, padding) * size * size


def maxpool_forward_zero_padding(x, size, stride, padding):
    from cnngrad import maxpool2d_forward

    return maxpool2d_forward(_pad(x, padding), size, stride, 0)


def avgpool_backward_real_cells(x, delta, size, stride, padding):
    from cnngrad import avgpool2d_backward

    return avgpool2d_backward(x, delta, size, stride, padding, count_include_pad=False)


def avgpool_forward_sum(x, size, stride, padding):
    from cnngrad import avgpool2d_forward

    return avgpool2d_forward(x, size, stride, padding) * size * size


def conv_backward_dw_first_image(x, w, delta, stride, padding):
    dx, _, db = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, conv_backward_nchw(x[:1], w, delta[:1], stride, padding)[1], db


def conv_backward_dw_reset_per_image(x, w, delta, stride, padding):
    # a loop over images with dw = np.zeros_like(w) inside it: the last image's sum is left
    n = x.shape[0]
    dx = np.zeros_like(x)
    db = delta.sum(axis=(0, 2, 3))
    for image in range(n):
        dx_i, dw, _ = conv_backward_nchw(x[image:image + 1], w, delta[image:image + 1],
                                         stride, padding)
        dx[image] = dx_i[0]
    return dx, dw, db


def conv_backward_kernel_transposed(x, w, delta, stride, padding):
    # dx with w[.., q, p] (only a square kernel can be read transposed in place)
    kernel = w.swapaxes(2, 3) if w.shape[2] == w.shape[3] else w
    dx = conv_backward_nchw(x, kernel, delta, stride, padding)[0]
    return (dx,) + conv_backward_nchw(x, w, delta, stride, padding)[1:]


def batchnorm_unbiased(x, gamma, delta, eps):
    from cnngrad.verify.ops import batchnorm_backward_formula

    return batchnorm_backward_formula(x, gamma, delta, eps, ddof=1)


def batchnorm_unbiased_statistics_only(x, gamma, delta, eps):
    # np.var(ddof=1) in the statistics, the textbook backward's means over m
    from cnngrad.verify.ops import batchnorm_backward_formula

    return batchnorm_backward_formula(x, gamma, delta, eps, ddof=1, backward_ddof=0)


def batchnorm_dgamma_unbiased_dx_halved(x, gamma, delta, eps):
    # dgamma has a named slip; dx, halved, has none
    from cnngrad.verify.ops import batchnorm_backward_formula

    dx, dgamma, dbeta = batchnorm_backward_formula(x, gamma, delta, eps, ddof=1)
    right = batchnorm_backward_formula(x, gamma, delta, eps)[0]
    return right * 0.37, dgamma, dbeta


def test_an_output_no_slip_explains_is_said_beside_the_named_ones():
    from cnngrad.verify.report import render_text

    report = run_battery(batchnorm_dgamma_unbiased_dx_halved, "batchnorm2d_backward")
    assert [m.output for m in report.slips] == ["dgamma"]
    lines = render_text(report, width=80).splitlines()
    assert lines[-1] == "Slip:   dx: no known slip matches"


def softmax_without_target(x, y):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return softmax_loss(x, y)[0], p / x.shape[0]


def conv1d_dilation_ignored(x, w, delta, stride, padding, dilation):
    from cnngrad.verify.ops import conv1d_backward_taps

    dx = conv1d_backward_taps(x, w, delta, stride, padding, 1)[0]
    return (dx,) + conv1d_backward_right(x, w, delta, stride, padding, dilation)[1:]


def conv1d_sides_swapped(x, w, delta, stride, padding, dilation):
    from cnngrad.verify.ops import conv1d_backward_taps

    left, right = padding
    padded = conv1d_backward_taps(x, w, delta, stride, padding, dilation)[2]
    dx = padded[:, :, right:right + x.shape[2]]
    return (dx,) + conv1d_backward_right(x, w, delta, stride, padding, dilation)[1:]


MORE_WRONG = [
    (maxpool_stride_ignored, "maxpool2d_backward", "dx", "stride_ignored"),
    (maxpool_whole_window, "maxpool2d_backward", "dx", "delta_to_whole_window"),
    (maxpool_forward_zero_padding, "maxpool2d_forward", "y", "padded_with_zeros"),
    (avgpool_backward_real_cells, "avgpool2d_backward", "dx", "divisor_without_padding"),
    (avgpool_forward_sum, "avgpool2d_forward", "y", "not_divided"),
    (conv_backward_dw_first_image, "conv2d_backward", "dw", "first_image_only"),
    (conv_backward_dw_reset_per_image, "conv2d_backward", "dw", "last_image_only"),
    (conv_backward_kernel_transposed, "conv2d_backward", "dx", "kernel_transposed"),
    (batchnorm_unbiased, "batchnorm2d_backward", "dx", "unbiased_variance"),
    (batchnorm_unbiased_statistics_only, "batchnorm2d_backward", "dx", "unbiased_variance"),
    (softmax_without_target, "softmax_cross_entropy_backward", "dx",
     "target_not_subtracted"),
    (conv1d_dilation_ignored, "conv1d_backward", "dx", "dilation_ignored"),
    (conv1d_sides_swapped, "conv1d_backward", "dx", "padding_sides_swapped"),
]


@pytest.mark.parametrize("fn, op, output, slip", MORE_WRONG,
                         ids=[fn.__name__ for fn, _, _, _ in MORE_WRONG])
def test_more_slips_are_named(fn, op, output, slip):
    report = run_battery(fn, op)
    assert not report.ok
    named = {(m.output, m.name): m for m in report.slips}
    assert (output, slip) in named, report.slips
    assert named[(output, slip)].matched == named[(output, slip)].of >= 1


# --------------------------------------------------------------------------- softmax, large logits

NO_MAX_SHIFT_WORDS = ("matches softmax computed without subtracting each row's maximum "
                      "first: exp overflows for large logits")


def test_the_large_logits_case_overflows_exp_without_the_shift():
    from cnngrad.verify.ops import OPS, battery

    case = battery(OPS["softmax_cross_entropy_backward"])[3]
    assert case.corner == "large logits (exp overflows without the max shift)"
    # quarters: float32 holds them exactly, so a float32 softmax reads the same logits
    assert case.arrays["logits"].tolist() == [[999.5, 997.5, 998.5], [999.0, 999.25, 1000.75]]
    assert (case.arrays["logits"].astype(np.float32) == case.arrays["logits"]).all()
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(case.arrays["logits"])).all()


def test_a_max_shifted_softmax_passes_the_large_logits_case_whatever_the_seed():
    # a row's logits lie within a few units of each other: after the shift no probability
    # underflows, so CS231n's softmax needs no log-sum-exp on any seed's battery
    for seed in (0, 1, 2, 3):
        report = run_battery(softmax_loss_max_shift_only, "softmax_cross_entropy_backward",
                             style="cs231n", seed=seed)
        assert report.ok and not report.slips, seed
        assert report.results[3].case.corner == \
            "large logits (exp overflows without the max shift)"


def softmax_loss_float32(x, y):
    """A right max-shifted softmax computed in float32, as a student's may be."""
    z = x.astype(np.float32)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 99])
def test_a_float32_softmax_passes_the_large_logits_case(seed):
    # logits of two decimals near 1000 moved by up to 3e-5 in the cast to float32, the
    # probabilities by more than the tolerances: a right float32 softmax failed on 5 of 6 seeds
    report = run_battery(softmax_loss_float32, "softmax_cross_entropy_backward",
                         style="cs231n", seed=seed)
    assert report.ok and not report.slips, seed


def test_a_softmax_without_the_shift_fails_the_large_logits_case_as_no_max_shift():
    report = run_battery(softmax_loss_no_shift, "softmax_cross_entropy_backward",
                         style="cs231n")
    failed = [(r.case.index, r.status, r.message) for r in report.failed]
    assert failed == [(4, "nonfinite", "loss is nan")]
    assert [(m.output, m.name, m.description, m.matched, m.of) for m in report.slips] == [
        ("loss", "no_max_shift", NO_MAX_SHIFT_WORDS, 1, 1),
        ("dx", "no_max_shift", NO_MAX_SHIFT_WORDS, 1, 1),
    ]


def softmax_loss_log_sum_exp_no_shift(x, y):
    # CS231n's log-sum-exp form with the shift left out: an overflowing row's log Σ exp is
    # inf, its log-probabilities −inf, its loss inf (not nan)
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean(), dx / n


def test_a_log_sum_exp_without_the_shift_is_no_max_shift_too():
    with np.errstate(all="ignore"):
        report = run_battery(softmax_loss_log_sum_exp_no_shift,
                             "softmax_cross_entropy_backward", style="cs231n")
    assert [(r.case.index, r.message) for r in report.failed] == [(4, "loss is inf")]
    assert [(m.output, m.name, m.matched, m.of) for m in report.slips] == [
        ("loss", "no_max_shift", 1, 1), ("dx", "no_max_shift", 1, 1)]
    assert all("log-sum-exp" in m.description for m in report.slips)


def test_an_underflowed_target_probability_is_not_blamed_on_the_max_shift():
    # logits hundreds apart within a row: nothing overflows, but the target's probability
    # underflows to 0 with or without the shift, so log gives an infinite loss either way
    import dataclasses

    from cnngrad.verify.ops import OPS, Case

    case = Case("target probability underflows", {},
                {"logits": np.array([[-176.0, -996.0, -584.0], [-436.0, -252.0, 328.0]]),
                 "labels": np.array([1, 0])})
    op = dataclasses.replace(OPS["softmax_cross_entropy_backward"],
                             cases=lambda rng, options: [case])
    assert op.reference(case, None)["loss"] == 792.0
    report = run_battery(softmax_loss_max_shift_only, op, style="cs231n")
    assert [(r.status, r.message) for r in report.results] == [("nonfinite", "loss is inf")]
    assert report.slips == []


def softmax_loss_dx_shares_p(logits, labels):
    # dx = p without a copy: dx[...] -= 1 changes p, and the loss then takes the log of the
    # target's probability minus 1, a negative number: nan in every case
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    dx = p
    dx[np.arange(n), labels] -= 1
    dx /= n
    return -np.log(p[np.arange(n), labels]).mean(), dx


def test_a_nan_loss_in_cases_that_cannot_overflow_is_said_plainly_not_blamed_on_the_shift():
    # it was named no_max_shift "in 1 of 1 failing cases" (the large logits' case, where the
    # unshifted softmax is nan too) beside "6 of 6 cases fail"
    with np.errstate(all="ignore"):
        report = run_battery(softmax_loss_dx_shares_p, "softmax_cross_entropy_backward")
    assert [(r.status, r.message) for r in report.failed] == [("nonfinite", "loss is nan")] * 6
    assert report.slips == []
    assert _slip_lines(report) == [
        "Slip:   no known slip matches: loss is nan in 6 of 6 failing cases, where",
        "        cnngrad's is finite: nan comes from the log or square root of a negative",
        "        number, 0/0, 0·inf or inf − inf. Here the likeliest cause is the log of",
        "        a probability ≤ 0, most often one changed in place after being shared:",
        "        dx = p without .copy(), then dx[np.arange(N), labels] -= 1 changes p",
        "        too, and a loss computed after it reads the changed p"]


def softmax_loss_no_shift_and_nan_elsewhere(logits, labels):
    # no max shift (dx overflows in the large logits' case) and a loss nan in every case
    loss, dx = softmax_loss_no_shift(logits, labels)
    return (loss if logits.max() > 100 else np.nan), dx


def test_a_slip_that_can_occur_in_some_failing_cases_is_counted_against_the_others():
    # "in K of M": M is every failing case where the output is wrong, not only those the
    # slip can occur in, so one overflow among six nan losses is no explanation
    with np.errstate(all="ignore"):
        report = run_battery(softmax_loss_no_shift_and_nan_elsewhere,
                             "softmax_cross_entropy_backward")
    assert len(report.failed) == 6
    assert [(m.output, m.name, m.matched, m.of) for m in report.slips] == [
        ("dx", "no_max_shift", 1, 1)]
    text = " ".join(" ".join(_slip_lines(report)).split())
    assert "[no_max_shift] Slip: no known slip matches: loss is nan in 6 of 6 failing " \
        "cases, where cnngrad's is finite" in text


def conv_backward_dx_from_empty(x, w, delta, stride, padding):
    # np.empty for dx, its first row never written: nan where the memory held it
    dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
    out = np.full_like(dx, np.nan)  # what np.empty may hold, made sure of
    out[:, :, 1:] = dx[:, :, 1:]
    return out, dw, db


def test_a_nan_in_a_linear_op_points_to_np_empty_and_shared_arrays():
    report = run_battery(conv_backward_dx_from_empty, "conv2d_backward")
    assert len(report.failed) == 15 and report.slips == []
    assert " ".join(" ".join(_slip_lines(report)).split()) == (
        "Slip: no known slip matches: dx holds nan in 15 of 15 failing cases, where cnngrad's "
        "is finite: nan comes from the log or square root of a negative number, 0/0, 0·inf "
        "or inf − inf. Here the likeliest cause is an array made with np.empty and not every "
        "cell written, or one changed in place after being shared (b = a without .copy())")


def softmax_over_the_batch(logits, labels, max_axis=0):
    """Softmax normalised over the batch axis (axis 0), its maximum taken over ``max_axis``;
    the loss and dx computed from it as usual."""
    n = logits.shape[0]
    z = logits - logits.max(axis=max_axis, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    loss = -np.log(p[np.arange(n), labels]).mean()
    dx = p.copy()
    dx[np.arange(n), labels] -= 1
    return loss, dx / n


@pytest.mark.parametrize("max_axis, words", [
    (0, "matches the softmax taken over the batch axis instead of the classes"),
    (1, "matches the softmax taken over the batch axis instead of the classes (each row's "
        "maximum subtracted, the sum over the batch)")])
def test_a_softmax_over_the_batch_is_named_in_the_loss_and_dx_in_every_case(max_axis, words):
    # the maximum per row was not named at all, and over the batch only dx was, in "4 of 4"
    # cases while 6 of 6 failed: one sample's probabilities are all 1 and its loss 0
    report = run_battery(lambda x, y: softmax_over_the_batch(x, y, max_axis),
                         "softmax_cross_entropy_backward")
    assert len(report.failed) == 6
    assert [(m.output, m.name, m.description, m.matched, m.of) for m in report.slips] == [
        ("loss", "softmax_over_batch", words, 6, 6), ("dx", "softmax_over_batch", words, 6, 6)]


# --------------------------------------------------------------------------- batchnorm, mean term

NO_MEAN_TERM_LINES = [
    "Slip:   dx matches the path through the batch mean left out (no − Σδ/M term; the",
    "        path through the variance kept) — in 9 of 9 failing cases [no_mean_term]",
]


def _slip_lines(report):
    from cnngrad.verify.report import render_text

    lines = render_text(report).splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Slip:")):]


def test_batch_norm_without_the_mean_term_is_named():
    report = run_battery(batchnorm_no_mean_term, "batchnorm2d_backward")
    assert [r.status for r in report.results] == ["mismatch"] * 9
    assert _slip_lines(report) == NO_MEAN_TERM_LINES


def test_cs231n_batch_norm_without_the_mean_term_is_named():
    report = run_battery(spatial_batchnorm_backward_no_mean_term, "batchnorm2d_backward",
                         style="cs231n", forward=spatial_batchnorm_forward)
    assert _slip_lines(report) == NO_MEAN_TERM_LINES


def test_the_mean_term_slip_is_not_offered_where_the_deltas_sum_to_zero():
    # with Σδ = 0 in every channel the path through the mean adds nothing: the slip's dx
    # would be the right one, so it is left out rather than matched by a right answer
    from cnngrad.verify.ops import OPS, Options, battery

    op = OPS["batchnorm2d_backward"]
    for case in battery(op):
        names = [alt.name for alt in op.slips(case, Options(), op.reference(case, Options()))]
        assert "no_mean_term" in names, case.corner
        delta = case.arrays["delta"]
        case.arrays["delta"] = delta - delta.mean(axis=(0, 2, 3), keepdims=True)
        names = [alt.name for alt in op.slips(case, Options(), op.reference(case, Options()))]
        assert "no_mean_term" not in names, case.corner


# --------------------------------------------------------------------------- output order

CONV_SWAPPED_LINES = [
    "Slip:   the outputs are in the order (dw, dx, db); cnngrad expects (dx, dw, db)",
    "        — in 15 of 15 failing cases [outputs_swapped]",
]


def test_conv_outputs_in_another_order_are_named_in_one_line():
    report = run_battery(conv_backward_outputs_swapped, "conv2d_backward")
    assert len(report.failed) == 15
    assert _slip_lines(report) == CONV_SWAPPED_LINES
    assert [(m.output, m.name) for m in report.slips] == [(None, "outputs_swapped")]


def test_outputs_swapped_and_a_slip_in_one_of_them_are_both_named():
    # the shapes give the order away; dx, read from its place, is then diagnosed as dx
    report = run_battery(conv_backward_swapped_not_rotated, "conv2d_backward")
    assert _slip_lines(report) == CONV_SWAPPED_LINES + [
        "Slip:   dx matches the kernel's 180° rotation left out of the full correlation",
        "        of the padded delta (w where w rotated was needed), or put into a loop",
        "        that adds w·delta into each window, which needs none — in 13 of 13",
        "        failing cases [kernel_not_rotated]",
    ]


@pytest.mark.parametrize("fn, op, settings, lines", [
    (softmax_loss_swapped, "softmax_cross_entropy_backward", {}, [
        "Slip:   the outputs are in the order (dx, loss); cnngrad expects (loss, dx) — in",
        "        6 of 6 failing cases [outputs_swapped]"]),
    (batchnorm_dgamma_first, "batchnorm2d_backward", {}, [
        "Slip:   the outputs are in the order (dgamma, dx, dbeta); cnngrad expects (dx,",
        "        dgamma, dbeta) — in 9 of 9 failing cases [outputs_swapped]"]),
    (affine_backward_swapped, "dense_backward", {"style": "cs231n"}, [
        "Slip:   the outputs are in the order (dw, dx, db); cnngrad expects (dx, dw, db)",
        "        — in 9 of 9 failing cases [outputs_swapped]"]),
], ids=["softmax", "batchnorm", "cs231n-dense"])
def test_outputs_swapped_is_named_for_every_op_with_several_outputs(fn, op, settings, lines):
    assert _slip_lines(run_battery(fn, op, **settings)) == lines


def test_outputs_swapped_is_a_slip_of_the_whole_return_in_json():
    from cnngrad.verify.report import to_json

    slips = to_json(run_battery(conv_backward_outputs_swapped, "conv2d_backward"))["slips"]
    assert slips == [{"output": None, "name": "outputs_swapped",
                      "description": "the outputs are in the order (dw, dx, db); cnngrad "
                                     "expects (dx, dw, db)", "matched": 15, "of": 15}]


# --------------------------------------------------------------------------- integer arrays


def dls_conv_forward_int_output(A_prev, W, b, hparameters):
    # Z made with dtype=int: each Z[i, h, w, c] = ... drops its fraction, without a word
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C), dtype=int)
    A_prev_pad = _pad(A_prev, pad, axes=(1, 2))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    a_slice = A_prev_pad[i, vs:vs + f, hs:hs + f, :]
                    Z[i, h, w, c] = np.sum(a_slice * W[:, :, :, c]) + float(b[0, 0, 0, c])
    return Z, (A_prev, W, b, hparameters)


def conv_backward_int_accumulators(x, w, delta, stride, padding):
    # CS231n-style scalar loops into accumulators of ints: each += drops the fraction
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    dxp = np.zeros(xp.shape, dtype=int)
    dw = np.zeros(w.shape, dtype=int)
    db = np.zeros(f, dtype=int)
    for i in range(n):
        for k in range(f):
            for r in range(delta.shape[2]):
                for q in range(delta.shape[3]):
                    d = delta[i, k, r, q]
                    db[k] += d
                    for ch in range(c):
                        for p in range(kh):
                            for s in range(kw):
                                dw[k, ch, p, s] += d * xp[i, ch, r * stride + p, q * stride + s]
                                dxp[i, ch, r * stride + p, q * stride + s] += d * w[k, ch, p, s]
    return dxp[:, :, padding:padding + h, padding:padding + width], dw, db


def dense_backward_as_int(x, w, delta):
    return tuple(g.astype(int) for g in dense_backward_torch(x, w, delta))


def maxpool_forward_int_output(x, size, stride, padding):
    from cnngrad import maxpool2d_forward

    return maxpool2d_forward(x, size, stride, padding).astype(int)


TRUNCATED_WORDS = ("holds only whole numbers, though the case's values have fractions: an "
                   "integer array (dtype=int, .astype(int)) or int() drops them")


@pytest.mark.parametrize("fn, op, settings, failed, outputs", [
    (dls_conv_forward_int_output, "conv2d_forward", {"style": "dls"},
     [(9, "non-whole values, batch of 2, 2 channels, stride 2, padding 1"),
      (12, "values float16 cannot hold, 2 channels, 2 filters, stride 2")], {"y": 2}),
    (conv_backward_int_accumulators, "conv2d_backward", {},
     [(11, "non-whole values, batch of 2, 2 channels, stride 2, padding 1"),
      (15, "values float16 cannot hold, 2 channels, 2 filters, stride 2")],
     {"dx": 1, "dw": 1, "db": 1}),
    (dense_backward_as_int, "dense_backward", {},
     [(6, "non-whole values, batch of 3, 4 inputs, 3 outputs"),
      (9, "values float16 cannot hold, batch of 2, 3 inputs, 2 outputs")],
     {"dx": 2, "dw": 2, "db": 1}),
    (maxpool_forward_int_output, "maxpool2d_forward", {},
     [(9, "non-whole values, batch of 2, 2 channels, 3×3 windows, stride 2"),
      (13, "values float16 cannot hold, 2 channels, 2×2 window, stride 2")], {"y": 2}),
], ids=["dls-conv-forward", "conv-backward", "dense-backward", "maxpool-forward"])
def test_an_integer_array_fails_the_non_whole_case_with_its_slip_named(fn, op, settings,
                                                                      failed, outputs):
    # every other case holds whole numbers, which an integer array keeps: only the cases of
    # non-whole values (halves, and those float16 cannot hold) can tell, and the slip says
    # why; the latter's values are under 1, so an output truncated to all zeros there is not
    # counted (as well never computed)
    report = run_battery(fn, op, **settings)
    assert [(r.case.index, r.case.corner) for r in report.failed] == failed
    assert [(m.output, m.name, m.description, m.matched, m.of) for m in report.slips] == [
        (output, "truncated_to_int", TRUNCATED_WORDS, count, count)
        for output, count in outputs.items()]


def test_the_integer_array_slip_reads_so_in_the_report():
    report = run_battery(conv_backward_int_accumulators, "conv2d_backward")
    assert _slip_lines(report) == [
        "Slip:   dx holds only whole numbers, though the case's values have fractions: an",
        "        integer array (dtype=int, .astype(int)) or int() drops them — in 1 of 1",
        "        failing cases [truncated_to_int]",
        "Slip:   dw holds only whole numbers, though the case's values have fractions: an",
        "        integer array (dtype=int, .astype(int)) or int() drops them — in 1 of 1",
        "        failing cases [truncated_to_int]",
        "Slip:   db holds only whole numbers, though the case's values have fractions: an",
        "        integer array (dtype=int, .astype(int)) or int() drops them — in 1 of 1",
        "        failing cases [truncated_to_int]",
    ]


def batchnorm_dx_as_int(x, gamma, delta, eps):
    dx, dgamma, dbeta = batchnorm_nchw(x, gamma, delta, eps)
    return dx.astype(int), dgamma, dbeta


def batchnorm_float32(x, gamma, delta, eps):
    # float32 throughout, as a student writes it (np.var's two passes)
    x, gamma, delta = (a.astype(np.float32) for a in (x, gamma, delta))
    axes = (0, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = np.float32(1) / np.sqrt(var + np.float32(eps))
    x_hat = (x - mean) * inv_std
    d_hat = delta * gamma[None, :, None, None]
    dx = inv_std * (d_hat - d_hat.mean(axis=axes, keepdims=True)
                    - x_hat * (d_hat * x_hat).mean(axis=axes, keepdims=True))
    return dx, (delta * x_hat).sum(axis=axes), delta.sum(axis=axes)


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_a_right_float32_batch_norm_passes_every_case(seed):
    # two values a channel used to be drawn as close as 1.23 and 1.26: dx, about ε/σ²·δ,
    # lost its digits in float32 and a right implementation failed (seeds 9, 10, 14, ...)
    report = run_battery(batchnorm_float32, "batchnorm2d_backward", seed=seed)
    assert report.failed == []


def test_an_integer_array_is_named_where_every_case_has_fractions():
    # batch norm's cases are all of non-whole values: every one fails but the first, whose
    # two values per channel make dx about ε/σ²·δ, under 1e-6 (its values are kept apart so
    # that a float32 implementation can be held to it); a dx truncated to all zeros cannot
    # tell an integer array from a dx never computed, and is not counted
    report = run_battery(batchnorm_dx_as_int, "batchnorm2d_backward")
    assert len(report.failed) == 8
    assert sum(not r.failures[0].got.any() for r in report.failed) == 2
    [slip] = report.slips
    assert (slip.output, slip.name, slip.matched, slip.of) == ("dx", "truncated_to_int", 6, 6)


def conv_backward_db_one_position(x, w, delta, stride, padding):
    # the bias gradient of the first output position only: in the case of odd halves, a sum
    # over the batch of 2 of them, whole by nature
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, delta[:, :, 0, 0].sum(axis=0)


def test_whole_numbers_by_nature_are_not_counted_as_truncation_in_every_failing_case():
    # truncating changes nothing in a case of whole numbers, so the 12 such cases that fail
    # are cases the slip does not explain: it was "in 1 of 1 failing cases", then "in 1 of
    # 13", a chance fit named beside a grid that contradicts it; now not named at all
    report = run_battery(conv_backward_db_one_position, "conv2d_backward")
    assert len(report.failed) == 14
    assert report.slips == []
    from cnngrad.verify.report import render_text

    assert "Slip:   no known slip matches" in render_text(report)


def conv_backward_loops(x, w, delta, stride, padding, assigned=()):
    """CS231n's loops, one term at a time; the outputs named in ``assigned`` written with
    = where += was needed."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros(f)
    for image in range(n):
        for k in range(f):
            for i in range(delta.shape[2]):
                for j in range(delta.shape[3]):
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    d = delta[image, k, i, j]
                    if "dx" in assigned:
                        dxp[image, :, rows, cols] = w[k] * d
                    else:
                        dxp[image, :, rows, cols] += w[k] * d
                    if "dw" in assigned:
                        dw[k] = xp[image, :, rows, cols] * d
                    else:
                        dw[k] += xp[image, :, rows, cols] * d
                    if "db" in assigned:
                        db[k] = d
                    else:
                        db[k] += d
    return dxp[:, :, padding:padding + h, padding:padding + width], dw, db


@pytest.mark.parametrize("assigned", [("db",), ("dw",), ("dx",), ("dx", "dw", "db")])
def test_a_sum_assigned_where_it_should_add_is_named(assigned):
    # the commonest slip of a hand-written backward pass: db = δ[...] for db += δ[...]
    assert run_battery(conv_backward_loops, "conv2d_backward").ok  # the loops themselves
    report = run_battery(lambda *a: conv_backward_loops(*a, assigned=assigned),
                         "conv2d_backward")
    assert not report.ok
    named = {(slip.output, slip.name) for slip in report.slips}
    for output in assigned:
        assert (output, "assigned_not_added") in named, report.slips
    for slip in report.slips:
        if slip.name == "assigned_not_added":
            assert slip.matched == slip.of


def student_windows(xp, kh, kw, stride, rows, cols):
    """A student's im2col: windows[n, c, p, q, i, j] = xp[n, c, i·s + p, j·s + q]."""
    windows = np.empty(xp.shape[:2] + (kh, kw, rows, cols))
    for p in range(kh):
        for q in range(kw):
            windows[:, :, p, q] = xp[:, :, p:p + stride * (rows - 1) + 1:stride,
                                     q:q + stride * (cols - 1) + 1:stride]
    return windows


def student_col2im(dcols, xp, stride, padding, size):
    """A student's col2im: dcols (N, C, kh, kw, H', W') added back over each window of the
    padded input ``xp`` (its shape and dtype), the padding then cropped off to ``size``."""
    kh, kw, rows, cols = dcols.shape[2:]
    dxp = np.zeros_like(xp)
    for i in range(rows):
        for j in range(cols):
            dxp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += dcols[..., i, j]
    return dxp[:, :, padding:padding + size[0], padding:padding + size[1]]


def conv_backward_im2col(x, w, delta, stride, padding, col2im="add"):
    """im2col's transpose: the column deltas wᵀ·δ, then col2im over the windows or over the
    taps, adding (``"add"``) or, the slip, assigning (``"window"``, ``"tap"``)."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    rows, cols = delta.shape[2:]
    xp = _pad(x, padding)
    cols_x = student_windows(xp, kh, kw, stride, rows, cols)
    dw = np.einsum("nfij,ncpqij->fcpq", delta, cols_x)
    dcols = np.einsum("fcpq,nfij->ncpqij", w, delta)
    dxp = np.zeros_like(xp)
    if col2im == "tap":
        for p in range(kh):
            for q in range(kw):
                dxp[:, :, p:p + stride * (rows - 1) + 1:stride,
                    q:q + stride * (cols - 1) + 1:stride] = dcols[:, :, p, q]
    else:
        for i in range(rows):
            for j in range(cols):
                window = (slice(None), slice(None), slice(i * stride, i * stride + kh),
                          slice(j * stride, j * stride + kw))
                if col2im == "window":
                    dxp[window] = dcols[..., i, j]
                else:
                    dxp[window] += dcols[..., i, j]
    return dxp[:, :, padding:padding + h, padding:padding + width], dw, delta.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("col2im", ["window", "tap"])
def test_col2im_assigned_where_it_should_add_is_named(col2im):
    assert run_battery(conv_backward_im2col, "conv2d_backward").ok  # adding: right
    report = run_battery(lambda *a: conv_backward_im2col(*a, col2im=col2im),
                         "conv2d_backward")
    assert not report.ok
    named = {(slip.output, slip.name): slip for slip in report.slips}
    slip = named[("dx", "col2im_assigned")]
    assert slip.matched == slip.of  # every case it fails, it fails by that
    assert {output for output, _ in named} == {"dx"}  # dw and db right


def conv_backward_im2col_matrices(x, w, delta, stride, padding, columns="nij",
                                  transposed=True):
    """The products of im2col as matrices: cols (C·kh·kw, N·H'·W') in (image, row, column)
    order or CS231n's (row, column, image), δ_mat (F, N·H'·W') laid out to match it, or, the
    slip, ``delta.reshape(F, -1)``."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    rows, cols = delta.shape[2:]
    xp = _pad(x, padding)
    windows = student_windows(xp, kh, kw, stride, rows, cols)
    if columns == "nij":
        cols_mat = windows.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, -1)
        delta_mat = delta.transpose(1, 0, 2, 3).reshape(f, -1)
    else:
        cols_mat = windows.transpose(1, 2, 3, 4, 5, 0).reshape(c * kh * kw, -1)
        delta_mat = delta.transpose(1, 2, 3, 0).reshape(f, -1)
    if not transposed:
        delta_mat = delta.reshape(f, -1)
    dw = (delta_mat @ cols_mat.T).reshape(w.shape)
    dcols = w.reshape(f, -1).T @ delta_mat
    if columns == "nij":
        dcols = dcols.reshape(c, kh, kw, n, rows, cols).transpose(3, 0, 1, 2, 4, 5)
    else:
        dcols = dcols.reshape(c, kh, kw, rows, cols, n).transpose(5, 0, 1, 2, 3, 4)
    dx = student_col2im(dcols, xp, stride, padding, (h, width))
    return dx, dw, delta.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("columns", ["nij", "ijn"])
def test_delta_reshaped_without_its_filter_axis_first_is_named(columns):
    assert run_battery(lambda *a: conv_backward_im2col_matrices(*a, columns=columns),
                       "conv2d_backward").ok
    report = run_battery(lambda *a: conv_backward_im2col_matrices(*a, columns=columns,
                                                                  transposed=False),
                         "conv2d_backward")
    assert not report.ok
    named = {(slip.output, slip.name): slip for slip in report.slips}
    for output in ("dx", "dw"):
        slip = named[(output, "delta_reshaped_not_transposed")]
        assert slip.matched == slip.of, slip
    assert "db" not in {output for output, _ in named}


def conv_backward_im2col_rows(x, w, delta, stride, padding, rows="nij", transposed=True):
    """im2col with one row per position and the filters as columns: cols (N·H'·W', C·kh·kw)
    in (image, row, column) or (row, column, image) order, d (N·H'·W', F) laid out to match
    it, or, the slip, ``delta.reshape(-1, F)``; db summed from d as it comes out."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    out_h, out_w = delta.shape[2:]
    xp = _pad(x, padding)
    windows = student_windows(xp, kh, kw, stride, out_h, out_w)
    if rows == "nij":
        cols_mat = windows.transpose(0, 4, 5, 1, 2, 3).reshape(-1, c * kh * kw)
        d = delta.transpose(0, 2, 3, 1).reshape(-1, f)
    else:
        cols_mat = windows.transpose(4, 5, 0, 1, 2, 3).reshape(-1, c * kh * kw)
        d = delta.transpose(2, 3, 0, 1).reshape(-1, f)
    if not transposed:
        d = delta.reshape(-1, f)
    dw = (d.T @ cols_mat).reshape(w.shape)
    db = d.sum(axis=0)
    dcols = d @ w.reshape(f, -1)
    if rows == "nij":
        dcols = dcols.reshape(n, out_h, out_w, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    else:
        dcols = dcols.reshape(out_h, out_w, n, c, kh, kw).transpose(2, 3, 4, 5, 0, 1)
    return student_col2im(dcols, xp, stride, padding, (h, width)), dw, db


@pytest.mark.parametrize("rows, needed", [
    ("nij", "delta.transpose(0, 2, 3, 1).reshape(-1, F) was needed for positions in (image, "
            "row, column) order"),
    ("ijn", "delta.transpose(2, 3, 0, 1).reshape(-1, F) was needed for positions in (row, "
            "column, image) order")])
def test_delta_reshaped_to_filter_columns_without_the_transpose_is_named(rows, needed):
    # delta.reshape(-1, F) with one row per position: "no known slip matches", though the
    # filters-as-rows form, delta.reshape(F, -1), was named
    assert run_battery(lambda *a: conv_backward_im2col_rows(*a, rows=rows),
                       "conv2d_backward").ok
    report = run_battery(lambda *a: conv_backward_im2col_rows(*a, rows=rows, transposed=False),
                         "conv2d_backward")
    words = (f"matches delta.reshape(-1, F) where {needed}: each row F values along a map, "
             "not one from each filter")
    # one filter of one image is read right: the 8 cases of more fail, in all three; db is
    # the same in either order of the positions
    assert [(m.output, m.name, m.description, m.matched, m.of) for m in report.slips] == [
        ("dx", "delta_reshaped_not_transposed", words, 8, 8),
        ("dw", "delta_reshaped_not_transposed", words, 8, 8),
        ("db", "delta_reshaped_not_transposed", "matches delta.reshape(-1, F) summed over "
         "the positions, where the filter axis had to be moved last: each row F values "
         "along a map, not one from each filter (or delta.sum(axis=(0, 2, 3)))", 8, 8)]


def test_delta_reshaped_to_filter_rows_is_named_in_db_too():
    # db summed from the reshaped matrix, as it comes out of delta.reshape(F, -1)
    def backward(x, w, delta, stride, padding):
        dx, dw, _ = conv_backward_im2col_matrices(x, w, delta, stride, padding,
                                                  transposed=False)
        return dx, dw, delta.reshape(w.shape[0], -1).sum(axis=1)

    report = run_battery(backward, "conv2d_backward")
    assert {(m.output, m.name, m.matched == m.of) for m in report.slips} == {
        (output, "delta_reshaped_not_transposed", True) for output in ("dx", "dw", "db")}


def spatial_batchnorm_as_rows(x, gamma, delta, eps=1e-5, moved=True):
    """CS231n's spatial batch norm: (N, C, H, W) as N·H·W rows of C features through the
    vector batch norm's backward pass, then back; ``moved=False`` reshapes without moving
    the channel axis last first."""
    n, c, h, w = x.shape
    if moved:
        rows, delta_rows = (a.transpose(0, 2, 3, 1).reshape(-1, c) for a in (x, delta))
    else:
        rows, delta_rows = x.reshape(-1, c), delta.reshape(-1, c)
    m = rows.shape[0]
    mean = rows.mean(axis=0)
    var = rows.var(axis=0)
    x_hat = (rows - mean) / np.sqrt(var + eps)
    dx_hat = delta_rows * gamma
    dx_rows = (m * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) \
        / (m * np.sqrt(var + eps))
    dgamma, dbeta = (delta_rows * x_hat).sum(axis=0), delta_rows.sum(axis=0)
    dx = dx_rows.reshape(n, h, w, c).transpose(0, 3, 1, 2) if moved else dx_rows.reshape(x.shape)
    return dx, dgamma, dbeta


def test_a_spatial_batch_norm_reshaped_without_moving_the_channels_is_named():
    assert run_battery(spatial_batchnorm_as_rows, "batchnorm2d_backward").ok
    report = run_battery(lambda *a, **k: spatial_batchnorm_as_rows(*a, **k, moved=False),
                         "batchnorm2d_backward")
    assert not report.ok
    named = {(slip.output, slip.name): slip for slip in report.slips}
    for output in ("dx", "dgamma", "dbeta"):
        slip = named[(output, "channels_not_moved_last")]
        assert slip.matched == slip.of, slip
    # one slip of three outputs is said once
    from cnngrad.verify.report import render_text

    text = " ".join(render_text(report).split())
    assert text.count("[channels_not_moved_last]") == 1
    assert "Slip: dx, dgamma and dbeta match x.reshape(-1, C) where" in text


def dense_backward_in_out(x, w, delta):
    # W laid out (in, out), y = x·W + b: run with cnngrad's (out, in), a square W runs
    return delta @ w.T, x.T @ delta, delta.sum(axis=0)


def dense_backward_in_out_db_doubled(x, w, delta):
    # for the other layout, and wrong in it too: run again so, it does not pass
    dx, dw, db = dense_backward_in_out(x, w, delta)
    return dx, dw, 2 * db


def test_a_function_for_the_other_layout_is_told_so_when_most_cases_raise():
    from cnngrad.verify.report import render_text

    # every case passes run again in the other layout: that is said, not guessed
    report = run_battery(dense_backward_in_out, "dense_backward")
    assert report.passes_laid_out == "nhwc"
    hint = " ".join(render_text(report).split("Hint:")[1].split())
    assert hint == ("every case passes when run again with the arrays laid out as x (N, in), "
                    "w (in, out) (y = x·W + b), delta (N, out): your function takes that "
                    "layout; say --layout nhwc")
    assert run_battery(dense_backward_in_out, "dense_backward", layout="nhwc").ok
    # wrong in the other layout as well: the guess from the cases that raised on shapes
    report = run_battery(dense_backward_in_out_db_doubled, "dense_backward")
    assert report.passes_laid_out is None
    ran = [r for r in report.results if r.status != "not_run"]
    raised = [r for r in ran if r.status == "raised"]
    assert len(ran) > len(raised) > len(ran) / 2
    hint = " ".join(render_text(report).split("Hint:")[1].split())
    assert hint.startswith(f"{len(raised)} of {len(ran)} cases raised on the arrays' shapes")
    # the layout alone does not fix it: said (its bias gradient doubled fails every case)
    assert hint.endswith("say --layout nhwc (run again laid out so, 9 of 9 cases still fail)")


def test_a_channels_last_function_run_channels_first_is_told_the_layout():
    # every case raises (a broadcast of mismatched axes), and nothing said --layout nhwc
    from cnngrad.verify.report import render_text

    report = run_battery(conv_backward_nhwc, "conv2d_backward")
    assert all(r.status == "raised" for r in report.results)
    hint = " ".join(render_text(report).split("Hint:")[1].split())
    assert hint == ("every case passes when run again with the arrays laid out as x (N, H, W, "
                    "C), w (kh, kw, C, F), delta (N, H', W', F): your function takes that "
                    "layout; say --layout nhwc")
    # wrong in that layout too (its bias gradient over N and W'): the guess from the raises
    report = run_battery(conv_backward_nhwc_db_over_n_and_w, "conv2d_backward")
    assert all(r.status == "raised" for r in report.results)
    text = render_text(report)
    hint = " ".join(text.split("Hint:")[1].split())
    assert hint.startswith("every case raised on the arrays' shapes, with them laid out as x "
                           "(N, C, H, W), w (F, C, kh, kw), delta (N, F, H', W'): if your "
                           "function takes x (N, H, W, C), w (kh, kw, C, F), delta (N, H', W', "
                           "F), say --layout nhwc")
    assert run_battery(conv_backward_nhwc, "conv2d_backward", layout="nhwc").ok
    # a function that fails without raising, or the layout given: no such hint
    assert "Hint:" not in render_text(run_battery(conv_backward_db_first_position,
                                                  "conv2d_backward"))

    # nor one whose every case raises for another reason: a call that does not fit it, its
    # own error (the hint was given whatever had been raised)
    def takes_one(x):
        return x

    def boom(x, w, delta, stride=1, padding=0):
        raise ValueError("boom")

    for function in (takes_one, boom):
        report = run_battery(function, "conv2d_backward")
        assert all(r.status == "raised" for r in report.results)
        assert "Hint:" not in render_text(report)


def test_a_function_named_after_another_op_is_asked_whether_op_is_right():
    # a conv's backward checked as a max pool's: every case raises on the arguments, and its
    # name says which op it is (the layout hint, also true of every case, would send the user
    # round between --layout nhwc and dropping it)
    from cnngrad.verify.report import render_text

    def conv2d_backward(x, w, delta, stride, padding):
        return conv_backward_nchw(x, w, delta, stride, padding)

    report = run_battery(conv2d_backward, "maxpool2d_backward")
    assert not any(r.ok for r in report.results)
    hints = [" ".join(part.split()) for part in render_text(report).split("Hint:")[1:]]
    assert hints == ["your function is named conv2d_backward, the name of another op than --op "
                     "maxpool2d_backward: if it computes conv2d_backward, say --op "
                     "conv2d_backward"]
    assert run_battery(conv2d_backward, "conv2d_backward").ok


def conv_backward_db_first_position(x, w, delta, stride, padding):
    # db read from the first image's first position only
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, delta[0, :, 0, 0].copy()


def test_a_slip_that_fits_a_few_failing_cases_by_chance_is_not_named():
    # in a 1×1 case of one image the first position is the last, so db = δ[...] for +=
    # ("assigned_not_added") fits that case and no other: 1 of 13, a chance fit, not named
    from cnngrad.verify.report import render_text

    report = run_battery(conv_backward_db_first_position, "conv2d_backward")
    assert len(report.failed) == 14
    assert report.slips == []
    assert "Slip:   no known slip matches" in render_text(report)


@pytest.mark.parametrize("matched, of, named", [
    (1, 1, True), (2, 2, True), (2, 3, True), (7, 13, True),
    (0, 3, False), (1, 2, False), (6, 12, False), (2, 14, False), (1, 13, False),
])
def test_a_slip_is_named_when_it_fits_more_than_half_of_its_failing_cases(matched, of, named):
    from cnngrad.verify.runner import _not_chance

    assert _not_chance(matched, of) is named


# --------------------------------------------------------------------------- a bias gradient forgotten


def conv_backward_db_zeros(x, w, delta, stride, padding):
    dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, np.zeros_like(db)


def conv_backward_db_none(x, w, delta, stride, padding):
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw, None


def conv_backward_without_db(x, w, delta, stride, padding):
    dx, dw, _ = conv_backward_nchw(x, w, delta, stride, padding)
    return dx, dw


def conv_backward_without_db_not_rotated(x, w, delta, stride, padding):
    dx, dw, _ = conv_backward_nchw(x, w[:, :, ::-1, ::-1], delta, stride, padding)
    return dx, dw


def dls_conv_backward_db_none(dZ, cache):
    dA_prev, dW, _ = dls_conv_backward(dZ, cache)
    return dA_prev, dW, None


def affine_backward_without_db(dout, cache):
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw


def batchnorm_without_dbeta(x, gamma, delta, eps):
    dx, dgamma, _ = batchnorm_nchw(x, gamma, delta, eps)
    return dx, dgamma


@pytest.mark.parametrize("fn, op, settings, lines", [
    (conv_backward_db_zeros, "conv2d_backward", {}, [
        "Slip:   db matches zeros: the bias gradient never computed — in 15 of 15 failing",
        "        cases [bias_forgotten]"]),
    (conv_backward_db_none, "conv2d_backward", {}, [
        "Slip:   db is None: the bias gradient never computed — in 15 of 15 failing cases",
        "        [bias_forgotten]"]),
    (conv_backward_without_db, "conv2d_backward", {}, [
        "Slip:   db is left out of the return: the bias gradient never computed — in 15",
        "        of 15 failing cases [bias_forgotten]"]),
    (dls_conv_backward_db_none, "conv2d_backward", {"style": "dls"}, [
        "Slip:   db is None: the bias gradient never computed — in 12 of 12 failing cases",
        "        [bias_forgotten]"]),
    (affine_backward_without_db, "dense_backward", {"style": "cs231n"}, [
        "Slip:   db is left out of the return: the bias gradient never computed — in 9 of",
        "        9 failing cases [bias_forgotten]"]),
    (batchnorm_without_dbeta, "batchnorm2d_backward", {}, [
        "Slip:   dbeta is left out of the return: the gradient of β (batch norm's bias)",
        "        never computed — in 9 of 9 failing cases [beta_forgotten]"]),
], ids=["zeros", "none", "left-out", "dls-none", "cs231n-dense-left-out", "batchnorm-left-out"])
def test_a_bias_gradient_forgotten_is_named(fn, op, settings, lines):
    report = run_battery(fn, op, **settings)
    assert len(report.failed) == len(report.results)
    assert _slip_lines(report) == lines


def test_a_return_without_db_is_still_a_wrong_return_and_its_other_outputs_are_checked():
    report = run_battery(conv_backward_without_db_not_rotated, "conv2d_backward")
    first = report.failed[0]
    assert (first.status, first.message) == (
        "bad_return", "returned a tuple of 2 values; expected 3 (dx, dw, db)")
    assert [(f.name, f.status, f.message) for f in first.failures] == [
        ("db", "bad_return", "db is left out of the return, whose 2 values fit (dx, dw)")]
    second = report.failed[1]  # a 2×2 kernel: dx, read from its place, is wrong too
    assert [(f.name, f.status) for f in second.failures] == [("dx", "mismatch"),
                                                              ("db", "bad_return")]
    assert [(m.output, m.name, m.matched, m.of) for m in report.slips] == [
        ("dx", "kernel_not_rotated", 13, 13), ("db", "bias_forgotten", 15, 15)]


# --------------------------------------------------------------------------- in place


def softmax_loss_shifting_its_scores(x, y):
    x -= x.max(axis=1, keepdims=True)  # the caller's scores, shifted in place
    return softmax_loss(x, y)


def affine_backward_scaling_dout(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    dout *= 0
    return dx, dw, db


def dls_pool_backward_zeroing_its_input(dA, cache, mode="max"):
    dA_prev = dls_pool_backward(dA, cache, mode)
    cache[0][...] = 0
    return dA_prev


def dense_backward_clearing_everything(x, w, delta):
    dx, dw, db = delta @ w, delta.T @ x, delta.sum(axis=0)
    x[...], w[...], delta[...] = 0, 0, 0
    return dx, dw, db


@pytest.mark.parametrize("fn, op, settings, names", [
    (softmax_loss_shifting_its_scores, "softmax_cross_entropy_backward", {"style": "cs231n"},
     ("x",)),
    (affine_backward_scaling_dout, "dense_backward", {"style": "cs231n"}, ("dout",)),
    (dls_pool_backward_zeroing_its_input, "avgpool2d_backward", {"style": "dls"},
     ("A_prev",)),
    (dense_backward_clearing_everything, "dense_backward", {}, ("x", "w", "delta")),
])
def test_an_argument_changed_in_place_is_named_by_the_calls_own_name(fn, op, settings, names):
    # each call gets copies: the values are judged as returned, and the change is told
    report = _run(fn, op, settings)
    assert report.ok, [r.message for r in report.results if not r.ok]
    changed = {r.changed for r in report.results}
    # a case whose values the change leaves as they were (all zeros already) is not told
    assert names in changed and changed <= {names, ()}


def test_the_report_tells_of_the_change_in_place_once_with_why_it_matters():
    from cnngrad.verify.report import render_text, to_json

    report = _run(affine_backward_scaling_dout, "dense_backward", {"style": "cs231n"})
    text = render_text(report)
    count = len(report.results)
    # every case changed it: the note alone says so (it was under each case too, twelve times)
    assert text.count("changed dout in place") == 1
    assert text.splitlines()[-4:] == [
        f"PASS  all {count} cases agree with cnngrad (rtol 1e-05, atol 1e-06).",
        f"Note: {count} of {count} cases changed dout in place. Each call gets its own "
        "copies, so the",
        "      results were judged as returned; but in a network the caller still needs",
        "      it after the call: work on a copy.",
    ]
    assert all(case["changed_in_place"] == ["dout"] for case in to_json(report)["cases"])
    assert all(len(line) <= 80 for line in text.splitlines())


# --------------------------------------------------------------------------- the style's names


def dls_conv_forward_no_bias(A_prev, W, b, hparameters):
    Z, cache = dls_conv_forward(A_prev, W, b, hparameters)
    return Z - b, cache


def conv_forward_naive_no_bias(x, w, b, conv_param):
    out, cache = conv_forward_naive(x, w, b, conv_param)
    return out - b.reshape(1, -1, 1, 1), cache


@pytest.mark.parametrize("fn, op, style, words, not_words", [
    # the assignment's own names, in the case line, the first failure, the grid and the slip
    (dls_conv_backward_no_stride, "conv2d_backward", "dls",
     ["(A_prev ", "W 2×2", "  dA_prev differs in ", "  dA_prev[", "Slip:   dA_prev matches"],
     ["(x ", "w 2×2", "dx differs", "dx["]),
    (dls_linear_backward_db_not_summed, "dense_backward", "dls", ["Slip:   db matches"],
     ["(x "]),
    (dls_conv_forward_no_bias, "conv2d_forward", "dls", ["  Z differs in ", "  Z[", "(A_prev "],
     ["  y differs", "  y["]),
    # CS231n's forward returns (out, cache); its inputs are x, w as cnngrad's
    (conv_forward_naive_no_bias, "conv2d_forward", "cs231n",
     ["  out differs in ", "  out[", "Slip:   out matches", "(x "], ["  y differs", "  y["]),
])
def test_the_report_calls_arrays_by_the_style_s_names(fn, op, style, words, not_words):
    from cnngrad.verify.report import render_text

    text = render_text(run_battery(fn, op, style=style))
    for word in words:
        assert word in text, (word, text)
    for word in not_words:
        assert word not in text, (word, text)


def dls_linear_backward_untransposed(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    return W @ dZ, dZ @ A_prev.T / m, dZ.sum(axis=1, keepdims=True) / m  # W·dZ, not Wᵀ·dZ


@pytest.mark.parametrize("fn, op, description", [
    # the slip's own words in the course's names too
    (dls_conv_backward_no_stride, "conv2d_backward",
     "matches delta not dilated for stride 2 (the stride ignored in dA_prev: each delta put "
     "back at i instead of i·s)"),
    # and in its layout: examples are columns, Z = W·A_prev + b
    (dls_linear_backward_untransposed, "dense_backward",
     "matches W·dZ where Wᵀ·dZ was needed (Z = W·A_prev + b, so dA_prev = Wᵀ·dZ)"),
])
def test_a_dls_slip_is_told_in_the_course_s_names(fn, op, description):
    report = run_battery(fn, op, style="dls")
    assert [m.description for m in report.slips if m.output == "dx"] == [description]


def dls_linear_backward_without_keepdims(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    db = np.sum(dZ, axis=1) / m  # keepdims=True forgotten: (n,) where the course has (n, 1)
    return np.dot(W.T, dZ), np.dot(dZ, A_prev.T) / m, db


def test_a_sum_without_keepdims_is_named_and_no_right_output_is_blamed():
    # the 1×1 case's outputs fit another order by their shapes: dW was said to be truncated
    # to whole numbers "in 1 of 1" though it was right in every case
    from cnngrad.verify.report import render_text

    report = run_battery(dls_linear_backward_without_keepdims, "dense_backward", style="dls")
    assert all({f.name for f in r.failures} == {"db"} for r in report.results)
    assert report.slips == []
    text = " ".join(render_text(report, width=80).split())
    # said as the slip it is ("no known slip matches: " before it contradicted it)
    assert ("Slip: db has shape (1,) where cnngrad's is (1, 1): the right numbers, its axes of "
            "1 dropped (a sum without keepdims=True?); reshape it to (1, 1)") in text


def dls_linear_backward_float32_without_keepdims(dZ, cache):
    dA_prev, dW, db = dls_linear_backward_without_keepdims(dZ, cache)
    # float32 code: its db a few 1e-5 off, as float32 sums of a few hundred terms are
    return dA_prev, dW, db + 3e-5


@pytest.mark.parametrize("atol, told", [(1e-6, False), (1e-4, True)])
def test_keepdims_is_judged_at_the_run_s_tolerances(atol, told):
    # the right numbers within --atol are the right numbers; at the default atol they are not
    from cnngrad.verify.report import render_text

    report = run_battery(dls_linear_backward_float32_without_keepdims, "dense_backward",
                         style="dls", atol=atol)
    text = " ".join(render_text(report, width=80).split())
    assert ("the right numbers, its axes of 1 dropped" in text) is told
    assert "db has shape (1,) where cnngrad's is (1, 1)" in text
    assert ("no known slip matches: db has shape" in text) is not told


def test_a_channels_first_function_run_channels_last_is_told_to_drop_the_layout():
    # the other way round: --layout nhwc given to a function written for (N, C, H, W)
    from cnngrad.verify.report import render_text

    report = run_battery(conv_backward_nchw, "conv2d_backward", layout="nhwc")
    assert all(r.status == "raised" for r in report.results)
    hint = " ".join(render_text(report).split("Hint:")[1].split())
    assert hint == ("every case passes when run again with the arrays laid out as x (N, C, H, "
                    "W), w (F, C, kh, kw), delta (N, F, H', W'): your function takes that "
                    "layout; drop --layout nhwc")
    assert run_battery(conv_backward_nchw, "conv2d_backward").ok
    # wrong in that layout too (its bias gradient over H' and W' only): the guess
    report = run_battery(lambda *a: conv_backward_nchw(*a, db_axes=(2, 3)), "conv2d_backward",
                         layout="nhwc")
    assert all(r.status == "raised" for r in report.results)
    hint = " ".join(render_text(report).split("Hint:")[1].split())
    assert hint == ("every case raised on the arrays' shapes, with them laid out as x (N, H, W, "
                    "C), w (kh, kw, C, F), delta (N, H', W', F): if your function takes x (N, "
                    "C, H, W), w (F, C, kh, kw), delta (N, F, H', W'), drop --layout nhwc (run "
                    "again laid out so, 4 of 15 cases still fail)")  # the four of N > 1


def dls_conv_forward_raising(A_prev, W, b, hparameters):
    return float(np.ones(3)), None  # the course's float(b) on an array: a TypeError


def test_the_report_names_the_user_s_functions_and_a_forward_that_raised():
    from cnngrad.verify.report import render_text

    report = run_battery(dls_conv_backward, "conv2d_backward", style="dls",
                         forward=dls_conv_forward_raising)
    text = render_text(report, width=80)
    header = " ".join(text.split("  style")[0].split())
    assert "calls dls_conv_backward(dZ, cache)" in header
    assert ("your forward dls_conv_forward_raising raised while building the cache (your "
            "code's traceback):") in " ".join(text.split())
    # the line wrapped at 80 columns (the traceback's own lines stay as Python wrote them)
    above = text.split("Traceback (most recent call last)")[0]
    assert max(len(line) for line in above.splitlines()) <= 80


def maxpool_backward_window_assigned(x, delta, size, stride, padding):
    # the DLS assignment's dA_prev[window] = mask * dA: = over the whole window
    xp = _pad_for_max(x, padding)
    dxp = np.zeros_like(xp)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            win = xp[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dxp[:, :, i * stride:i * stride + size, j * stride:j * stride + size] = \
                mask * delta[:, :, i:i + 1, j:j + 1]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def maxpool_backward_zero_padded(x, delta, size, stride, padding):
    xp = _pad(x, padding)  # zeros, where −inf was needed
    dxp = np.zeros_like(xp)
    for n, c, i, j in np.ndindex(*delta.shape):
        win = xp[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
        a, b = np.unravel_index(np.argmax(win), win.shape)
        dxp[n, c, i * stride + a, j * stride + b] += delta[n, c, i, j]
    h, w = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w]


@pytest.mark.parametrize("fn, ties, slip", [
    (maxpool_backward_window_assigned, "all", "window_assigned"),
    (maxpool_backward_zero_padded, "first", "padded_with_zeros"),
])
def test_max_pool_backward_slips_of_the_courses_loops_are_named(fn, ties, slip):
    from cnngrad.verify.ops import Options

    report = run_battery(fn, "maxpool2d_backward", options=Options(ties=ties))
    assert not report.ok
    [match] = report.slips
    assert (match.name, match.matched, match.of) == (slip, len(report.failed),
                                                     len(report.failed))


def dls_linear_backward_db_as_a_row(dZ, cache):
    dA_prev, dW, db = dls_linear_backward(dZ, cache)
    return dA_prev, dW, db.T  # (1, n) where the course has (n, 1)


def test_a_vector_with_its_axis_of_1_moved_is_said_to_be_transposed():
    from cnngrad.verify.report import render_text

    report = run_battery(dls_linear_backward_db_as_a_row, "dense_backward", style="dls")
    text = " ".join(render_text(report, width=80).split())
    assert ("db has shape (1, 1) where cnngrad's is" not in text)  # the 1×1 case passes
    assert "its axes of 1 in another place (transposed?); reshape it to" in text
    assert "added" not in text


def maxpool_forward_nhwc(x, size, stride, padding):
    """x (N, H, W, C), written channels last: cnngrad's own pool between two transposes."""
    from cnngrad.layers.pool import maxpool2d_forward

    return maxpool2d_forward(x.transpose(0, 3, 1, 2), size, stride, padding).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("function, op", [(maxpool_forward_nhwc, "maxpool2d_forward"),
                                          (maxpool_backward_nhwc, "maxpool2d_backward")])
def test_a_channels_last_pool_run_channels_first_is_told_the_layout(function, op):
    # it runs without an error (the pooled axes are C and H), wrong: no hint was given, and
    # the forward pass's wrong shapes were said as "check the size your code gives that axis"
    from cnngrad.verify.report import render_text, to_json

    report = run_battery(function, op)
    assert not report.ok and report.passes_laid_out == "nhwc"
    assert to_json(report)["passes_laid_out"] == "nhwc"
    text = " ".join(render_text(report).split())
    assert "Hint: every case passes when run again with the arrays laid out as x (N, H, W, C)" \
        in text and text.endswith("your function takes that layout; say --layout nhwc")
    # the hint is the whole story: no "Slip: no known slip matches: y's W' is 3 ... check
    # the size your code gives that axis"
    assert "Slip:" not in text
    if op == "maxpool2d_forward":  # whose answers the other reading can give: named in JSON
        slip = next(slip for slip in to_json(report)["slips"] if slip["name"] == "other_layout")
        assert slip["output"] == "y" and slip["matched"] == slip["of"] > 0
        assert slip["description"] == (
            "matches channels-last code given these channels-first arrays (it reads (N, C, H, "
            "W) as (N, H, W, C)): if your function takes (N, H, W, C), say --layout nhwc")
    assert run_battery(function, op, layout="nhwc").ok
    # the right layout's report has no such hint, nor a passing one
    assert to_json(run_battery(function, op, layout="nhwc"))["passes_laid_out"] is None


def conv_backward_dx_huge(x, w, delta, stride, padding):
    # wrong only where the map is 8 or more wide: the case shown has a grid of 8 columns
    dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
    return (dx * 1.2345678e7 + 1e-3 if x.shape[3] >= 8 else dx), dw, db


def test_a_grid_of_wide_numbers_keeps_within_80_columns():
    # 8 columns of -2.469e+07 made rows of 89 characters, wrapped by the terminal
    from cnngrad.verify.report import render_text

    text = render_text(run_battery(conv_backward_dx_huge, "conv2d_backward"), width=80)
    assert max(map(len, text.splitlines())) <= 80
    assert "e+0" in text and "got − expected" in text


def dls_conv_backward_course_crop_no_stride(dZ, cache):
    # two slips in dA_prev: the course's crop (raises at pad 0) and the stride ignored
    dA_prev, dW, db = dls_conv_backward_no_stride(dZ, cache)
    return _cropped_as_the_course(dA_prev, cache[3]["pad"]), dW, db


def test_two_slips_in_one_output_are_both_named():
    # the crop raised in the padding-0 cases, the stride ignored failed others: only the
    # slip of the most cases was named
    report = run_battery(dls_conv_backward_course_crop_no_stride, "conv2d_backward",
                         style="dls")
    named = {(slip.output, slip.name): (slip.matched, slip.of) for slip in report.slips}
    assert set(named) == {("dx", "padding_cropped_to_nothing"), ("dx", "delta_not_dilated")}
    crop, stride = named[("dx", "padding_cropped_to_nothing")], named[("dx", "delta_not_dilated")]
    assert crop[0] > stride[0] == stride[1] > 0
    # one slip alone: named alone, as before
    alone = run_battery(dls_conv_backward_no_stride, "conv2d_backward", style="dls")
    assert [(slip.output, slip.name) for slip in alone.slips] == [("dx", "delta_not_dilated")]


def _plain_over_dls(x, w, delta, stride, padding):
    b = np.zeros((1, 1, 1, w.shape[-1]))
    dx, dw, db = dls_conv_backward_course_crop(delta, (x, w, b,
                                                       {"stride": stride, "pad": padding}))
    return dx, dw, db.reshape(-1)


def test_no_layout_hint_where_the_other_layout_raises_as_much():
    # a channels-last function run channels last, whose crop raises at padding 0: "9 of 15
    # cases raised on the arrays' shapes ... drop --layout nhwc", and dropping it made every
    # case raise
    from cnngrad.verify.report import render_text

    report = run_battery(_plain_over_dls, "conv2d_backward", layout="nhwc")
    assert report.other_layout_results is not None  # run again the other way: no better
    assert [slip.name for slip in report.slips] == ["padding_cropped_to_nothing"]
    assert "raised on the arrays' shapes" not in render_text(report)


def conv_backward_one_wrong_cell_beside_a_bigger_pass(x, w, delta, stride, padding):
    # image 0 holds a difference inside the tolerances larger than image 1's wrong cell
    from cnngrad import conv2d_backward

    dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
    if dx.shape[0] > 1:
        expected = conv2d_backward(x, w, delta, stride, padding)[0]
        big = np.unravel_index(int(np.argmax(np.abs(expected[0]))), expected[0].shape)
        dx[(0, *big)] += 0.9 * (1e-6 + 1e-5 * abs(expected[(0, *big)]))
        dx[1, 0, 0, 0] += 3 * (1e-6 + 1e-5 * abs(expected[1, 0, 0, 0]))
    return dx, dw, db


def test_the_grid_goes_through_the_wrong_cell_the_message_names():
    # the grid cut through the largest difference of any kind (one that passes), so the only
    # wrong value was never shown and "no known slip" sent the user to a right grid
    from cnngrad.verify.report import render_text

    text = render_text(run_battery(conv_backward_one_wrong_cell_beside_a_bigger_pass,
                                   "conv2d_backward"))
    assert "largest |diff|" in text and "at [1, 0, 0, 0])" in text
    assert "\n  dx[1, 0, :, :]" in text
    assert "dx[0, 0, :, :]" not in text


def test_a_grid_narrower_than_its_headings_keeps_its_rules_in_line():
    # "expected" over a column of 17s: the rule sat a column left of the heading's
    from cnngrad.render import GRID_RULE
    from cnngrad.verify.report import render_text

    lines = render_text(run_battery(conv_backward_db_averaged, "conv2d_backward")).splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("  got ") and GRID_RULE in line)
    rows = [line for line in lines[heading:heading + 2]]
    assert all(line.count(GRID_RULE) == 2 for line in rows)
    rules = [[i for i, ch in enumerate(line) if ch == GRID_RULE] for line in rows]
    assert rules[0] == rules[1]
    assert "expected" in rows[0]


ZERO_PADDED_MAX_POOL = '''
import numpy as np


def maxpool_forward(x, size, stride, padding):
    kh, kw = (size, size) if np.isscalar(size) else size
    s = stride if np.isscalar(stride) else stride[0]
    p = padding if np.isscalar(padding) else padding[0]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros, not -inf
    n, c, h, w = xp.shape
    y = np.empty((n, c, (h - kh) // s + 1, (w - kw) // s + 1))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            y[:, :, i, j] = xp[:, :, i * s:i * s + kh, j * s:j * s + kw].max(axis=(2, 3))
    return y
'''


@pytest.mark.parametrize("seed", [0, 17, 18, 23, 26, 37, 48, 93])
def test_a_max_pool_padded_with_zeros_fails_at_every_seed(tmp_path, seed):
    # with values of both signs in every map, some seeds put no all-negative window at the
    # padding, and the zeros never won: the slip passed at 25 of seeds 0-199
    from typer.testing import CliRunner

    from cnngrad.cli import app

    (tmp_path / "pool.py").write_text(ZERO_PADDED_MAX_POOL)
    result = CliRunner().invoke(app, ["verify", f"{tmp_path / 'pool.py'}:maxpool_forward",
                                      "--op", "maxpool2d_forward", "--seed", str(seed)])
    assert result.exit_code == 1, result.output
    assert "padding with zeros instead of −∞" in result.output


def softmax_for_one_hot_labels(scores, labels):
    # written for one-hot labels: with class indices (N,) it raises on every batch of 2 or
    # more, and its loss of the one-sample cases is 0 by chance (label 0 read as one-hot)
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    return -np.sum(labels * np.log(p)) / scores.shape[0], (p - labels) / scores.shape[0]


def test_a_slip_line_says_how_many_cases_raised_beside_those_it_counts():
    # "the softmax taken over the batch axis — in 2 of 2 failing cases" hid the 4 cases that
    # raised, where the two that matched were chance.  (Counting the raised cases against
    # the slip lost right diagnoses: a raise in one output's code hides another output's
    # slip, W·δ raising on every non-square W beside a dw of the last sample only.)
    from cnngrad.verify.report import render_text

    report = run_battery(softmax_for_one_hot_labels, "softmax_cross_entropy_backward")
    assert [result.status for result in report.results].count("raised") == 4
    text = " ".join(render_text(report, width=80).split())
    assert "— in 2 of 2 failing cases; 4 more raised [softmax_over_batch]" in text
    # a slip that raises so counts the raised cases itself, and says nothing more
    crop = run_battery(dls_conv_backward_course_crop_no_stride, "conv2d_backward", style="dls")
    text = " ".join(render_text(crop, width=80).split())
    assert "more raised [padding_cropped_to_nothing]" not in text
    assert "more raised [delta_not_dilated]" in text


def test_a_setting_and_its_number_wrap_together():
    # "(seed" ended the header's line with "0)" alone on the next, and "padding" / "0)." the
    # smallest failing case's
    from cnngrad.verify.report import render_text

    def softmax_onehot(scores, labels):
        return softmax_for_one_hot_labels(scores, labels)

    def conv_no_rotation(x, w, delta, stride, padding):
        dx, dw, db = conv_backward_nchw(x, w, delta, stride, padding)
        return dx[..., ::-1, ::-1], dw, db

    for text in (render_text(run_battery(softmax_onehot, "softmax_cross_entropy_backward"),
                             width=80),
                 render_text(run_battery(conv_no_rotation, "conv2d_backward"), width=80),
                 # tuples too: "padding" / "(0, 0)" in the smallest case and the case lines
                 render_text(run_battery(conv1d_backward_negative_crop, "conv1d_backward"),
                             width=80)):
        lines = text.splitlines()  # a traceback's File "..." line is kept whole
        assert max(len(line) for line in lines if 'File "' not in line) <= 80
        assert not any(line.rstrip().endswith(("(seed", "padding", "stride"))
                       and re.match(r"\s*\(?\d", after)
                       for line, after in zip(lines, lines[1:]))
    assert "(seed 0)" in render_text(run_battery(softmax_onehot,
                                                 "softmax_cross_entropy_backward"), width=80)


def conv_backward_crop_one_off(x, w, delta, stride, padding):
    # the crop's start one past the padding: dxp[p + 1:p + 1 + H]
    dxp = conv_backward_uncropped(x, w, delta, stride, padding)[0]
    h, width = x.shape[2:]
    dx = dxp[:, :, padding + 1:padding + 1 + h, padding + 1:padding + 1 + width] \
        if padding else dxp
    return (dx, *conv_backward_nchw(x, w, delta, stride, padding)[1:])


def conv_backward_last_filter_only(x, w, delta, stride, padding):
    # each filter's share of dx set where it had to be added: dx = share, not dx += share
    dx = None
    for f in range(w.shape[0]):
        dx = conv_backward_nchw(x, w[f:f + 1], delta[:, f:f + 1], stride, padding)[0]
    return (dx, *conv_backward_nchw(x, w, delta, stride, padding)[1:])


@pytest.mark.parametrize("function, slip", [
    (conv_backward_crop_one_off, "padding_cropped_off_by_one"),
    (conv_backward_last_filter_only, "last_filter_only"),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_crop_one_cell_off_and_dx_of_the_last_filter_are_named(function, slip, seed):
    report = run_battery(function, "conv2d_backward", seed=seed)
    assert not report.ok
    named = [(match.output, match.name, match.matched == match.of) for match in report.slips]
    assert named == [("dx", slip, True)]


def conv1d_backward_negative_crop(x, w, delta, stride, padding, dilation):
    # dxp[..., pl:-pr]: right while pr > 0, empty at pr = 0
    from cnngrad.layers.conv1d import conv1d_backward

    pl, pr = padding
    dxp = conv1d_backward(np.pad(x, ((0, 0), (0, 0), (pl, pr))), w, delta, stride, 0,
                          dilation)[0]
    return (dxp[:, :, pl:-pr], *conv1d_backward(x, w, delta, stride, padding, dilation)[1:])


def test_an_axis_cropped_to_nothing_is_told_why():
    from cnngrad.verify.report import render_text

    report = run_battery(conv1d_backward_negative_crop, "conv1d_backward")
    text = " ".join(render_text(report, width=80).split())
    assert "dx's L is 0 where cnngrad's is" in text
    assert "a crop [p:-p] is empty when p is 0 (-0 is 0); crop with [p:p + L]" in text


def dense_dx_raising_dw_last_sample(x, w, delta):
    # W·δ where Wᵀ·δ was needed raises on every W that is not square; dw of the last sample
    dx = delta @ w.T
    dw = None
    for n in range(x.shape[0]):
        dw = np.outer(delta[n], x[n])
    return dx, dw, delta.sum(0)


def test_a_raise_in_one_output_does_not_hide_another_outputs_slip():
    report = run_battery(dense_dx_raising_dw_last_sample, "dense_backward")
    assert ("dw", "last_image_only") in {(slip.output, slip.name) for slip in report.slips}


def conv_transpose_dx_emptied(x, w, delta, stride, padding, output_padding, dilation):
    from cnngrad.layers.conv_transpose import conv_transpose2d_backward

    dx, dw, db = conv_transpose2d_backward(x, w, delta, stride, padding, output_padding,
                                           dilation)
    return dx[:, :, :0], dw, db


def test_no_crop_hint_where_dx_is_never_cropped_and_the_raised_count_stays_whole():
    from cnngrad.verify.report import render_text

    # a transposed conv's padding crops y: dx's empty axis is no [p:-p] crop
    text = " ".join(render_text(run_battery(conv_transpose_dx_emptied,
                                            "conv_transpose2d_backward"), width=80).split())
    assert "dx's H is 0 where cnngrad's is" in text and "[p:-p]" not in text
    # "; 7" at a line's end and "more raised" on the next
    lines = render_text(run_battery(dense_dx_raising_dw_last_sample, "dense_backward"),
                        width=80).splitlines()
    assert any("more raised" in line for line in lines)
    assert not any(re.search(r"; \d+$", line.rstrip()) for line in lines)
