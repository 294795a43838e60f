"""Chapter 6's exercises: the update rules, Batch Normalization, weight decay, Dropout.

* 6.1 ``sgd_update``, ``momentum_update``, ``adagrad_update``, ``adam_update``:
  the book's optimizer classes as pure functions
  ``NAME(params, grads, state, *hyper) -> (params, state)``, ``state`` ``None``
  at the first step (the book's ``self.v = None``), run over several steps;
  the right answers come from :mod:`jaxbp.optimizer`.
* 6.3.2 ``batch_norm``: training mode, forward and backward from figure
  6-17's graph (``eps = 10e-7``, the variance over N as ``np.mean``).
* 6.4.2 ``weight_decay``: the term ``0.5 * lambda * sum(W ** 2)`` and its
  derivative ``lambda * W``.
* 6.4.3 ``dropout``: training mode, the mask ``u > ratio`` (``u``: the book's
  ``np.random.rand(*x.shape)``, given so the grading is repeatable) kept as
  the residual; ``dropout_test``: test mode, ``x * (1 - ratio)``.

The inputs are chosen to catch the classic mistakes: gradients with exact
zeros and entries of 1e-3 (where the place of AdaGrad's and Adam's ``1e-7``
shows), hyperparameters other than the book's defaults (a hard-coded one
shows), a Batch Normalization feature of tiny variance and one constant over
the batch (the place of ``eps``), batch 1, ``u`` exactly equal to the ratio
(``u > ratio`` drops it).
"""

from __future__ import annotations

import numpy as np

from jaxbp.exercises.items import Case, Exercise, Function, Pattern, Steps, Update, ref, vals

__all__ = ["ITEMS", "TITLE", "EPS", "BN_EPS"]

TITLE = {
    "en": "Chapter 6 exercises (training techniques)",
    "ko": "6장 연습문제 (학습 관련 기술들)",
}
EPS = 1e-7  # the book's "+ 1e-7" in AdaGrad and Adam
BN_EPS = 10e-7  # the book's BatchNormalization (1e-6)


# ---- 6.1 the update rules, as the book writes them (NumPy, for the mistakes) -------------
def _zeros(params: dict) -> dict:
    return {k: np.zeros_like(v) for k, v in params.items()}


def _sgd(params, grads, state, lr, sign=1.0):
    return {k: p - sign * lr * grads[k] for k, p in params.items()}, state


def _momentum(params, grads, state, lr, momentum, sign=1.0, keep=True):
    v = state if state is not None else _zeros(params)
    v = {k: momentum * v[k] - sign * lr * grads[k] for k in params}
    return {k: p + v[k] for k, p in params.items()}, (v if keep else None)


def _adagrad(params, grads, state, lr, sign=1.0, keep=True, in_sqrt=False):
    h = state if state is not None else _zeros(params)
    h = {k: h[k] + grads[k] * grads[k] for k in params}
    root = (lambda a: np.sqrt(a + EPS)) if in_sqrt else (lambda a: np.sqrt(a) + EPS)
    new = {k: p - sign * lr * grads[k] / root(h[k]) for k, p in params.items()}
    return new, (h if keep else None)


def _adam(params, grads, state, lr, beta1, beta2, sign=1.0, keep=True, form="book", shift=0):
    it, m, v = state if state is not None else (0, _zeros(params), _zeros(params))
    it += 1
    m = {k: m[k] + (1 - beta1) * (grads[k] - m[k]) for k in params}
    v = {k: v[k] + (1 - beta2) * (grads[k] ** 2 - v[k]) for k in params}
    t = it + shift
    new = {}
    for k, p in params.items():
        if form == "paper":  # m_hat / (sqrt(v_hat) + eps), the paper's first form
            step = lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + EPS)
        else:
            lr_t = lr if form == "uncorrected" else lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            root = np.sqrt(v[k] + EPS) if form == "in_sqrt" else np.sqrt(v[k]) + EPS
            step = lr_t * m[k] / root
        new[k] = p - sign * step
    return new, ((it, m, v) if keep else None)


def _trajectory(rule, **options):
    """The params after each step of ``rule`` (one of the above) on a :class:`Steps`."""

    def run(case: Steps, hyper=None) -> list[dict]:
        params = {k: np.asarray(v, np.float64) for k, v in case.params.items()}
        state, out = None, []
        for grads in case.grads:
            params, state = rule(params, grads, state, *(hyper or case.hyper), **options)
            out.append(params)
        return out

    return run


