"""Every word the grader prints, in English and Korean (the slides' terms).

Three tables, each written once:

* :data:`DERIVATION` - per exercise, the book's equation and *why* it is so
  (the derivation words); the hints and the template's docstrings both read it;
* :data:`KINDS` - the kinds of mistake the grader can tell apart;
* :data:`UI` - the report's own words.

Korean follows the chapter's vocabulary: 순전파 (forward), 역전파 (backward),
연쇄법칙 (chain rule), 국소적 미분 (local derivative), 상류에서 넘어온 미분
(``dout``), 형상 (shape), 전치행렬 (transpose).
"""

from __future__ import annotations

import os

from jaxbp.layers import DERIVATIONS

__all__ = ["DERIVATION", "KINDS", "UI", "LANGS", "choose_lang", "say"]

LANGS = ("en", "ko")

# ---- the derivation words: one entry per exercise ---------------------------
DERIVATION: dict[str, dict[str, dict[str, str]]] = {
    "dout": {
        "en": {
            "eq": "dout = dL/dout",
            "why": DERIVATIONS["dout"],  # the words beside the rule, in jaxbp.layers
        },
        "ko": {
            "eq": "dout = dL/dout",
            "why": "dout은 상류에서 넘어온 미분(JAX의 cotangent)이다. 연쇄법칙에 따라 "
            "여기에 국소적 미분을 곱해 하류로 흘린다",
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
            "why": "x * y를 x로 미분한 국소적 미분은 y이다. 곱셈 노드의 역전파는 순전파의 "
            "입력 신호를 '서로 바꿔' 곱한다",
        },
    },
    "add": {
        "en": {
            "eq": "dx = dout * 1, dy = dout * 1 (eq. 5.5)",
            "why": "the local derivative of x + y is 1 for both inputs: the addition node "
            "passes dout through unchanged",
        },
        "ko": {
            "eq": "dx = dout * 1, dy = dout * 1 ([식 5.5])",
            "why": "x + y의 국소적 미분은 두 입력 모두 1이다. 덧셈 노드의 역전파는 상류의 "
            "값을 그대로 흘려보낸다",
        },
    },
    "relu": {
        "en": {
            "eq": "dx = dout where x > 0, 0 where x <= 0 (eq. 5.8)",
            "why": "the local derivative is 1 for x > 0 and 0 for x <= 0; the book keeps "
            "mask = (x <= 0) and sets dout to 0 where the mask is True",
        },
        "ko": {
            "eq": "x > 0이면 dx = dout, x <= 0이면 0 ([식 5.8])",
            "why": "국소적 미분은 x > 0에서 1, x <= 0에서 0이다. 책은 mask = (x <= 0)을 "
            "저장해 두고 mask가 True인 곳의 dout을 0으로 만든다",
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
            "순전파의 출력 y만 있으면 된다",
        },
    },
    "affine": {
        "en": {
            "eq": "dx = dout . W^T, dW = x^T . dout, db = sum(dout, axis=0) "
            "(eq. 5.13, figure 5-27)",
            "why": DERIVATIONS["affine"],  # the words beside the rule, in jaxbp.layers
        },
        "ko": {
            "eq": "dx = dout . W^T, dW = x^T . dout, db = sum(dout, axis=0) "
            "([식 5.13], [그림 5-27])",
            "why": "형상이 답을 정한다: dx는 x처럼 (N, n), dW는 W처럼 (n, m)이어야 한다. "
            "x^T . dout, 즉 (n, N) . (N, m)이 그 형상을 만드는 유일한 행렬의 곱이고 "
            "배치 전체에 걸쳐 합한다. 편향은 모든 데이터에 더해지므로 역전파 때는 각 "
            "데이터의 값이 편향에 모여야 한다: 배치 축 0으로 합한다",
        },
    },
    "softmax_with_loss": {
        "en": {
            "eq": "dx = dout * (y - t) / N with y = softmax(x) (figure 5-30)",
            "why": DERIVATIONS["softmax_with_loss"],  # the words beside the rule, in jaxbp.layers
        },
        "ko": {
            "eq": "y = softmax(x)일 때 dx = dout * (y - t) / N ([그림 5-30])",
            "why": "교차 엔트로피 오차는 소프트맥스의 역전파가 깔끔하게 y - t가 되도록 "
            "설계되었다. 손실은 N개 데이터의 평균이므로 데이터 하나의 몫은 N으로 나눈다. "
            "마지막 계층에서 dout은 1이지만 그래도 곱한다 (2 * loss의 기울기는 두 배여야 "
            "한다)",
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
            "미분을 곱한다. jax.custom_vjp로 감싸면 jax.grad가 여러분의 규칙을 실행한다",
        },
    },
}

