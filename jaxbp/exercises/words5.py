"""Every word of chapter 5's exercises, in English and Korean, and the kinds every chapter shares.

:mod:`jaxbp.exercises.messages` merges these into its tables: ``DERIVATION``
(per exercise, the book's equation and why it is so; the hints read it),
``KINDS`` (the kinds of mistake the grader can tell apart, the keys of the
mistake corpus in ``tests/corpus``, each with its hint) and ``NOTES`` (right
answers written another way).  Korean in 합니다체 with the slides' terms;
``{name:을}`` chooses the particle by the name's last sound.
"""

from __future__ import annotations

__all__ = ["DERIVATION", "KINDS", "NOTES", "entry"]

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


def entry(en: str, ko: str, hint_en: str = "", hint_ko: str = "") -> dict[str, str]:
    """One message in both languages, with its hint in both when it has one."""
    out = {"en": en, "ko": ko}
    if hint_en:
        out.update(hint_en=hint_en, hint_ko=hint_ko)
    return out


def derivation(eq_en: str, why_en: str, eq_ko: str, why_ko: str) -> dict[str, dict[str, str]]:
    """An exercise's equation and why it holds, in both languages (a :data:`DERIVATION` entry)."""
    return {"en": {"eq": eq_en, "why": why_en}, "ko": {"eq": eq_ko, "why": why_ko}}


