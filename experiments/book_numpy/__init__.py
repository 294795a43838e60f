"""The book's own NumPy code for chapter 5 (the benchmark's baseline).

A faithful port of *Deep Learning from Scratch* (Koki Saitoh), sections
5.5-5.7.4: ``common/functions.py`` (softmax, cross_entropy_error with its
``+ 1e-7``), ``common/layers.py`` (Relu, Affine, SoftmaxWithLoss),
``ch05/two_layer_net.py`` (TwoLayerNet with an OrderedDict of layers) and the
training loop of ``ch05/train_neuralnet.py`` (5.7.4).  Nothing is optimised:
float64 weights from ``np.random.randn``, float32 inputs and one-hot labels
from ``load_mnist(normalize=True, one_hot_label=True)``, minibatches from
``np.random.choice(train_size, batch_size)``, the loss recomputed and appended
every step, and train/test accuracy on the full sets every ``iter_per_epoch``
steps.

Run it as the book does::

    cd experiments && python -m book_numpy --seed 0

:func:`train` returns the timings used by ``experiments/benchmark.py``
(steps-only time excludes the accuracy evaluations).
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict

import numpy as np


# ---- common/functions.py ----------------------------------------------------
def softmax(x):
    if x.ndim == 2:
        x = x.T
        x = x - np.max(x, axis=0)
        y = np.exp(x) / np.sum(np.exp(x), axis=0)
        return y.T

    x = x - np.max(x)  # 오버플로 대책
    return np.exp(x) / np.sum(np.exp(x))


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)

    # 훈련 데이터가 원-핫 벡터라면 정답 레이블의 인덱스로 반환
    if t.size == y.size:
        t = t.argmax(axis=1)

    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


# ---- common/gradient.py (used by numerical_gradient) ------------------------
def numerical_gradient_array(f, x):
    h = 1e-4  # 0.0001
    grad = np.zeros_like(x)

    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)

        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
        grad[idx] = (fxh1 - fxh2) / (2 * h)

        x[idx] = tmp_val  # 값 복원
        it.iternext()

    return grad


# ---- common/layers.py -------------------------------------------------------
class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0

        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout

        return dx


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b

        self.x = None
        self.original_x_shape = None
        # 가중치와 편향 매개변수의 미분
        self.dW = None
        self.db = None

    def forward(self, x):
        # 텐서 대응
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x

        out = np.dot(self.x, self.W) + self.b

        return out

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)

        dx = dx.reshape(*self.original_x_shape)  # 입력 데이터 모양 변경(텐서 대응)
        return dx


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None  # 손실함수
        self.y = None  # softmax의 출력
        self.t = None  # 정답 레이블(원-핫 인코딩 형태)

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)

        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:  # 정답 레이블이 원-핫 인코딩 형태일 때
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size

        return dx


# ---- ch05/two_layer_net.py --------------------------------------------------
class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        # 가중치 초기화
        self.params = {}
        self.params["W1"] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

        # 계층 생성
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])

        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)

        return x

    # x : 입력 데이터, t : 정답 레이블
    def loss(self, x, t):
        y = self.predict(x)
        return self.lastLayer.forward(y, t)

    def accuracy(self, x, t):
        y = self.predict(x)
        y = np.argmax(y, axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)

        accuracy = np.sum(y == t) / float(x.shape[0])
        return accuracy

    # x : 입력 데이터, t : 정답 레이블
    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)

        grads = {}
        grads["W1"] = numerical_gradient_array(loss_W, self.params["W1"])
        grads["b1"] = numerical_gradient_array(loss_W, self.params["b1"])
        grads["W2"] = numerical_gradient_array(loss_W, self.params["W2"])
        grads["b2"] = numerical_gradient_array(loss_W, self.params["b2"])

        return grads

    def gradient(self, x, t):
        # forward
        self.loss(x, t)

        # backward
        dout = 1
        dout = self.lastLayer.backward(dout)

        layers = list(self.layers.values())
        layers.reverse()
        for layer in layers:
            dout = layer.backward(dout)

        # 결과 저장
        grads = {}
        grads["W1"], grads["b1"] = self.layers["Affine1"].dW, self.layers["Affine1"].db
        grads["W2"], grads["b2"] = self.layers["Affine2"].dW, self.layers["Affine2"].db

        return grads


# ---- data ---------------------------------------------------------------------
def load_data(synthetic: bool = False, n_train: int = 60000, n_test: int = 10000):
    """The book's ``load_mnist(normalize=True, one_hot_label=True)``.

    float32 images in [0, 1] (N, 784) and float32 one-hot labels (N, 10).
    ``synthetic=True`` returns random data of that layout (for smoke tests
    on machines without the MNIST files).
    """
    if synthetic:
        from jaxbp.mnist.synthetic import synthetic_mnist

        d = synthetic_mnist(n_train, n_test, seed=12345)
        return tuple(
            (d[f"x_{s}"].astype(np.float32) / 255, np.eye(10, dtype=np.float32)[d[f"t_{s}"]])
            for s in ("train", "test")
        )
    from jaxbp.mnist import load_mnist

    return load_mnist(normalize=True, one_hot_label=True)


# ---- ch05/train_neuralnet.py (5.7.4) ------------------------------------------
def train(
    data=None,
    iters_num=10000,
    batch_size=100,
    learning_rate=0.1,
    hidden_size=50,
    seed=0,
    evaluate=True,
    verbose=True,
    iter_per_epoch=None,
):
    """The book's training loop.  Returns a dict of results and timings.

    ``steps_s`` is the wall time of the steps only (minibatch, gradient,
    update, loss record); ``eval_s`` the time of the accuracy evaluations;
    ``total_s`` the whole loop.  ``iter_per_epoch`` overrides the book's
    ``max(train_size / batch_size, 1)`` (for short smoke runs only).
    """
    if data is None:
        data = load_data()
    (x_train, t_train), (x_test, t_test) = data
    np.random.seed(seed)
    network = TwoLayerNet(input_size=784, hidden_size=hidden_size, output_size=10)

    train_size = x_train.shape[0]
    train_loss_list = []
    train_acc_list = []
    test_acc_list = []

    # 1에폭당 반복 수
    if iter_per_epoch is None:
        iter_per_epoch = max(train_size / batch_size, 1)

    eval_s = 0.0
    t_start = time.perf_counter()
    for i in range(iters_num):
        # 미니배치 획득
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]

        # 기울기 계산
        grad = network.gradient(x_batch, t_batch)

        # 갱신
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]

        loss = network.loss(x_batch, t_batch)
        train_loss_list.append(loss)

        if evaluate and i % iter_per_epoch == 0:
            t0 = time.perf_counter()
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            train_acc_list.append(train_acc)
            test_acc_list.append(test_acc)
            eval_s += time.perf_counter() - t0
            if verbose:
                print("train acc, test acc | " + str(train_acc) + ", " + str(test_acc))
    total_s = time.perf_counter() - t_start
    return {
        "network": network,
        "train_loss": train_loss_list,
        "train_acc": train_acc_list,
        "test_acc": test_acc_list,
        "steps_s": total_s - eval_s,
        "eval_s": eval_s,
        "total_s": total_s,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden-size", type=int, default=50)
    p.add_argument(
        "--synthetic", action="store_true", help="random data instead of MNIST (no files needed)"
    )
    a = p.parse_args(argv)
    r = train(
        load_data(a.synthetic),
        iters_num=a.iters,
        batch_size=a.batch_size,
        learning_rate=a.lr,
        hidden_size=a.hidden_size,
        seed=a.seed,
    )
    print(
        f"steps {r['steps_s']:.2f} s, evaluations {r['eval_s']:.2f} s, "
        f"total {r['total_s']:.2f} s; final train acc {r['train_acc'][-1]:.4f}, "
        f"test acc {r['test_acc'][-1]:.4f}"
    )
