"""Every word of chapter 6's exercises, in English and Korean.

6.1 the update rules, 6.3 Batch Normalization, 6.4 weight decay and Dropout.

:mod:`jaxbp.exercises.messages` merges these into its tables (``DERIVATION``,
``KINDS``, ``NOTES``, ``UI``); the same conventions hold: 합니다체, the book's
terms, particles chosen by sound (``{name:을}``).
"""

from __future__ import annotations

from jaxbp.exercises.words5 import derivation, entry

# ---- the book's equations, one per exercise ------------------------------------------------------
DERIVATION: dict[str, dict[str, dict[str, str]]] = {
    "sgd_update": derivation(
        "W <- W - lr * dL/dW (eq. 6.1)",
        "each parameter moves a step of size lr against its gradient, the direction in "
        "which the loss falls fastest",
        "W <- W - lr * dL/dW ([식 6.1])",
        "각 매개변수를 기울기의 반대 방향, 곧 손실이 가장 빨리 줄어드는 방향으로 학습률 lr만큼 "
        "갱신합니다",
    ),
    "momentum_update": derivation(
        "v <- momentum * v - lr * dL/dW; W <- W + v (eq. 6.3, 6.4)",
        "v is a velocity kept from step to step (zeros at the first): the gradient is a force "
        "that changes it, and momentum slows it down like friction",
        "v <- momentum * v - lr * dL/dW; W <- W + v ([식 6.3], [식 6.4])",
        "v는 단계마다 이어지는 속도입니다(처음에는 0). 기울기는 속도를 바꾸는 힘이고, "
        "momentum은 마찰처럼 속도를 줄입니다",
    ),
    "adagrad_update": derivation(
        "h <- h + dL/dW * dL/dW; W <- W - lr * dL/dW / (sqrt(h) + 1e-7) (eq. 6.5, 6.6)",
        "h adds up the squares of every gradient so far, so a parameter that has moved a lot "
        "gets a smaller learning rate; the book adds 1e-7 outside the square root, only to "
        "avoid dividing by 0",
        "h <- h + dL/dW * dL/dW; W <- W - lr * dL/dW / (sqrt(h) + 1e-7) ([식 6.5], [식 6.6])",
        "h는 지금까지의 기울기를 제곱해 모두 더한 값이므로 크게 갱신된 매개변수일수록 학습률이 "
        "작아집니다. 책은 0으로 나누지 않도록 제곱근 바깥에 1e-7을 더합니다",
    ),
    "adam_update": derivation(
        "iter += 1; lr_t = lr * sqrt(1 - beta2^iter) / (1 - beta1^iter); "
        "m += (1 - beta1) * (g - m); v += (1 - beta2) * (g^2 - v); "
        "W <- W - lr_t * m / (sqrt(v) + 1e-7) (6.1.6)",
        "m and v are running means of the gradient and of its square; they start at 0, so "
        "early steps would be too small: lr_t corrects that bias, with iter counted from 1 at "
        "the first step",
        "iter += 1; lr_t = lr * sqrt(1 - beta2^iter) / (1 - beta1^iter); "
        "m += (1 - beta1) * (g - m); v += (1 - beta2) * (g^2 - v); "
        "W <- W - lr_t * m / (sqrt(v) + 1e-7) (6.1.6)",
        "m과 v는 기울기와 그 제곱의 이동 평균입니다. 0에서 시작하므로 처음 몇 단계의 갱신이 "
        "너무 작아지는데, lr_t가 그 편향을 보정합니다. iter는 첫 단계에서 1입니다",
    ),
    "batch_norm": derivation(
        "mu = mean(x, 0); xc = x - mu; var = mean(xc^2, 0); std = sqrt(var + 10e-7); "
        "xn = xc / std; out = gamma * xn + beta (eq. 6.7, 6.8); backward along figure 6-17: "
        "dbeta = sum(dout, 0), dgamma = sum(xn * dout, 0), dxn = gamma * dout, "
        "dxc = dxn / std + (2 / N) * xc * dvar with dvar = 0.5 * dstd / std, "
        "dstd = -sum(dxn * xc / std^2, 0), dx = dxc - sum(dxc, 0) / N",
        "every x reaches the output by three paths: directly through xc, through the mean mu "
        "and through the variance var; the backward adds the three, and the mean and the "
        "variance are over the N samples of the batch (np.mean: N, not N - 1)",
        "mu = mean(x, 0); xc = x - mu; var = mean(xc^2, 0); std = sqrt(var + 10e-7); "
        "xn = xc / std; out = gamma * xn + beta ([식 6.7], [식 6.8]). [그림 6-17]을 따라 "
        "역전파: dbeta = sum(dout, 0), dgamma = sum(xn * dout, 0), dxn = gamma * dout, "
        "dxc = dxn / std + (2 / N) * xc * dvar, dvar = 0.5 * dstd / std, "
        "dstd = -sum(dxn * xc / std^2, 0), dx = dxc - sum(dxc, 0) / N",
        "각 x는 세 경로로 출력에 닿습니다: xc를 거쳐 직접, 평균 mu를 거쳐, 분산 var를 거쳐. "
        "역전파는 세 경로의 미분을 더합니다. 평균과 분산은 배치의 N개 데이터에 대한 "
        "것입니다(np.mean: N - 1이 아니라 N)",
    ),
    "weight_decay": derivation(
        "loss += 0.5 * lambda * sum(W^2); dW = dout * lambda * W (6.4.2)",
        "the 1/2 is there so that the derivative of W^2, 2W, comes out as lambda * W; "
        "the book adds lambda * W to each weight's gradient (never to the biases)",
        "loss += 0.5 * lambda * sum(W^2); dW = dout * lambda * W (6.4.2)",
        "1/2은 W^2의 미분 2W와 만나 lambda * W가 되도록 붙인 것입니다. 책은 각 가중치의 "
        "기울기에 lambda * W를 더합니다(편향에는 더하지 않습니다)",
    ),
    "dropout": derivation(
        "mask = u > ratio; out = x * mask; dx = dout * mask (6.4.3)",
        "while training each unit is dropped when its random number is not above the ratio; "
        "a dropped unit passed nothing forward, so it passes nothing back, like ReLU's mask; "
        "the book does not scale while training",
        "mask = u > ratio; out = x * mask; dx = dout * mask (6.4.3)",
        "훈련 때는 난수가 ratio보다 크지 않은 뉴런을 삭제합니다. 삭제된 뉴런은 순전파 때 "
        "신호를 전달하지 않았으므로 역전파 때도 신호를 차단합니다(ReLU의 mask와 같습니다). "
        "책은 훈련 때 값을 조정하지 않습니다",
    ),
    "dropout_test": derivation(
        "out = x * (1 - ratio) (6.4.3, train_flg=False)",
        "at test time every unit is kept, so each output is scaled by the fraction of units "
        "that were kept while training, 1 - ratio",
        "out = x * (1 - ratio) (6.4.3, train_flg=False)",
        "시험 때는 모든 뉴런에 신호를 전달하므로, 각 출력에 훈련 때 살아남은 비율 "
        "1 - ratio를 곱합니다",
    ),
}


