r"""The network of the AutoRec family: one hidden layer, sparse in both directions.

Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet Collaborative Filtering", WWW
2015. I-AutoRec reconstructs each item's vector of ratings by the m users,
``r^(i) ∈ R^m`` (U-AutoRec each user's vector over the n items; the maths is the same with
the roles swapped, so this module speaks of *samples*, the vectors reconstructed, and
*inputs*, their coordinates):

    h(r)  = σ(V r + μ)                      encoder: V (k × m), μ ∈ R^k, sigmoid
    r̂(r)  = W h(r) + b                      decoder: W (m × k), b ∈ R^m, identity

    min_θ  Σ_s ‖r^(s) − r̂(r^(s))‖²_O + λ/2 (‖W‖²_F + ‖V‖²_F)        (eq. 2 of the paper)

where ‖·‖²_O counts the observed coordinates only (a missing rating is a 0 in the input
and contributes no error). The prediction of user u for item i (I-AutoRec) is the u-th
coordinate of r̂(r^(i)), the item's training ratings run through the network.

The data stay sparse. V r is an ``embedding_bag`` over the sample's observed inputs
(the rows of Vᵀ, weighted by the ratings), and the loss reads the decoder only at the
observed coordinates, ``r̂_s,j = W_j · h_s + b_j``, taken from one dense product over the
mini-batch's samples (batch × inputs, the only dense block: a batch of item columns
densified on the fly, never the users × items matrix).

The objective is divided by N, the number of training ratings, so that its minimiser is
the paper's for the same λ while its gradient has the same scale on any data:

    J = (1/N) Σ_(s,j)∈O (r_sj − r̂_sj)²  +  λ / (2N) · (‖W‖² + ‖V‖²)

and a mini-batch of samples with n_b ratings estimates it by
``(1/n_b) Σ_batch (r − r̂)² + λ/(2N)(‖W‖² + ‖V‖²)``. It is minimised by Adam (Kingma &
Ba 2015), written out here so that its moments are plain arrays a checkpoint holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tf

#: The learned arrays; V and W are weighted by λ, μ and b are not (as in the paper).
PARAMS = ("V", "mu", "W", "b")
WEIGHTS = ("V", "W")


@dataclass
class Batch:
    """The observed coordinates of a mini-batch of samples, flattened sample by sample:
    ``inp`` the input index (a user for I-AutoRec), ``val`` the (input) rating, ``seg`` the
    position of its sample in the batch, ``offsets`` where each sample starts."""

    n: int
    inp: torch.Tensor
    val: torch.Tensor
    seg: torch.Tensor
    offsets: torch.Tensor
    target: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.inp.shape[0])


def make_batch(samples: np.ndarray, indptr: np.ndarray, inp: np.ndarray, val: np.ndarray,
               device, target: np.ndarray | None = None) -> Batch:
    """The :class:`Batch` of ``samples`` from CSR arrays (``indptr`` over samples; the
    reconstruction ``target`` of each coordinate, if given, beside its input ``val``)."""
    starts, ends = indptr[samples], indptr[samples + 1]
    counts = ends - starts
    total = int(counts.sum())
    offsets = np.zeros(len(samples), np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    # idx: the CSR positions of every observed coordinate of the batch, sample by sample.
    idx = np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)
    seg = np.repeat(np.arange(len(samples), dtype=np.int64), counts)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return Batch(len(samples), t(inp[idx].astype(np.int64)), t(val[idx]), t(seg),
                 t(offsets), None if target is None else t(target[idx]))


class AutoRecNet:
    """The parameters (V stored as Vᵀ, inputs × k, so that both layers index rows by
    input), the forward pass, and Adam's moments."""

    def __init__(self, n_inputs: int, n_hidden: int, device="cpu"):
        self.device = torch.device(device)
        self.n_inputs, self.n_hidden = int(n_inputs), int(n_hidden)
        z = dict(dtype=torch.float32, device=self.device)
        self.params = {
            "V": torch.zeros(n_inputs, n_hidden, **z),  # Vᵀ: row j is input j's weights
            "mu": torch.zeros(n_hidden, **z),
            "W": torch.zeros(n_inputs, n_hidden, **z),
            "b": torch.zeros(n_inputs, **z),
        }
        self.m1 = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.m2 = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.t = 0

    def init(self, rng: np.random.Generator, b0: np.ndarray) -> None:
        """Glorot-uniform V (drawn by numpy, the same numbers on any device), W = 0, μ = 0,
        b = ``b0``: the network starts as the decoder's bias alone (V's randomness breaks
        the symmetry; W's first gradient is h). A random W would add noise of std ~0.4 to
        every output that the rows of rarely seen inputs keep for many epochs: on a
        20,000-rating subsample of MovieLens that cost 0.08 RMSE."""
        a = math.sqrt(6.0 / (self.n_inputs + self.n_hidden))
        w = rng.uniform(-a, a, (self.n_inputs, self.n_hidden)).astype(np.float32)
        self.params["V"].copy_(torch.from_numpy(w))
        self.params["W"].zero_()
        self.params["b"].copy_(torch.from_numpy(np.asarray(b0, np.float32)))

    # -- the maths ------------------------------------------------------------------------
    def hidden(self, batch: Batch, p: dict | None = None) -> torch.Tensor:
        """h = σ(V r + μ) of the batch's samples (n × k)."""
        p = self.params if p is None else p
        x = tf.embedding_bag(batch.inp, p["V"], batch.offsets, mode="sum",
                             per_sample_weights=batch.val)
        return torch.sigmoid(x + p["mu"])

    def output_at(self, h: torch.Tensor, seg: torch.Tensor, inp: torch.Tensor,
                  p: dict | None = None) -> torch.Tensor:
        """r̂_s,j = W_j · h_s + b_j at the pairs (seg[t], inp[t]).

        By one dense product h Wᵀ over the batch's samples (n × inputs) and a gather: a
        matrix product runs at BLAS speed, where the row-by-row form (gathering W_j for
        every pair) moved k floats per rating through memory and was 10× slower on CPU.
        The batch's n × inputs block is the only dense one (bounded by the batch size)."""
        p = self.params if p is None else p
        return (h @ p["W"].T)[seg, inp] + p["b"][inp]

    def loss(self, batch: Batch, target: torch.Tensor, lam_n: float, p: dict | None = None):
        """(the batch's estimate of J, its sum of squared errors): the mean squared error
        over the batch's observed coordinates + λ/(2N)(‖W‖² + ‖V‖²), ``lam_n`` = λ/N."""
        p = self.params if p is None else p
        pred = self.output_at(self.hidden(batch, p), batch.seg, batch.inp, p)
        sse = ((pred - target) ** 2).sum()
        reg = 0.5 * lam_n * ((p["W"] ** 2).sum() + (p["V"] ** 2).sum())
        return sse / max(len(batch), 1) + reg, sse

    def step(self, batch: Batch, target: torch.Tensor, lam_n: float, lr: float,
             betas=(0.9, 0.999), eps: float = 1e-8) -> float:
        """One Adam step on the batch; returns its sum of squared errors (before the step)."""
        p = {k: v.detach().requires_grad_(True) for k, v in self.params.items()}
        with torch.enable_grad():
            obj, sse = self.loss(batch, target, lam_n, p)
            grads = torch.autograd.grad(obj, [p[k] for k in PARAMS])
        self.t += 1
        b1, b2 = betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        with torch.no_grad():
            for name, g in zip(PARAMS, grads, strict=True):
                m1, m2 = self.m1[name], self.m2[name]
                m1.mul_(b1).add_(g, alpha=1 - b1)
                m2.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (m2 / c2).sqrt_().add_(eps)
                self.params[name].addcdiv_(m1, denom, value=-lr / c1)
        return float(sse.detach())

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        out = {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}
        out.update({f"adam1/{k}": v.cpu().numpy().copy() for k, v in self.m1.items()})
        out.update({f"adam2/{k}": v.cpu().numpy().copy() for k, v in self.m2.items()})
        out["adam_t"] = np.array([self.t], np.int64)
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        for k in PARAMS:
            self.params[k].copy_(torch.from_numpy(np.asarray(state[k], np.float32)))
            self.m1[k].copy_(torch.from_numpy(np.asarray(state[f"adam1/{k}"], np.float32)))
            self.m2[k].copy_(torch.from_numpy(np.asarray(state[f"adam2/{k}"], np.float32)))
        self.t = int(np.asarray(state["adam_t"]).ravel()[0])
