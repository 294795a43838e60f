"""Every word the grader prints, in English and Korean (the slides' terms).

Four tables, each written once:

* :data:`DERIVATION` - per exercise, the book's equation and *why* it is so;
  the hints read it;
* :data:`KINDS` - the kinds of mistake the grader can tell apart (the same
  keys as the mistake corpus in ``tests/corpus``), each with its hint;
* :data:`NOTES` - right answers written another way, said beside the pass;
* :data:`UI` - the report's own words.

Chapters 6 and 7's words are written in :mod:`jaxbp.exercises.messages67`
and merged into these tables.

Korean follows the slides' vocabulary (순전파, 역전파, 연쇄법칙, 국소적 미분,
상류에서 넘어온 미분, 형상, 전치행렬, 정답 레이블) in 합니다체, and a
particle after a name is chosen by the name's last sound: ``{fn:을}`` prints
``relu_bwd를`` and ``{what:이}`` prints ``dW가`` (:func:`say`).
"""

from __future__ import annotations

import os
import re
import string

from jaxbp.exercises import messages67

__all__ = [
    "DERIVATION",
    "KINDS",
    "NOTES",
    "UI",
    "LANGS",
    "choose_lang",
    "say",
    "hint",
    "particle",
    "syntax_message",
]

LANGS = ("en", "ko")

