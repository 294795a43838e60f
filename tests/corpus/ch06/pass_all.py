# expect: pass
#
# Right: every exercise of the chapter.
# jaxbp exercises: chapter 6
"""6장 과제: 매개변수 갱신, 배치 정규화, 가중치 감소, 드롭아웃 (JAX로)"""

import jax.numpy as jnp


# 6.1.2 SGD
def sgd_update(params, grads, state, lr=0.01):
    new_params = {}
    for key in params.keys():
        new_params[key] = params[key] - lr * grads[key]
    return new_params, state


# 6.1.4 Momentum
def momentum_update(params, grads, state, lr=0.01, momentum=0.9):
    if state is None:  # if self.v is None:
        state = {}
        for key, val in params.items():
            state[key] = jnp.zeros_like(val)
    v = {}
    new_params = {}
    for key in params.keys():
        v[key] = momentum * state[key] - lr * grads[key]
        new_params[key] = params[key] + v[key]
    return new_params, v


# 6.1.5 AdaGrad
def adagrad_update(params, grads, state, lr=0.01):
    if state is None:
        state = {key: jnp.zeros_like(val) for key, val in params.items()}
    h = {key: state[key] + grads[key] * grads[key] for key in params}
    new_params = {key: params[key] - lr * grads[key] / (jnp.sqrt(h[key]) + 1e-7) for key in params}
    return new_params, h


# 6.1.6 Adam
def adam_update(params, grads, state, lr=0.001, beta1=0.9, beta2=0.999):
    if state is None:
        state = {
            "iter": 0,
            "m": {key: jnp.zeros_like(val) for key, val in params.items()},
            "v": {key: jnp.zeros_like(val) for key, val in params.items()},
        }
    it = state["iter"] + 1
    lr_t = lr * jnp.sqrt(1.0 - beta2**it) / (1.0 - beta1**it)
    m, v, new_params = {}, {}, {}
    for key in params.keys():
        m[key] = state["m"][key] + (1 - beta1) * (grads[key] - state["m"][key])
        v[key] = state["v"][key] + (1 - beta2) * (grads[key] ** 2 - state["v"][key])
        new_params[key] = params[key] - lr_t * m[key] / (jnp.sqrt(v[key]) + 1e-7)
    return new_params, {"iter": it, "m": m, "v": v}


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
    return dout * lambda_ * W, None


# 6.4.3 Dropout
def dropout_fwd(x, u, ratio):
    mask = u > ratio  # self.mask = np.random.rand(*x.shape) > self.dropout_ratio
    return x * mask, mask


def dropout_bwd(ratio, residuals, dout):
    mask = residuals
    return dout * mask, None


def dropout_test(x, ratio):
    return x * (1.0 - ratio)