def _ignored(rule, i: int, default: float):
    """The trajectory with hyperparameter ``i`` replaced by the book's default."""
    run = _trajectory(rule)
    return lambda case: run(case, case.hyper[:i] + (default,) + case.hyper[i + 1 :])


def _update_patterns(rule, names, defaults, *extra) -> tuple[Pattern, ...]:
    common = [Pattern("update_sign", "params", _trajectory(rule, sign=-1.0))]
    if rule is not _sgd:
        common.append(Pattern("state_not_kept", "params", _trajectory(rule, keep=False)))
    common += [
        Pattern("hyper_ignored", "params", _ignored(rule, i, d), {"h": n, "default": f"{d:g}"})
        for i, (n, d) in enumerate(zip(names, defaults))
    ]
    return (*extra, *common)


def _opt(name: str):
    """``jaxbp.optimizer.NAME``, imported on first call."""

    def build(*hyper):
        from jaxbp import optimizer

        return getattr(optimizer, name)(*hyper)

    return build


def _update_cases(hyper: tuple[tuple[float, ...], ...]):
    """A run at the book's defaults (5 steps), then one at other values (4 steps).

    W (3, 2) and b (2,); the gradients hold an exact 0 and entries of 1e-3 (where
    1e-7 inside or outside a square root differs), positive and negative."""

    def cases() -> list[Steps]:
        rng = np.random.default_rng(61)
        out = []
        for run, h in enumerate(hyper):
            params = {"W": vals(rng, 3, 2), "b": vals(rng, 2)}
            grads = []
            for s in range(5 - run):
                g = {"W": vals(rng, 3, 2), "b": vals(rng, 2)}
                g["W"][0, 0] = 1e-3 * (1 if s % 2 == 0 else 2)  # small: where eps shows
                g["b"][1] = -1e-3
                if s == 1:
                    g["W"][2, 1] = 0.0  # an exact 0: no step for that entry
                grads.append(g)
            out.append(Steps(params, tuple(grads), h))
        return out

    return cases


def _updates() -> tuple[Update, ...]:
    adam_extra = (
        Pattern("adam_paper_form", "params", _trajectory(_adam, form="paper"), accept=True),
        Pattern("eps_in_sqrt", "params", _trajectory(_adam, form="in_sqrt")),
        Pattern("adam_no_bias_correction", "params", _trajectory(_adam, form="uncorrected")),
        Pattern("adam_iter_off_by_one", "params", _trajectory(_adam, shift=1)),
    )
    return (
        Update(
            "sgd_update", "6.1.2", ("lr",), (0.01,),
            ("params[key] -= self.lr * grads[key]",),
            "nothing (the book's SGD keeps only lr): return the state you were given",
            _opt("sgd"), _update_cases(((0.01,), (0.1,))),
            _update_patterns(_sgd, ("lr",), (0.01,)),
        ),
        Update(
            "momentum_update", "6.1.4", ("lr", "momentum"), (0.01, 0.9),
            ("self.v[key] = self.momentum*self.v[key] - self.lr*grads[key]",
             "params[key] += self.v[key]"),
            "v: one array per key of params, zeros at the first step (self.v)",
            _opt("momentum"), _update_cases(((0.01, 0.9), (0.1, 0.8))),
            _update_patterns(_momentum, ("lr", "momentum"), (0.01, 0.9)),
        ),
        Update(
            "adagrad_update", "6.1.5", ("lr",), (0.01,),
            ("self.h[key] += grads[key] * grads[key]",
             "params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)"),
            "h: one array per key of params, zeros at the first step (self.h)",
            _opt("adagrad"), _update_cases(((0.01,), (0.1,))),
            _update_patterns(
                _adagrad, ("lr",), (0.01,),
                Pattern("eps_in_sqrt", "params", _trajectory(_adagrad, in_sqrt=True)),
            ),
        ),
        Update(
            "adam_update", "6.1.6", ("lr", "beta1", "beta2"), (0.001, 0.9, 0.999),
            ("self.iter += 1",
             "lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / "
             "(1.0 - self.beta1**self.iter)",
             "self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])",
             "self.v[key] += (1 - self.beta2) * (grads[key]**2 - self.v[key])",
             "params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)"),
            "iter (the step count, 0 before the first step), m and v: one array per key "
            "of params, zeros at the first step (self.iter, self.m, self.v)",
            _opt("adam"), _update_cases(((0.001, 0.9, 0.999), (0.05, 0.8, 0.95))),
            _update_patterns(_adam, ("lr", "beta1", "beta2"), (0.001, 0.9, 0.999), *adam_extra),
        ),
    )  # fmt: skip