# ---- the derivation words: one entry per exercise -------------------------------------------
DERIVATION: dict[str, dict[str, dict[str, str]]] = {
    "dout": {
        "en": {
            "eq": "dout = dL/dout",
            "why": "dout is the derivative handed back from upstream (JAX calls it the "
            "cotangent); by the chain rule each node multiplies it by its local derivative "
            "and passes the product downstream",
        },
        "ko": {
            "eq": "dout = dL/dout",
            "why": "dout은 상류에서 넘어온 미분(JAX의 cotangent)입니다. 연쇄법칙에 따라 "
            "각 노드는 여기에 국소적 미분을 곱해 하류로 흘립니다",
        },
    },
    "mul": {
        "en": {
            "eq": "dx = dout * y, dy = dout * x (eq. 5.6)",
            "why": "the local derivative of x * y with respect to x is y: the multiplication "
            "node swaps its forward inputs",
        },
        "ko": {
            "eq": "dx = dout * y, dy = dout * x ([식 5.6])",
            "why": "x * y를 x로 미분한 국소적 미분은 y입니다. 곱셈 노드의 역전파는 순전파의 "
            "입력 신호를 서로 바꿔 곱합니다",
        },
    },
    "add": {
        "en": {
            "eq": "dx = dout * 1, dy = dout * 1 (eq. 5.5)",
            "why": "the local derivative of x + y is 1 for both inputs: the addition node "
            "passes dout to both inputs unchanged",
        },
        "ko": {
            "eq": "dx = dout * 1, dy = dout * 1 ([식 5.5])",
            "why": "x + y의 국소적 미분은 두 입력 모두 1입니다. 덧셈 노드의 역전파는 상류의 "
            "값을 두 입력에 그대로 흘려보냅니다",
        },
    },
    "relu": {
        "en": {
            "eq": "dx = dout where x > 0, 0 where x <= 0 (eq. 5.8)",
            "why": "the local derivative is 1 for x > 0 and 0 for x <= 0, 0 included; the book "
            "keeps mask = (x <= 0) and sets dout to 0 where the mask is True",
        },
        "ko": {
            "eq": "x > 0이면 dx = dout, x <= 0이면 0 ([식 5.8])",
            "why": "국소적 미분은 x > 0에서 1, 0을 포함한 x <= 0에서 0입니다. 책은 "
            "mask = (x <= 0)을 저장해 두고 mask가 True인 곳의 dout을 0으로 만듭니다",
        },
    },
    "sigmoid": {
        "en": {
            "eq": "dx = dout * y * (1 - y) (figure 5-21)",
            "why": "dy/dx = exp(-x) / (1 + exp(-x))^2 = y * (1 - y): the backward needs only "
            "the forward output y",
        },
        "ko": {
            "eq": "dx = dout * y * (1 - y) ([그림 5-21])",
            "why": "dy/dx = exp(-x) / (1 + exp(-x))^2 = y * (1 - y)이므로 역전파에는 "
            "순전파의 출력 y만 있으면 됩니다",
        },
    },
    "affine": {
        "en": {
            "eq": "dx = dout . W^T, dW = x^T . dout, db = sum(dout, axis=0) "
            "(eq. 5.13, figure 5-27)",
            "why": "the shapes decide: dx must have x's shape (N, n) and dW W's shape (n, m); "
            "x^T . dout, (n, N) . (N, m), is the only product with that shape and it sums over "
            "the batch. b was added to every sample, so db collects every sample's dout: "
            "the sum over axis 0",
        },
        "ko": {
            "eq": "dx = dout . W^T, dW = x^T . dout, db = sum(dout, axis=0) "
            "([식 5.13], [그림 5-27])",
            "why": "형상이 답을 정합니다. dx는 x처럼 (N, n), dW는 W처럼 (n, m)이어야 하고, "
            "그 형상을 만드는 행렬의 곱은 x^T . dout, 즉 (n, N) . (N, m)뿐이며 배치 전체에 "
            "걸쳐 합합니다. 편향은 모든 데이터에 더해졌으므로 db에는 각 데이터의 dout이 "
            "모여야 합니다: 축 0으로 합합니다",
        },
    },
    "softmax_with_loss": {
        "en": {
            "eq": "dx = dout * (y - t) / N with y = softmax(x) (figure 5-30)",
            "why": "the cross-entropy error is built so that the backward of softmax is y - t; "
            "the loss is the mean over N samples, so each sample's share is divided by N; "
            "dout is 1 at the last layer but is multiplied all the same (the gradient of "
            "2 * loss must be twice as large). t is not differentiated: None, zeros or its "
            "true derivative are all accepted",
        },
        "ko": {
            "eq": "y = softmax(x)일 때 dx = dout * (y - t) / N ([그림 5-30])",
            "why": "교차 엔트로피 오차는 소프트맥스의 역전파가 y - t가 되도록 설계되었습니다. "
            "손실은 N개 데이터의 평균이므로 데이터 하나의 몫은 N으로 나눕니다. 마지막 "
            "계층에서 dout은 1이지만 그래도 곱합니다 (2 * 손실의 기울기는 두 배여야 "
            "합니다). 정답 레이블 t는 미분하지 않으므로 None, 0, 참된 미분 모두 받아들입니다",
        },
    },
    "two_layer_net_gradient": {
        "en": {
            "eq": "grads = jax.grad(loss)(params), "
            "loss = SoftmaxWithLoss(Affine2(Relu1(Affine1(x))), t) (5.7.2)",
            "why": "the chain rule: the backward runs through the layers in reverse order, "
            "each multiplying dout by its local derivative; wrapped with jax.custom_vjp, "
            "your rules are the ones jax.grad runs",
        },
        "ko": {
            "eq": "grads = jax.grad(loss)(params), "
            "loss = SoftmaxWithLoss(Affine2(Relu1(Affine1(x))), t) (5.7.2)",
            "why": "연쇄법칙: 역전파는 계층을 역순으로 지나며 각 계층이 dout에 국소적 "
            "미분을 곱합니다. jax.custom_vjp로 감싸면 jax.grad가 여러분의 규칙을 실행합니다",
        },
    },
}


def _k(en: str, ko: str, hint_en: str = "", hint_ko: str = "") -> dict[str, str]:
    out = {"en": en, "ko": ko}
    if hint_en:
        out.update(hint_en=hint_en, hint_ko=hint_ko)
    return out


