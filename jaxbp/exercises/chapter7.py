"""Chapter 7's exercises: im2col and col2im, Convolution, max Pooling, SimpleConvNet.

* 7.4.3 ``im2col(input_data, filter_h, filter_w, stride, pad)`` and
  ``col2im(col, input_shape, filter_h, filter_w, stride, pad)``, the book's
  ``common/util.py``; col2im is checked as im2col's adjoint (``jax.vjp``).
* 7.4.3 ``convolution``: ``convolution_fwd(x, W, b, stride, pad)`` and
  ``convolution_bwd(stride, pad, residuals, dout) -> (dx, dW, db)``: the
  stride and the pad are Python ints, JAX's ``nondiff_argnums``, so they come
  first in the backward.
* 7.4.4 ``max_pooling``: ``max_pooling_fwd(x, pool_h, pool_w, stride, pad)``
  and ``max_pooling_bwd(pool_h, pool_w, stride, pad, residuals, dout) -> (dx,)``.
* 7.5 ``simple_conv_net_gradient(params, x, t)``: SimpleConvNet's gradient from
  the learner's convolution and pooling (chapter 5's layers from
  :mod:`jaxbp.layers`).

The inputs: windows that overlap (stride smaller than the filter: col2im must
add, not assign), a stride of 2 with a pad of 1, several channels (the order
of a col row shows), non-square images and filters, batch 1 and larger, and
for pooling small integers, so that windows hold tied maxima (the book's
``np.argmax`` routes the gradient to the first).
"""

from __future__ import annotations

import numpy as np

from jaxbp.exercises.items import Case, Exercise, Function, Network, Pattern, one_hot, ref, vals

__all__ = ["ITEMS", "TITLE", "NET_NAME", "net_cases"]

TITLE = {
    "en": "Chapter 7 exercises (convolutional neural networks)",
    "ko": "7장 연습문제 (합성곱 신경망)",
}
NET_NAME = "simple_conv_net_gradient"
#        N  C  H  W   fh fw stride pad: overlapping windows, stride 2 with pad 1, tiling windows
_GEOMETRIES = ((2, 2, 5, 4, 3, 2, 1, 0), (1, 1, 5, 5, 3, 3, 2, 1), (3, 2, 4, 4, 2, 2, 2, 0))


# ---- the book's common/util.py, in NumPy (for the mistakes) --------------------------------
def _out(size: int, f: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - f) // stride + 1


def _im2col(x, fh, fw, stride, pad, order=(0, 4, 5, 1, 2, 3), step=None):
    """The book's im2col; ``order`` its transpose, ``step`` the slicing step (the stride)."""
    N, C, H, W = x.shape
    oh, ow = _out(H, fh, stride, pad), _out(W, fw, stride, pad)
    step = stride if step is None else step
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    img = np.pad(img, [(0, 0), (0, 0), (0, stride * oh), (0, stride * ow)])  # room for any step
    col = np.zeros((N, C, fh, fw, oh, ow))
    for y in range(fh):
        for x_ in range(fw):
            col[:, :, y, x_] = img[:, :, y : y + step * oh : step, x_ : x_ + step * ow : step]
    if order is None:  # no transpose: the (N, C, fh, fw, oh, ow) block read row by row
        return col.reshape(N * oh * ow, -1)
    return col.transpose(order).reshape(N * oh * ow, -1)


def _col2im(col, shape, fh, fw, stride, pad, add=True, crop=True):
    """The book's col2im; ``add=False`` assigns (``=``) where the book adds (``+=``);
    ``crop=False`` returns the whole padded image, ``crop="pad"`` it less the rows
    the book adds for the stride."""
    N, C, H, W = shape
    oh, ow = _out(H, fh, stride, pad), _out(W, fw, stride, pad)
    col = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(fh):
        for x in range(fw):
            window = img[:, :, y : y + stride * oh : stride, x : x + stride * ow : stride]
            window[...] = window + col[:, :, y, x] if add else col[:, :, y, x]
    if crop == "pad":
        return img[:, :, : H + 2 * pad, : W + 2 * pad]
    return img[:, :, pad : H + pad, pad : W + pad] if crop else img


