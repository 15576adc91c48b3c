"""``svdpp``: SVD++ (Koren, "Factorization meets the neighborhood", KDD 2008), and ``nsvd``.

    r̂_ui = μ + b_u + b_i + q_iᵀ (p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j)

N(u) is everything u is known to have rated -- training, probe and qualifying pairs: the
"who rated what" signal of the Prize (``implicit = "train"`` restricts it to training pairs,
for comparisons with tools that cannot use it). The y-gradient is accumulated once per
user per sweep rather than once per rating, which makes SVD++ cost about what SVD costs.

``nsvd`` is the asymmetric model without p_u: users are represented only through the
items they rated (Paterek's NSVD1, the implicit part of Koren's Asymmetric-SVD),
    r̂_ui = μ + b_u + b_i + q_iᵀ |N(u)|^-½ Σ_{j∈N(u)} y_j.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.models.epochs import IterativeConfig
from prize.models.mf import _kernels
from prize.models.mf.common import FactorModel, Priors, f32


@dataclass(frozen=True)
class SVDppConfig(IterativeConfig, Priors):
    n_factors: int = 20
    """f, the number of latent factors."""
    n_epochs: int = 30
    """Sweeps over the training ratings."""
    lr: float = 0.007
    """γ, learning rate of p_u and q_i."""
    lr_bias: float | None = None
    """γ_b, learning rate of the biases (None: same as ``lr``)."""
    lr_y: float | None = None
    """γ_y, learning rate of the implicit factors y_j (None: same as ``lr``)."""
    lr_decay: float = 1.0
    """Multiplies the learning rates after every epoch."""
    reg: float = 0.04
    """λ, regularisation of p_u and q_i."""
    reg_bias: float | None = None
    """λ_b, regularisation of the biases (None: same as ``reg``)."""
    reg_y: float | None = None
    """λ_y, regularisation of y_j (None: same as ``reg``)."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of the factors."""
    implicit: Literal["all", "train"] = "all"
    """N(u): "all" known pairs (train, probe, qualifying) or only "train" pairs."""
    shuffle: bool = True
    """Visit users in a new random order every epoch."""


class SVDpp(FactorModel):
    family = "svdpp"
    name = "svdpp"
    Config = SVDppConfig
    uses_implicit = True
    use_p = True
    _param_names = ("bu_", "bi_", "P_", "Q_", "Y_")

    def _init_params(self, train, rng, implicit):
        c = self.config
        self.bu_ = np.zeros(train.n_users, np.float32)
        self.bi_ = np.zeros(train.n_items, np.float32)
        self.P_ = (self._normal(rng, (train.n_users, c.n_factors)) if self.use_p
                   else np.zeros((train.n_users, c.n_factors), np.float32))
        self.Q_ = self._normal(rng, (train.n_items, c.n_factors))
        self.Y_ = self._normal(rng, (train.n_items, c.n_factors))

    def _epoch(self, csr, perm, decay, epoch):
        c = self.config

        def pick(v, default):
            return default if v is None else v

        return _kernels.svdpp_epoch(
            csr.indptr, csr.item, csr.rating, perm, self._nptr, self._nitem, self.mu_,
            self.bu_, self.bi_, self.P_, self.Q_, self.Y_,
            f32(pick(c.lr_bias, c.lr) * decay), f32(c.lr * decay), f32(pick(c.lr_y, c.lr) * decay),
            *self._regs(csr), f32(pick(c.reg_y, c.reg)), self.use_p)


@dataclass(frozen=True)
class NSVDConfig(SVDppConfig):
    pass


class NSVD(SVDpp):
    family = "nsvd"
    name = "nsvd"
    Config = NSVDConfig
    use_p = False