# ---- the kinds of mistake -------------------------------------------------------------------
# Fields: {what} the output ("dx", "out", "W1"), {fn} a function, {where} " (line N of F)".
KINDS: dict[str, dict[str, str]] = {
    # values
    "values": _k("wrong values", "값이 틀렸습니다"),
    "wrong_shape": _k(
        "wrong shape: {got}, expected {want}", "형상이 틀렸습니다: {got}, 기대한 형상은 {want}"
    ),
    "transposed": _k(
        "transposed: got the transpose of the right answer",
        "전치되었습니다: 정답의 전치행렬이 나왔습니다",
        "match the shapes: the derivative has the shape of its input",
        "형상을 맞추세요: 미분은 그 입력과 형상이 같습니다",
    ),
    "sign": _k(
        "sign flipped: got -1 times the right answer",
        "부호가 반대입니다: 정답에 -1을 곱한 값이 나왔습니다",
    ),
    "zeros": _k("all zeros (forgotten?)", "모두 0입니다 (빠뜨렸습니까?)"),
    "bias_missing": _k(
        "the bias is left out of the forward pass (out = x . W without + b; the gradient of "
        "a bias that is not used is all zeros)",
        "순전파에서 편향을 빠뜨렸습니다 (+ b 없이 out = x . W입니다. 쓰이지 않은 편향의 "
        "기울기는 모두 0입니다)",
    ),
    "factor_n": _k(
        "wrong by a constant factor {r} = N, the batch size (a missing / N?)",
        "상수배 {r} = N(배치 크기)만큼 틀렸습니다 (/ N을 빠뜨렸습니까?)",
    ),
    "factor_inv_n": _k(
        "wrong by a constant factor {r} = 1/N (divided by the batch size once too often, "
        "or a mean where a sum belongs?)",
        "상수배 {r} = 1/N만큼 틀렸습니다 (배치 크기로 한 번 더 나누었거나 합 대신 평균을 "
        "썼습니까?)",
    ),
    "factor": _k("wrong by a constant factor {r}", "상수배 {r}만큼 틀렸습니다"),
    "inexact": _k(
        "close, but off by up to {d}: more than rounding (an epsilon added somewhere?)",
        "거의 맞지만 최대 {d}만큼 다릅니다: 반올림 오차보다 큽니다 (어딘가에 작은 값을 "
        "더했습니까?)",
    ),
    "missing_factor": _k(
        "a factor is missing: got {what} / ({q})", "인수가 빠졌습니다: {what} / ({q})가 나왔습니다"
    ),
    "extra_factor": _k(
        "an extra factor: got {what} * ({q})", "인수가 더 곱해졌습니다: {what} * ({q})가 나왔습니다"
    ),
    "ignores_dout": _k(
        "dout is not used: the local derivative must be multiplied by dout (chain rule)",
        "dout을 쓰지 않았습니다: 국소적 미분에 dout을 곱해야 합니다 (연쇄법칙)",
    ),
    "not_summed": _k(
        "not summed over the batch: got shape {got}, expected {want} (sum(dout, axis=0))",
        "배치 축으로 합하지 않았습니다: 형상 {got}, 기대한 형상은 {want} (sum(dout, axis=0))",
    ),
    "wrong_axis": _k(
        "taken over the wrong axis: axis 0 runs over the batch, axis -1 over each sample's values",
        "다른 축을 따라 계산했습니다: 축 0은 배치를, 축 -1은 각 데이터의 값을 따라갑니다",
    ),
    "wrong_axis_sum": _k(
        "summed over the wrong axis: got shape {got}, expected {want} "
        "(axis 0 is the batch: sum(dout, axis=0))",
        "다른 축으로 합했습니다: 형상 {got}, 기대한 형상은 {want} "
        "(축 0이 배치입니다: sum(dout, axis=0))",
    ),
    "unstable": _k(
        "numerically unstable: NaN or inf where the answer is finite",
        "수치적으로 불안정합니다: 정답은 유한한데 NaN이나 inf가 나왔습니다",
        "exp overflows for large inputs: subtract the row's max before exp, as the book's "
        "softmax does (x - max(x)); for the loss use log-softmax, "
        "(x - max) - log(sum(exp(x - max))), rather than log(softmax(x)), which is "
        "log(0) once a probability underflows",
        "큰 입력에서 exp가 오버플로합니다. 책의 softmax처럼 exp 전에 각 행의 최댓값을 "
        "빼세요 (x - max(x)). 손실에는 log(softmax(x)) 대신 log-softmax, "
        "(x - max) - log(sum(exp(x - max)))를 쓰세요. 확률이 0으로 언더플로하면 "
        "log(0)이 됩니다",
    ),
    # specific to one rule
    "not_swapped": _k(
        "inputs not swapped: got dout * {same} for d{same}; the multiplication node's "
        "d{same} is dout * {other}",
        "입력을 서로 바꾸지 않았습니다: d{same}로 dout * {same}가 나왔습니다. 곱셈 노드의 "
        "d{same}는 dout * {other}입니다",
    ),
    "relu_mask_inverted": _k(
        "the ReLU mask is inverted: dout passes where x <= 0 instead of where x > 0",
        "ReLU의 mask가 반대입니다: dout이 x > 0이 아니라 x <= 0인 곳으로 흐릅니다",
    ),
    "relu_mask_strict": _k(
        "right except where x is exactly 0: the mask is x < 0, so dout passes at x = 0",
        "x가 정확히 0인 곳만 틀렸습니다: mask가 x < 0이어서 x = 0에서 dout이 흐릅니다",
        "eq. 5.8 says x <= 0 gives 0: the book keeps mask = (x <= 0)",
        "[식 5.8]은 x <= 0에서 0입니다: 책은 mask = (x <= 0)을 저장합니다",
    ),
    "relu_fwd_mask_inverted": _k(
        "the ReLU mask is inverted: out keeps x where x <= 0 instead of where x > 0",
        "ReLU의 mask가 반대입니다: x > 0이 아니라 x <= 0인 곳의 x를 남겼습니다",
    ),
    "sigmoid_dout_y": _k(
        "dout * y instead of dout * y * (1 - y): the factor (1 - y) is missing",
        "dout * y * (1 - y)가 아니라 dout * y입니다: (1 - y)가 빠졌습니다",
    ),
    "sigmoid_dout_1my": _k(
        "dout * (1 - y) instead of dout * y * (1 - y): the factor y is missing",
        "dout * y * (1 - y)가 아니라 dout * (1 - y)입니다: y가 빠졌습니다",
    ),
    "sigmoid_y_y": _k(
        "dout * y * y instead of dout * y * (1 - y)",
        "dout * y * (1 - y)가 아니라 dout * y * y입니다",
    ),
    "sigmoid_used_x": _k(
        "used the input x instead of the output y: dout * x * (1 - x)",
        "출력 y가 아니라 입력 x를 썼습니다: dout * x * (1 - x)",
    ),
    "sigmoid_fwd_sign": _k(
        "1 / (1 + exp(x)) instead of 1 / (1 + exp(-x))",
        "1 / (1 + exp(-x))가 아니라 1 / (1 + exp(x))입니다",
    ),
    "w_not_transposed": _k(
        "dx = dout . W: W^T, the transpose, belongs there",
        "dx = dout . W입니다: W가 아니라 전치행렬 W^T를 곱해야 합니다",
    ),
    "layers_order": _k(
        "the layers' backward functions run in the wrong order: {got}",
        "계층의 역전파 함수가 잘못된 순서로 실행되었습니다: {got}",
        "the backward pass visits the layers in the reverse order of the forward pass: {want}",
        "역전파는 순전파의 역순으로 계층을 지납니다: {want}",
    ),
    # structure and running
    "signature": _k(
        "{fn}{sig} cannot be called as {fn}({want})",
        "{fn}{sig:은} {fn}({want}) 형태로 호출할 수 없습니다",
    ),
    "args_order": _k(
        "{fn}{sig}: the arguments are in the wrong order; JAX calls {fn}({want})",
        "{fn}{sig}: 인수의 순서가 틀렸습니다. JAX는 {fn}({want}) 형태로 호출합니다",
    ),
    "fwd_structure": _k(
        "{fn} must return a pair (out, residuals), got {got}",
        "{fn:은} (out, residuals) 한 쌍을 반환해야 합니다. 반환값: {got}",
    ),
    "bwd_structure": _k(
        "{fn} must return a tuple {want} with one entry per input, got {got}",
        "{fn:은} 입력마다 하나씩 튜플 {want:을} 반환해야 합니다. 반환값: {got}",
        "note the comma in a tuple of one: return (dx,)",
        "원소가 하나인 튜플에는 쉼표가 필요합니다: return (dx,)",
    ),
    "grads_structure": _k(
        "{fn} must return a dict with the keys {keys}, got {got}",
        "{fn:은} 키 {keys:을} 가진 딕셔너리를 반환해야 합니다. 반환값: {got}",
    ),
    "not_array": _k(
        "{what} must be an array, got {got}", "{what:은} 배열이어야 합니다. 반환값: {got}"
    ),
    "in_place": _k(
        "{fn} assigns into a JAX array{where}: JAX arrays are immutable",
        "{fn}에서 JAX 배열에 값을 대입했습니다{where}: JAX 배열은 바꿀 수 없습니다",
        "instead of the book's dout[mask] = 0 write jnp.where(mask, 0.0, dout) "
        "(or dout.at[mask].set(0.0)), which returns a new array",
        "책의 dout[mask] = 0 대신 새 배열을 돌려주는 jnp.where(mask, 0.0, dout)"
        "(또는 dout.at[mask].set(0.0))를 쓰세요",
    ),
    "not_traceable": _k(
        "{fn} uses a traced value as a plain Python value{where}: {msg}",
        "{fn}에서 추적 중인 값을 파이썬 값처럼 썼습니다{where}: {msg}",
        "inside jax.grad and jax.jit your function sees tracers, not numbers: use "
        "jnp.where instead of if, jnp instead of np, and jax.debug.print to print values",
        "jax.grad와 jax.jit 안에서 함수는 숫자가 아니라 추적 값(tracer)을 받습니다. "
        "if 대신 jnp.where, np 대신 jnp를 쓰고 값은 jax.debug.print로 출력하세요",
    ),
    "shape_error": _k(
        "the shapes do not fit inside {fn} (a missing or extra transpose?): {msg}{where}",
        "{fn} 안에서 형상이 맞지 않습니다 (전치를 빠뜨렸거나 더했습니까?): {msg}{where}",
    ),
    "raised": _k("{fn} raised {exc}: {msg}{where}", "{fn}에서 {exc} 발생: {msg}{where}"),
    "not_implemented": _k(
        "{fn} raised NotImplementedError{where} (not finished?)",
        "{fn}에서 NotImplementedError 발생{where} (아직 작성 중입니까?)",
    ),
    "memory": _k(
        "{fn} ran out of memory{where}",
        "{fn}에서 메모리가 부족합니다{where}",
        "the learner's process may use {limit} MB (--memory MIB)",
        "여러분의 코드를 실행하는 프로세스의 메모리 한도는 {limit} MB입니다 (--memory MIB)",
    ),
    "recursion": _k(
        "{fn} calls itself without end{where} (RecursionError)",
        "{fn:이} 끝없이 자기 자신을 호출합니다{where} (RecursionError)",
    ),
    "timeout": _k(
        "no answer within {seconds} s: {fn} was running (an endless loop?)",
        "{seconds}초 안에 끝나지 않았습니다: {fn:을} 실행하던 중이었습니다 (무한 루프입니까?)",
        "the time limit is --timeout SECONDS",
        "시간 한도는 --timeout SECONDS로 바꿀 수 있습니다",
    ),
    "exited": _k(
        "your code ended the grading process ({how}) while running {fn}",
        "{fn:을} 실행하던 중 여러분의 코드가 채점 프로세스를 끝냈습니다 ({how})",
        "do not call sys.exit, exit() or os._exit in the exercises' file",
        "연습문제 파일에서 sys.exit, exit(), os._exit를 호출하지 마세요",
    ),
    "died": _k(
        "the process running your code died ({how}) while running {fn}",
        "{fn:을} 실행하던 중 여러분의 코드를 실행하는 프로세스가 죽었습니다 ({how})",
    ),
    "in_jax": _k(
        "works when called directly, but not as a jax.custom_vjp rule: {msg}",
        "직접 호출하면 되지만 jax.custom_vjp 규칙으로는 실패합니다: {msg}",
        "the residuals must be arrays (or tuples, lists, dicts of arrays), and each "
        "cotangent must have its input's shape and dtype",
        "residuals는 배열(또는 배열의 튜플, 리스트, 딕셔너리)이어야 하고, 각 cotangent는 "
        "입력과 형상과 dtype이 같아야 합니다",
    ),
}

