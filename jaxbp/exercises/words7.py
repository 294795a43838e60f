"""Every word of chapter 7's exercises, in English and Korean.

7.4 im2col, col2im, convolution and pooling; 7.5 SimpleConvNet.

:mod:`jaxbp.exercises.messages` merges these into its tables (``DERIVATION``,
``KINDS``, ``NOTES``, ``UI``); the same conventions hold: 합니다체, the book's
terms, particles chosen by sound (``{name:을}``).
"""

from __future__ import annotations

from jaxbp.exercises.words5 import derivation, entry

# ---- the book's equations, one per exercise ------------------------------------------------------
DERIVATION: dict[str, dict[str, dict[str, str]]] = {
    "im2col": derivation(
        "col[(n, i, j), (c, y, x)] = img[n, c, i*stride + y - pad, j*stride + x - pad]; "
        "col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N*out_h*out_w, -1) (7.4.3)",
        "one row per output pixel (n, i, j), holding the window that pixel's filter sees, "
        "flattened in (C, filter_h, filter_w) order, the order of W.reshape(FN, -1); the "
        "windows start stride apart in the zero-padded image",
        "col[(n, i, j), (c, y, x)] = img[n, c, i*stride + y - pad, j*stride + x - pad]; "
        "col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N*out_h*out_w, -1) (7.4.3)",
        "출력 픽셀 (n, i, j)마다 한 행이고, 그 픽셀의 필터가 보는 윈도우를 W.reshape(FN, -1)와 "
        "같은 (C, filter_h, filter_w) 순서로 펼친 것입니다. 윈도우는 패딩한 이미지에서 "
        "스트라이드 간격으로 시작합니다",
    ),
    "col2im": derivation(
        "img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]; "
        "then the pad is cut off (7.4.3)",
        "im2col copies a pixel into every window that reads it; the backward of a copy is "
        "the sum of the derivatives coming back along each copy (the addition node of "
        "5.3.1), so col2im adds (+=) where windows overlap, and drops what fell on the pad",
        "img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]; "
        "그리고 패딩을 잘라 냅니다 (7.4.3)",
        "im2col은 픽셀 하나를 그 픽셀을 읽는 모든 윈도우에 복사합니다. 복사의 역전파는 각 "
        "복사본을 따라 돌아오는 미분의 합이므로(5.3.1의 덧셈 노드), 윈도우가 겹치는 곳에서 "
        "col2im은 더해야(+=) 하고, 패딩에 떨어진 값은 버립니다",
    ),
    "convolution": derivation(
        "col = im2col(x); col_W = W.reshape(FN, -1).T; out = col . col_W + b; backward with "
        "dout as (N*out_h*out_w, FN): db = sum(dout, 0), "
        "dW = (col^T . dout).transpose(1, 0).reshape(FN, C, FH, FW), "
        "dx = col2im(dout . col_W^T) (7.4.3)",
        "after im2col the convolution is an Affine layer, so its backward is Affine's (eq. "
        "5.13); dout must first be laid out as out was computed, (N, out_h, out_w, FN); "
        "dW comes out as (C*FH*FW, FN) and goes back to W's shape; b was added at every "
        "output pixel of every image, so db sums over N, out_h and out_w",
        "col = im2col(x); col_W = W.reshape(FN, -1).T; out = col . col_W + b. dout을 "
        "(N*out_h*out_w, FN)으로 바꾼 뒤: db = sum(dout, 0), "
        "dW = (col^T . dout).transpose(1, 0).reshape(FN, C, FH, FW), "
        "dx = col2im(dout . col_W^T) (7.4.3)",
        "im2col을 거친 합성곱은 Affine 계층이므로 역전파도 Affine 계층과 같습니다([식 5.13]). "
        "먼저 dout을 out을 계산한 배치 (N, out_h, out_w, FN)으로 바꿉니다. dW는 "
        "(C*FH*FW, FN)으로 나오므로 W의 형상으로 되돌립니다. 편향은 모든 이미지의 모든 출력 "
        "픽셀에 더해졌으므로 db는 N, out_h, out_w에 걸쳐 합합니다",
    ),
    "max_pooling": derivation(
        "out = max over each window; dx = col2im(dmax), dmax[window, arg_max] = dout, 0 "
        "elsewhere (7.4.4)",
        "only the maximum of a window reached the output, so only it gets the window's "
        "dout (like ReLU, the others had local derivative 0); of tied maxima, np.argmax "
        "keeps the first in row-major window order; overlapping windows add up in col2im",
        "out = 각 윈도우의 최댓값; dx = col2im(dmax), dmax[윈도우, arg_max] = dout, "
        "나머지는 0 (7.4.4)",
        "윈도우에서 최댓값만 출력에 닿았으므로 그 원소만 윈도우의 dout을 받습니다(ReLU처럼 "
        "나머지의 국소적 미분은 0입니다). 최댓값이 여럿이면 np.argmax는 윈도우의 행 우선 "
        "순서로 첫 번째를 고릅니다. 겹치는 윈도우는 col2im에서 더해집니다",
    ),
    "simple_conv_net_gradient": derivation(
        "grads = jax.grad(loss)(params), loss = SoftmaxWithLoss(Affine2(Relu2(Affine1(Pool1("
        "Relu1(Conv1(x)))))), t) (7.5)",
        "the chain rule: the backward runs through the layers in reverse order, each "
        "multiplying dout by its local derivative; wrapped with jax.custom_vjp, your "
        "convolution and pooling rules are the ones jax.grad runs",
        "grads = jax.grad(loss)(params), loss = SoftmaxWithLoss(Affine2(Relu2(Affine1(Pool1("
        "Relu1(Conv1(x)))))), t) (7.5)",
        "연쇄법칙: 역전파는 계층을 역순으로 지나며 각 계층이 dout에 국소적 미분을 곱합니다. "
        "jax.custom_vjp로 감싸면 jax.grad가 여러분의 합성곱과 풀링 규칙을 실행합니다",
    ),
}


