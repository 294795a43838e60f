# expect: file mixed_chapters
#
# Chapter 5's relu pasted above chapter 7's im2col, and no chapter line.
"""Homework: relu from chapter 5 and im2col from chapter 7."""

import jax.numpy as jnp


def relu_fwd(x):
    mask = x <= 0
    return jnp.where(mask, 0.0, x), mask


def relu_bwd(residuals, dout):
    return (jnp.where(residuals, 0.0, dout),)


# 7.4.3 im2col (common/util.py)
def im2col(input_data, filter_h, filter_w, stride, pad):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = jnp.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = jnp.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col = col.at[:, :, y, x, :, :].set(img[:, :, y:y_max:stride, x:x_max:stride])
    col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)
    return col
