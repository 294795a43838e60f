# expect: weight_decay wd_half dW
#
# dW = 0.5 * lambda * W: the 1/2 of the term copied into its derivative.
# jaxbp exercises: chapter 6
"""Chapter 6 exercises (Deep Learning from Scratch, training techniques) in JAX."""

import jax.numpy as jnp


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


# 6.4.2 weight decay: 0.5 * lambda * W^2
def weight_decay_fwd(W, lambda_):
    return 0.5 * lambda_ * jnp.sum(W**2), (W, lambda_)


def weight_decay_bwd(residuals, dout):
    W, lambda_ = residuals
    return dout * 0.5 * lambda_ * W, None


# 6.4.3 Dropout
def dropout_fwd(x, u, ratio):
    mask = u > ratio  # self.mask = np.random.rand(*x.shape) > self.dropout_ratio
    return x * mask, mask


def dropout_bwd(ratio, residuals, dout):
    mask = residuals
    return dout * mask, None


def dropout_test(x, ratio):
    return x * (1.0 - ratio)
