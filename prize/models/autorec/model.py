r"""The AutoRec predictors: I-AutoRec (the default) and U-AutoRec (Sedhain et al., WWW 2015).

The network and its objective are in :mod:`prize.models.autorec.network`; this module owns
the data (the training ratings grouped by sample in CSR arrays, built at start or resume
and kept for prediction), the epoch loop over shuffled mini-batches of samples, and
prediction.

I-AutoRec's samples are the items: the prediction of user u for item i is the u-th output
of the network fed item i's training ratings, ``r̂_ui = W_u · σ(V r^(i) + μ) + b_u``.
U-AutoRec's samples are the users: ``r̂_ui = W_i · σ(V r^(u) + μ) + b_i``. The paper found
I-AutoRec the better of the two (ML-1M: 0.831 against 0.874), as each item has more
ratings to be described by than a user.

A pair the network cannot answer -- a sample without training ratings (nothing to
encode) or an input without them (its decoder row was never trained), or an index outside
the training range -- falls back to the biases μ + b_u + b_i (the baseline family's
``biases``, each b 0 where unknown; the global mean when both are).

The settings are chosen to hold on any data without tuning (the λ of the objective is
scaled by the number of ratings, see the network module; Adam's steps are scale free;
early stopping on probe keeps the best epoch; the hidden units follow the training
ratings per sample, :func:`hidden_units`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from prize.config import at_least
from prize.data.dataset import Ratings
from prize.models._torch import check_device, group_by, torch_session
from prize.models.base import take
from prize.models.baseline.simple import Biases
from prize.models.epochs import IterativeConfig, IterativePredictor, epoch_rng


@dataclass(frozen=True)
class AutoRecConfig(IterativeConfig):
    n_hidden: int = 0
    """k, the sigmoid hidden units (the paper: 500). 0: from the data at fit time, by
    :func:`hidden_units` (500 wherever samples have 40 training ratings on average or more,
    fewer on sparser data); the value used is the fitted ``n_hidden_``, recorded in the
    probe store as ``resolved`` and reused by the final round."""
    lam: float = 300.0
    """λ of the paper's objective Σ‖r − r̂‖²_O + λ/2 (‖W‖² + ‖V‖²), chosen on probe."""
    lr: float = 1e-3
    """Adam's step size (in the first epoch)."""
    lr_decay: float = 0.97
    """The step size is multiplied by this after every epoch."""
    batch_size: int = 256
    """Samples (items for I-AutoRec, users for U-AutoRec) per mini-batch and Adam step."""
    offset: Literal["biases", "none"] = "biases"
    """What the decoder's output is added to. "none": nothing, the paper's model (the
    ratings are fed and reconstructed as they are). "biases" (ours): the biases
    μ + b_u + b_i of the fallback, so the network reconstructs r − (μ + b_u + b_i) from
    the ratings themselves (the input keeps who rated what: a missing rating is still a
    0). I-AutoRec has a learned bias per user (the decoder's b) but none per item, which
    it can only express through the hidden units: on sparse data that cost it more than
    it gained (a 20,000-rating MovieLens subsample: probe 1.117 against the biases'
    1.055)."""
    n_epochs: int = 300
    """Sweeps over the samples (at most: early stopping on probe usually ends sooner)."""
    early_stopping: bool = True
    """Stop when the probe RMSE has not improved for ``patience`` epochs; keep the best
    epoch's parameters (only where a probe set is given)."""
    patience: int = 10
    """Epochs without a probe improvement before stopping."""
    seed: int = 0
    """Seeds the initial weights and each epoch's shuffle."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where the tensors live; "cuda" needs a CUDA build of torch and a GPU."""
    threads: int = 2
    """torch threads while training and predicting (1 when trainers share the machine)."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms while training: reproducible GPU runs at some
    speed (CPU runs are reproducible either way)."""

    def __post_init__(self):
        super().__post_init__()
        at_least(self, 0, "n_hidden", "lam")  # (lr > 0: IterativeConfig's rate checks)
        at_least(self, 1, "batch_size", "threads")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay = {self.lr_decay}: expected 0 < lr_decay <= 1")


#: The paper's hidden units, and the fewest the data-resolved count goes down to.
MAX_HIDDEN, MIN_HIDDEN = 500, 20
#: Training ratings per sample from which the paper's 500 units are used.
FULL_AT = 40.0