# ---- 6.3.2 Batch Normalization ------------------------------------------------------------
def _bn_forward(x, gamma, beta, ddof=0, eps_outside=False, eps=BN_EPS, axis=0):
    with np.errstate(all="ignore"):
        xc = x - x.mean(axis=axis, keepdims=True)
        var = (xc**2).sum(axis=axis, keepdims=True) / (x.shape[axis] - ddof)
        std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        return gamma * (xc / std) + beta


def _bn_backward(x, gamma, dout, mean_path=True, var_path=True, n_var=0):
    """Figure 6-17's backward, with the chosen paths (``n_var``: N - n_var in dvar's 2/N)."""
    N = x.shape[0]
    xc = x - x.mean(axis=0)
    std = np.sqrt((xc**2).mean(axis=0) + BN_EPS)
    dxn = gamma * dout
    dxc = dxn / std
    if var_path:
        dvar = 0.5 * -np.sum(dxn * xc / (std * std), axis=0) / std
        with np.errstate(all="ignore"):
            dxc = dxc + (2.0 / (N - n_var)) * xc * dvar
    if not mean_path:
        return dxc
    return dxc - dxc.sum(axis=0) / N


def _bn_cases() -> list[Case]:
    rng = np.random.default_rng(63)

    def case(x):
        N, D = x.shape
        gamma = vals(rng, D)
        return Case((x, gamma, vals(rng, D)), vals(rng, N, D))

    x0 = vals(rng, 4, 3)
    x0[:, 1] = 0.5 + np.array([1.0, -2.0, 1.5, -0.5]) * 1e-3  # tiny variance: eps shows
    x1 = vals(rng, 2, 5)
    x1[:, 3] = 1.2  # constant over the batch: variance exactly 0
    return [case(x0), case(x1), case(vals(rng, 6, 2)), case(vals(rng, 1, 3))]


def _bn_patterns() -> tuple[Pattern, ...]:
    fwd = lambda **o: lambda i, d: _bn_forward(*i, **o)
    bwd = lambda **o: lambda i, d: _bn_backward(i[0], i[1], d, **o)
    return (
        Pattern("bn_n_minus_1", "out", fwd(ddof=1)),
        Pattern("eps_outside_sqrt", "out", fwd(eps_outside=True)),
        Pattern("bn_eps_missing", "out", fwd(eps=0.0)),
        Pattern("bn_wrong_axis", "out", fwd(axis=1)),
        Pattern("bn_mean_path_forgotten", "dx", bwd(mean_path=False)),
        Pattern("bn_var_path_forgotten", "dx", bwd(var_path=False)),
        Pattern("bn_stats_constant", "dx", bwd(mean_path=False, var_path=False)),
        Pattern("bn_n_minus_1", "dx", bwd(n_var=1)),
        Pattern("bn_dgamma_xc", "dgamma", lambda i, d: np.sum((i[0] - i[0].mean(0)) * d, 0)),
    )


# ---- 6.4.2 weight decay ---------------------------------------------------------------------
def _wd_cases() -> list[Case]:
    rng = np.random.default_rng(642)
    # dout 1, then neither 0.5 nor 2: dout forgotten must not look like a factor 2 or 1/2
    dims = (((3, 2), 0.1, 1.0), ((2, 4), 0.05, 0.3), ((1, 4), 0.2, 3.0))
    return [Case((vals(rng, *s), np.float64(lam)), np.float64(g)) for s, lam, g in dims]


_WD_PATTERNS = (
    Pattern("wd_fwd_no_half", "out", lambda i, d: i[1] * np.sum(i[0] ** 2)),
    Pattern("wd_factor_two", "dW", lambda i, d: 2 * i[1] * i[0] * d),
    Pattern("wd_half", "dW", lambda i, d: 0.5 * i[1] * i[0] * d),
)


# ---- 6.4.3 Dropout --------------------------------------------------------------------------
def _dropout_cases() -> list[Case]:
    rng = np.random.default_rng(643)
    out = []
    for (N, n), ratio in (((2, 4), 0.5), ((1, 5), 0.25), ((4, 3), 0.5)):
        u = rng.uniform(0, 1, (N, n)).round(2)
        u.flat[1] = u.flat[-1] = ratio  # u > ratio drops these: the book's strict >
        out.append(Case((vals(rng, N, n), u), vals(rng, N, n), (ratio,)))
    return out