def _geometry_static(g) -> tuple[int, int, int, int]:
    return g[4], g[5], g[6], g[7]


# ---- 7.4.3 im2col and col2im ------------------------------------------------------------------
def _im2col_cases() -> list[Case]:
    rng = np.random.default_rng(743)
    return [Case((vals(rng, *g[:4]),), None, _geometry_static(g)) for g in _GEOMETRIES]


def _col2im_cases() -> list[Case]:
    rng = np.random.default_rng(7431)
    out = []
    for N, C, H, W, fh, fw, s, p in _GEOMETRIES:
        rows = N * _out(H, fh, s, p) * _out(W, fw, s, p)
        out.append(Case((vals(rng, rows, C * fh * fw),), None, ((N, C, H, W), fh, fw, s, p)))
    return out


def _col2im_ref(col, input_shape, fh, fw, stride, pad):
    """col2im as the adjoint of im2col: ``jax.vjp`` of :func:`jaxbp.im2col.im2col`."""
    import jax
    import jax.numpy as jnp

    from jaxbp.im2col import im2col

    x = jnp.zeros(input_shape, col.dtype)
    return jax.vjp(lambda x: im2col(x, fh, fw, stride, pad), x)[1](col)[0]


_IM2COL_PATTERNS = (
    Pattern("im2col_order", "out", lambda i, d, *g: _im2col(i[0], *g, order=(0, 4, 5, 2, 3, 1))),
    Pattern("im2col_not_transposed", "out", lambda i, d, *g: _im2col(i[0], *g, order=None)),
    Pattern("im2col_stride_forgotten", "out", lambda i, d, *g: _im2col(i[0], *g, step=1)),
)
_COL2IM_PATTERNS = (
    Pattern("col2im_assign_not_add", "out", lambda i, d, *g: _col2im(i[0], *g, add=False)),
    Pattern("col2im_not_cropped", "out", lambda i, d, *g: _col2im(i[0], *g, crop=False)),
    Pattern("col2im_not_cropped", "out", lambda i, d, *g: _col2im(i[0], *g, crop="pad")),
)


# ---- 7.4.3 Convolution -----------------------------------------------------------------------
def _conv_cases() -> list[Case]:
    """The first two geometries (batch 2 and 1, overlapping windows, stride 2 with pad 1):
    each case is one more copy of the learner's im2col and col2im to compile."""
    rng = np.random.default_rng(7432)
    out = []
    for (N, C, H, W, fh, fw, s, p), FN in zip(_GEOMETRIES[:2], (3, 2)):
        oh, ow = _out(H, fh, s, p), _out(W, fw, s, p)
        arrays = (vals(rng, N, C, H, W), vals(rng, FN, C, fh, fw), vals(rng, FN))
        out.append(Case(arrays, vals(rng, N, FN, oh, ow), (s, p)))
    return out


def _conv_parts(i, d, stride, pad, dout_order=(0, 2, 3, 1)):
    """``(col, col_W, dout as (N*oh*ow, FN))`` of the book's Convolution."""
    x, W, _ = i
    FN = W.shape[0]
    col = _im2col(x, W.shape[2], W.shape[3], stride, pad)
    return col, W.reshape(FN, -1).T, d.transpose(dout_order).reshape(-1, FN)


def _conv_out_unordered(i, d, stride, pad):
    col, col_W, _ = _conv_parts(i, d, stride, pad)
    N, FN = i[0].shape[0], i[1].shape[0]
    return (col @ col_W + i[2]).reshape(N, FN, *d.shape[2:])  # no transpose(0, 3, 1, 2)


def _conv_grads(i, d, stride, pad, which: str, add=True, dout_order=(0, 2, 3, 1)):
    x, W, _ = i
    col, col_W, d2 = _conv_parts(i, d, stride, pad, dout_order)
    if which == "db":
        return d2.sum(axis=0)
    if which == "dW":
        return (col.T @ d2).T.reshape(W.shape)
    return _col2im(d2 @ col_W.T, x.shape, W.shape[2], W.shape[3], stride, pad, add=add)