# ---- right answers written another way -----------------------------------------------------
NOTES: dict[str, dict[str, str]] = {
    "book_epsilon": _k(
        "your loss adds 1e-7 inside the log, as the book's cross_entropy_error does; that "
        "makes the loss slightly inexact (the backward (y - t) / N is the exact loss's "
        "derivative), and log(y + 1e-7) caps the loss near 16 when y underflows; "
        "log-softmax, (x - max) - log(sum(exp(x - max))), is exact",
        "책의 cross_entropy_error처럼 log 안에 1e-7을 더했습니다. 그러면 손실이 약간 "
        "부정확해지고(역전파 (y - t) / N은 정확한 손실의 미분입니다), y가 언더플로하면 "
        "log(y + 1e-7) 때문에 손실이 16 근처에서 멈춥니다. log-softmax, "
        "(x - max) - log(sum(exp(x - max)))는 정확합니다",
    ),
    "labels_derivative": _k(
        "you return t's true derivative; None or zeros would do too (t is not differentiated)",
        "t의 참된 미분을 반환했습니다. None이나 0도 됩니다 (t는 미분하지 않습니다)",
    ),
    "printed_tracer": _k(
        "your print shows a tracer (a value being traced by jax.grad or jit), not numbers: "
        "use jax.debug.print('{{x}}', x=x) to see values",
        "print가 숫자 대신 추적 값(tracer)을 보여 줍니다(jax.grad나 jit가 추적 중인 값). "
        "값을 보려면 jax.debug.print('{{x}}', x=x)를 쓰세요",
    ),
}

