"""Parameter update rules (book section 6.1) as optax ``GradientTransformation``s.

The book's optimizer classes (``common/optimizer.py``) keep their state on
``self`` and update ``params`` in place.  Here each rule is an optax
transformation: ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``, applied with
``optax.apply_updates(params, updates)`` (``params + updates``).

Where optax's own transformation computes the book's formula exactly (same
algebra; only float rounding may differ) it is used as is; the rest are small
transformations written here.  ``tests/test_optimizer.py`` runs 100 steps of
each beside a NumPy port of the book's class and checks they agree in float64.

    name       book                                            here
    sgd        W <- W - lr dL/dW                 (eq. 6.1)     optax.sgd(lr)
    momentum   v <- m v - lr dL/dW; W <- W + v   (eq. 6.3-6.4) optax.sgd(lr, momentum=m)
                   (optax keeps t = g + m t and updates -lr t; v = -lr t)
    nesterov   W <- W + m^2 v - (1 + m) lr g; v <- m v - lr g  optax.sgd(lr, m, nesterov=True)
                   (optax: -lr (g + m t_new) = -lr ((1 + m) g + m^2 t_old))
    adagrad    h <- h + g*g; W <- W - lr g / (sqrt(h) + 1e-7)  (eq. 6.5-6.6) written here:
                   optax.adagrad puts eps inside the square root and starts h at 0.1
    rmsprop    h <- d h + (1 - d) g*g; W <- W - lr g / (sqrt(h) + 1e-7)
                   optax.rmsprop(lr, decay=d, eps=1e-7, eps_in_sqrt=False)
    adam       m += (1 - b1)(g - m); v += (1 - b2)(g*g - v);     written here:
               lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
               W <- W - lr_t m / (sqrt(v) + 1e-7)
                   optax.adam computes lr m_hat / (sqrt(v_hat) + eps); the
                   book's rule in that form has eps / sqrt(1 - b2^t), an eps
                   that changes every step, so the updates differ.

Default hyperparameters are the book's class defaults (``lr=0.01`` except
Adam's ``lr=0.001``; ``momentum=0.9``; ``decay_rate=0.99``;
``beta1=0.9, beta2=0.999``).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "get",
    "NAMES",
    "DEFAULT_LR",
]

#: The book's default learning rate of each class in ``common/optimizer.py``.
DEFAULT_LR = {
    "sgd": 0.01,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.01,
    "adam": 0.001,
}
NAMES = tuple(DEFAULT_LR)

_EPS = 1e-7  # the book's "+ 1e-7" in AdaGrad, RMSprop, Adam


def _check_rate(name: str, arg: str, value: float, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a number, got {type(value).__name__}")
    if not (value >= 0 and (upper is None or value < upper)):
        bound = f"in [0, {upper:g})" if upper is not None else ">= 0"
        raise ValueError(f"{name}: {arg} must be {bound}, got {value}")
    return float(value)


# ---- SGD, Momentum, Nesterov, RMSprop: optax computes the book's formula ------
def sgd(lr: float = 0.01) -> optax.GradientTransformation:
    """SGD, eq. 6.1: ``W <- W - lr * dL/dW`` (6.1.2).

    >>> params, grads = {"W": jnp.array([1.0, 2.0])}, {"W": jnp.array([10.0, -10.0])}
    >>> opt = sgd(lr=0.1)
    >>> updates, state = opt.update(grads, opt.init(params), params)
    >>> optax.apply_updates(params, updates)["W"]
    Array([0., 3.], dtype=float32)
    """
    return optax.sgd(_check_rate("sgd", "lr", lr))


def momentum(lr: float = 0.01, momentum: float = 0.9) -> optax.GradientTransformation:
    """Momentum, eq. 6.3-6.4: ``v <- momentum*v - lr*g``; ``W <- W + v`` (6.1.4).

    optax's trace ``t <- g + momentum*t`` with update ``-lr*t`` is the same
    sequence (``v = -lr*t``) for a constant ``lr``.

    >>> opt = momentum(lr=0.1, momentum=0.9)
    >>> state = opt.init(jnp.zeros(()))
    >>> for _ in range(2):                          # two steps, gradient 1
    ...     update, state = opt.update(jnp.ones(()), state)
    ...     print(round(float(update), 4))
    -0.1
    -0.19
    """
    return optax.sgd(
        _check_rate("momentum", "lr", lr),
        momentum=_check_rate("momentum", "momentum", momentum, 1.0),
    )


def nesterov(lr: float = 0.01, momentum: float = 0.9) -> optax.GradientTransformation:
    """Nesterov's accelerated gradient, the book's ``Nesterov`` class (6.1.7 note).

    Book: ``W += m*m*v - (1 + m)*lr*g``; ``v <- m*v - lr*g``.  optax's Nesterov
    trace updates by ``-lr*(g + m*(g + m*t)) = m^2 (-lr t) - (1 + m) lr g``, the
    same with ``v = -lr*t``.

    >>> opt = nesterov(lr=0.1, momentum=0.9)
    >>> state = opt.init(jnp.zeros(()))
    >>> for _ in range(2):                          # two steps, gradient 1
    ...     update, state = opt.update(jnp.ones(()), state)
    ...     print(round(float(update), 4))
    -0.19
    -0.271
    """
    return optax.sgd(
        _check_rate("nesterov", "lr", lr),
        momentum=_check_rate("nesterov", "momentum", momentum, 1.0),
        nesterov=True,
    )


def rmsprop(lr: float = 0.01, decay_rate: float = 0.99) -> optax.GradientTransformation:
    """RMSprop, the book's ``RMSprop`` class (6.1.5 note).

    ``h <- decay_rate*h + (1 - decay_rate)*g*g``;
    ``W <- W - lr*g / (sqrt(h) + 1e-7)``, ``h`` starting at 0: optax's
    ``rmsprop`` with ``eps_in_sqrt=False`` and ``initial_scale=0``.

    >>> opt = rmsprop(lr=0.1)
    >>> state = opt.init(jnp.zeros(()))
    >>> for _ in range(2):                          # two steps, gradient 1
    ...     update, state = opt.update(jnp.ones(()), state)
    ...     print(round(float(update), 4))
    -1.0
    -0.7089
    """
    return optax.rmsprop(
        _check_rate("rmsprop", "lr", lr),
        decay=_check_rate("rmsprop", "decay_rate", decay_rate, 1.0),
        eps=_EPS,
        initial_scale=0.0,
        eps_in_sqrt=False,
    )


# ---- AdaGrad (6.1.5) and Adam (6.1.6): written here ---------------------------
class AdaGradState(NamedTuple):
    h: optax.Params  # self.h: sum of squared gradients


def adagrad(lr: float = 0.01) -> optax.GradientTransformation:
    """AdaGrad, eq. 6.5-6.6 (6.1.5): ``h <- h + g*g``; ``W <- W - lr*g / (sqrt(h) + 1e-7)``.

    ``h`` starts at 0 and ``1e-7`` sits outside the square root, as the book's
    class; optax's ``adagrad`` does neither.

    >>> opt = adagrad(lr=0.1)
    >>> state = opt.init(jnp.zeros(()))
    >>> for _ in range(2):                          # two steps, gradient 1
    ...     update, state = opt.update(jnp.ones(()), state)
    ...     print(round(float(update), 4))
    -0.1
    -0.0707
    """
    lr = _check_rate("adagrad", "lr", lr)

    def init(params):
        return AdaGradState(h=jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(grads, state, params=None):
        del params
        h = jax.tree_util.tree_map(lambda h, g: h + g * g, state.h, grads)  # self.h += g * g
        updates = jax.tree_util.tree_map(lambda g, h: -(lr * g / (jnp.sqrt(h) + _EPS)), grads, h)
        return updates, AdaGradState(h=h)

    return optax.GradientTransformation(init, update)


class AdamState(NamedTuple):
    iter: jax.Array  # self.iter
    m: optax.Params  # self.m
    v: optax.Params  # self.v


def adam(
    lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999
) -> optax.GradientTransformation:
    """Adam, the book's ``Adam`` class (6.1.6).

    ``m += (1 - beta1)*(g - m)``; ``v += (1 - beta2)*(g*g - v)``;
    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``;
    ``W <- W - lr_t * m / (sqrt(v) + 1e-7)`` with ``t`` the step number from 1.
    The bias correction is folded into ``lr_t``, so the ``1e-7`` acts on the
    uncorrected ``sqrt(v)``; optax's ``adam`` corrects ``m`` and ``v`` instead,
    which is not the same update.

    >>> opt = adam(lr=0.1)
    >>> state = opt.init(jnp.zeros(()))
    >>> for _ in range(2):                          # two steps, gradient 1
    ...     update, state = opt.update(jnp.ones(()), state)
    ...     print(round(float(update), 4))
    -0.1
    -0.1
    """
    lr = _check_rate("adam", "lr", lr)
    beta1 = _check_rate("adam", "beta1", beta1, 1.0)
    beta2 = _check_rate("adam", "beta2", beta2, 1.0)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(iter=jnp.zeros([], jnp.int32), m=zeros, v=zeros)

    def update(grads, state, params=None):
        del params
        t = state.iter + 1  # self.iter += 1
        m = jax.tree_util.tree_map(lambda m, g: m + (1 - beta1) * (g - m), state.m, grads)
        v = jax.tree_util.tree_map(lambda v, g: v + (1 - beta2) * (g**2 - v), state.v, grads)

        def step(m, v):
            tf = t.astype(m.dtype)
            lr_t = lr * jnp.sqrt(1.0 - beta2**tf) / (1.0 - beta1**tf)
            return -(lr_t * m / (jnp.sqrt(v) + _EPS))

        return jax.tree_util.tree_map(step, m, v), AdamState(iter=t, m=m, v=v)

    return optax.GradientTransformation(init, update)


_BUILDERS = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


def get(name: str, lr: float | None = None) -> optax.GradientTransformation:
    """The update rule called ``name`` (case-insensitive) with learning rate ``lr``.

    ``lr=None`` takes the book's default (:data:`DEFAULT_LR`); every other
    hyperparameter is the book's default.  Names: ``sgd``, ``momentum``,
    ``nesterov``, ``adagrad``, ``rmsprop``, ``adam``.

    >>> opt = get("Adam")                               # the book's lr=0.001
    >>> update, _ = opt.update(jnp.ones(()), opt.init(jnp.zeros(())))
    >>> round(float(update), 6)
    -0.001
    >>> get("lion")
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'lion'; choose one of sgd, momentum, nesterov, adagrad, ...
    """
    if not isinstance(name, str) or name.lower() not in _BUILDERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(NAMES)}")
    name = name.lower()
    return _BUILDERS[name](DEFAULT_LR[name] if lr is None else lr)