# ---- the kinds of mistake -------------------------------------------------------------------
# Fields: {what} the output ("dx", "out", "W1"), {fn} a function, {where} " (line N of F)".
KINDS: dict[str, dict[str, str]] = {
    # values
    "values": entry("wrong values", "값이 틀렸습니다"),
    "wrong_shape": entry(
        "wrong shape: {got}, expected {want}", "형상이 틀렸습니다: {got}, 기대한 형상은 {want}"
    ),
    "transposed": entry(
        "transposed: got the transpose of the right answer",
        "전치되었습니다: 정답의 전치행렬이 나왔습니다",
        "match the shapes: the derivative has the shape of its input",
        "형상을 맞추세요: 미분은 그 입력과 형상이 같습니다",
    ),
    "sign": entry(
        "sign flipped: got -1 times the right answer",
        "부호가 반대입니다: 정답에 -1을 곱한 값이 나왔습니다",
    ),
    "zeros": entry("all zeros (forgotten?)", "모두 0입니다 (빠뜨렸습니까?)"),
    "bias_missing": entry(
        "the bias is left out of the forward pass (out = x . W without + b; the gradient of "
        "a bias that is not used is all zeros)",
        "순전파에서 편향을 빠뜨렸습니다 (+ b 없이 out = x . W입니다. 쓰이지 않은 편향의 "
        "기울기는 모두 0입니다)",
    ),
    "factor_n": entry(
        "wrong by a constant factor {r} = N, the batch size (a missing / N?)",
        "상수배 {r} = N(배치 크기)만큼 틀렸습니다 (/ N을 빠뜨렸습니까?)",
    ),
    "factor_inv_n": entry(
        "wrong by a constant factor {r} = 1/N (divided by the batch size once too often, "
        "or a mean where a sum belongs?)",
        "상수배 {r} = 1/N만큼 틀렸습니다 (배치 크기로 한 번 더 나누었거나 합 대신 평균을 "
        "썼습니까?)",
    ),
    "factor": entry("wrong by a constant factor {r}", "상수배 {r}만큼 틀렸습니다"),
    "inexact": entry(
        "close, but off by up to {d}: more than rounding (an epsilon added somewhere?)",
        "거의 맞지만 최대 {d}만큼 다릅니다: 반올림 오차보다 큽니다 (어딘가에 작은 값을 "
        "더했습니까?)",
    ),
    "missing_factor": entry(
        "a factor is missing: got {what} / ({q})", "인수가 빠졌습니다: {what} / ({q})가 나왔습니다"
    ),
    "extra_factor": entry(
        "an extra factor: got {what} * ({q})", "인수가 더 곱해졌습니다: {what} * ({q})가 나왔습니다"
    ),
    "ignores_dout": entry(
        "dout is not used: the local derivative must be multiplied by dout (chain rule)",
        "dout을 쓰지 않았습니다: 국소적 미분에 dout을 곱해야 합니다 (연쇄법칙)",
    ),
    "not_summed": entry(
        "not summed over the batch: got shape {got}, expected {want} (sum(dout, axis=0))",
        "배치 축으로 합하지 않았습니다: 형상 {got}, 기대한 형상은 {want} (sum(dout, axis=0))",
    ),
    "wrong_axis": entry(
        "taken over the wrong axis: axis 0 runs over the batch, axis -1 over each sample's values",
        "다른 축을 따라 계산했습니다: 축 0은 배치를, 축 -1은 각 데이터의 값을 따라갑니다",
    ),
    "wrong_axis_sum": entry(
        "summed over the wrong axis: got shape {got}, expected {want} "
        "(axis 0 is the batch: sum(dout, axis=0))",
        "다른 축으로 합했습니다: 형상 {got}, 기대한 형상은 {want} "
        "(축 0이 배치입니다: sum(dout, axis=0))",
    ),
    "unstable": entry(
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
    "not_swapped": entry(
        "inputs not swapped: got dout * {same} for d{same}; the multiplication node's "
        "d{same} is dout * {other}",
        "입력을 서로 바꾸지 않았습니다: d{same}로 dout * {same}가 나왔습니다. 곱셈 노드의 "
        "d{same}는 dout * {other}입니다",
    ),
    "relu_mask_inverted": entry(
        "the ReLU mask is inverted: dout passes where x <= 0 instead of where x > 0",
        "ReLU의 mask가 반대입니다: dout이 x > 0이 아니라 x <= 0인 곳으로 흐릅니다",
    ),
    "relu_mask_strict": entry(
        "right except where x is exactly 0: the mask is x < 0, so dout passes at x = 0",
        "x가 정확히 0인 곳만 틀렸습니다: mask가 x < 0이어서 x = 0에서 dout이 흐릅니다",
        "eq. 5.8 says x <= 0 gives 0: the book keeps mask = (x <= 0)",
        "[식 5.8]은 x <= 0에서 0입니다: 책은 mask = (x <= 0)을 저장합니다",
    ),
    "relu_fwd_mask_inverted": entry(
        "the ReLU mask is inverted: out keeps x where x <= 0 instead of where x > 0",
        "ReLU의 mask가 반대입니다: x > 0이 아니라 x <= 0인 곳의 x를 남겼습니다",
    ),
    "sigmoid_dout_y": entry(
        "dout * y instead of dout * y * (1 - y): the factor (1 - y) is missing",
        "dout * y * (1 - y)가 아니라 dout * y입니다: (1 - y)가 빠졌습니다",
    ),
    "sigmoid_dout_1my": entry(
        "dout * (1 - y) instead of dout * y * (1 - y): the factor y is missing",
        "dout * y * (1 - y)가 아니라 dout * (1 - y)입니다: y가 빠졌습니다",
    ),
    "sigmoid_y_y": entry(
        "dout * y * y instead of dout * y * (1 - y)",
        "dout * y * (1 - y)가 아니라 dout * y * y입니다",
    ),
    "sigmoid_used_x": entry(
        "used the input x instead of the output y: dout * x * (1 - x)",
        "출력 y가 아니라 입력 x를 썼습니다: dout * x * (1 - x)",
    ),
    "sigmoid_fwd_sign": entry(
        "1 / (1 + exp(x)) instead of 1 / (1 + exp(-x))",
        "1 / (1 + exp(-x))가 아니라 1 / (1 + exp(x))입니다",
    ),
    "w_not_transposed": entry(
        "dx = dout . W: W^T, the transpose, belongs there",
        "dx = dout . W입니다: W가 아니라 전치행렬 W^T를 곱해야 합니다",
    ),
    "layers_order": entry(
        "the layers' backward functions run in the wrong order: {got}",
        "계층의 역전파 함수가 잘못된 순서로 실행되었습니다: {got}",
        "the backward pass visits the layers in the reverse order of the forward pass: {want}",
        "역전파는 순전파의 역순으로 계층을 지납니다: {want}",
    ),
    # structure and running
    "signature": entry(
        "{fn}{sig} cannot be called as {fn}({want})",
        "{fn}{sig:은} {fn}({want}) 형태로 호출할 수 없습니다",
    ),
    "args_order": entry(
        "{fn}{sig}: the arguments are in the wrong order; JAX calls {fn}({want})",
        "{fn}{sig}: 인수의 순서가 틀렸습니다. JAX는 {fn}({want}) 형태로 호출합니다",
    ),
    "fwd_structure": entry(
        "{fn} must return a pair (out, residuals), got {got}",
        "{fn:은} (out, residuals) 한 쌍을 반환해야 합니다. 반환값: {got}",
    ),
    "bwd_structure": entry(
        "{fn} must return a tuple {want} with one entry per input, got {got}",
        "{fn:은} 입력마다 하나씩 튜플 {want:을} 반환해야 합니다. 반환값: {got}",
        "note the comma in a tuple of one: return (dx,)",
        "원소가 하나인 튜플에는 쉼표가 필요합니다: return (dx,)",
    ),
    "grads_structure": entry(
        "{fn} must return a dict with the keys {keys}, got {got}",
        "{fn:은} 키 {keys:을} 가진 딕셔너리를 반환해야 합니다. 반환값: {got}",
    ),
    "not_array": entry(
        "{what} must be an array, got {got}", "{what:은} 배열이어야 합니다. 반환값: {got}"
    ),
    "in_place": entry(
        "{fn} assigns into a JAX array{where}: JAX arrays are immutable",
        "{fn}에서 JAX 배열에 값을 대입했습니다{where}: JAX 배열은 바꿀 수 없습니다",
        "instead of the book's dout[mask] = 0 write jnp.where(mask, 0.0, dout) "
        "(or dout.at[mask].set(0.0)), which returns a new array",
        "책의 dout[mask] = 0 대신 새 배열을 돌려주는 jnp.where(mask, 0.0, dout)"
        "(또는 dout.at[mask].set(0.0))를 쓰세요",
    ),
    "not_traceable": entry(
        "{fn} uses a traced value as a plain Python value{where}: {msg}",
        "{fn}에서 추적 중인 값을 파이썬 값처럼 썼습니다{where}: {msg}",
        "inside jax.grad and jax.jit your function sees tracers, not numbers: use "
        "jnp.where instead of if, jnp instead of np, and jax.debug.print to print values",
        "jax.grad와 jax.jit 안에서 함수는 숫자가 아니라 추적 값(tracer)을 받습니다. "
        "if 대신 jnp.where, np 대신 jnp를 쓰고 값은 jax.debug.print로 출력하세요",
    ),
    "shape_error": entry(
        "the shapes do not fit inside {fn} (a missing or extra transpose?): {msg}{where}",
        "{fn} 안에서 형상이 맞지 않습니다 (전치를 빠뜨렸거나 더했습니까?): {msg}{where}",
    ),
    "raised": entry("{fn} raised {exc}: {msg}{where}", "{fn}에서 {exc} 발생: {msg}{where}"),
    "not_implemented": entry(
        "{fn} raised NotImplementedError{where} (not finished?)",
        "{fn}에서 NotImplementedError 발생{where} (아직 작성 중입니까?)",
    ),
    "memory": entry(
        "{fn} ran out of memory{where}",
        "{fn}에서 메모리가 부족합니다{where}",
        "the learner's process may use {limit} MB (--memory MIB)",
        "여러분의 코드를 실행하는 프로세스의 메모리 한도는 {limit} MB입니다 (--memory MIB)",
    ),
    "recursion": entry(
        "{fn} calls itself without end{where} (RecursionError)",
        "{fn:이} 끝없이 자기 자신을 호출합니다{where} (RecursionError)",
    ),
    "timeout": entry(
        "no answer within {seconds} s: {fn} was running (an endless loop?)",
        "{seconds}초 안에 끝나지 않았습니다: {fn:을} 실행하던 중이었습니다 (무한 루프입니까?)",
        "the time limit is --timeout SECONDS",
        "시간 한도는 --timeout SECONDS로 바꿀 수 있습니다",
    ),
    "exited": entry(
        "your code ended the grading process ({how}) while running {fn}",
        "{fn:을} 실행하던 중 여러분의 코드가 채점 프로세스를 끝냈습니다 ({how})",
        "do not call sys.exit, exit() or os._exit in the exercises' file",
        "연습문제 파일에서 sys.exit, exit(), os._exit를 호출하지 마세요",
    ),
    "died": entry(
        "the process running your code died ({how}) while running {fn}",
        "{fn:을} 실행하던 중 여러분의 코드를 실행하는 프로세스가 죽었습니다 ({how})",
    ),
    "in_jax": entry(
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
    "book_epsilon": entry(
        "your loss adds 1e-7 inside the log, as the book's cross_entropy_error does; that "
        "makes the loss slightly inexact (the backward (y - t) / N is the exact loss's "
        "derivative), and log(y + 1e-7) caps the loss near 16 when y underflows; "
        "log-softmax, (x - max) - log(sum(exp(x - max))), is exact",
        "책의 cross_entropy_error처럼 log 안에 1e-7을 더했습니다. 그러면 손실이 약간 "
        "부정확해지고(역전파 (y - t) / N은 정확한 손실의 미분입니다), y가 언더플로하면 "
        "log(y + 1e-7) 때문에 손실이 16 근처에서 멈춥니다. log-softmax, "
        "(x - max) - log(sum(exp(x - max)))는 정확합니다",
    ),
    "labels_derivative": entry(
        "you return t's true derivative; None or zeros would do too (t is not differentiated)",
        "t의 참된 미분을 반환했습니다. None이나 0도 됩니다 (t는 미분하지 않습니다)",
    ),
    "printed_tracer": entry(
        "your print shows a tracer (a value being traced by jax.grad or jit), not numbers: "
        "use jax.debug.print('{{x}}', x=x) to see values",
        "print가 숫자 대신 추적 값(tracer)을 보여 줍니다(jax.grad나 jit가 추적 중인 값). "
        "값을 보려면 jax.debug.print('{{x}}', x=x)를 쓰세요",
    ),
}