# ---- the report's own words -----------------------------------------------------------------
UI: dict[str, dict[str, str]] = {
    "passed": _k("passed", "통과"),
    "failed": _k("FAILED", "실패"),
    "skipped": _k("skipped", "건너뜀"),
    "incomplete": _k("incomplete", "미완성"),
    "passed_detail": _k(
        "forward and backward agree on {n} inputs ({which}), also as a jax.custom_vjp rule",
        "순전파와 역전파가 입력 {n}개({which})에서 일치하고, jax.custom_vjp 규칙으로도 일치합니다",
    ),
    "cases_pair": _k("batch 1 and larger, float64", "배치 1과 그 이상, float64"),
    "cases_relu": _k(
        "batch 1 and larger, inputs exactly 0, float64",
        "배치 1과 그 이상, 정확히 0인 입력, float64",
    ),
    "cases_softmax": _k(
        "batch 1 and larger, logits near 1000, float64",
        "배치 1과 그 이상, 1000 근처의 로짓, float64",
    ),
    "cases_affine": _k(
        "batch 1 and larger, non-square W, float64", "배치 1과 그 이상, 정사각이 아닌 W, float64"
    ),
    "passed_net": _k(
        "gradients of {keys} agree on {n} inputs", "{keys}의 기울기가 입력 {n}개에서 일치합니다"
    ),
    "not_defined": _k("{fn} is not defined", "{fn:이} 정의되지 않았습니다"),
    "not_callable": _k("{fn} is not a function", "{fn:은} 함수가 아닙니다"),
    "not_written": _k(
        "not written yet ({fn} raises NotImplementedError)",
        "아직 작성하지 않았습니다 ({fn:이} NotImplementedError를 던집니다)",
    ),
    "fwd_only": _k(
        "forward checked on {n} inputs; {fn} not written yet",
        "순전파는 입력 {n}개에서 확인했습니다. {fn:은} 아직 작성하지 않았습니다",
    ),
    "fwd_raised": _k(
        "forward checked on {n} inputs; {what}", "순전파는 입력 {n}개에서 확인했습니다. {what}"
    ),
    "forward": _k("forward ({fn})", "순전파 ({fn})"),
    "backward": _k("backward ({fn})", "역전파 ({fn})"),
    "as_rule": _k("as a jax.custom_vjp rule", "jax.custom_vjp 규칙으로"),
    "where": _k(" (line {line} of {file})", " ({file} {line}번째 줄)"),
    "input": _k("input", "입력"),
    "expected": _k("expected", "기대값"),
    "got": _k("got     ", "결과값"),
    "hint": _k("hint", "힌트"),
    "note": _k("note", "참고"),
    "an_array": _k("an array of shape {shape}", "형상 {shape}인 배열"),
    "array_of": _k("an array of {dtype} of shape {shape}", "형상 {shape}인 {dtype} 배열"),
    "tuple": _k("a tuple of {n}", "길이 {n}인 튜플"),
    "list": _k("a list of {n} (a tuple is needed)", "길이 {n}인 리스트 (튜플이어야 합니다)"),
    "dict": _k("a dict with keys {keys}", "키가 {keys}인 딕셔너리"),
    "other": _k("a {type}", "{type} 값"),
    "one_hot": _k("one-hot", "원-핫"),
    "summary": _k(
        "{passed} passed, {failed} failed, {incomplete} incomplete, {skipped} skipped",
        "통과 {passed}, 실패 {failed}, 미완성 {incomplete}, 건너뜀 {skipped}",
    ),
    "printed": _k("your code printed:", "여러분의 코드가 출력한 내용:"),
    "rules_verdict": _k(
        "your rules in this network: {rules}", "이 신경망에 쓰인 여러분의 규칙: {rules}"
    ),
    "rule_check": _k(
        "rule check of your {net} loss (jaxbp.rule_check, each rule at its own inputs): "
        "first wrong rule: node {node}, {name}",
        "여러분의 {net} 손실에 대한 규칙 검사 (jaxbp.rule_check, 각 규칙을 그 입력에서 "
        "검사): 처음 틀린 규칙은 노드 {node}, {name}입니다",
    ),
    "rule_check_ok": _k(
        "rule check of your {net} loss (jaxbp.rule_check): every rule agrees, so the "
        "mistake is in how {fn} puts them together",
        "여러분의 {net} 손실에 대한 규칙 검사 (jaxbp.rule_check): 모든 규칙이 "
        "일치하므로 {fn:이} 규칙을 조합하는 방식에 실수가 있습니다",
    ),
    "rule_check_not_run": _k("rule check not run: {why}", "규칙 검사를 실행하지 않았습니다: {why}"),
    "syntax_error": _k("{file}:{line}: syntax error: {msg}", "{file}:{line}: 문법 오류: {msg}"),
    "import_error": _k(
        "{file}: importing it raised {exc}: {msg}{where}",
        "{file}: 불러오는 중 {exc} 발생: {msg}{where}",
    ),
    "import_timeout": _k(
        "{file}: importing it did not finish within {seconds} s (an endless loop at the top "
        "level?); nothing was graded",
        "{file}: {seconds}초 안에 불러오기가 끝나지 않았습니다 (최상위 수준의 무한 루프입니까?). "
        "아무것도 채점하지 않았습니다",
    ),
    "import_exited": _k(
        "{file}: importing it ended the grading process ({how}); nothing was graded",
        "{file}: 불러오는 중 채점 프로세스가 끝났습니다 ({how}). 아무것도 채점하지 않았습니다",
    ),
    "no_file": _k("{file}: no such file", "{file}: 파일이 없습니다"),
    "interrupted": _k(
        "interrupted: {done} of {total} exercises graded",
        "중단됨: 연습문제 {total}개 중 {done}개 채점",
    ),
    "nothing": _k(
        "nothing to grade yet: no exercise is written (exit status 3)",
        "아직 채점할 것이 없습니다: 작성한 연습문제가 없습니다 (종료 상태 3)",
    ),
    "exists": _k(
        "{file} exists already; not overwritten (pick another name or remove it)",
        "{file:이} 이미 있어 덮어쓰지 않았습니다 (다른 이름을 쓰거나 지우세요)",
    ),
    "wrote": _k(
        "wrote {file}: fill in the bodies, then run: python -m jaxbp.exercises check {file}",
        "{file:을} 만들었습니다. 함수 본문을 채운 뒤 실행하세요: "
        "python -m jaxbp.exercises check {file}",
    ),
}

