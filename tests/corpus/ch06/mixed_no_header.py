# expect: file mixed_chapters
#
# Chapter 5's relu pasted in above chapter 6's batch norm, and no chapter line.
"""Homework 6: optimizers and batch norm."""

import jax.numpy as jnp


def relu_fwd(x):
    mask = x <= 0
    return jnp.where(mask, 0.0, x), mask


def relu_bwd(residuals, dout):
    return (jnp.where(residuals, 0.0, dout),)


# 6.3.2 Batch Normalization (training mode), figure 6-17
def batch_norm_fwd(x, gamma, beta):
    mu = x.mean(axis=0)
    xc = x - mu
    var = jnp.mean(xc**2, axis=0)
    std = jnp.sqrt(var + 10e-7)
    xn = xc / std
    out = gamma * xn + beta
    return out, (gamma, xc, xn, std)


def batch_norm_bwd(residuals, dout):
    gamma, xc, xn, std = residuals
    batch_size = xc.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = jnp.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -jnp.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / batch_size) * xc * dvar
    dmu = jnp.sum(dxc, axis=0)
    dx = dxc - dmu / batch_size
    return dx, dgamma, dbeta
