"""``im2col`` and ``col2im`` (book section 7.4.3, the book's ``common/util.py``).

``im2col`` turns images ``(N, C, H, W)`` into one row per output pixel, ``col`` of
shape ``(N * out_h * out_w, C * filter_h * filter_w)``, each row the filter window
flattened in ``(C, filter_h, filter_w)`` order.  ``col2im`` is its adjoint
(``<im2col(x), c> == <x, col2im(c)>``): it adds every row back onto the pixels it
came from, so overlapping windows sum.  Both are plain ``jnp`` (no custom rule):
:mod:`jaxbp.conv`'s layers call the transposed forms :func:`im2col_t` / :func:`col2im_t`
(public, outside ``__all__``, unchecked).

Output size (eq. 7.1): ``out_h = (H + 2 * pad - filter_h) // stride + 1`` (floor, as
the book's ``im2col``: a last partial window is dropped); padding is with zeros.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxbp import _checks
from jaxbp.layers import DERIVATIONS, as_floating

__all__ = ["im2col", "col2im", "output_size", "DERIVATION"]

#: Why ``col2im`` adds (the backward of ``im2col``, and of the convolution's ``dx``).
DERIVATION = DERIVATIONS["col2im"]


def output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Eq. 7.1: ``(input_size + 2 * pad - filter_size) // stride + 1``.

    >>> output_size(28, 5), output_size(7, 3, stride=2, pad=1)
    (24, 4)
    """
    return (input_size + 2 * pad - filter_size) // stride + 1


# ---- im2col / col2im (7.4.3) ------------------------------------------------------
def im2col_t(x, filter_h, filter_w, stride, pad):
    """``im2col``'s ``col.T``, unchecked: ``(C * filter_h * filter_w, N * out_h * out_w)``.

    The form :mod:`jaxbp.conv`'s layers use (no transpose is built).

    >>> im2col_t(jnp.arange(8.0).reshape(1, 2, 2, 2), 2, 2, 1, 0).shape
    (8, 1)
    """
    N, C, H, W = x.shape
    out_h = output_size(H, filter_h, stride, pad)
    out_w = output_size(W, filter_w, stride, pad)
    img = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).transpose(1, 0, 2, 3)
    # One strided slice per filter offset (y, x): the pixels that offset of
    # every window sees, (C, N, out_h, out_w); fh * fw slices, not a pixel loop.
    windows = [
        jax.lax.slice(
            img,
            (0, 0, y, x),
            (C, N, y + stride * (out_h - 1) + 1, x + stride * (out_w - 1) + 1),
            (1, 1, stride, stride),
        )
        for y in range(filter_h)
        for x in range(filter_w)
    ]
    # The book stacks to (N, C, fh, fw, out_h, out_w) and transposes to
    # (N, out_h, out_w, C, fh, fw).  Stacking on axis 1 of the (C, N, ...) slices
    # gives col.T with no transpose at all: each slice is one contiguous block of
    # rows (for C = 1; the transpose of the small input makes it so for any C).
    # Building col itself (stacking on the last axis) was 3.1 of a 10.3 ms step.
    return jnp.stack(windows, axis=1).reshape(C * filter_h * filter_w, N * out_h * out_w)


def col2im_t(col_t, input_shape, filter_h, filter_w, stride, pad):
    """The adjoint of :func:`im2col_t`, unchecked: ``col.T`` back to images ``input_shape``.

    >>> col2im_t(jnp.ones((4, 4)), (1, 1, 3, 3), 2, 2, 1, 0)[0, 0]
    Array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]], dtype=float32)
    """
    N, C, H, W = input_shape
    out_h = output_size(H, filter_h, stride, pad)
    out_w = output_size(W, filter_w, stride, pad)
    col_t = col_t.reshape(C, filter_h, filter_w, N, out_h, out_w)
    zero = jnp.zeros((), col_t.dtype)
    img = jnp.zeros((C, N, H, W), col_t.dtype)
    for y in range(filter_h):
        for x in range(filter_w):
            # The adjoint of the strided slice: spread the (out_h, out_w) block
            # `stride` apart (interior padding) and place it at offset (y, x) of
            # the padded image; negative edge padding crops the `pad` border.
            img = img + jax.lax.pad(
                col_t[:, y, x],
                zero,
                (
                    (0, 0, 0),
                    (0, 0, 0),
                    (y - pad, H + pad - y - stride * (out_h - 1) - 1, stride - 1),
                    (x - pad, W + pad - x - stride * (out_w - 1) - 1, stride - 1),
                ),
            )
    return img.transpose(1, 0, 2, 3)


def im2col(x: ArrayLike, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> jax.Array:
    """Image to columns (7.4.3, the book's ``common/util.py``).

    ``x``: ``(N, C, H, W)``.  Returns ``col`` of shape
    ``(N * out_h * out_w, C * filter_h * filter_w)``: row ``(n, i, j)`` (in
    that order) is the window whose top-left corner is at
    ``(i * stride - pad, j * stride - pad)`` of image ``n``, flattened in
    ``(C, filter_h, filter_w)`` order; the input is zero-padded by ``pad``.

    >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    >>> im2col(x, 2, 2, stride=2).tolist()       # four 2x2 windows, one per row
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0], [8.0, 9.0, 12.0, 13.0], [10.0, 11.0, 14.0, 15.0]]
    """
    x = as_floating("im2col", "x", x)
    stride, pad, filter_h, filter_w = _checks.stride_pad(
        "im2col", stride, pad, filter_h=filter_h, filter_w=filter_w
    )
    _checks.images("im2col", x.shape, filter_h, filter_w, pad)
    return im2col_t(x, filter_h, filter_w, stride, pad).T


def col2im(
    col: ArrayLike,
    input_shape: tuple[int, int, int, int],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> jax.Array:
    """Columns back to images (7.4.3): the adjoint of :func:`im2col`.

    ``col``: ``(N * out_h * out_w, C * filter_h * filter_w)``;
    ``input_shape``: ``(N, C, H, W)``.  Each entry of ``col`` is added to the
    pixel it was read from, overlapping windows summing, and entries that read
    the padding are dropped; so ``sum(im2col(x) * c) == sum(x * col2im(c))``.

    Why it adds (:data:`DERIVATION`): col2im adds because im2col copies: a pixel
    read by several overlapping windows was copied into several rows of col in the
    forward pass (a fan-out).  The backward of a fan-out is the sum of the
    derivatives coming back along each copy: 5.3.1's rule for the addition node,
    run backward (where one value branches, its derivatives add).

    >>> col2im(jnp.ones((9, 4)), (1, 1, 4, 4), 2, 2)[0, 0]   # how many windows read each pixel
    Array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]], dtype=float32)
    """
    col = as_floating("col2im", "col", col)
    stride, pad, filter_h, filter_w = _checks.stride_pad(
        "col2im", stride, pad, filter_h=filter_h, filter_w=filter_w
    )
    input_shape = _checks.int_tuple("col2im", "input_shape", input_shape, length=4, low=0)
    _checks.images("col2im", input_shape, filter_h, filter_w, pad)
    N, C, H, W = input_shape
    rows = N * output_size(H, filter_h, stride, pad) * output_size(W, filter_w, stride, pad)
    if col.shape != (rows, C * filter_h * filter_w):
        raise ValueError(
            f"col2im: col must have shape {(rows, C * filter_h * filter_w)} for "
            f"input_shape {input_shape}, a {filter_h}x{filter_w} window, "
            f"stride={stride}, pad={pad}; got {col.shape}"
        )
    return col2im_t(col.T, input_shape, filter_h, filter_w, stride, pad)