# chapters 6 and 7: their words, kept in a module of their own, looked up here
for _table, _more in (
    (DERIVATION, messages67.DERIVATION),
    (KINDS, messages67.KINDS),
    (NOTES, messages67.NOTES),
    (UI, messages67.UI),
):
    assert not set(_table) & set(_more), set(_table) & set(_more)
    _table.update(_more)


# ---- Python's syntax errors, said in Korean (the original follows in parentheses) -------------
SYNTAX_KO = (
    (r"expected ':'", "':'가 필요합니다"),
    (r"invalid syntax\. Perhaps you forgot a comma\?", "잘못된 문법입니다. 쉼표를 빠뜨렸습니까?"),
    (r"invalid syntax", "잘못된 문법입니다"),
    (r"unexpected indent", "예상하지 못한 들여쓰기입니다"),
    (r"expected an indented block.*", "들여쓴 블록이 필요합니다"),
    (r"unindent does not match any outer indentation level",
     "들여쓰기가 바깥 블록과 맞지 않습니다"),
    (r"inconsistent use of tabs and spaces in indentation", "들여쓰기에 탭과 공백을 섞어 썼습니다"),
    (r"'(.)' was never closed", "'\\1'가 닫히지 않았습니다"),
    (r"unmatched '(.)'", "짝이 없는 '\\1'입니다"),
    (r"closing parenthesis '(.)' does not match opening parenthesis '(.)'.*",
     "닫는 괄호 '\\1'가 여는 괄호 '\\2'와 짝이 맞지 않습니다"),
    (r"unterminated (triple-quoted )?string literal.*", "문자열이 닫히지 않았습니다"),
    (r"invalid character .*", "쓸 수 없는 문자가 있습니다"),
    (r"cannot assign to .*", "여기에는 값을 대입할 수 없습니다"),
    (r"'return' outside function", "함수 밖에서 return을 썼습니다"),
)  # fmt: skip