def _dropout_ref(x, u, ratio):
    return x * (u > ratio)


def _mask(u, ratio, op=np.greater):
    return op(u, ratio).astype(np.float64)


_DROPOUT_PATTERNS = (
    Pattern("dropout_mask_ge", "out", lambda i, d, r: i[0] * _mask(i[1], r, np.greater_equal)),
    Pattern("dropout_mask_inverted", "out", lambda i, d, r: i[0] * _mask(i[1], r, np.less_equal)),
    Pattern("dropout_mask_inverted", "out", lambda i, d, r: i[0] * _mask(i[1], r, np.less)),
    Pattern("dropout_inverted_scaling", "out", lambda i, d, r: i[0] * _mask(i[1], r) / (1 - r)),
    Pattern("dropout_bwd_no_mask", "dx", lambda i, d, r: d),
    Pattern("dropout_inverted_scaling", "dx", lambda i, d, r: d * _mask(i[1], r) / (1 - r)),
    Pattern("dropout_mask_ge", "dx", lambda i, d, r: d * _mask(i[1], r, np.greater_equal)),
    Pattern("dropout_mask_inverted", "dx", lambda i, d, r: d * _mask(i[1], r, np.less_equal)),
    Pattern("dropout_mask_inverted", "dx", lambda i, d, r: d * _mask(i[1], r, np.less)),
)


def _dropout_test_cases() -> list[Case]:
    rng = np.random.default_rng(6431)
    return [Case((vals(rng, *s),), None, (r,)) for s, r in (((2, 3), 0.25), ((1, 4), 0.4))]


def _dropout_test_ref(x, ratio):
    return x * (1.0 - ratio)


_DROPOUT_TEST_PATTERNS = (
    Pattern("dropout_test_no_scale", "out", lambda i, d, r: i[0]),
    Pattern("dropout_test_ratio", "out", lambda i, d, r: i[0] * r),
    Pattern("dropout_test_inverted", "out", lambda i, d, r: i[0] / (1 - r)),
)


def _rules() -> tuple:
    return (
        Exercise(
            "batch_norm", "6.3.2", ("x", "gamma", "beta"), ("dx", "dgamma", "dbeta"),
            ("self.batch_size = x.shape[0]", "self.xc = xc", "self.xn = xn", "self.std = std",
             "(and gamma: the backward reads self.gamma)"),
            "x: (N, D) a batch of N samples; gamma, beta: (D,); out: (N, D); training mode, "
            "eps = 10e-7 as the book",
            lambda x, g, b: ref("reference", "batch_norm")(x, g, b, None, True)[0],
            _bn_cases, _bn_patterns(),
            factors=lambda i, out: {"gamma": i[1]}, which="cases_bn",
        ),
        Exercise(
            "weight_decay", "6.4.2", ("W", "lambda_"), ("dW", "dlambda_"),
            ("(the book reads self.params['W' + str(idx)] again in gradient())",),
            "W: a weight matrix (n, m); lambda_: a scalar (); out: the term "
            "0.5 * lambda_ * sum(W ** 2), a scalar ()",
            ref("reference", "weight_decay_loss"), _wd_cases, _WD_PATTERNS,
            labels=("dlambda_",), factors=lambda i, out: {"lambda": i[1]}, which="cases_wd",
        ),
        Exercise(
            "dropout", "6.4.3", ("x", "u"), ("dx", "du"),
            ("self.mask = np.random.rand(*x.shape) > self.dropout_ratio  (here: u > ratio)",),
            "x: any shape, e.g. (N, n); u: uniform numbers of x's shape, the book's "
            "np.random.rand(*x.shape); ratio: a float in [0, 1); out: x's shape; training mode",
            _dropout_ref, _dropout_cases, _DROPOUT_PATTERNS,
            labels=("du",), static=("ratio",), which="cases_dropout",
        ),
        Function(
            "dropout_test", "6.4.3", ("x",), ("ratio",),
            ("return x * (1.0 - self.dropout_ratio)  (train_flg=False)",),
            "x: any shape, e.g. (N, n); ratio: a float in [0, 1); out: x's shape; test mode",
            _dropout_test_ref, _dropout_test_cases, _DROPOUT_TEST_PATTERNS, which="cases_pair",
        ),
    )  # fmt: skip


ITEMS = {it.name: it for it in (*_updates(), *_rules())}
