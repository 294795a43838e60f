"""Convolution and pooling layers (book section 7.4) as pure functions.

``im2col`` and ``col2im`` (7.4.3) are :mod:`jaxbp.im2col`'s (the book's
``common/util.py``), re-exported here.

The layers, each a :func:`jax.custom_vjp` rule whose residuals are what the
book's class keeps on ``self``:

    convolution  (7.4.3)  residuals: col, col_W   out = col . col_W + b
                                                  db = sum(dout), dW = col^T . dout,
                                                  dx = col2im(dout . col_W^T)
    max_pooling  (7.4.4)  residual: arg_max       out = max over each window
                                                  dx = col2im(dout placed at arg_max)

The book also keeps ``self.x``, but only for its shape in ``col2im``; shapes
are static in JAX, so the shape travels with the rule as a static argument
(``_Geometry``) and ``x`` itself is not stored.  Inside ``jax.shard_map`` the
convolution's inputs enter its rule with one varying-axes type
(:func:`jaxbp._cotangents.alike`), so each derivative comes back typed like its input.

Layouts (the same numbers as the book's, arranged for speed on a CPU): the
convolution keeps ``col.T`` ``(C*FH*FW, N*out_h*out_w)`` and computes
``out.T = col_W.T . col.T + b``, ``dW = (dout.T . col)``, ``dcol.T = col_W . dout.T``
(im2col is then contiguous copies, no transpose of the 5.8 MB MNIST ``col``);
pooling keeps ``arg_max`` as ``(N, C, out_h, out_w)``, and when the windows tile
the image (``stride == pool_h == pool_w``, the book's 2x2/2) it reads them by a
reshape and scatters ``dout`` back by a mask, with no im2col or col2im.

Output size (eq. 7.1): ``out_h = (H + 2 * pad - filter_h) // stride + 1``
(floor, as the book's ``im2col``: a last partial window is dropped).
Padding is with zeros, for pooling too (the book's ``im2col`` pads before
pooling, so a window that overlaps the padding can have the maximum 0).

The plain-jnp twins (``jax.lax.conv_general_dilated`` and a one-hot-of-argmax
pooling) live in :mod:`jaxbp.reference`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxbp import _checks
from jaxbp._cotangents import alike
from jaxbp.im2col import (  # 7.4.3, the book's common/util.py
    col2im,
    col2im_t,
    im2col,
    im2col_t,
    output_size,
)
from jaxbp.layers import as_floating

__all__ = ["FORWARDS", "im2col", "col2im", "convolution", "max_pooling", "output_size"]


#: How the convolution's forward output is computed (the backward rule is the same):
#: ``"im2col"`` the book's ``col . col_W + b``; ``"lax"`` XLA's convolution of the same
#: numbers (``jax.lax.conv_general_dilated``), faster on some CPUs; ``col`` and ``col_W``
#: are still the rule's residuals.  The two differ only by summation order.
FORWARDS = ("im2col", "lax")


class _Geometry(NamedTuple):
    """Static shape information of one layer call (the book's ``self.x.shape``,
    ``self.stride``, ``self.pad``, and the window size), and how the forward output
    is computed (one of :data:`FORWARDS`)."""

    x_shape: tuple
    filter_h: int
    filter_w: int
    stride: int
    pad: int
    forward: str = "im2col"

    @property
    def out_hw(self) -> tuple[int, int]:
        return (
            output_size(self.x_shape[2], self.filter_h, self.stride, self.pad),
            output_size(self.x_shape[3], self.filter_w, self.stride, self.pad),
        )


# ---- Convolution (7.4.3) ------------------------------------------------------------
def _lax_convolution(x, W, b, geometry):
    """``out`` of eq. 7.1 by ``jax.lax.conv_general_dilated`` (NCHW, OIHW), full precision."""
    s, p = geometry.stride, geometry.pad
    out = jax.lax.conv_general_dilated(
        x,
        W,
        (s, s),
        [(p, p), (p, p)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return out + b[None, :, None, None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _convolution(x, W, b, geometry):
    return _convolution_fwd(x, W, b, geometry)[0]


def _convolution_fwd(x, W, b, geometry):
    N = x.shape[0]
    FN = W.shape[0]
    out_h, out_w = geometry.out_hw
    # self.col = col, kept as col.T (C*FH*FW, N*out_h*out_w): the same numbers,
    # laid out so that im2col is contiguous copies and both matmuls are fast.
    col_t = im2col_t(x, geometry.filter_h, geometry.filter_w, geometry.stride, geometry.pad)
    col_W = W.reshape(FN, -1).T  # self.col_W = col_W
    if geometry.forward == "lax":  # the same sums by XLA's convolution (col: residual only)
        return _lax_convolution(x, W, b, geometry), (col_t, col_W)
    out_t = col_W.T @ col_t + b[:, None]  # out = np.dot(col, col_W) + b, transposed
    out = out_t.reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)
    return out, (col_t, col_W)


def _convolution_bwd(geometry, res, dout):
    col_t, col_W = res
    FN = col_W.shape[1]
    C = geometry.x_shape[1]
    # dout.transpose(0, 2, 3, 1).reshape(-1, FN), transposed: (FN, N*out_h*out_w)
    dout_t = dout.transpose(1, 0, 2, 3).reshape(FN, -1)
    # self.db = np.sum(dout, axis=0), as a product with ones: XLA's CPU reduction of
    # the strided axes (a reduce-window tree) was ~1 ms of the step, the dot 0.1 ms
    db = dout_t @ jnp.ones(dout_t.shape[1], dout_t.dtype)
    # self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
    dW = (dout_t @ col_t.T).reshape(FN, C, geometry.filter_h, geometry.filter_w)
    dcol_t = col_W @ dout_t  # dcol = np.dot(dout, self.col_W.T), transposed
    # dx = col2im(dcol, ...); not computed when x is not differentiated (the
    # network's input images): XLA drops it as dead code from the compiled step.
    dx = col2im_t(
        dcol_t,
        geometry.x_shape,
        geometry.filter_h,
        geometry.filter_w,
        geometry.stride,
        geometry.pad,
    )
    return dx, dW, db


_convolution.defvjp(_convolution_fwd, _convolution_bwd)


def convolution(
    x: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    stride: int = 1,
    pad: int = 0,
    *,
    forward: str = "im2col",
) -> jax.Array:
    """Convolution layer (7.4.3, the book's ``Convolution``; 7.2 for the maths).

    Shapes: ``x`` ``(N, C, H, W)``, filters ``W`` ``(FN, C, FH, FW)``, bias
    ``b`` ``(FN,)``; result ``(N, FN, out_h, out_w)`` with
    ``out_h = (H + 2 * pad - FH) // stride + 1`` (eq. 7.1), likewise ``out_w``.

    ``out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] *
    xpad[n, c, i * stride + p, j * stride + q]`` (a cross-correlation, as in
    the book and every deep-learning library), computed as the book does:
    ``col = im2col(x)``, ``col_W = W.reshape(FN, -1).T``,
    ``out = col . col_W + b``.

    Backward (the book's ``Convolution.backward``), with ``dout`` reshaped to
    ``(N * out_h * out_w, FN)``: ``db = sum(dout, axis=0)``,
    ``dW = (col^T . dout)^T`` reshaped to ``(FN, C, FH, FW)``,
    ``dx = col2im(dout . col_W^T)``.  ``col2im`` adds (:data:`jaxbp.im2col.DERIVATION`):
    a pixel read by several overlapping windows was copied into several rows of col
    in the forward pass (a fan-out), and the backward of a fan-out is the sum of the
    derivatives coming back along each copy (5.3.1's addition node, run backward).

    ``forward`` (one of :data:`FORWARDS`): how the output is computed, ``"im2col"``
    (the book's) or ``"lax"`` (XLA's convolution, faster on some CPUs); either way the
    hand-written backward above differentiates it, from the same residuals.

    Raises ``ValueError`` for an unknown ``forward``, a channel mismatch, no filters
    (``FN = 0``), a filter larger than the padded input, an empty batch, ``stride < 1``
    or ``pad < 0``, a bias of the wrong shape; ``TypeError`` for non-floating inputs.
    Inputs are promoted to a common floating dtype before the rule.

    >>> x, W = jnp.ones((2, 3, 5, 5)), jnp.ones((4, 3, 3, 3))
    >>> y = convolution(x, W, jnp.zeros(4), stride=1, pad=1)
    >>> y.shape, float(y[0, 0, 2, 2]), float(y[0, 0, 0, 0])   # 27 inside, 12 in a corner
    ((2, 4, 5, 5), 27.0, 12.0)
    """
    x = as_floating("convolution", "x", x)
    W = as_floating("convolution", "W", W)
    b = as_floating("convolution", "b", b)
    stride, pad = _checks.stride_pad("convolution", stride, pad)
    if forward not in FORWARDS:
        raise ValueError(f"convolution: forward must be one of {list(FORWARDS)}, got {forward!r}")
    if W.ndim != 4:
        raise ValueError(f"convolution: W must be 4-D (FN, C, FH, FW), got shape {W.shape}")
    if W.shape[0] < 1:
        raise ValueError(f"convolution: W of shape {W.shape} has no filters (FN must be >= 1)")
    if x.ndim == 4 and x.shape[1] != W.shape[1]:
        raise ValueError(
            f"convolution: x of shape {x.shape} has {x.shape[1]} channels but "
            f"W of shape {W.shape} expects {W.shape[1]}"
        )
    _checks.images("convolution", x.shape, W.shape[2], W.shape[3], pad, what="filter")
    if b.shape != (W.shape[0],):
        raise ValueError(
            f"convolution: b must have shape ({W.shape[0]},) to match W of "
            f"shape {W.shape}, got {b.shape}"
        )
    dtype = jnp.result_type(x, W, b)
    geometry = _Geometry(tuple(x.shape), W.shape[2], W.shape[3], stride, pad, forward)
    return _convolution(*alike(x.astype(dtype), W.astype(dtype), b.astype(dtype)), geometry)


# ---- Max pooling (7.4.4) --------------------------------------------------------------
def _pool_windows(x, geometry):
    """(N*out_h*out_w*C, pool_h*pool_w): one row per (image, output pixel, channel)."""
    col = im2col_t(x, geometry.filter_h, geometry.filter_w, geometry.stride, geometry.pad).T
    return col.reshape(-1, geometry.filter_h * geometry.filter_w)


def _as_images(rows, geometry):
    """(N*out_h*out_w*C,) -> (N, C, out_h, out_w)."""
    N, C = geometry.x_shape[:2]
    return rows.reshape(N, *geometry.out_hw, C).transpose(0, 3, 1, 2)


def _tiles(geometry) -> bool:
    """Windows that tile the image (stride == pool_h == pool_w, e.g. the 2x2/2 pooling)."""
    return geometry.filter_h == geometry.filter_w == geometry.stride


def _tile_windows(x, geometry):
    """(pool_h*pool_w, N, C, out_h, out_w): entry k of every window, k in row-major
    window order.  For tiling windows this is a reshape of the (padded, cropped)
    image, no im2col; the same windows and order as :func:`_pool_windows`."""
    N, C = geometry.x_shape[:2]
    out_h, out_w = geometry.out_hw
    s, pad = geometry.stride, geometry.pad
    img = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))[:, :, : out_h * s, : out_w * s]
    img = img.reshape(N, C, out_h, s, out_w, s)
    return jnp.stack([img[:, :, :, p, :, q] for p in range(s) for q in range(s)])


def _pool_forward(x, geometry):
    """(max, arg_max) over each window, both (N, C, out_h, out_w)."""
    if _tiles(geometry):
        windows = _tile_windows(x, geometry)
        arg_max = jnp.argmax(windows, axis=0)
        # the maximum read at arg_max: one pass over the windows, not a second reduction
        # (0.78x the SimpleConvNet step; a NaN is read where argmax finds it, as max's)
        return jnp.take_along_axis(windows, arg_max[None], axis=0)[0], arg_max
    col = _pool_windows(x, geometry)
    arg_max = jnp.argmax(col, axis=1)
    return _as_images(jnp.max(col, axis=1), geometry), _as_images(arg_max, geometry)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pooling(x, geometry):
    return _pool_forward(x, geometry)[0]  # the unused arg_max is dead code under jit


def _max_pooling_fwd(x, geometry):
    # self.arg_max = np.argmax(col, axis=1), kept as (N, C, out_h, out_w) (the book's
    # is flat, in (N, out_h, out_w, C) order): the first maximum of each window.
    return _pool_forward(x, geometry)


def _max_pooling_bwd(geometry, arg_max, dout):
    pool_size = geometry.filter_h * geometry.filter_w
    N, C, H, W = geometry.x_shape
    out_h, out_w = geometry.out_hw
    zero = jnp.zeros((), dout.dtype)
    if _tiles(geometry):
        # dmax scattered straight onto the tiles: input pixel (i*s + p, j*s + q)
        # gets dout[i, j] where p*s + q is its window's arg_max, else 0.
        s, pad = geometry.stride, geometry.pad
        k = jnp.arange(s)[:, None] * s + jnp.arange(s)  # window order of (p, q)
        at_max = arg_max[:, :, :, None, :, None] == k[:, None, :]  # (N, C, out_h, s, out_w, s)
        dx = jnp.where(at_max, dout[:, :, :, None, :, None], zero)
        dx = dx.reshape(N, C, out_h * s, out_w * s)
        # the rows and columns the windows dropped (floor in eq. 7.1) get 0; the
        # padding's share is cropped
        Hp, Wp = H + 2 * pad, W + 2 * pad
        dx = jnp.pad(dx, ((0, 0), (0, 0), (0, Hp - out_h * s), (0, Wp - out_w * s)))
        return (dx[:, :, pad : pad + H, pad : pad + W],)
    dout = dout.transpose(0, 2, 3, 1).reshape(-1)  # one entry per window
    arg_max = arg_max.transpose(0, 2, 3, 1).reshape(-1)
    # dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
    at_max = arg_max[:, None] == jnp.arange(pool_size)
    dmax = jnp.where(at_max, dout[:, None], zero)
    dcol = dmax.reshape(N * out_h * out_w, C * pool_size)
    g = geometry
    dx = col2im_t(dcol.T, g.x_shape, g.filter_h, g.filter_w, g.stride, g.pad)
    return (dx,)


_max_pooling.defvjp(_max_pooling_fwd, _max_pooling_bwd)


def max_pooling(x: ArrayLike, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> jax.Array:
    """Max pooling layer (7.4.4, the book's ``Pooling``; 7.3 for the maths).

    ``x``: ``(N, C, H, W)``; result ``(N, C, out_h, out_w)``,
    ``out_h = (H + 2 * pad - pool_h) // stride + 1``, with
    ``out[n, c, i, j] = max_{p, q} xpad[n, c, i * stride + p, j * stride + q]``
    over the ``pool_h x pool_w`` window, ``xpad`` the input zero-padded by
    ``pad`` (the book pads with zeros via ``im2col``).  Note the book's
    ``Pooling`` defaults to ``stride=2``; here ``stride`` defaults to 1 like
    ``im2col`` and ``convolution``, so the book's 2x2 pooling is
    ``max_pooling(x, 2, 2, stride=2)``.

    Backward: ``dout`` goes to the window's arg-max, every other input gets 0
    (summed over overlapping windows by ``col2im``).  Ties: as the book's
    ``np.argmax``, the *first* maximum in row-major window order (smallest
    ``p``, then smallest ``q``) gets the whole gradient.  If a window's maximum
    is in the padding, that gradient is dropped.

    Raises ``ValueError`` for a window larger than the padded input, an empty
    batch, ``stride < 1`` or ``pad < 0``, a window size below 1 or not an integer
    (``2.5`` is refused, not truncated); ``TypeError`` for a non-floating input or
    a size that is not a number (``"2"``).

    >>> x = jnp.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    >>> max_pooling(x, 2, 2, stride=2)[0, 0]
    Array([[3.]], dtype=float32)
    >>> jax.grad(lambda x: max_pooling(x, 2, 2, stride=2).sum())(x)[0, 0]   # first maximum
    Array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    x = as_floating("max_pooling", "x", x)
    stride, pad, pool_h, pool_w = _checks.stride_pad(
        "max_pooling", stride, pad, pool_h=pool_h, pool_w=pool_w
    )
    _checks.images("max_pooling", x.shape, pool_h, pool_w, pad)
    return _max_pooling(x, _Geometry(tuple(x.shape), pool_h, pool_w, stride, pad))