def syntax_message(msg: str, lang: str) -> str:
    """Python's syntax-error message ``msg`` in ``lang`` (Korean: the common ones
    translated, the original kept in parentheses).

    >>> syntax_message("expected ':'", "ko")
    "':'가 필요합니다 (expected ':')"
    """
    if lang != "ko":
        return msg
    for pattern, words in SYNTAX_KO:
        match = re.fullmatch(pattern, msg)
        if match:
            return f"{match.expand(words)} ({msg})"
    return msg


# ---- particles --------------------------------------------------------------------------------
_PAIRS = {"은": ("은", "는"), "이": ("이", "가"), "을": ("을", "를"), "과": ("과", "와")}
_PAIRS.update({v[1]: v for v in list(_PAIRS.values())})
# Latin letters and digits read aloud: those whose Korean reading ends in a consonant
# (엘, 엠, 엔, 알; 영, 일, 삼, 육, 칠, 팔, 십).
_CLOSED = set("lmnr" + "LMNR" + "0136780")


def particle(word: str, pair: str) -> str:
    """``word`` followed by the particle of ``pair`` its last sound takes.

    ``pair`` is either form: ``은``/``는``, ``이``/``가``, ``을``/``를``, ``과``/``와``.

    >>> particle("relu_bwd", "을"), particle("가중치", "은"), particle("형상", "이")
    ('relu_bwd를', '가중치는', '형상이')
    """
    closed_form, open_form = _PAIRS[pair]
    last = next((c for c in reversed(word) if c.isalnum()), "")
    if "가" <= last <= "힣":
        closed = (ord(last) - ord("가")) % 28 != 0
    else:
        closed = last in _CLOSED
    return word + (closed_form if closed else open_form)