def _dw_not_transposed(i, d, stride, pad):
    col, _, d2 = _conv_parts(i, d, stride, pad)
    return (col.T @ d2).reshape(i[1].shape)  # no .transpose(1, 0)


def _conv_patterns() -> tuple[Pattern, ...]:
    unordered = (0, 1, 2, 3)  # dout.reshape(-1, FN) without transpose(0, 2, 3, 1)
    return (
        Pattern("conv_out_not_transposed", "out", _conv_out_unordered),
        Pattern("col2im_assign_not_add", "dx", lambda i, d, *g: _conv_grads(i, d, *g, "dx",
                                                                             add=False)),
        Pattern("conv_dw_not_transposed", "dW", _dw_not_transposed),
        Pattern("conv_db_axes", "db", lambda i, d, *g: d.sum(axis=0)),
        Pattern("conv_db_axes", "db", lambda i, d, *g: d.sum(axis=(0, 2))),
        *(
            Pattern("conv_dout_not_transposed", w,
                    lambda i, d, *g, w=w: _conv_grads(i, d, *g, w, dout_order=unordered))
            for w in ("dx", "dW")
        ),
    )  # fmt: skip


# ---- 7.4.4 max Pooling ------------------------------------------------------------------------
_POOLS = ((2, 2, 4, 6, 2, 2, 2, 0), (1, 3, 5, 5, 3, 3, 2, 0), (1, 1, 4, 5, 2, 2, 1, 0))


def _pool_cases() -> list[Case]:
    rng = np.random.default_rng(744)
    out = []
    for N, C, H, W, ph, pw, s, p in _POOLS:
        x = rng.integers(-2, 3, (N, C, H, W)).astype(np.float64)  # small integers: ties
        oh, ow = _out(H, ph, s, p), _out(W, pw, s, p)
        out.append(Case((x,), vals(rng, N, C, oh, ow), (ph, pw, s, p)))
    return out


def _pool_backward(x, dout, ph, pw, stride, pad, route="first", add=True, dout_order=(0, 2, 3, 1)):
    """The book's Pooling.backward, with the gradient routed by ``route``."""
    N, C, H, W = x.shape
    col = _im2col(x, ph, pw, stride, pad).reshape(-1, ph * pw)
    at = np.arange(ph * pw)
    sel = {
        "first": lambda: at == np.argmax(col, axis=1)[:, None],
        "last": lambda: at == (ph * pw - 1 - np.argmax(col[:, ::-1], axis=1))[:, None],
        "all": lambda: col == col.max(axis=1, keepdims=True),
        "spread": lambda: np.ones_like(col),
        "average": lambda: np.full_like(col, 1.0 / (ph * pw)),
    }[route]()
    dmax = sel * dout.transpose(dout_order).reshape(-1)[:, None]
    dcol = dmax.reshape(-1, C * ph * pw)
    return _col2im(dcol, x.shape, ph, pw, stride, pad, add=add)


def _pool_mean(i, d, ph, pw, stride, pad):
    N, C, H, W = i[0].shape
    col = _im2col(i[0], ph, pw, stride, pad).reshape(-1, ph * pw).mean(axis=1)
    return col.reshape(N, _out(H, ph, stride, pad), _out(W, pw, stride, pad), C).transpose(
        0, 3, 1, 2
    )


def _pool_patterns() -> tuple[Pattern, ...]:
    pool = lambda **o: lambda i, d, *g: _pool_backward(i[0], d, *g, **o)
    return (
        Pattern("pool_fwd_mean", "out", _pool_mean),
        Pattern("pool_spread_over_window", "dx", pool(route="spread")),
        Pattern("pool_average", "dx", pool(route="average")),
        Pattern("pool_ties_all", "dx", pool(route="all")),
        Pattern("pool_ties_last", "dx", pool(route="last")),
        Pattern("col2im_assign_not_add", "dx", pool(add=False)),
        Pattern("pool_dout_not_transposed", "dx", pool(dout_order=(0, 1, 2, 3))),
    )


