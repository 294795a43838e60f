# expect: adagrad_update state_not_kept W
#
# AdaGrad's h = grad * grad each step: the sum of squares is not kept.
# jaxbp exercises: chapter 6
"""Chapter 6 exercises (Deep Learning from Scratch, training techniques) in JAX."""

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
    h = {key: grads[key] * grads[key] for key in params}
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
