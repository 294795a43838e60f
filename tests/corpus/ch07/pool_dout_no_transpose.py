# expect: max_pooling pool_dout_not_transposed dx
#
# dout flattened as (N, C, out_h, out_w): no transpose(0, 2, 3, 1).
# jaxbp exercises: chapter 7
"""Chapter 7 exercises (Deep Learning from Scratch, convolutional networks) in JAX."""

import jax.numpy as jnp


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


# 7.4.3 col2im: the adjoint of im2col
def col2im(col, input_shape, filter_h, filter_w, stride, pad):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = jnp.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img = img.at[:, :, y:y_max:stride, x:x_max:stride].add(col[:, :, y, x, :, :])
    return img[:, :, pad : H + pad, pad : W + pad]


# 7.4.3 Convolution
def convolution_fwd(x, W, b, stride, pad):
    FN, C, FH, FW = W.shape
    N, C, H, W_ = x.shape
    out_h = 1 + (H + 2 * pad - FH) // stride
    out_w = 1 + (W_ + 2 * pad - FW) // stride
    col = im2col(x, FH, FW, stride, pad)
    col_W = W.reshape(FN, -1).T
    out = jnp.dot(col, col_W) + b
    out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
    return out, (x, W, col, col_W)


def convolution_bwd(stride, pad, residuals, dout):
    x, W, col, col_W = residuals
    FN, C, FH, FW = W.shape
    dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
    db = jnp.sum(dout, axis=0)
    dW = jnp.dot(col.T, dout)
    dW = dW.transpose(1, 0).reshape(FN, C, FH, FW)
    dcol = jnp.dot(dout, col_W.T)
    dx = col2im(dcol, x.shape, FH, FW, stride, pad)
    return dx, dW, db


# 7.4.4 Pooling (max)
def max_pooling_fwd(x, pool_h, pool_w, stride, pad):
    N, C, H, W = x.shape
    out_h = 1 + (H + 2 * pad - pool_h) // stride
    out_w = 1 + (W + 2 * pad - pool_w) // stride
    col = im2col(x, pool_h, pool_w, stride, pad)
    col = col.reshape(-1, pool_h * pool_w)
    arg_max = jnp.argmax(col, axis=1)
    out = jnp.max(col, axis=1)
    out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
    return out, (x, arg_max)


def max_pooling_bwd(pool_h, pool_w, stride, pad, residuals, dout):
    x, arg_max = residuals
    pool_size = pool_h * pool_w
    dmax = jnp.zeros((dout.size, pool_size))
    dmax = dmax.at[jnp.arange(arg_max.size), arg_max.flatten()].set(dout.flatten())
    dmax = dmax.reshape(dout.shape + (pool_size,))
    dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
    dx = col2im(dcol, x.shape, pool_h, pool_w, stride, pad)
    return (dx,)
