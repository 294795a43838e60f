# jaxbp exercises: chapter 6
"""The project's own answers to chapter 6's exercises (``python -m jaxbp.exercises``).

The template (``python -m jaxbp.exercises new FILE --chapter 6``) with every
body written: the tests grade this file (every exercise must pass) and fill
the chapter 6 exercises notebook's cells from it.  Kept out of the package,
so that learners write their own.
"""

import jax.numpy as jnp


# ---- sgd_update (6.1.2) ----
def sgd_update(params, grads, state, lr=0.01):
    return {key: params[key] - lr * grads[key] for key in params}, state


# ---- momentum_update (6.1.4) ----
def momentum_update(params, grads, state, lr=0.01, momentum=0.9):
    v = state if state is not None else {key: jnp.zeros_like(p) for key, p in params.items()}
    v = {key: momentum * v[key] - lr * grads[key] for key in params}
    return {key: params[key] + v[key] for key in params}, v


# ---- adagrad_update (6.1.5) ----
def adagrad_update(params, grads, state, lr=0.01):
    h = state if state is not None else {key: jnp.zeros_like(p) for key, p in params.items()}
    h = {key: h[key] + grads[key] * grads[key] for key in params}
    new = {key: params[key] - lr * grads[key] / (jnp.sqrt(h[key]) + 1e-7) for key in params}
    return new, h


# ---- adam_update (6.1.6) ----
def adam_update(params, grads, state, lr=0.001, beta1=0.9, beta2=0.999):
    if state is None:
        zeros = {key: jnp.zeros_like(p) for key, p in params.items()}
        state = {"iter": 0, "m": zeros, "v": zeros}
    it = state["iter"] + 1  # self.iter += 1
    lr_t = lr * jnp.sqrt(1.0 - beta2**it) / (1.0 - beta1**it)
    m = {key: state["m"][key] + (1 - beta1) * (grads[key] - state["m"][key]) for key in params}
    v = {key: state["v"][key] + (1 - beta2) * (grads[key] ** 2 - state["v"][key]) for key in params}
    new = {key: params[key] - lr_t * m[key] / (jnp.sqrt(v[key]) + 1e-7) for key in params}
    return new, {"iter": it, "m": m, "v": v}


# ---- batch_norm (6.3.2) ----
def batch_norm_fwd(x, gamma, beta):
    mu = x.mean(axis=0)
    xc = x - mu
    var = jnp.mean(xc**2, axis=0)
    std = jnp.sqrt(var + 10e-7)
    xn = xc / std
    return gamma * xn + beta, (gamma, xc, xn, std)  # self.xc, self.xn, self.std


def batch_norm_bwd(residuals, dout):
    gamma, xc, xn, std = residuals
    n = xc.shape[0]  # self.batch_size
    dbeta = dout.sum(axis=0)
    dgamma = jnp.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -jnp.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc = dxc + (2.0 / n) * xc * dvar
    dmu = jnp.sum(dxc, axis=0)
    dx = dxc - dmu / n
    return dx, dgamma, dbeta


# ---- weight_decay (6.4.2) ----
def weight_decay_fwd(W, lambda_):
    return 0.5 * lambda_ * jnp.sum(W**2), (W, lambda_)


def weight_decay_bwd(residuals, dout):
    W, lambda_ = residuals
    return dout * lambda_ * W, None  # lambda is not differentiated


# ---- dropout (6.4.3) ----
def dropout_fwd(x, u, ratio):
    mask = u > ratio  # self.mask = np.random.rand(*x.shape) > self.dropout_ratio
    return x * mask, mask


def dropout_bwd(ratio, residuals, dout):
    mask = residuals
    return dout * mask, None  # u is not differentiated


def dropout_test(x, ratio):
    return x * (1.0 - ratio)