# ---- the kinds of mistake ------------------------------------------------------
KINDS: dict[str, dict[str, str]] = {
    "values": {"en": "wrong values", "ko": "값이 틀림"},
    "wrong_shape": {
        "en": "wrong shape: {got}, expected {want}",
        "ko": "형상이 틀림: {got}, 기대한 형상은 {want}",
    },
    "transposed": {
        "en": "transposed: got the transpose of the right answer",
        "ko": "전치됨: 정답의 전치행렬이 나왔다",
    },
    "sign": {
        "en": "sign flipped: got -1 times the right answer",
        "ko": "부호가 반대: 정답에 -1을 곱한 값이 나왔다",
    },
    "factor_n": {
        "en": "wrong by a constant factor {r} = N, the batch size (a missing / N?)",
        "ko": "상수배 {r} = N (배치 크기)만큼 틀림 (/ N을 빠뜨렸나?)",
    },
    "factor_inv_n": {
        "en": "wrong by a constant factor {r} = 1/N (divided by the batch size once too often, "
        "or a mean where a sum belongs?)",
        "ko": "상수배 {r} = 1/N만큼 틀림 (배치 크기로 한 번 더 나누었거나 합 대신 평균?)",
    },
    "factor": {"en": "wrong by a constant factor {r}", "ko": "상수배 {r}만큼 틀림"},
    "ignores_dout": {
        "en": "dout is not used: multiply the local derivative by dout (chain rule)",
        "ko": "dout을 쓰지 않았다: 국소적 미분에 dout을 곱해야 한다 (연쇄법칙)",
    },
    "mul_not_swapped": {
        "en": "inputs not swapped: got dout * x for dx (the multiplication node's dx is dout * y)",
        "ko": "입력을 바꾸지 않았다: dx로 dout * x가 나왔다 (곱셈 노드의 dx는 dout * y)",
    },
    "relu_mask_inverted": {
        "en": "the ReLU mask is inverted: dout passes where x <= 0 instead of where x > 0",
        "ko": "ReLU의 mask가 반대: dout이 x > 0이 아니라 x <= 0인 곳으로 흐른다",
    },
    "relu_fwd_mask_inverted": {
        "en": "the ReLU mask is inverted: out keeps x where x <= 0 instead of where x > 0",
        "ko": "ReLU의 mask가 반대: x > 0이 아니라 x <= 0인 곳의 x를 남겼다",
    },
    "sigmoid_dout_y": {
        "en": "dout * y instead of dout * y * (1 - y)",
        "ko": "dout * y * (1 - y)가 아니라 dout * y",
    },
    "sigmoid_dout_1my": {
        "en": "dout * (1 - y) instead of dout * y * (1 - y)",
        "ko": "dout * y * (1 - y)가 아니라 dout * (1 - y)",
    },
    "sigmoid_used_x": {
        "en": "used the input x instead of the output y: dout * x * (1 - x)",
        "ko": "출력 y가 아니라 입력 x를 썼다: dout * x * (1 - x)",
    },
    "sigmoid_fwd_sign": {
        "en": "1 / (1 + exp(x)) instead of 1 / (1 + exp(-x))",
        "ko": "1 / (1 + exp(-x))가 아니라 1 / (1 + exp(x))",
    },
    "db_wrong_axis": {
        "en": "db summed over axis 1 (the features) instead of axis 0 (the batch)",
        "ko": "db를 배치 축 0이 아니라 축 1(특성)로 합했다",
    },
    "db_not_summed": {
        "en": "db is not summed over the batch (db = sum(dout, axis=0))",
        "ko": "db를 배치 축으로 합하지 않았다 (db = sum(dout, axis=0))",
    },
    "w_not_transposed": {
        "en": "dx = dout . W: W^T, the transpose, belongs there",
        "ko": "dx = dout . W: W가 아니라 전치행렬 W^T를 곱해야 한다",
    },
    "shape_error": {
        "en": "the shapes do not fit inside {fn} (a missing or extra transpose?): {msg}",
        "ko": "{fn} 안에서 형상이 맞지 않는다 (전치를 빠뜨렸거나 더했나?): {msg}",
    },
    "not_none": {
        "en": "the cotangent for t must be None (the labels are not differentiated), got {got}",
        "ko": "t에 대한 cotangent는 None이어야 한다 (정답 레이블은 미분하지 않는다): {got}",
    },
}