class _Formatter(string.Formatter):
    """``{name:을}`` puts the right particle after ``name``; other specs as usual."""

    def format_field(self, value, format_spec):
        if format_spec in _PAIRS:
            return particle(str(value), format_spec)
        return super().format_field(value, format_spec)


_FORMAT = _Formatter()


def choose_lang(lang: str | None = None) -> str:
    """``lang`` itself, or from the environment (``LANG=ko_KR...`` gives Korean).

    Args:
      lang: ``"en"``, ``"ko"`` or ``None`` (then ``LC_ALL``, ``LC_MESSAGES``,
        ``LANG`` decide, in that order; anything not Korean is English).

    Returns:
      ``"en"`` or ``"ko"``.

    >>> choose_lang("ko")
    'ko'
    """
    if lang is None:
        env = next(
            (os.environ[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(k)), ""
        )
        return "ko" if env.lower().startswith("ko") else "en"
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS} or None, got {lang!r}")
    return lang


def say(table: dict[str, dict[str, str]], key: str, lang: str, **fields: object) -> str:
    """The message ``key`` of ``table`` in ``lang``, its ``{fields}`` filled in.

    >>> say(UI, "not_defined", "ko", fn="relu_bwd")
    'relu_bwd가 정의되지 않았습니다'
    """
    return _FORMAT.format(table[key][lang], **fields)


def hint(table: dict[str, dict[str, str]], key: str, lang: str, **fields: object) -> str:
    """The kind's own hint in ``lang`` (``""`` if it has none)."""
    text = table[key].get(f"hint_{lang}", "")
    return _FORMAT.format(text, **fields) if text else ""
