r"""The RBM predictor: Salakhutdinov, Mnih & Hinton's restricted Boltzmann machine for
collaborative filtering (ICML 2007), plain, conditional and factored.

The network and its equations are in :mod:`prize.models.rbm.network`; this module owns the
data (per-user CSR arrays built once), the epoch loop over shuffled mini-batches of users,
the CD-T schedule, and prediction.

Rating classes. The K softmax states of a visible unit are the values of the data set's
rating grid: the largest step (dividing one star) that puts every training rating and both
ends of ``train.scale`` on ``lo + step · k`` (K = 5 for 1..5 stars, 10 for 0.5..5
half-stars). Ratings on no such grid of at most ``MAX_CLASSES`` values (a continuous scale,
such as Jester's -10..10) fall into ``continuous_classes`` bins of equal width over the
scale, each class's value the mean of its training ratings.

Prediction (the paper's mean-field version, which it found as accurate as the exact
marginal and faster; we measured the same on MovieLens 100K): for a user u and a query
movie q,

    p̂_j = p(h_j = 1 | V_u[, r_u])          (eq. 2 or its conditional form; V_u are the
                                             user's training ratings)
    p(v_q^k = 1 | p̂) = exp(b_q^k + Σ_j p̂_j W_qj^k) / Σ_l exp(b_q^l + Σ_j p̂_j W_qj^l)
    r̂_uq = Σ_k value_k p(v_q^k = 1 | p̂)     (or the value of the most probable class)

(with ``offset = "biases"``, each exponent also gains c_k (b_u + b_q)).

Queries are grouped by user and handled 4,096 users at a time: one hidden-layer pass per
user, then one sampled product over the user's query movies.

A user without training ratings (or an index outside the training range) gets
p̂ = σ(b_j [+ Σ_i r_i D_ij]), the model's answer for someone it knows nothing about (the
``r`` part only where the implicit pairs name the user); a movie without training ratings
(or outside the range) gets the training mean, as its weights were never trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.config import check_memory
from prize.data.dataset import Ratings
from prize.errors import DataError
from prize.models._torch import check_device, group_by, torch_session
from prize.models.base import implicit_pairs
from prize.models.baseline.simple import Biases
from prize.models.epochs import IterativeConfig, IterativePredictor, epoch_rng

#: The most rating classes the softmax visible units may have.
MAX_CLASSES = 20


@dataclass(frozen=True)
class RBMConfig(IterativeConfig):
    n_hidden: int = 100
    """F, the binary hidden units (the paper's Netflix models use 100)."""
    conditional: bool = True
    """The conditional RBM: hidden units also see r, which movies the user rated (or is
    known to have rated), through the weights D."""
    conditional_on: Literal["all", "train"] = "all"
    """The pairs that make up r: "all" = training, probe and qualifying pairs (the paper:
    Netflix tells which movies the user rated in qualifying), "train" = training pairs only."""
    factored: bool = False
    """The factored RBM: W = A·B with ``n_factors`` factors (fewer parameters, a cheaper
    reconstruction)."""
    n_factors: int = 30
    """C, the rank of W = A·B when ``factored`` (the paper: 30 and 60)."""
    shared_weights: bool = False
    """Not in the paper: add to W a component U (K × F) shared by all movies, the RBM's
    channel for a user's overall leniency, learned from every rating (see
    :mod:`prize.models.rbm.network`). Needed on small data sets such as MovieLens 100K."""
    continuous_classes: int = 10
    """Ratings on no grid of at most 20 values (a continuous scale) are binned into this
    many classes of equal width over the scale, each valued at the mean of its training
    ratings (0: refuse such ratings)."""
    movie_weights: Literal["full", "linear"] = "full"
    """Not in the paper: "linear" ties each movie's K × F weights to F, W_ij^k = s_k w_ij
    with s_k the class's value minus the mean of the class values, so that a movie's pull
    on a hidden unit is linear in its rating (the class-specific shape comes from the shared
    U and the visible biases). "full": the paper's K × F free weights, which overfit movies
    with a dozen ratings (see :mod:`prize.models.rbm.network`). Not with ``factored``."""
    offset: Literal["none", "biases"] = "none"
    """Not in the paper: "biases" adds c_k (b_u + b_i) to each softmax's exponent, the
    user's and the movie's biases from the baseline family's ``biases`` (fitted on the same
    ratings) with a learned tilt c per class, and starts the visible biases at the overall
    class frequencies (see :mod:`prize.models.rbm.network`). "none": the paper's model."""
    n_epochs: int = 50
    """Sweeps over the users (the paper: 40 to 50 on Netflix)."""
    early_stopping: bool = True
    """Stop when the probe RMSE has not improved for ``patience`` epochs and keep the best
    epoch's parameters (only where a probe set is given)."""
    patience: int = 4
    """Epochs without a probe improvement before stopping (CD-T's noisy early epochs and the
    steps up of T make 2 too impatient)."""
    batch_size: int = 100
    """Users per mini-batch, one parameter update each (the paper: 1000 on Netflix's
    480,189 users; 100 gives small data sets enough updates per epoch)."""
    lr: float = 0.05
    """ε of the weights W (A, B) and D, per mini-batch, applied to the gradient averaged
    over the batch's users (the paper: 0.01, i.e. "0.01 / batch size" on the summed one)."""
    lr_bias: float = 0.05
    """ε of the visible and hidden biases."""
    momentum: float = 0.9
    """μ of Δθ ← μ Δθ + ε (∇θ − λ θ) (the paper: 0.9)."""
    weight_decay: float = 0.001
    """λ, the L2 weight cost on W (A, B), D and U, not on the biases (the paper: 0.001)."""
    weight_decay_per: Literal["update", "epoch"] = "update"
    """How λ is counted. "update" (the paper): every mini-batch update decays the weights by
    ε λ θ, so a pass over the users applies it (users / batch_size) times, and the prior
    weighs more, against the data, the more users a set has. "epoch" (ours): λ is the cost
    of one pass, spread over its updates (ε λ θ · batch users / active users each), like a
    MAP prior counted once against every user's likelihood: at 1,000 users and batches of
    100, λ = 0.1 is the paper's-style 0.01 per update; at 10,000 users it is 0.001."""
    init_std: float = 0.01
    """Initial weights ~ N(0, init_std²) (the paper: 0.01); visible biases start at the log
    of each movie's smoothed rating frequencies, hidden biases at 0."""
    cd_steps: tuple[int, ...] = (1, 3, 5, 9)
    """T of CD-T, stepped up during training ("CD learning was started with T = 1 and
    increased in small steps"), one value per entry of ``cd_epochs``."""
    cd_epochs: tuple[int, ...] = (1, 16, 26, 36)
    """The epoch (1-based) from which each ``cd_steps`` value applies; starts with 1."""
    reconstruction: Literal["sample", "probabilities"] = "sample"
    """The last Gibbs step's visible units in <v h>_T: a sampled rating ("sample", the
    paper's Gibbs sampler) or the softmax probabilities ("probabilities", less noise)."""
    predict: Literal["expectation", "argmax"] = "expectation"
    """The prediction from p(v_q^k | p̂): Σ_k value_k p(k) (best for RMSE) or the value of
    the most probable class."""
    train_predictions: Literal["in-sample", "leave-one-out"] = "in-sample"
    """The training-set predictions (``--keep-train-predictions``, the residuals another
    model learns on): the plain predictions ("in-sample", as BellKor used them), or each
    rating predicted with its own visible unit taken out of the hidden input
    ("leave-one-out"). Left out, the rating no longer pulls its own prediction toward it
    (small preset: training RMSE 0.908 in-sample, 0.928 left out, probe 0.949), yet the
    models trained on those residuals did no better: MF f = 50 on them 0.9444 probe against
    0.9434 in-sample, interpolation kNN 0.9480 against 0.9478."""
    seed: int = 0
    """Seeds the initial weights and each epoch's shuffle and Gibbs sampling."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where the tensors live; "cuda" needs a CUDA build of torch and a GPU."""
    threads: int = 2
    """torch threads while training and predicting (1 when trainers share the machine: on
    oversubscribed cores torch's spinning threads make every operation many times slower)."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms while training: reproducible GPU runs at some
    speed (CPU runs are reproducible either way)."""

    def __post_init__(self):
        super().__post_init__()
        for name in ("n_hidden", "n_factors", "n_epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: expected an integer >= 1")
        if self.patience < 1:
            raise ValueError(f"patience = {self.patience}: expected an integer >= 1")
        for name in ("lr", "lr_bias", "weight_decay", "init_std"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} = {getattr(self, name)}: expected a number >= 0")
        if self.continuous_classes not in (0, *range(2, MAX_CLASSES + 1)):
            raise ValueError(f"continuous_classes = {self.continuous_classes}: expected 0 "
                             f"(refuse ratings on no grid) or 2 to {MAX_CLASSES}")
        if self.movie_weights == "linear" and self.factored:
            raise ValueError("movie_weights = 'linear' needs factored = false (the linear "
                             "weights tie a full W)")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum = {self.momentum}: expected 0 <= momentum < 1")
        if not self.cd_steps or len(self.cd_steps) != len(self.cd_epochs):
            raise ValueError(f"cd_steps {list(self.cd_steps)} and cd_epochs "
                             f"{list(self.cd_epochs)}: expected two lists of the same length")
        if min(self.cd_steps) < 1:
            raise ValueError(f"cd_steps = {list(self.cd_steps)}: expected integers >= 1")
        e = self.cd_epochs
        if e[0] != 1 or any(b <= a for a, b in zip(e, e[1:], strict=False)):
            raise ValueError(f"cd_epochs = {list(e)}: expected increasing epochs starting "
                             "with 1")

    def cd_steps_at(self, epoch: int) -> int:
        """T of CD-T in ``epoch`` (1-based)."""
        return next(t for t, e in zip(reversed(self.cd_steps), reversed(self.cd_epochs),
                                      strict=True) if epoch >= e)


def rating_values(rating: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """The values of the K rating classes: ``lo + step · k`` for the largest step (a
    multiple of 0.001 that divides one star) that puts every rating and both ends of
    ``scale`` on the grid."""
    import pandas as pd  # a hash table: np.unique would sort all 100M Netflix ratings

    r = pd.unique(np.asarray(rating)).astype(np.float64)
    points = np.unique(np.concatenate([r[np.isfinite(r)], np.asarray(scale, float)]))
    lo, hi = points[0], points[-1]
    milli = (points - lo) * 1000.0
    if np.abs(milli - np.rint(milli)).max() > 1e-3:
        raise DataError("the RBM needs ratings on a grid of values (such as 1..5 stars or "
                        "half stars); these are not, e.g. residuals of another predictor",
                        fix="Train the RBM on ratings, not with --residuals-of")
    if hi == lo:
        return np.array([lo])
    # One whole star is always a multiple of the step: 1, 3 and 5 alone on a 1..5 scale
    # are still five classes, and 0.5, 3.5 and 5 are half stars (not steps of 1.5).
    step = np.gcd.reduce(np.append(np.rint(milli).astype(np.int64), 1000)) / 1000.0
    K = int(round((hi - lo) / step)) + 1
    if K > MAX_CLASSES:
        raise DataError(f"the ratings span {K} values from {lo:g} to {hi:g} in steps of "
                        f"{step:g}: the RBM's softmax units allow at most {MAX_CLASSES}")
    return lo + step * np.arange(K)


def rating_bins(rating: np.ndarray, scale: tuple[float, float], n_bins: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(values, edges) of ``n_bins`` classes of equal width over ``scale`` for ratings on no
    grid: class k holds the ratings in [edges[k], edges[k+1]) (the last also its upper
    end), and its value is their mean (the bin's centre when it has none)."""
    r = np.asarray(rating, np.float64)
    lo, hi = float(min(scale[0], r.min(initial=scale[0]))), \
        float(max(scale[1], r.max(initial=scale[1])))
    edges = np.linspace(lo, hi, n_bins + 1)
    k = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(k, minlength=n_bins)
    total = np.bincount(k, weights=r, minlength=n_bins)
    centre = (edges[:-1] + edges[1:]) / 2
    values = np.where(count > 0, total / np.maximum(count, 1), centre)
    return values, edges


class RBM(IterativePredictor):
    """The RBM of Salakhutdinov, Mnih & Hinton (2007): see the module docstring.

    Data (built at start or resume, kept for prediction): ``values_`` (the K class values),
    ``mu_``, ``item_count_``, and per-user CSR arrays of the training ratings
    (``indptr_``, ``vis_`` = movie·K + class) and of the conditional pairs
    (``imp_indptr_``, ``imp_item_``); with ``offset = "biases"``, ``b_user_`` (one more
    entry, 0, for unknown users) and ``b_item_``. Learned: ``net_``, an :class:`RBMNet`.
    """

    family = "rbm"
    name = "rbm"
    Config = RBMConfig
    #: Saved with a fitted model through ``state_dict`` (:mod:`prize.models.persist`).
    state_dict_attrs = ("net_",)

    # -- data ----------------------------------------------------------------------------
    def _build_data(self, train: Ratings, implicit: Ratings | None) -> None:
        cfg = self.config
        check_device(cfg.device)
        self.edges_ = None
        try:
            values = rating_values(train.rating, self.scale_)
        except DataError:
            if cfg.continuous_classes < 2:
                raise
            values, self.edges_ = rating_bins(train.rating, self.scale_,
                                              cfg.continuous_classes)
        self.values_ = values
        K = len(values)
        rating = np.asarray(train.rating)
        self.mu_ = (float(np.mean(rating, dtype=np.float64)) if len(rating)
                    else float(np.mean(self.scale_)))
        vis = self._units(train.item, rating)
        self.item_count_ = np.bincount(train.item, minlength=self.n_items_)
        # Class frequencies per movie, for the visible biases' starting values.
        self._class_counts = np.bincount(vis, minlength=self.n_items_ * K).reshape(
            self.n_items_, K)
        self.indptr_, self.vis_ = group_by(train.user, self.n_users_, vis)
        self.imp_indptr_ = self.imp_item_ = None
        if cfg.conditional:
            if cfg.conditional_on == "all":
                users, items = implicit_pairs(train, implicit)
            else:
                users, items = np.asarray(train.user), np.asarray(train.item)
            self.imp_indptr_, self.imp_item_ = group_by(users, self.n_users_,
                                                        np.asarray(items, np.int32))
        self._active = np.flatnonzero(np.diff(self.indptr_) > 0)
        if cfg.offset == "biases":
            base = Biases().fit(train)  # deterministic: a resumed run gets the same
            self.b_user_ = np.append(np.asarray(base.bu_, np.float32), np.float32(0))
            self.b_item_ = np.asarray(base.bi_, np.float32)

    def _offset_of(self):
        """make_batch's ``offset`` argument (None without the offset)."""
        if self.config.offset == "none":
            return None
        return self.b_user_, self.b_item_, len(self.values_)

    def _query_offset(self, users: np.ndarray, items: np.ndarray, device):
        """d_ui of query pairs (users may be the unknown-user index n_users), or None."""
        if self.config.offset == "none":
            return None
        import torch

        d = self.b_user_[users] + self.b_item_[items]
        return torch.from_numpy(np.ascontiguousarray(d, np.float32)).to(device)

    def _units(self, items, rating) -> np.ndarray:
        """The visible unit of each rating, movie · K + class, in int32 (M·K < 2^31): on
        Netflix every extra byte per rating here is 100 MB."""
        values = self.values_
        if self.edges_ is not None:  # binned: the class whose interval holds the rating
            vis = np.clip(np.searchsorted(self.edges_, np.asarray(rating, np.float64),
                                          side="right") - 1, 0, len(values) - 1
                          ).astype(np.int32)
            vis += np.multiply(np.asarray(items), len(values), dtype=np.int32)
            return vis
        step = values[1] - values[0] if len(values) > 1 else 1.0
        vis = np.rint((np.asarray(rating, np.float32) - np.float32(values[0]))
                      / np.float32(step)).astype(np.int32)
        vis += np.multiply(np.asarray(items), len(values), dtype=np.int32)
        return vis

    def _batch(self, users: np.ndarray):
        from prize.models.rbm.network import make_batch

        return make_batch(users, self.indptr_, self.vis_, self.imp_indptr_, self.imp_item_,
                          self.net_.device, self._offset_of())

    def _torch(self):
        """The config's torch threads and determinism; no autograd (every gradient here is
        the CD formula, computed by hand)."""
        return torch_session(self.config.threads, self.config.deterministic)

    # -- training ------------------------------------------------------------------------
    def _new_net(self):
        from prize.models.rbm.network import RBMNet

        cfg = self.config
        K, M, F = len(self.values_), self.n_items_, cfg.n_hidden
        # W (or A·B), D and the biases, each with a velocity and a gradient, in float32.
        weights = (M * cfg.n_factors + cfg.n_factors * K * F if cfg.factored else M * K * F)
        params = weights + (M * F if cfg.conditional else 0) + M * K + F
        check_memory(3 * 4 * params, f"the RBM with n_hidden = {F} on {M:,} movies × {K} "
                     "rating classes", "Lower n_hidden (or use factored = true)")
        return RBMNet(self.n_items_, len(self.values_), cfg.n_hidden,
                      conditional=cfg.conditional,
                      n_factors=cfg.n_factors if cfg.factored else 0,
                      shared=cfg.shared_weights, offset=cfg.offset == "biases",
                      linear=self.values_ if cfg.movie_weights == "linear" else None,
                      device=cfg.device)

    def resume(self, train: Ratings, implicit: Ratings | None, state) -> None:
        self._build_data(train, implicit)  # the net's shape needs the rating classes
        self.load_state_dict(state)

    def start(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self._build_data(train, implicit)
        cfg = self.config
        K = len(self.values_)
        with self._torch():
            self.net_ = self._new_net()
            # b_i^k = log p(k | i), the movie's class frequencies smoothed toward the
            # overall ones with 2 pseudo-ratings (Hinton's practical guide: visible biases
            # at the log base rates, so the hidden units need not learn them).
            counts = self._class_counts.astype(np.float64)
            prior = (counts.sum(0) + 1.0) / (counts.sum() + K)
            freq = (counts + 2.0 * prior) / (counts.sum(1, keepdims=True) + 2.0)
            c = None
            if cfg.offset == "biases":
                # The biases carry each movie's level: every movie starts at the overall
                # class frequencies, tilted by c_k d_ui, which moves the mean by ~d_ui.
                freq = np.broadcast_to(prior, freq.shape)
                per_class = counts.sum(0)
                variance = per_class @ (self.values_ - self.mu_) ** 2 / max(per_class.sum(), 1)
                c = (self.values_ - self.mu_) / max(float(variance), 1e-6)
            self.net_.init(epoch_rng(cfg.seed, 0), cfg.init_std, np.log(freq), c)

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        from prize.models.rbm.network import TorchDraw

        cfg = self.config
        net = self.net_
        T = cfg.cd_steps_at(epoch)
        rng = epoch_rng(cfg.seed, epoch)
        perm = rng.permutation(self._active)
        lr = {name: (cfg.lr_bias if name in ("bv", "bh") else cfg.lr) for name in net.params}
        se, n = 0.0, 0
        with self._torch() as torch:
            draw = TorchDraw(int(rng.integers(2**62)), net.device)
            values = torch.tensor(self.values_, dtype=torch.float32, device=net.device)
            for lo in range(0, len(perm), cfg.batch_size):
                batch = self._batch(perm[lo:lo + cfg.batch_size])
                se += net.contrastive_divergence(batch, T, draw, values,
                                                 cfg.reconstruction == "probabilities")
                n += len(batch)
                if not math.isfinite(se):
                    return math.nan, n  # the trainer reports the divergence
                decay = cfg.weight_decay * (batch.n_users / len(perm)
                                            if cfg.weight_decay_per == "epoch" else 1.0)
                net.update(batch.n_users, len(batch), lr, cfg.momentum, decay)
        return math.sqrt(se / max(n, 1)), n

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.net_.state()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if not hasattr(self, "net_"):
            self.net_ = self._new_net()  # resuming: start() is not called
        self.net_.load(state)

    # -- prediction ----------------------------------------------------------------------
    def _predict(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        out = np.full(len(users), self.mu_, np.float64)
        known = (items >= 0) & (items < self.n_items_)
        known[known] = self.item_count_[items[known]] > 0
        sel = np.flatnonzero(known)
        if not len(sel):
            return out
        # Unknown users become the extra row n_users of the CSR arrays: nothing rated.
        u = users[sel]
        u = np.where((u >= 0) & (u < self.n_users_), u, self.n_users_)
        by_user, uniq, first, count = _grouped(u)  # the queries grouped by user
        order = sel[by_user]
        u_rows = u[by_user]  # the user index of each query, in that order
        indptr = np.append(self.indptr_, self.indptr_[-1])
        imp_indptr = (np.append(self.imp_indptr_, self.imp_indptr_[-1])
                      if self.imp_indptr_ is not None else None)
        from prize.models.rbm.network import make_batch

        net = self.net_
        step = 4096  # users per prediction batch: few Python steps, bounded memory
        with self._torch() as torch:
            values = torch.tensor(self.values_, dtype=torch.float32, device=net.device)
            for lo in range(0, len(uniq), step):
                hi = min(len(uniq), lo + step)
                batch = make_batch(uniq[lo:hi], indptr, self.vis_, imp_indptr,
                                   self.imp_item_, net.device)
                h = net.hidden_probs(batch)
                rows = order[first[lo]:first[hi - 1] + count[hi - 1]]
                offsets = torch.from_numpy(first[lo:hi] - first[lo]).to(net.device)
                seg = torch.from_numpy(np.repeat(np.arange(hi - lo), count[lo:hi])).to(
                    net.device)
                q = torch.from_numpy(items[rows]).to(net.device)
                d = self._query_offset(u_rows[first[lo]:first[hi - 1] + count[hi - 1]],
                                       items[rows], net.device)
                p = net.visible_probs(h, q, offsets, seg, d)
                if self.config.predict == "argmax":
                    pred = values[p.argmax(1)]
                else:
                    pred = p @ values
                out[rows] = pred.cpu().numpy()
        return out

    def predict_training(self, ratings: Ratings) -> np.ndarray:
        """The training ratings (those given to fit), each predicted from the user's other
        ratings: its visible unit's weights are subtracted from the hidden input before the
        sigmoid, so p̂ is what the RBM infers without it (exact, not an approximation of
        leaving it out; the conditional "rated" term keeps the movie, as for a probe pair).
        """
        if self.config.train_predictions == "in-sample":
            return super().predict_training(ratings)
        self.check_is_fitted()
        users = np.asarray(ratings.user, np.int64)
        items = np.asarray(ratings.item, np.int64)
        unit = self._units(items, ratings.rating).astype(np.int64)
        K = len(self.values_)
        if len(users) and (users.max() >= self.n_users_ or items.max() >= self.n_items_
                           or (unit - items * K).min() < 0 or (unit - items * K).max() >= K):
            raise ValueError("predict_training takes the ratings the model was fitted on")
        out = np.empty(len(users), np.float64)
        by_user, uniq, first, count = _grouped(users)
        from prize.models.rbm.network import make_batch

        net = self.net_
        group = 1024  # users per batch; each rating's K × F weights are read in chunks
        with self._torch() as torch:
            values = torch.tensor(self.values_, dtype=torch.float32, device=net.device)
            for lo in range(0, len(uniq), group):
                hi = min(len(uniq), lo + group)
                batch = make_batch(uniq[lo:hi], self.indptr_, self.vis_, self.imp_indptr_,
                                   self.imp_item_, net.device)
                x, _ = net.hidden_input(batch.vis, batch.offsets, batch.seg, batch.n_users,
                                        net.conditional_input(batch))
                rows = by_user[first[lo]:first[hi - 1] + count[hi - 1]]
                seg = np.repeat(np.arange(hi - lo), count[lo:hi])
                for c in range(0, len(rows), 16384):
                    r = rows[c:c + 16384]
                    q = torch.from_numpy(unit[r]).to(net.device)
                    h = torch.sigmoid(x[torch.from_numpy(seg[c:c + 16384]).to(net.device)]
                                      - net.unit_weights(q))
                    p = net.own_visible_probs(h, q, self._query_offset(users[r], items[r],
                                                                       net.device))
                    pred = values[p.argmax(1)] if self.config.predict == "argmax" else (
                        p @ values)
                    out[r] = pred.cpu().numpy()
        return np.clip(out, *self.scale_).astype(np.float32)

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_class_counts", None)
        return d


def _grouped(users: np.ndarray):
    """(order, distinct users, start of each in the order, count): rows grouped by user,
    in row order within a user."""
    order = np.argsort(users, kind="stable")
    uniq, first, count = np.unique(users[order], return_index=True, return_counts=True)
    return order, uniq, first, count
