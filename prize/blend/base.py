r"""What every blender shares: the common config, the folds, and the cross-validation driver.

A blender is stacked generalization (Wolpert 1992; Breiman 1996) on the probe set, as the
Prize teams did it (Töscher, Jahrer & Bell 2009; Koren 2009; Piotte & Chabbert 2009): the
predictors were trained on TRAIN, so their probe predictions are out of sample; a
blender learns :math:`\hat r = g(x_1, \dots, x_P, \text{meta})` from them against the probe
truth and is applied to the same predictors' qualifying predictions.

Its honest error is K-fold cross-validated on probe: every probe row is predicted by a
blender fitted on the other folds (out-of-fold, OOF). The OOF predictions are stored as
the blend's own probe predictions, so a blend can be blended again without leaking.

Folds are **random** over probe rows by default. Qualifying rows belong to the same
users as probe rows (Netflix's hold-out took each user's most recent ratings and shuffled
them into probe, quiz and test), and a blend fitted on all of probe is applied to the
qualifying rows of those same users: random folds reproduce that situation, held-out
rows whose users the blender has seen. Folds ``by = "user"`` hold out whole users: a
stricter check for blenders with user-level meta-features (a GBDT can learn a user's
offset from their support and date), which the qualifying set does not call for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from prize.metrics import rmse


@dataclass(frozen=True)
class BlendConfig:
    """Settings every blender has."""

    n_folds: int = 10
    # K of the K-fold cross-validation on probe.
    folds: Literal["random", "user"] = "random"
    # random: probe rows dealt at random (qualifying rows share users with probe, so this
    # mimics the probe -> qualifying step); user: whole users held out.
    seed: int = 0
    # Seeds the folds and any randomness of the blender.
    select_by: Literal["linear", "method"] = "linear"
    # --select forward ranks candidate predictors by the CV RMSE of a linear blend (fast)
    # or of this blender itself ("method": a full CV per candidate).
    max_predictors: int = 0
    # --select forward stops after this many predictors (0: until all are in).

    def __post_init__(self):
        if self.n_folds < 2:
            raise ValueError("n_folds must be at least 2")
        if self.max_predictors < 0:
            raise ValueError("max_predictors must be >= 0")


@dataclass
class CVResult:
    """Out-of-fold predictions and their score."""

    oof: np.ndarray
    """float64, clipped, aligned with the probe rows."""
    rmse: float
    fold_rmse: list[float]
    info: dict


def make_folds(n: int, n_folds: int, by: str, seed: int,
               user: np.ndarray | None = None) -> np.ndarray:
    """Fold index (0..K-1, int16) of each probe row: dealt at random, or per user."""
    rng = np.random.default_rng([seed, 0xF01D])
    if by == "random":
        return (rng.permutation(n) % n_folds).astype(np.int16)
    if by == "user":
        if user is None:
            raise ValueError("folds by user need the probe rows' users")
        users, inv = np.unique(np.asarray(user), return_inverse=True)
        fold_of = (rng.permutation(len(users)) % n_folds).astype(np.int16)
        return fold_of[inv]
    raise ValueError(f"unknown folds {by!r}; expected random or user")


def one_blas_thread():
    """A context limiting BLAS to one thread.

    The ridge engine makes hundreds of small (p × p) solves and a few long, thin Gram
    products. On this 2-core machine shared with other jobs, OpenBLAS's second thread
    spins waiting for a busy core: a batch of 101 × 101 solves took 456 ms with two
    threads against 6 ms with one, and the Gram products 4× longer.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def clip(pred: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    return np.clip(np.asarray(pred, np.float64), scale[0], scale[1])


class Blender:
    """Base class: ``fit(X, y, F)``, ``predict(X, F)`` and ``cross_validate``.

    ``X`` is the (rows × predictors) float32 matrix of predictions, ``y`` the truth, ``F``
    the (rows × meta-features) matrix of :mod:`prize.blend.features` (or None when the
    blender reads none). ``__init__`` only stores the config; fitted state ends in ``_``.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = BlendConfig
    uses_meta: ClassVar[bool] = False

    def __init__(self, config=None, scale: tuple[float, float] = (1.0, 5.0)):
        self.config = config if config is not None else self.Config()
        self.scale = scale

    def fit(self, X: np.ndarray, y: np.ndarray, F: np.ndarray | None = None) -> Blender:
        raise NotImplementedError

    def predict(self, X: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def report(self, names: list[str], meta_names: list[str]) -> dict:
        """Weights or importances of the fitted blender, by predictor name."""
        return {}

    def fresh(self) -> Blender:
        return type(self)(self.config, self.scale)

    def cross_validate(self, X, y, F, folds: np.ndarray) -> CVResult:
        """K fits, each on K-1 folds, predicting the held-out fold (the generic driver)."""
        K = int(folds.max()) + 1
        oof = np.empty(len(y))
        for k in range(K):
            test = folds == k
            model = self.fresh().fit(X[~test], y[~test], None if F is None else F[~test])
            oof[test] = model.predict(X[test], None if F is None else F[test])
        oof = clip(oof, self.scale)
        return CVResult(oof, rmse(oof, y), _fold_rmse(oof, y, folds), {})


def _fold_rmse(oof, y, folds) -> list[float]:
    return [rmse(oof[folds == k], y[folds == k]) for k in range(int(folds.max()) + 1)]
