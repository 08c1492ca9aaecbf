"""The MLP ``closim train`` trains: closim's own layers with biases, ReLU and softmax
cross-entropy (``Mlp``), and the optimizers that update it in place (``Optimizer``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from closim.topology import Layer, build_layer
from closim.train.data import DTYPE

MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class MlpLayer:
    """One layer of the MLP: a name (the workload layer it stands for), widths and topology."""

    name: str
    in_features: int
    out_features: int
    topology: Any


class Mlp:
    """Layers of closim topologies with biases, ReLU between them, softmax cross-entropy on top.

    ``parameters()`` lists every trainable array (per layer: each stage's weights, then the bias);
    ``loss_and_grads`` returns gradients in that order.
    """

    def __init__(self, layers: Sequence[MlpLayer], *, seed: int = 0, dtype: type = DTYPE) -> None:
        self.dtype = np.dtype(dtype)
        self.layers: list[Layer] = []
        self.biases: list[np.ndarray] = []
        for i, spec in enumerate(layers):
            # one seed per (run seed, layer): a Clos and a dense MLP of the same seed share their
            # first and last layers' initial weights, so their comparison is paired
            layer_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            self.layers.append(
                build_layer(
                    spec.topology, spec.in_features, spec.out_features,
                    seed=layer_seed, dtype=self.dtype,
                )
            )  # fmt: skip
            self.biases.append(np.zeros(spec.out_features, dtype=self.dtype))
        self._pre: list[np.ndarray] = []

    @property
    def num_params(self) -> int:
        """Stored weights plus biases."""
        return sum(
            layer.num_params + bias.size
            for layer, bias in zip(self.layers, self.biases, strict=True)
        )

    def parameters(self) -> list[np.ndarray]:
        """Every trainable array, updated in place by the optimizer."""
        params: list[np.ndarray] = []
        for layer, bias in zip(self.layers, self.biases, strict=True):
            params.extend(stage.weights for stage in layer.stages)
            params.append(bias)
        return params

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (batch, classes) of ``x`` (batch, in_features); keeps what backward needs."""
        h = np.ascontiguousarray(x, dtype=self.dtype)
        self._pre = []
        last = len(self.layers) - 1
        for i, (layer, bias) in enumerate(zip(self.layers, self.biases, strict=True)):
            z = layer.forward(h)  # a fresh array: adding the bias in place is safe
            z += bias
            if i == last:
                return z
            self._pre.append(z)
            # a new array, not in place: the next layer's backward reads its input by reference
            h = np.maximum(z, 0)
        raise AssertionError("unreachable")

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean softmax cross-entropy of ``x`` with labels ``y`` and its gradient per parameter."""
        logits = self.forward(x)
        batch = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_sum
        rows = np.arange(batch)
        loss = float(-log_p[rows, y].mean())
        g = np.exp(log_p)
        g[rows, y] -= 1
        g /= batch
        per_layer: list[list[np.ndarray]] = []
        for i in range(len(self.layers) - 1, -1, -1):
            grad_bias = g.sum(axis=0)
            grad_in = self.layers[i].backward(g)
            per_layer.append([*self.layers[i].grads, grad_bias])
            if i:
                grad_in *= self._pre[i - 1] > 0  # ReLU
                g = grad_in
        return loss, [grad for layer in reversed(per_layer) for grad in layer]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class of every row of ``x``."""
        return np.argmax(self.forward(x), axis=1)


class Optimizer:
    """SGD, SGD with momentum or Adam over a list of arrays updated in place.

    Updates go through one reused scratch array per parameter: fresh megabyte-sized temporaries
    cost page faults on every step (the Adam update of a 1024 x 1024 layer took 7.9 ms with
    temporaries, on this machine, against 2.3 ms in place).
    """

    def __init__(self, params: list[np.ndarray], kind: str, learning_rate: float) -> None:
        self.params, self.kind, self.lr = params, kind, learning_rate
        self.step_count = 0
        slots = {"sgd": 0, "momentum": 1, "adam": 2}[kind]
        self.state = [[np.zeros_like(p) for _ in range(slots)] for p in params]
        self.scratch = [np.empty_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        """One update with ``grads`` (one per parameter, same shapes)."""
        self.step_count += 1
        lr = self.lr
        if self.kind == "adam":
            b1, b2 = ADAM_BETAS
            # bias correction folded into the step size
            lr = lr * np.sqrt(1 - b2**self.step_count) / (1 - b1**self.step_count)
        for p, g, state, s in zip(self.params, grads, self.state, self.scratch, strict=True):
            rate = p.dtype.type(lr)
            if self.kind == "sgd":
                np.multiply(g, rate, out=s)
            elif self.kind == "momentum":
                (v,) = state
                v *= p.dtype.type(MOMENTUM)
                v += g
                np.multiply(v, rate, out=s)
            else:
                m, v = state
                b1, b2 = (p.dtype.type(b) for b in ADAM_BETAS)
                m *= b1
                np.multiply(g, 1 - b1, out=s)
                m += s
                v *= b2
                np.multiply(g, g, out=s)
                s *= 1 - b2
                v += s
                np.sqrt(v, out=s)
                s += p.dtype.type(ADAM_EPS)
                np.divide(m, s, out=s)
                s *= rate
            p -= s