# ---- the kinds of mistake ------------------------------------------------------------------------
KINDS: dict[str, dict[str, str]] = {
    # 7.4.3 im2col and col2im
    "im2col_order": entry(
        "each row is in (filter_h, filter_w, C) order; the book's is (C, filter_h, filter_w), "
        "the order of W.reshape(FN, -1)",
        "각 행이 (filter_h, filter_w, C) 순서입니다. 책은 W.reshape(FN, -1)와 같은 "
        "(C, filter_h, filter_w) 순서입니다",
        "col.transpose(0, 4, 5, 1, 2, 3): N, out_h, out_w, then C, filter_h, filter_w",
        "col.transpose(0, 4, 5, 1, 2, 3): N, out_h, out_w 다음에 C, filter_h, filter_w입니다",
    ),
    "im2col_not_transposed": entry(
        "the (N, C, filter_h, filter_w, out_h, out_w) block was reshaped without the "
        "transpose: the right numbers in the wrong places",
        "(N, C, filter_h, filter_w, out_h, out_w) 배열을 전치하지 않고 reshape했습니다: 값은 "
        "맞지만 자리가 틀렸습니다",
        "transpose to (N, out_h, out_w, C, filter_h, filter_w) first: "
        "col.transpose(0, 4, 5, 1, 2, 3)",
        "먼저 (N, out_h, out_w, C, filter_h, filter_w)로 전치하세요: "
        "col.transpose(0, 4, 5, 1, 2, 3)",
    ),
    "im2col_stride_forgotten": entry(
        "the windows start 1 apart: the stride is not used",
        "윈도우가 1칸 간격으로 시작합니다: 스트라이드를 쓰지 않았습니다",
        "img[:, :, y:y_max:stride, x:x_max:stride] with y_max = y + stride * out_h",
        "y_max = y + stride * out_h로 img[:, :, y:y_max:stride, x:x_max:stride]를 쓰세요",
    ),
    "col2im_assign_not_add": entry(
        "= where += belongs: where windows overlap, only the last window's value is kept",
        "+= 대신 =를 썼습니다: 윈도우가 겹치는 곳에서 마지막 윈도우의 값만 남습니다",
        "a pixel read by several windows gets the sum of their derivatives: img[...] += col[...] "
        "(in JAX: img = img.at[...].add(...))",
        "여러 윈도우가 읽은 픽셀은 그 미분의 합을 받습니다: img[...] += col[...] "
        "(JAX에서는 img = img.at[...].add(...))",
    ),
    "col2im_not_cropped": entry(
        "the padded image is returned: the pad is not cut off",
        "패딩한 이미지를 그대로 반환했습니다: 패딩을 잘라 내지 않았습니다",
        "return img[:, :, pad:H + pad, pad:W + pad]",
        "img[:, :, pad:H + pad, pad:W + pad]를 반환하세요",
    ),
    # 7.4.3 Convolution
    "conv_out_not_transposed": entry(
        "out was reshaped to (N, FN, out_h, out_w) directly: the rows of col . col_W are "
        "(N, out_h, out_w) and the columns FN",
        "out을 바로 (N, FN, out_h, out_w)로 reshape했습니다: col . col_W의 행은 "
        "(N, out_h, out_w), 열은 FN입니다",
        "out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)",
        "out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)를 쓰세요",
    ),
    "conv_dw_not_transposed": entry(
        "dW = (col^T . dout).reshape(FN, C, FH, FW): the (C*FH*FW, FN) product must be "
        "transposed before the reshape",
        "dW = (col^T . dout).reshape(FN, C, FH, FW)입니다: (C*FH*FW, FN)인 곱을 reshape하기 "
        "전에 전치해야 합니다",
        "dW = np.dot(col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)",
        "dW = np.dot(col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)입니다",
    ),
    "conv_db_axes": entry(
        "db is not summed over every axis but FN: got shape {got}, expected {want}",
        "db를 FN을 뺀 모든 축에 걸쳐 합하지 않았습니다: 형상 {got}, 기대한 형상은 {want}",
        "b was added at every output pixel of every image: sum over N, out_h and out_w, "
        "jnp.sum(dout, axis=(0, 2, 3))",
        "편향은 모든 이미지의 모든 출력 픽셀에 더해졌습니다: N, out_h, out_w에 걸쳐 합하세요, "
        "jnp.sum(dout, axis=(0, 2, 3))",
    ),
    "conv_dout_not_transposed": entry(
        "dout was reshaped to (-1, FN) without dout.transpose(0, 2, 3, 1): its rows do not "
        "match col's",
        "dout.transpose(0, 2, 3, 1) 없이 dout을 (-1, FN)으로 reshape했습니다: 행이 col의 "
        "행과 맞지 않습니다",
        "dout.transpose(0, 2, 3, 1).reshape(-1, FN): rows (N, out_h, out_w), as col's",
        "dout.transpose(0, 2, 3, 1).reshape(-1, FN): 행이 col처럼 (N, out_h, out_w)입니다",
    ),
    # 7.4.4 Pooling
    "pool_fwd_mean": entry(
        "out is each window's mean: that is average pooling; the book's Pooling takes the max",
        "out이 각 윈도우의 평균입니다: 그것은 평균 풀링입니다. 책의 Pooling은 최댓값을 취합니다",
        "out = np.max(col, axis=1), and keep arg_max = np.argmax(col, axis=1) for the backward",
        "out = np.max(col, axis=1)이고, 역전파를 위해 arg_max = np.argmax(col, axis=1)을 "
        "저장하세요",
    ),
    "pool_spread_over_window": entry(
        "dout is spread over the whole window: every element of it gets dout",
        "dout을 윈도우 전체에 퍼뜨렸습니다: 윈도우의 모든 원소가 dout을 받습니다",
        "only the maximum reached the output: dmax[np.arange(arg_max.size), arg_max] = "
        "dout.flatten(), the rest 0",
        "최댓값만 출력에 닿았습니다: dmax[np.arange(arg_max.size), arg_max] = dout.flatten(), "
        "나머지는 0입니다",
    ),
    "pool_average": entry(
        "dout / (pool_h * pool_w) over the whole window: that is average pooling's backward",
        "dout / (pool_h * pool_w)을 윈도우 전체에 나누었습니다: 그것은 평균 풀링의 역전파입니다",
        "max pooling sends the whole dout to the window's maximum (arg_max), 0 elsewhere",
        "최대 풀링은 dout 전체를 윈도우의 최댓값(arg_max)에 보내고, 나머지는 0입니다",
    ),
    "pool_ties_all": entry(
        "where a window holds tied maxima, each of them gets dout; np.argmax picks the first",
        "윈도우에 최댓값이 여럿이면 모두 dout을 받았습니다. np.argmax는 첫 번째를 고릅니다",
        "keep arg_max = argmax(col, axis=1) and route dout there only (not x == max)",
        "arg_max = argmax(col, axis=1)을 저장하고 dout을 거기에만 보내세요(x == max가 아닙니다)",
    ),
    "pool_ties_last": entry(
        "where a window holds tied maxima, the last one gets dout; np.argmax picks the first",
        "윈도우에 최댓값이 여럿이면 마지막 것이 dout을 받았습니다. np.argmax는 첫 번째를 고릅니다",
        "jnp.argmax, like np.argmax, returns the first maximum in row-major window order",
        "jnp.argmax는 np.argmax처럼 윈도우의 행 우선 순서로 첫 번째 최댓값을 돌려줍니다",
    ),
    "pool_dout_not_transposed": entry(
        "dout was flattened without dout.transpose(0, 2, 3, 1): its entries do not match "
        "arg_max's windows",
        "dout.transpose(0, 2, 3, 1) 없이 dout을 펼쳤습니다: 그 원소가 arg_max의 윈도우와 "
        "맞지 않습니다",
        "the windows are in (N, out_h, out_w, C) order: dout.transpose(0, 2, 3, 1).flatten()",
        "윈도우는 (N, out_h, out_w, C) 순서입니다: dout.transpose(0, 2, 3, 1).flatten()",
    ),
}


# ---- the report's own words ----------------------------------------------------------------------
UI: dict[str, dict[str, str]] = {
    "cases_conv": {
        "en": "overlapping windows, stride 2 with pad 1, several channels, non-square, float64",
        "ko": "겹치는 윈도우, 스트라이드 2와 패딩 1, 여러 채널, 정사각이 아닌 형상, float64",
    },
    "cases_pool": {
        "en": "tied maxima, overlapping windows, several channels, float64",
        "ko": "여러 개인 최댓값, 겹치는 윈도우, 여러 채널, float64",
    },
}