# ---- the kinds of mistake ------------------------------------------------------------------------
KINDS: dict[str, dict[str, str]] = {
    # 6.1 the update rules
    "update_sign": entry(
        "the parameters move up the gradient: the update adds lr * grad where it subtracts",
        "매개변수가 기울기 방향으로 올라갑니다: lr * grad를 빼야 할 곳에서 더했습니다",
        "gradient descent steps against the gradient: W - lr * grad",
        "경사 하강법은 기울기의 반대 방향으로 갑니다: W - lr * grad",
    ),
    "state_not_kept": entry(
        "the state is not carried from step to step: every step behaves as the first",
        "상태가 다음 단계로 이어지지 않습니다: 모든 단계가 첫 단계처럼 동작합니다",
        "return the new state (v, h, m, iter) beside the new params; the next call gets it "
        "back as state, as the book's self.v keeps it",
        "새 매개변수와 함께 새 상태(v, h, m, iter)를 반환하세요. 다음 호출은 그것을 state로 "
        "받습니다. 책의 self.v가 값을 유지하는 것과 같습니다",
    ),
    "hyper_ignored": entry(
        "the argument {h} is not used: the book's default {default} was used instead",
        "인수 {h:을} 쓰지 않았습니다: 책의 기본값 {default:이} 대신 쓰였습니다",
        "use the hyperparameters passed in; the book's values are only the signature's defaults",
        "전달된 하이퍼파라미터를 쓰세요. 책의 값은 시그니처의 기본값일 뿐입니다",
    ),
    "eps_in_sqrt": entry(
        "1e-7 is inside the square root, sqrt(h + 1e-7); the book adds it outside, sqrt(h) + 1e-7",
        "1e-7이 제곱근 안에 있습니다(sqrt(h + 1e-7)). 책은 바깥에 더합니다: sqrt(h) + 1e-7",
        "for a small gradient (1e-3 here) sqrt(h) is about 1e-3 and the two differ by percents; "
        "1e-7 is only there to avoid dividing by 0",
        "작은 기울기(여기서는 1e-3)에서는 sqrt(h)가 1e-3 정도여서 둘이 몇 퍼센트나 "
        "다릅니다. 1e-7은 0으로 나누지 않으려고 더하는 것일 뿐입니다",
    ),
    "adam_no_bias_correction": entry(
        "no bias correction: lr is used where the book uses "
        "lr_t = lr * sqrt(1 - beta2^iter) / (1 - beta1^iter)",
        "편향 보정이 없습니다: 책의 lr_t = lr * sqrt(1 - beta2^iter) / (1 - beta1^iter) "
        "대신 lr을 썼습니다",
        "m and v start at 0 and are too small in the first steps; lr_t makes up for it",
        "m과 v는 0에서 시작해 처음 몇 단계에서 너무 작습니다. lr_t가 그것을 보정합니다",
    ),
    "adam_iter_off_by_one": entry(
        "the bias correction is one step late: lr_t uses iter + 1",
        "편향 보정이 한 단계 늦습니다: lr_t가 iter + 1을 씁니다",
        "iter is 0 before the first step and the book increments it first (self.iter += 1), "
        "so lr_t uses 1 at the first step",
        "iter는 첫 단계 전에 0이고 책은 먼저 1을 더하므로(self.iter += 1) 첫 단계의 lr_t는 "
        "1을 씁니다",
    ),
    "update_structure": entry(
        "{fn} must return (params, state), params a dict with the keys {keys}; got {got}",
        "{fn:은} (params, state)를 반환해야 하고 params는 키 {keys:을} 가진 딕셔너리여야 "
        "합니다. 반환값: {got}",
        "return a new dict, e.g. {{key: params[key] - lr * grads[key] for key in params}}, "
        "and the state",
        "새 딕셔너리와 상태를 반환하세요. 예: {{key: params[key] - lr * grads[key] for key "
        "in params}}",
    ),
    # 6.3 Batch Normalization
    "bn_n_minus_1": entry(
        "the variance divides by N - 1 (an unbiased estimate); the book's is np.mean, divided by N",
        "분산을 N - 1로 나누었습니다(불편 추정). 책은 np.mean, 곧 N으로 나눕니다",
        "jnp.var(x, axis=0) (ddof=0) or jnp.mean(xc ** 2, axis=0); in the backward dvar "
        "reaches xc as (2 / N) * xc * dvar",
        "jnp.var(x, axis=0)(ddof=0)이나 jnp.mean(xc ** 2, axis=0)을 쓰세요. 역전파에서 "
        "dvar는 (2 / N) * xc * dvar로 xc에 닿습니다",
    ),
    "eps_outside_sqrt": entry(
        "eps is outside the square root, sqrt(var) + eps; the book's is sqrt(var + 10e-7)",
        "eps가 제곱근 바깥에 있습니다(sqrt(var) + eps). 책은 sqrt(var + 10e-7)입니다",
        "for a feature whose variance is tiny (one column here varies by 1e-3) the two differ "
        "a lot",
        "분산이 아주 작은 특징(여기서 한 열은 1e-3만큼만 변합니다)에서는 둘이 크게 다릅니다",
    ),
    "bn_eps_missing": entry(
        "eps is missing: std = sqrt(var) divides by 0 for a feature that is constant over "
        "the batch",
        "eps가 빠졌습니다: std = sqrt(var)는 배치 안에서 값이 일정한 특징에서 0으로 나눕니다",
        "std = sqrt(var + 10e-7), as the book",
        "책처럼 std = sqrt(var + 10e-7)로 쓰세요",
    ),
    "bn_wrong_axis": entry(
        "the mean and the variance are over each sample's features (axis 1); Batch "
        "Normalization normalises each feature over the batch (axis 0)",
        "평균과 분산을 데이터마다 특징에 걸쳐(축 1) 구했습니다. 배치 정규화는 각 특징을 "
        "배치에 걸쳐(축 0) 정규화합니다",
        "mu = x.mean(axis=0), one mean per feature, shape (D,)",
        "mu = x.mean(axis=0): 특징마다 평균 하나, 형상 (D,)입니다",
    ),
    "bn_mean_path_forgotten": entry(
        "the mean's path is forgotten: dx = dxc, without the - sum(dxc, 0) / N that "
        "comes back through mu",
        "평균을 거치는 경로를 빠뜨렸습니다: dx = dxc이고, mu를 거쳐 돌아오는 "
        "- sum(dxc, 0) / N이 없습니다",
        "mu depends on every x: dmu = sum(dxc, 0), and each x gets -dmu / N back",
        "mu는 모든 x에 의존합니다: dmu = sum(dxc, 0)이고 각 x는 -dmu / N을 돌려받습니다",
    ),
    "bn_var_path_forgotten": entry(
        "the variance's path is forgotten: std was treated as a constant (no dvar term)",
        "분산을 거치는 경로를 빠뜨렸습니다: std를 상수로 다루었습니다(dvar 항이 없습니다)",
        "std depends on x through var: dstd = -sum(dxn * xc / std^2, 0), dvar = 0.5 * dstd / "
        "std, and dxc gains (2 / N) * xc * dvar",
        "std는 var를 거쳐 x에 의존합니다: dstd = -sum(dxn * xc / std^2, 0), "
        "dvar = 0.5 * dstd / std이고, dxc에 (2 / N) * xc * dvar를 더합니다",
    ),
    "bn_stats_constant": entry(
        "dx = gamma * dout / std: the mean and the variance were treated as constants; both "
        "depend on x",
        "dx = gamma * dout / std입니다: 평균과 분산을 상수로 다루었지만 둘 다 x에 의존합니다",
        "follow figure 6-17 node by node: the paths through var (dvar) and through mu (dmu) "
        "both come back to x",
        "[그림 6-17]을 노드마다 따라가세요: var를 거치는 경로(dvar)와 mu를 거치는 "
        "경로(dmu)가 모두 x로 돌아옵니다",
    ),
    "bn_dgamma_xc": entry(
        "dgamma = sum(xc * dout): gamma multiplies the normalised xn, not xc",
        "dgamma = sum(xc * dout)입니다: gamma는 xc가 아니라 정규화된 xn에 곱해집니다",
        "dgamma = sum(xn * dout, axis=0)",
        "dgamma = sum(xn * dout, axis=0)입니다",
    ),
    # 6.4.2 weight decay
    "wd_fwd_no_half": entry(
        "the term is lambda * sum(W^2); the book's is 0.5 * lambda * sum(W^2)",
        "항이 lambda * sum(W^2)입니다. 책은 0.5 * lambda * sum(W^2)입니다",
        "the 1/2 makes the derivative lambda * W",
        "1/2이 있어야 미분이 lambda * W가 됩니다",
    ),
    "wd_factor_two": entry(
        "dW = 2 * lambda * W: the 1/2 of 0.5 * lambda * W^2 cancels the 2 of its derivative",
        "dW = 2 * lambda * W입니다: 0.5 * lambda * W^2의 1/2이 미분의 2를 없앱니다",
        "dW = dout * lambda * W",
        "dW = dout * lambda * W입니다",
    ),
    "wd_half": entry(
        "dW = 0.5 * lambda * W: the 2 of the derivative of W^2 is missing",
        "dW = 0.5 * lambda * W입니다: W^2의 미분에서 나오는 2가 빠졌습니다",
        "d(0.5 * lambda * W^2)/dW = lambda * W",
        "d(0.5 * lambda * W^2)/dW = lambda * W입니다",
    ),
    # 6.4.3 Dropout
    "dropout_mask_ge": entry(
        "right except where u equals the ratio exactly: the mask is u >= ratio; the book's "
        "is u > ratio",
        "u가 ratio와 정확히 같은 곳만 틀렸습니다: mask가 u >= ratio입니다. 책은 u > ratio입니다",
        "the book: self.mask = np.random.rand(*x.shape) > self.dropout_ratio",
        "책: self.mask = np.random.rand(*x.shape) > self.dropout_ratio",
    ),
    "dropout_mask_inverted": entry(
        "the mask is inverted: units are kept where u <= ratio instead of where u > ratio",
        "mask가 반대입니다: u > ratio가 아니라 u <= ratio인 뉴런을 남겼습니다",
        "ratio is the fraction dropped: keep a unit when its random number is above it",
        "ratio는 삭제하는 비율입니다: 난수가 ratio보다 큰 뉴런을 남기세요",
    ),
    "dropout_inverted_scaling": entry(
        "divided by (1 - ratio) while training (inverted dropout); the book does not scale "
        "while training, it multiplies by (1 - ratio) at test time",
        "훈련 때 (1 - ratio)로 나누었습니다(inverted dropout). 책은 훈련 때는 조정하지 않고 "
        "시험 때 (1 - ratio)를 곱합니다",
        "training: out = x * mask, dx = dout * mask",
        "훈련 때: out = x * mask, dx = dout * mask입니다",
    ),
    "dropout_bwd_no_mask": entry(
        "dx = dout: the mask is not applied in the backward pass",
        "dx = dout입니다: 역전파에서 mask를 적용하지 않았습니다",
        "a dropped unit passed nothing forward, so it passes nothing back: dx = dout * mask "
        "(keep the mask as the residual)",
        "삭제된 뉴런은 순전파 때 신호를 전달하지 않았으므로 역전파 때도 차단합니다: "
        "dx = dout * mask (mask를 residuals로 저장하세요)",
    ),
    "dropout_test_no_scale": entry(
        "out = x: the test-time output is not scaled",
        "out = x입니다: 시험 때 출력을 조정하지 않았습니다",
        "the book's test mode is x * (1 - ratio)",
        "책의 시험 모드는 x * (1 - ratio)입니다",
    ),
    "dropout_test_ratio": entry(
        "out = x * ratio: the fraction kept is 1 - ratio, not ratio",
        "out = x * ratio입니다: 남는 비율은 ratio가 아니라 1 - ratio입니다",
        "out = x * (1 - ratio)",
        "out = x * (1 - ratio)입니다",
    ),
    "dropout_test_inverted": entry(
        "out = x / (1 - ratio): that is inverted dropout's training-time scaling; the book "
        "multiplies by (1 - ratio) at test time",
        "out = x / (1 - ratio)입니다: 그것은 inverted dropout이 훈련 때 하는 조정입니다. "
        "책은 시험 때 (1 - ratio)를 곱합니다",
        "out = x * (1 - ratio)",
        "out = x * (1 - ratio)입니다",
    ),
}


