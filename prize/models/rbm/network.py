r"""The network of the RBM family: one restricted Boltzmann machine per user, weights shared.

Salakhutdinov, Mnih & Hinton, "Restricted Boltzmann Machines for Collaborative
Filtering", ICML 2007. Notation of the paper: ``i`` a movie, ``k`` a rating class (1..K),
``j`` a hidden unit (1..F). A user is a K × m binary matrix ``V`` with ``v_i^k = 1`` when
they gave movie ``i`` rating ``k``; movies they did not rate are simply missing from their
RBM. The conditional RBM also sees ``r``, the binary "rated" vector of every movie whose
rating is known to exist (training, probe and qualifying pairs), ratings unknown.

    (eq. 1)       p(v_i^k = 1 | h) = exp(b_i^k + Σ_j h_j W_ij^k) / Σ_l exp(b_i^l + Σ_j h_j W_ij^l)

    (eq. 2)       p(h_j = 1 | V)   = σ(b_j + Σ_i Σ_k v_i^k W_ij^k)

    (conditional) p(h_j = 1 | V, r) = σ(b_j + Σ_i Σ_k v_i^k W_ij^k + Σ_i r_i D_ij)

    (factored)    W_ij^k = Σ_c A_ic^k B_cj

    (ours)        shared: W_ij^k + U_j^k, with U (K × F) common to every movie

    (ours)        linear: W_ij^k = s_k w_ij, s_k = value_k − mean of the class values: each
                  movie's weight to a hidden unit is linear in the rating's value

    (ours)        offset: the exponent of eq. 1 gains c_k d_ui, with d_ui = b_u + b_i the
                  user's and the movie's biases (fixed, from the biases baseline) and c
                  (K,) learned: a tilt of the softmax toward higher or lower classes

The shared component is not in the paper. It gives every hidden unit one weight per rating
class that applies to all movies alike, a channel for what a user does with every movie
(a generous or a harsh rater) that is learned from all ratings at once. Without it, that
effect must be learned movie by movie in W, which works on Netflix (hundreds of raters
per movie) and fails on small data sets: on MovieLens 100K (fold u1) the RBM without it
leaves residuals correlated with the user bias (r = 0.27) and scores 0.983, worse than the
user + movie bias baseline's 0.963; with it, 0.953 and no correlation left (r = 0.04).
U's gradient sums over every rating, so it is averaged over the batch's ratings rather
than its users, as if U were the weights of one movie that every user rated.

The offset is not in the paper either. Even with U, the RBM learns a user's leniency and a
movie's quality only as fast as each one's ratings allow, and from 30 ratings per movie and
50 per user (a 50,000-rating MovieLens subsample) it never caught up with the biases
baseline (quiz 1.001 against 0.984). With the offset, the baseline's shrunk estimates b_u,
b_i enter each softmax as a known input, the way a conditional RBM takes r: c starts at
c_k = (value_k − mean) / variance of the training ratings, so that the tilt moves a
softmax's mean by about d_ui at the start, and the visible biases start at the overall
class frequencies instead of each movie's. The energy gains −Σ_i Σ_k c_k d_ui v_i^k, so
the hidden conditionals (eq. 2) are unchanged and Δc_k = ε Σ_i d_ui (<v_i^k>_data −
<v_i^k>_T), averaged over the batch's ratings like U's.

The linear movie weights are not in the paper. A full W_i has K × F weights per movie, which
a movie with a dozen ratings cannot pin down: on a 100,000-rating MovieLens set with about
ten ratings per movie the RBM overfit within a few epochs and did not beat the biases on
probe. With W_i^k = s_k w_i a movie has F weights, as many as a factor model's q_i, and the
shape of each softmax across the classes comes from the shared U and the visible biases.
It is trained as the full model with each step projected onto that subspace: the gradient
of w_i is Σ_k s_k ∂/∂W_i^k, and the projection P = s sᵀ / sᵀs maps a full gradient of W_i
onto the step it makes in W_i = s w_iᵀ; W starts in the subspace, and momentum and weight
decay keep it there.

Learning follows the contrastive-divergence approximation: with ``<·>_data`` the
statistics with the visible units clamped to the user's ratings and the hidden
probabilities of eq. 2 (or its conditional form), and ``<·>_T`` those after T full Gibbs
steps started at the data (eqs. 1 and 2 alternately, hidden states sampled, the last
hidden layer kept as probabilities),

    ΔW_ij^k = ε (<v_i^k h_j>_data − <v_i^k h_j>_T)
    Δb_i^k  = ε (<v_i^k>_data − <v_i^k>_T),      Δb_j = ε (<h_j>_data − <h_j>_T)
    ΔD_ij   = ε (<h_j>_data − <h_j>_T) r_i
    ΔA_ic^k = ε Σ_j (<v_i^k h_j>_data − <v_i^k h_j>_T) B_cj,
    ΔB_cj   = ε Σ_ik (<v_i^k h_j>_data − <v_i^k h_j>_T) A_ic^k

averaged over the users of a mini-batch, with momentum and weight decay as in the paper's
Netflix experiments: ``Δθ ← μ Δθ + ε (∇θ − λ θ)``, ``θ ← θ + Δθ`` (λ on the weights W, A,
B, D, U, not on the biases). The update is dense, once per mini-batch: momentum and weight
decay move every weight, as in the paper, in one pass over the parameters.

Everything is sparse. A mini-batch holds its users' ratings as flat arrays (user by user)
and touches only the rows of W indexed by (movie, rating): the hidden inputs are
``embedding_bag`` sums over those rows, the reconstruction (eq. 1) is computed only for the
movies each user rated (a sampled dense-dense product over the rated movies' K softmax
units), and the gradients are scattered back only into those rows. No tensor of the
shape users × movies × K exists at any point; per-batch memory grows with the batch's
number of ratings, the model's with movies × K × F.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tf

from prize.models.rbm import _kernels

#: Parameter names: the weights (decayed) and the biases (not decayed).
WEIGHTS = ("W", "A", "B", "D", "U")

#: A source of uniform [0, 1) draws of a given shape: how every sample of the Gibbs chain is
#: made, so that a test can feed the very numbers a dense reference uses.
Draw = Callable[..., torch.Tensor]


class TorchDraw:
    """Uniform draws from a seeded torch generator on ``device`` (the training default)."""

    def __init__(self, seed: int, device: torch.device):
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))

    def __call__(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)


@dataclass
class Batch:
    """The ratings (and implicit pairs) of a mini-batch of users, flattened user by user.

    ``vis`` indexes the softmax unit of each rating, ``item * K + k`` (k = 0..K-1 is the
    rating's class); ``seg`` is the position of the rating's user in the batch (ascending),
    ``offsets`` where each user's ratings start (empty users are allowed). The ``imp_*``
    arrays list the movies of the conditional "rated" vector r the same way.
    """

    n_users: int
    vis: torch.Tensor
    seg: torch.Tensor
    offsets: torch.Tensor
    imp_item: torch.Tensor | None = None
    imp_seg: torch.Tensor | None = None
    imp_offsets: torch.Tensor | None = None
    pattern: torch.Tensor | None = None  # of the reconstruction, made on first use
    offset: torch.Tensor | None = None  # d_ui of each rating (the offset model only)

    def __len__(self) -> int:
        return int(self.vis.shape[0])


def make_batch(users: np.ndarray, indptr: np.ndarray, vis: np.ndarray,
               imp_indptr: np.ndarray | None, imp_item: np.ndarray | None,
               device: torch.device, offset=None) -> Batch:
    """The :class:`Batch` of ``users`` from per-user CSR arrays (``users`` may hold the
    index ``len(indptr) - 1``: a user with nothing, for users unseen in training).

    ``offset`` = (b_user, b_item, K) gives each rating its d_ui = b_u + b_i (``b_user``
    indexed like ``users``, ``b_item`` by movie) for the offset model.
    """
    v, seg, offsets = _gather(indptr, vis, users)
    batch = Batch(len(users), _tensor(v, device), _tensor(seg, device),
                  _tensor(offsets, device))
    if offset is not None:
        b_user, b_item, K = offset
        d = np.asarray(b_user, np.float32)[np.asarray(users)][seg] + np.asarray(
            b_item, np.float32)[v // K]
        batch.offset = _tensor(d.astype(np.float32), device)
    if imp_indptr is not None:
        q, qseg, qoff = _gather(imp_indptr, imp_item, users)
        batch.imp_item = _tensor(q, device)
        batch.imp_seg = _tensor(qseg, device)
        batch.imp_offsets = _tensor(qoff, device)
    return batch


def _gather(indptr: np.ndarray, values: np.ndarray, users: np.ndarray):
    """(values of every user in ``users``, concatenated; their user positions; offsets)."""
    users = np.asarray(users, np.int64)
    start = indptr[users]
    count = indptr[users + 1] - start
    offsets = np.zeros(len(users), np.int64)
    np.cumsum(count[:-1], out=offsets[1:])
    rows = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(offsets - start, count)
    seg = np.repeat(np.arange(len(users), dtype=np.int64), count)
    return values[rows].astype(np.int64), seg, offsets


def _tensor(a: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def scatter_rows(G: torch.Tensor, rows: torch.Tensor, seg: torch.Tensor, src: torch.Tensor,
                 alpha: float = 1.0, weight: torch.Tensor | None = None) -> None:
    """``G[rows[n]] += alpha [· weight[n]] · src[seg[n]]``: numba on a CPU, ``index_add_``
    on a GPU."""
    if len(rows) == 0:
        return
    if G.device.type == "cpu":
        args = (G.numpy(), rows.numpy(), seg.numpy(), src.contiguous().numpy())
        if weight is None:
            _kernels.scatter_rows(*args, alpha)
        else:
            _kernels.scatter_rows_weighted(*args, weight.contiguous().numpy(), alpha)
    else:
        add = src[seg] if weight is None else src[seg] * weight[:, None]
        G.index_add_(0, rows, add, alpha=alpha)


def _pattern(offsets: torch.Tensor, unit0: torch.Tensor, n_users: int, n_units: int,
             K: int) -> torch.Tensor:
    """The sparsity pattern (users × movies·K, CSR) of the K softmax units of every rated
    movie; ``unit0`` = movie · K of each rating, user by user."""
    R = unit0.shape[0]
    crow = torch.cat([offsets, offsets.new_tensor([R])]) * K
    col = (unit0[:, None] + torch.arange(K, device=unit0.device)).reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow, col, torch.zeros(R * K, device=unit0.device),
                                       (n_users, n_units), check_invariants=False)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of an (entries × K) array. Written out because torch's own, over
    rows of 5, is 3-4 times slower on a CPU (it vectorises along the row)."""
    p = (logits - logits.amax(1, keepdim=True)).exp_()
    return p.div_(p.sum(1, keepdim=True))


def sample_softmax(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The class k of each row of ``p`` whose cumulative probability first exceeds ``u``
    (inverse-CDF sampling; a NaN row gives 0 rather than an error, so that a diverged run
    reaches the trainer's divergence check)."""
    return (p.cumsum(1) < u[:, None]).sum(1).clamp_(max=p.shape[1] - 1)


class RBMNet:
    """The parameters of the shared-weight RBM and the computations on them (no training
    loop, no data handling: see :mod:`prize.models.rbm.model`).

    Parameters (float32 tensors on ``device``), stored flat so that row ``i * K + k`` is the
    softmax unit of movie ``i``, class ``k``:

    - ``W`` (M·K × F), or, factored, ``A`` (M·K × C) and ``B`` (C × F);
    - ``bv`` (M·K,) the visible biases b_i^k, ``bh`` (F,) the hidden biases b_j;
    - ``D`` (M × F) the conditional weights (conditional RBM only);
    - ``U`` (K × F) the shared component of W (``shared`` only);
    - ``c`` (K,) the tilt of the offset d_ui (``offset`` only; not decayed).

    ``linear`` (the K class values, or None) keeps each movie's W_i^k = s_k w_i with s the
    centred values (see the module's notes).

    Each parameter has a velocity (momentum) of its shape, ``v_<name>``, kept between
    mini-batches and saved with the state so that a resumed run repeats exactly.
    """

    def __init__(self, n_items: int, n_classes: int, n_hidden: int, *, conditional: bool,
                 n_factors: int = 0, shared: bool = False, offset: bool = False,
                 linear: np.ndarray | None = None, device: str | torch.device = "cpu"):
        self.M, self.K, self.F = int(n_items), int(n_classes), int(n_hidden)
        self.C = int(n_factors)  # 0: W is a full matrix
        if linear is not None and (self.C or len(linear) != self.K):
            raise ValueError("linear movie weights need a full W and one value per class")
        # the unit direction s / |s| of the centred class values (None: W is free)
        self.linear = None if linear is None else tuple(
            (np.asarray(linear, float) - np.mean(linear))
            / np.linalg.norm(np.asarray(linear, float) - np.mean(linear)))
        self.conditional = bool(conditional)
        self.device = torch.device(device)
        MK = self.M * self.K
        shapes = {"bv": (MK,), "bh": (self.F,)}
        if self.C:
            shapes.update(A=(MK, self.C), B=(self.C, self.F))
        else:
            shapes["W"] = (MK, self.F)
        if self.conditional:
            shapes["D"] = (self.M, self.F)
        self.shared = bool(shared)
        if self.shared:
            shapes["U"] = (self.K, self.F)
        self.offset = bool(offset)
        if self.offset:
            shapes["c"] = (self.K,)
        self.shapes = shapes
        z = {k: torch.zeros(s, device=self.device) for k, s in shapes.items()}
        self.params = z
        self.velocity = {k: torch.zeros_like(v) for k, v in z.items()}
        self._grad: dict[str, torch.Tensor] = {}

    # -- parameters in and out (numpy) ---------------------------------------------------
    def init(self, rng: np.random.Generator, init_std: float, bv: np.ndarray,
             c: np.ndarray | None = None) -> None:
        """Weights ~ N(0, init_std²) (the paper: 0.01); factored A and B each get the
        square root of that spread over C so that A·B starts as spread as a full W;
        ``bv`` the visible biases (M × K); ``c`` the offset's tilt (K,); hidden biases 0;
        velocities 0."""
        for name in self.params:
            if name == "bv":
                value = np.asarray(bv, np.float32).reshape(-1)
            elif name == "c":
                value = np.asarray(c, np.float32).reshape(self.K)
            elif name == "bh":
                value = np.zeros(self.F, np.float32)
            else:
                std = init_std if name in ("W", "D", "U") else np.sqrt(init_std / np.sqrt(self.C))
                value = rng.normal(0.0, std, self.shapes[name]).astype(np.float32)
            self.params[name] = torch.from_numpy(value).to(self.device)
            self.velocity[name] = torch.zeros_like(self.params[name])
        if "W" in self.params:
            self._project(self.params["W"])

    def _project(self, t: torch.Tensor) -> None:
        """Map ``t`` (W or its gradient, M·K × F) onto the linear movie weights W_i^k =
        s_k w_i in place: W_i ← s sᵀ W_i for the unit vector s (nothing without ``linear``)."""
        if self.linear is None:
            return
        t = t.view(self.M, self.K, self.F)
        s = torch.tensor(self.linear, dtype=t.dtype, device=t.device)
        t.copy_(s[:, None] * torch.einsum("k,mkf->mf", s, t)[:, None, :])

    def state(self) -> dict[str, np.ndarray]:
        """Parameters and velocities as numpy arrays (W as M × K × F, bv as M × K)."""
        out = {}
        for name, p in self.params.items():
            for key, t in ((name, p), (f"v_{name}", self.velocity[name])):
                a = t.detach().cpu().numpy().copy()
                out[key] = a.reshape(self._public_shape(name))
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        for name in self.params:
            for key, store in ((name, self.params), (f"v_{name}", self.velocity)):
                a = np.asarray(state[key], np.float32)
                if a.shape != self._public_shape(name):
                    raise ValueError(f"state {key!r} has shape {a.shape}, expected "
                                     f"{self._public_shape(name)}")
                store[name] = torch.from_numpy(a.reshape(self.shapes[name]).copy()).to(
                    self.device)

    def _public_shape(self, name: str) -> tuple[int, ...]:
        if name in ("W", "A"):
            return (self.M, self.K, self.shapes[name][1])
        if name == "bv":
            return (self.M, self.K)
        return self.shapes[name]

    def __getstate__(self):
        d = {k: v for k, v in self.__dict__.items() if k not in ("params", "velocity", "_grad")}
        d["device"] = str(self.device)
        d["_state"] = self.state()
        return d

    def __setstate__(self, d):
        state = d.pop("_state")
        self.linear = None  # models saved before the linear movie weights existed
        self.__dict__.update(d)
        self.device = torch.device(self.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            self.device = torch.device("cpu")  # a GPU-trained model still predicts on a CPU
        self.params, self.velocity, self._grad = {}, {}, {}
        for name in self.shapes:
            self.params[name] = torch.zeros(self.shapes[name], device=self.device)
        self.load(state)

    # -- the conditionals ----------------------------------------------------------------
    def conditional_input(self, batch: Batch) -> torch.Tensor | None:
        """Σ_i r_i D_ij for every user of the batch (conditional RBM), or None."""
        if not self.conditional or batch.imp_item is None:
            return None
        return tf.embedding_bag(batch.imp_item, self.params["D"], batch.imp_offsets,
                                mode="sum")

    def hidden_input(self, vis: torch.Tensor, offsets: torch.Tensor, seg: torch.Tensor,
                     n_users: int, cond=None, weight: torch.Tensor | None = None):
        """(b_j + Σ_ik v_i^k W_ij^k [+ Σ_i r_i D_ij], stats) per user (eq. 2 and its
        conditional form).

        ``vis`` lists the units with v = 1, user by user (``offsets``, ``seg``); with
        ``weight`` each unit counts with that weight (mean-field visible probabilities).
        ``stats`` holds what the gradients need besides: ``X`` = Σ v A (users × C) for the
        factored model, ``n`` = Σ_i v_i^k (users × K, the class counts) for the shared one.
        """
        stats = {}
        if self.C:
            X = tf.embedding_bag(vis, self.params["A"], offsets, mode="sum",
                                 per_sample_weights=weight)
            x = X @ self.params["B"]
            stats["X"] = X
        else:
            x = tf.embedding_bag(vis, self.params["W"], offsets, mode="sum",
                                 per_sample_weights=weight)
        if self.shared:
            n = torch.bincount(seg * self.K + vis % self.K, weights=weight,
                               minlength=n_users * self.K).to(x.dtype).view(n_users, self.K)
            x = x + n @ self.params["U"]
            stats["n"] = n
        x = x + self.params["bh"]
        if cond is not None:
            x = x + cond
        return x, stats

    def hidden_probs(self, batch: Batch) -> torch.Tensor:
        """p(h_j = 1 | V[, r]) of every user of the batch (eq. 2, conditional or not)."""
        x, _ = self.hidden_input(batch.vis, batch.offsets, batch.seg, batch.n_users,
                                 self.conditional_input(batch))
        return torch.sigmoid(x)

    def visible_logits(self, h: torch.Tensor, unit0: torch.Tensor, offsets: torch.Tensor,
                       seg: torch.Tensor, cache: Batch | None = None,
                       offset: torch.Tensor | None = None) -> torch.Tensor:
        """b_i^k + Σ_j h_j W_ij^k [+ c_k d_ui] (the exponent of eq. 1) for the movie of
        every entry of ``unit0`` (= movie · K), whose user is given by ``offsets`` and
        ``seg``, ``offset`` its d_ui: an (entries × K) array.

        Only the rated movies' K × F weights are read: a sampled dense-dense product on the
        pattern of those units (for the factored model, of h Bᵀ with A, C wide). The pattern
        is kept on ``cache`` (the batch) for the next Gibbs step.
        """
        n_users = h.shape[0]
        S = getattr(cache, "pattern", None)
        if S is None:
            S = _pattern(offsets, unit0, n_users, self.M * self.K, self.K)
            if cache is not None:
                cache.pattern = S
        if self.C:
            left, right = h @ self.params["B"].T, self.params["A"].T
        else:
            left, right = h, self.params["W"].T
        if right.device.type == "cuda":
            right = right.contiguous()  # cuSPARSE's SDDMM wants row-major operands
        if len(unit0):
            dot = torch.sparse.sampled_addmm(S, left.contiguous(), right, beta=0.0).values()
        else:
            dot = torch.zeros(0, device=h.device)
        # The pattern's columns are the units i·K + k themselves, rating by rating.
        logits = dot.view(-1, self.K)
        logits += self.params["bv"][S.col_indices()].view(-1, self.K)
        if self.shared:
            logits = logits + (h @ self.params["U"].T)[seg]
        return self._tilt(logits, offset)

    def _tilt(self, logits: torch.Tensor, offset: torch.Tensor | None) -> torch.Tensor:
        """``logits`` + c_k d_ui (the offset model; unchanged otherwise)."""
        if not self.offset:
            return logits
        if offset is None:
            raise ValueError("the offset RBM needs each entry's d_ui")
        return logits + offset[:, None] * self.params["c"]

    # -- learning ------------------------------------------------------------------------
    def contrastive_divergence(self, batch: Batch, T: int, draw: Draw, values: torch.Tensor,
                               mean_field: bool = False) -> float:
        """Gradients of one mini-batch by CD-T, added to ``self._grad`` (sums over its
        users; :meth:`update` applies and clears them); returns the squared error of the
        first reconstruction's expected rating Σ_k value_k p(v_i^k = 1 | h⁰) against the
        data (the "train RMSE" of an epoch).

        Draw order (what :func:`Draw` is asked for): hidden states h⁰ (users × F), then for
        each step t = 1..T the visible classes (ratings,) unless it is the last step and
        ``mean_field``, and, for t < T, the hidden states hᵗ (users × F).

        ``mean_field`` keeps the last reconstruction as probabilities p(v_i^k) instead of
        a sampled class, both in <v h>_T and in the hidden probabilities computed from it:
        lower-variance statistics for the same cost per step.
        """
        B, K = batch.n_users, self.K
        cond = self.conditional_input(batch)
        x0, stats0 = self.hidden_input(batch.vis, batch.offsets, batch.seg, B, cond)
        ph0 = torch.sigmoid(x0)
        h = (draw(B, self.F) < ph0).to(ph0.dtype)
        unit0 = batch.vis - batch.vis % K
        data_value = values[batch.vis % K]
        sq_err = 0.0
        for t in range(1, T + 1):
            pv = softmax(self.visible_logits(h, unit0, batch.offsets, batch.seg, batch,
                                             batch.offset))
            if t == 1:
                err = pv @ values - data_value
                sq_err = float(torch.sum(err * err, dtype=torch.float64))
            if t == T and mean_field:
                visT = batch.pattern.col_indices()  # every unit i·K + k of the rated movies
                wT = pv.reshape(-1)
                segT = batch.seg.repeat_interleave(K)
                offT = batch.offsets * K
            else:
                visT = unit0 + sample_softmax(pv, draw(len(batch)))
                wT, segT, offT = None, batch.seg, batch.offsets
            xT, statsT = self.hidden_input(visT, offT, segT, B, cond, wT)
            phT = torch.sigmoid(xT)
            if t < T:
                h = (draw(B, self.F) < phT).to(phT.dtype)
        self._gradients(batch, ph0, stats0, phT, statsT, visT, segT, wT)
        return sq_err

    def _gradients(self, batch, ph0, stats0, phT, statsT, visT, segT, wT) -> None:
        """<·>_data − <·>_T of every parameter, summed over the batch's users, added to
        ``self._grad``: only the rows of the batch's units are touched."""
        g = self._grad
        if not g:
            g.update({k: torch.zeros_like(p) for k, p in self.params.items()})
        MK = self.M * self.K
        if self.C:
            # dE/dA_ic^k = Σ_j (v h)_ij^k B_cj: scatter the users' h Bᵀ (C wide, not F)
            G, B = g["A"], self.params["B"]
            src0, srcT = ph0 @ B.T, phT @ B.T
            g["B"] += stats0["X"].T @ ph0 - statsT["X"].T @ phT
        else:
            G, src0, srcT = g["W"], ph0, phT
        scatter_rows(G, batch.vis, batch.seg, src0, 1.0)
        scatter_rows(G, visT, segT, srcT, -1.0, wT)
        g["bv"] += torch.bincount(batch.vis, minlength=MK).to(ph0.dtype)
        g["bv"] -= torch.bincount(visT, weights=wT, minlength=MK).to(ph0.dtype)
        if self.offset:  # Δc_k = Σ d_ui (v_i^k data − v_i^k reconstructed), like b_i^k's
            d, K = batch.offset, self.K
            dT = d if wT is None else d.repeat_interleave(K) * wT  # mean field: K per rating
            g["c"] += torch.bincount(batch.vis % K, weights=d, minlength=K).to(ph0.dtype)
            g["c"] -= torch.bincount(visT % K, weights=dT, minlength=K).to(ph0.dtype)
        g["bh"] += (ph0 - phT).sum(0)
        if self.shared:
            g["U"] += stats0["n"].T @ ph0 - statsT["n"].T @ phT
        if self.conditional and batch.imp_item is not None:
            scatter_rows(g["D"], batch.imp_item, batch.imp_seg, ph0 - phT, 1.0)

    def update(self, n_users: int, n_ratings: int, lr: dict[str, float], momentum: float,
               weight_decay: float) -> None:
        """Δθ ← μ Δθ + ε_θ (∇θ / n − λ θ), θ ← θ + Δθ for every parameter (λ on the
        weights only), with the gradients of the last :meth:`contrastive_divergence`.

        n is the batch's number of users, except for the shared U and the tilt c: every
        rating adds to their gradients, so they are averaged over the batch's ratings, as
        if U were the weights of one movie that every user rated.
        """
        if "W" in self._grad:
            self._project(self._grad["W"])  # the step stays in the linear subspace
        for name, p in self.params.items():
            v, g = self.velocity[name], self._grad[name]
            n = max(n_ratings, 1) if name in ("U", "c") else n_users
            step = lr[name] / n
            decay = lr[name] * weight_decay if name in WEIGHTS else 0.0
            if p.device.type == "cpu":
                _kernels.momentum_step(p.view(-1).numpy(), v.view(-1).numpy(),
                                       g.view(-1).numpy(), momentum, step, decay)
            else:
                v.mul_(momentum).add_(g, alpha=step)
                if decay:
                    v.add_(p, alpha=-decay)
                p.add_(v)
                g.zero_()

    # -- prediction ----------------------------------------------------------------------
    def unit_weights(self, units: torch.Tensor) -> torch.Tensor:
        """The hidden-input weights of visible units ``units`` (= movie · K + class), one
        row of F each: W_i^k, or A_i^k B factored, plus the shared U^k."""
        w = self.params["A"][units] @ self.params["B"] if self.C else self.params["W"][units]
        if self.shared:
            w = w + self.params["U"][units % self.K]
        return w

    def own_visible_probs(self, h: torch.Tensor, units: torch.Tensor,
                          offset: torch.Tensor | None = None) -> torch.Tensor:
        """p(v_i^k | h) over the K classes of the movie of each of ``units``, row ``r``
        with its own hidden probabilities ``h[r]`` and offset d (the leave-one-out
        prediction)."""
        base = (units // self.K * self.K)[:, None] + torch.arange(self.K, device=h.device)
        w = self.unit_weights(base.reshape(-1)).view(len(units), self.K, self.F)
        logits = torch.einsum("rf,rkf->rk", h, w) + self.params["bv"][base]
        return softmax(self._tilt(logits, offset))

    def visible_probs(self, h: torch.Tensor, items: torch.Tensor, offsets: torch.Tensor,
                      seg: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """p(v_q^k = 1 | p̂) for query movies ``items`` (eq. 1 with the hidden probabilities
        p̂ in place of states: the paper's mean-field prediction), user by user, with the
        queries' d_ui in ``offset`` (the offset model)."""
        return softmax(self.visible_logits(h, items * self.K, offsets, seg, offset=offset))