def hidden_units(ratings_per_sample: float) -> int:
    r"""The hidden units for ``n_hidden = 0``: ``k = 500 · min(1, (r / 40)³)``, at least 20,
    with r the mean training ratings per sample (per item for I-AutoRec).

    Each sample's code h = σ(V r + μ) is inferred from its r observed coordinates, and the
    decoder rows of the inputs from their few ratings: on sparse data 500 units overfit
    faster than early stopping can catch, and no λ made up for it (a 50,000-rating
    MovieLens subsample, 27 ratings per item: quiz 0.991 at 500 units whatever λ in
    300-30,000, against 0.973-0.979 at 50-200 units; the biases 0.984). The rule is
    empirical, fitted on MovieLens subsamples and synthetic sets (10-170 ratings per item,
    see the README): the cube reproduces how fast the best k fell below ~40 ratings per
    item (≥ 40: 500 best; 27: 100-150; 16: 30-50; 11: 20-50). Above 40 -- MovieLens 100K
    and 1M, the synthetic presets, Netflix (5,654 per movie) -- it is the paper's 500."""
    k = MAX_HIDDEN * min(1.0, (max(ratings_per_sample, 0.0) / FULL_AT) ** 3)
    return int(max(MIN_HIDDEN, round(k)))


class AutoRec(IterativePredictor):
    """AutoRec (see the module docstring); subclasses say which side is the sample.

    Data (built at start or resume, kept for prediction): ``mu_``, ``b_user_``,
    ``b_item_`` (the fallback), ``indptr_``, ``inp_``, ``val_`` (each sample's training
    ratings as CSR; while training also ``tgt_``, what each is reconstructed as),
    ``n_obs_`` (training ratings per input), ``n_hidden_`` (the hidden units used) and
    ``resolved_`` (what ``n_hidden = 0`` resolved to from the data, ``{}`` when the config
    fixes it). Learned: ``net_``.
    """

    family = "autorec"
    Config = AutoRecConfig
    by: ClassVar[str]  # "item": I-AutoRec, "user": U-AutoRec
    #: A kept model saves the torch network through state_dict (prize.models.persist).
    state_dict_attrs = ("net_",)

    def _offset(self, user: np.ndarray, item: np.ndarray) -> np.ndarray:
        """What the network's output is added to at training pairs (``offset``)."""
        if self.config.offset == "none":
            return np.zeros(len(user))
        return self.mu_ + self.b_user_[user].astype(np.float64) + self.b_item_[item]

    def _sides(self, users, items):
        """(samples, inputs) of the pairs."""
        return (items, users) if self.by == "item" else (users, items)

    @property
    def _counts(self) -> tuple[int, int]:
        return self._sides(self.n_users_, self.n_items_)

    # -- data ----------------------------------------------------------------------------
    def _build_data(self, train: Ratings) -> None:
        cfg = self.config
        check_device(cfg.device)
        user = np.asarray(train.user, np.int64)
        item = np.asarray(train.item, np.int64)
        r = np.asarray(train.rating, np.float64)
        # The fallback and the offset: the baseline family's regularized biases (Koren
        # 2010 eq. 2, by alternating least squares), fitted on the same ratings.
        base = Biases().fit(train)
        self.mu_ = float(base.mu_) if len(r) else float(np.mean(self.scale_))
        self.b_user_ = np.asarray(base.bu_, np.float32)
        self.b_item_ = np.asarray(base.bi_, np.float32)
        samples, inputs = self._sides(user, item)
        n_samples, n_inputs = self._counts
        target = r - self._offset(user, item)
        self.indptr_, self.inp_, self.val_, self.tgt_ = group_by(
            samples, n_samples, inputs.astype(np.int32), r.astype(np.float32),
            target.astype(np.float32))
        self.n_obs_ = np.bincount(inputs, minlength=n_inputs)
        self.n_train_ = len(r)
        self._active = np.flatnonzero(np.diff(self.indptr_) > 0)
        # What the config leaves to the data (n_hidden = 0) is resolved here. The final
        # round is built with the probe round's resolved value in its config
        # (prize.runs.single): its larger training set must not change the network the
        # epochs were counted for.
        if cfg.n_hidden:
            self.n_hidden_ = cfg.n_hidden
        else:
            self.n_hidden_ = hidden_units(len(r) / max(len(self._active), 1))
        self.resolved_ = {} if cfg.n_hidden else {"n_hidden": self.n_hidden_}

    def _torch(self):
        """The config's torch threads and determinism, autograd off (the gradients are
        written out by hand) but outside inference mode (Adam's state lives on)."""
        return torch_session(self.config.threads, self.config.deterministic, inference=False)

    def _new_net(self):
        from prize.models.autorec.network import AutoRecNet

        return AutoRecNet(self._counts[1], self.n_hidden_, self.config.device)

    def _batch(self, samples: np.ndarray):
        from prize.models.autorec.network import make_batch

        return make_batch(samples, self.indptr_, self.inp_, self.val_, self.net_.device,
                          self.tgt_)

    # -- training ------------------------------------------------------------------------
    def start(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self._build_data(train)
        self.net_ = self._new_net()
        # The decoder's bias starts at each input's damped mean rating (the biases model's
        # answer), so the first epochs need not learn it.
        inp_bias = self.b_user_ if self.by == "item" else self.b_item_
        b0 = self.mu_ + inp_bias if self.config.offset == "none" else np.zeros_like(inp_bias)
        with self._torch():
            self.net_.init(epoch_rng(self.config.seed, 0), b0)

    def resume(self, train: Ratings, implicit: Ratings | None, state) -> None:
        self._build_data(train)
        self.load_state_dict(state)

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        cfg = self.config
        net = self.net_
        perm = epoch_rng(cfg.seed, epoch).permutation(self._active)
        lam_n = cfg.lam / max(self.n_train_, 1)
        lr = cfg.lr * cfg.lr_decay ** (epoch - 1)
        se, n = 0.0, 0
        with self._torch():
            for lo in range(0, len(perm), cfg.batch_size):
                batch = self._batch(perm[lo:lo + cfg.batch_size])
                se += net.step(batch, batch.target, lam_n, lr)
                n += len(batch)
                if not math.isfinite(se):
                    return math.nan, n  # the trainer reports the divergence
        return math.sqrt(se / max(n, 1)), n

    def finish(self, train: Ratings) -> None:
        # Prediction reads the inputs (val_), never the training targets.
        self.__dict__.pop("tgt_", None)
        self.__dict__.pop("_active", None)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.net_.state()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if not hasattr(self, "net_"):
            self.net_ = self._new_net()  # resuming: start() is not called
        with self._torch():
            self.net_.load(state)

    # -- prediction ----------------------------------------------------------------------
    def _predict(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        from prize.models.autorec.network import make_batch

        ok_u = (users >= 0) & (users < self.n_users_)
        ok_i = (items >= 0) & (items < self.n_items_)
        out = self.mu_ + take(self.b_user_, users) + take(self.b_item_, items)
        if self.config.offset == "none":
            shift = np.zeros(len(out))
        else:
            shift = out.copy()
        s, j = self._sides(users, items)
        ok_s, ok_j = self._sides(ok_u, ok_i)
        known = ok_s & ok_j
        known[known] = ((np.diff(self.indptr_)[s[known]] > 0)
                        & (self.n_obs_[j[known]] > 0))
        sel = np.flatnonzero(known)
        if not len(sel):
            return out
        order = sel[np.argsort(s[sel], kind="stable")]
        uniq, first, count = np.unique(s[order], return_index=True, return_counts=True)
        net = self.net_
        # Samples per batch: the dense batch × inputs block of the decoder stays under
        # 2^24 floats (64 MiB).
        step = max(1, min(4096, (1 << 24) // max(self._counts[1], 1)))
        with self._torch() as torch:
            for lo in range(0, len(uniq), step):
                hi = min(len(uniq), lo + step)
                h = net.hidden(make_batch(uniq[lo:hi], self.indptr_, self.inp_, self.val_,
                                          net.device))
                rows = order[first[lo]:first[hi - 1] + count[hi - 1]]
                seg = torch.from_numpy(np.repeat(np.arange(hi - lo), count[lo:hi])).to(
                    net.device)
                q = torch.from_numpy(j[rows].astype(np.int64)).to(net.device)
                out[rows] = net.output_at(h, seg, q).cpu().numpy() + shift[rows]
        return out


class IAutoRec(AutoRec):
    """Item-based AutoRec: reconstructs each item's ratings by the users."""

    name = "i-autorec"
    by = "item"


class UAutoRec(AutoRec):
    """User-based AutoRec: reconstructs each user's ratings of the items."""

    name = "u-autorec"
    by = "user"