# ---- 7.5 SimpleConvNet ----------------------------------------------------------------------
def _simple_conv_net_loss(params, x, t):
    """The book's SimpleConvNet (conv 3x3 stride 1 pad 0, ReLU, 2x2 pool stride 2,
    affine, ReLU, affine, softmax with loss), from :mod:`jaxbp.reference`'s plain twins."""
    from jaxbp import reference as r

    h = r.relu(r.convolution(x, params["W1"], params["b1"], 1, 0))
    h = r.relu(r.affine(r.max_pooling(h, 2, 2, 2, 0), params["W2"], params["b2"]))
    return r.softmax_with_loss(r.affine(h, params["W3"], params["b3"]), t)


def net_cases() -> list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """``(params, x, t)``: images (N, 2, 6, 6), 3 filters 3x3 (6 -> 4 -> pooled 2),
    12 -> 5 hidden -> 3 classes; batch 3, then 1.

    The images are not rounded: a window's two largest values never tie, so
    which one the pooling picks does not depend on how the convolution's
    sums were rounded (the plain twin's and the learner's differ).

    >>> [(x.shape, t.shape) for _, x, t in net_cases()]
    [((3, 2, 6, 6), (3, 3)), ((1, 2, 6, 6), (1, 3))]
    """
    rng = np.random.default_rng(75)
    out = []
    for N in (3, 1):
        params = {
            "W1": vals(rng, 3, 2, 3, 3),
            "b1": vals(rng, 3),
            "W2": vals(rng, 12, 5),
            "b2": vals(rng, 5),
            "W3": vals(rng, 5, 3),
            "b3": vals(rng, 3),
        }
        x = rng.uniform(-2, 2, (N, 2, 6, 6))  # not rounded: no two pooled values tie
        out.append((params, x, one_hot(rng, N, 3)))
    return out


def _items() -> tuple:
    return (
        Function(
            "im2col", "7.4.3", ("input_data",), ("filter_h", "filter_w", "stride", "pad"),
            ("col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N*out_h*out_w, -1)",),
            "input_data: (N, C, H, W); out: col (N*out_h*out_w, C*filter_h*filter_w), one row "
            "per output pixel, in (C, filter_h, filter_w) order; "
            "out_h = (H + 2*pad - filter_h) // stride + 1 (eq. 7.1)",
            ref("im2col", "im2col"), _im2col_cases, _IM2COL_PATTERNS, which="cases_conv",
        ),
        Function(
            "col2im", "7.4.3", ("col",), ("input_shape", "filter_h", "filter_w", "stride", "pad"),
            ("img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]",),
            "col: (N*out_h*out_w, C*filter_h*filter_w); input_shape: (N, C, H, W), a tuple; "
            "out: images of input_shape; im2col's adjoint",
            _col2im_ref, _col2im_cases, _COL2IM_PATTERNS, which="cases_conv",
        ),
        Exercise(
            "convolution", "7.4.3", ("x", "W", "b"), ("dx", "dW", "db"),
            ("self.x = x  (for its shape in col2im)", "self.col = col", "self.col_W = col_W",
             "(and W: the backward reads self.W.shape)"),
            "x: (N, C, H, W); W: filters (FN, C, FH, FW); b: (FN,); stride, pad: ints; "
            "out: (N, FN, out_h, out_w)",
            ref("reference", "convolution"), _conv_cases, _conv_patterns(),
            static=("stride", "pad"), which="cases_conv",
        ),
        Exercise(
            "max_pooling", "7.4.4", ("x",), ("dx",),
            ("self.x = x  (for its shape in col2im)",
             "self.arg_max = np.argmax(col, axis=1)"),
            "x: (N, C, H, W); pool_h, pool_w, stride, pad: ints; out: (N, C, out_h, out_w)",
            ref("reference", "max_pooling"), _pool_cases, _pool_patterns(),
            static=("pool_h", "pool_w", "stride", "pad"), which="cases_pool",
        ),
        Network(
            NET_NAME, "7.5", ("W1", "b1", "W2", "b2", "W3", "b3"),
            ("convolution", "max_pooling"), _simple_conv_net_loss, net_cases, "SimpleConvNet",
            rule_check=False,
        ),
    )  # fmt: skip


ITEMS = {it.name: it for it in _items()}