# ---- right answers written another way -----------------------------------------------------------
NOTES: dict[str, dict[str, str]] = {
    "adam_paper_form": {
        "en": "you corrected m and v themselves, lr * m_hat / (sqrt(v_hat) + 1e-7), as the "
        "Adam paper's first form and optax do; the book folds the correction into lr_t, so "
        "its 1e-7 acts on the uncorrected sqrt(v): for gradients near 1e-3 the two differ "
        "slightly, both are Adam",
        "ko": "m과 v 자체를 보정했습니다(lr * m_hat / (sqrt(v_hat) + 1e-7)): Adam 논문의 첫 "
        "형태이자 optax의 방식입니다. 책은 보정을 lr_t에 넣으므로 1e-7이 보정 전의 sqrt(v)에 "
        "더해집니다. 기울기가 1e-3 정도이면 둘이 조금 다르지만, 둘 다 Adam입니다",
    },
}


# ---- the report's own words ----------------------------------------------------------------------
UI: dict[str, dict[str, str]] = {
    "cases_bn": {
        "en": "batch 1 and larger, a feature of tiny variance and one constant over the batch, "
        "float64",
        "ko": "배치 1과 그 이상, 분산이 아주 작은 특징과 배치 안에서 일정한 특징, float64",
    },
    "cases_wd": {
        "en": "non-square W, dout other than 1, float64",
        "ko": "정사각이 아닌 W, 1이 아닌 dout, float64",
    },
    "cases_dropout": {
        "en": "batch 1 and larger, u exactly equal to the ratio, float64",
        "ko": "배치 1과 그 이상, ratio와 정확히 같은 u, float64",
    },
}