# ---- the report's own words ------------------------------------------------------
UI: dict[str, dict[str, str]] = {
    "header": {
        "en": "Chapter 5 exercises (backpropagation): {source}",
        "ko": "5장 연습문제 (오차역전파법): {source}",
    },
    "passed": {"en": "passed", "ko": "통과"},
    "failed": {"en": "FAILED", "ko": "실패"},
    "skipped": {"en": "skipped", "ko": "건너뜀"},
    "passed_detail": {
        "en": "forward and backward agree on {n} inputs (batch 1 and larger, float64)",
        "ko": "순전파와 역전파가 입력 {n}개에서 일치 (배치 1과 그 이상, float64)",
    },
    "passed_net": {
        "en": "gradients of W1 b1 W2 b2 agree on {n} inputs",
        "ko": "W1 b1 W2 b2의 기울기가 입력 {n}개에서 일치",
    },
    "not_defined": {
        "en": "{fn} is not defined",
        "ko": "{fn}이(가) 정의되지 않았다",
    },
    "not_written": {
        "en": "not written yet ({fn} raises NotImplementedError)",
        "ko": "아직 작성하지 않음 ({fn}이(가) NotImplementedError를 던진다)",
    },
    "fwd_only": {
        "en": "forward checked; {fn} not written yet",
        "ko": "순전파는 확인함; {fn}은(는) 아직 작성하지 않음",
    },
    "forward": {"en": "forward ({fn})", "ko": "순전파 ({fn})"},
    "backward": {"en": "backward ({fn})", "ko": "역전파 ({fn})"},
    "raised": {
        "en": "{fn} raised {exc}: {msg}{where}",
        "ko": "{fn}에서 {exc} 발생: {msg}{where}",
    },
    "where": {"en": " (line {line} of {file})", "ko": " ({file} {line}번째 줄)"},
    "not_callable": {"en": "{fn} is not a function", "ko": "{fn}은(는) 함수가 아니다"},
    "signature": {
        "en": "{fn}{sig} cannot be called as {fn}({want})",
        "ko": "{fn}{sig}은(는) {fn}({want})으로 호출할 수 없다",
    },
    "fwd_structure": {
        "en": "{fn} must return a pair (out, residuals), got {got}",
        "ko": "{fn}은(는) (out, residuals) 한 쌍을 반환해야 한다: {got}",
    },
    "bwd_structure": {
        "en": "{fn} must return a tuple ({want}) with one entry per input, got {got}",
        "ko": "{fn}은(는) 입력마다 하나씩 튜플 ({want})을 반환해야 한다: {got}",
    },
    "not_array": {
        "en": "{fn} must give {what} as an array, got {got}",
        "ko": "{fn}은(는) {what}을(를) 배열로 주어야 한다: {got}",
    },
    "grads_structure": {
        "en": "{fn} must return a dict with the keys W1 b1 W2 b2, got {got}",
        "ko": "{fn}은(는) 키 W1 b1 W2 b2를 가진 딕셔너리를 반환해야 한다: {got}",
    },
    "in_jax": {
        "en": "works when called directly, but not as a jax.custom_vjp rule: {msg}",
        "ko": "직접 호출하면 되지만 jax.custom_vjp 규칙으로는 실패: {msg}",
    },
    "input": {"en": "input", "ko": "입력"},
    "an_array": {"en": "an array of shape {shape}", "ko": "형상 {shape}인 배열"},
    "a_tuple": {"en": "a tuple of {n}", "ko": "길이 {n}인 튜플"},
    "a_list": {
        "en": "a list of {n} (a tuple is needed)",
        "ko": "길이 {n}인 리스트 (튜플이어야 한다)",
    },
    "a_dict": {"en": "a dict with keys {keys}", "ko": "키가 {keys}인 딕셔너리"},
    "rule_check_error": {
        "en": "the rule check could not run: {msg}",
        "ko": "규칙 검사를 실행할 수 없었다: {msg}",
    },
    "expected": {"en": "expected", "ko": "기대값"},
    "got": {"en": "got     ", "ko": "결과값"},
    "hint": {"en": "hint", "ko": "힌트"},
    "summary": {
        "en": "{passed} passed, {failed} failed, {skipped} skipped",
        "ko": "통과 {passed}, 실패 {failed}, 건너뜀 {skipped}",
    },
    "rule_check": {
        "en": "rule check of your TwoLayerNet loss (jaxbp.rule_check): {status}",
        "ko": "여러분의 TwoLayerNet 손실에 대한 규칙 검사 (jaxbp.rule_check): {status}",
    },
    "rule_check_missing": {
        "en": "jaxbp.rule_check is not available in this jaxbp: not run",
        "ko": "이 jaxbp에는 jaxbp.rule_check가 없다: 실행하지 않음",
    },
    "net_uses": {
        "en": "it uses your {rules}, which failed above: fix those first",
        "ko": "위에서 실패한 {rules}을(를) 사용한다: 그것부터 고치세요",
    },
    "rule_check_waits": {
        "en": "not run until relu, affine and softmax_with_loss pass",
        "ko": "relu, affine, softmax_with_loss가 통과한 뒤에 실행",
    },
    "syntax_error": {
        "en": "{file}:{line}: syntax error: {msg}",
        "ko": "{file}:{line}: 문법 오류: {msg}",
    },
    "import_error": {
        "en": "{file}: importing it raised {exc}: {msg}{where}",
        "ko": "{file}: 불러오는 중 {exc} 발생: {msg}{where}",
    },
    "no_file": {"en": "{file}: no such file", "ko": "{file}: 파일이 없다"},
    "exists": {
        "en": "{file} exists already; not overwritten (pick another name or remove it)",
        "ko": "{file}이(가) 이미 있어 덮어쓰지 않았다 (다른 이름을 쓰거나 지우세요)",
    },
    "wrote": {
        "en": "wrote {file}: fill in the bodies, then run: python -m jaxbp.exercises check {file}",
        "ko": "{file}을(를) 만들었다: 함수 본문을 채운 뒤 실행: "
        "python -m jaxbp.exercises check {file}",
    },
}


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

    >>> say(UI, "summary", "ko", passed=2, failed=1, skipped=0)
    '통과 2, 실패 1, 건너뜀 0'
    """
    return table[key][lang].format(**fields)
