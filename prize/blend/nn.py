r"""A small neural-network blender (BigChaos style), in PyTorch on the CPU.

BigChaos blended with neural networks (Töscher & Jahrer 2008; Töscher, Jahrer & Bell
2009): one or two small hidden layers over the predictions and a few meta-features,
trained by stochastic gradient descent on the probe set. Here

.. math:: \hat r = \bar y + w^T z + W_2\, \tanh(W_1 z + b_1) + b_2,

where :math:`z` holds the centred predictions and the standardized meta-features; the
linear skip term :math:`w^T z` makes the network start from (and fall back to) a linear
blend, the hidden layer adds the interactions. Trained with Adam on the squared error,
mini-batches, weight decay, seeded.

The network starts as a ridge blend of the predictions (the skip term set to the linear
blender's fit, its penalty chosen by a 5-fold CV over the training rows; the meta-features' skip
weights and the hidden layer's output start at zero). Early stopping never looks at the
CV's held-out fold (that would leak it): a seeded ``holdout`` share of the rows being
fitted is set aside, and the trained weights replace the ridge start only where their
hold-out gain over it is clear (``min_gain_se`` standard errors of the paired per-row
gain). A network that learns nothing is therefore the ridge blend, not a worse one: on
the MovieLens sets of a few thousand probe rows it had tied or lost to the linear blend
(the 50k-rating subsample: CV 0.9685, level with its best single predictor; now 0.9656).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prize.blend.base import BlendConfig, Blender, clip
from prize.blend.features import META, standardize


@dataclass(frozen=True)
class NNConfig(BlendConfig):
    """MLP blender settings."""

    hidden: tuple[int, ...] = (32,)
    # Sizes of the hidden layers (tanh units); () is a linear blend trained by SGD.
    epochs: int = 10
    # Passes over the training folds...
    min_steps: int = 2000
    # ...or more, until this many Adam steps were taken (small probe sets need more
    # passes than Netflix's 1.4M rows).
    batch_size: int = 2048
    # Rows per Adam step.
    learning_rate: float = 0.003
    # Adam step size.
    weight_decay: float = 1e-5
    # L2 penalty (AdamW's decoupled decay).
    meta: tuple[str, ...] = META
    # Meta-features given to the network beside the predictions.
    holdout: float = 0.1
    # Fraction of the fitting rows held out to pick the best epoch (early stopping): the
    # network keeps the weights of its best held-out RMSE. 0: no hold-out, every step
    # counts (on a few thousand probe rows 2,000 steps then overfit: CV 0.955 against the
    # best single's 0.951 on the tiny preset).
    patience_steps: int = 300
    # With a hold-out: stop after this many Adam steps without a better held-out RMSE.
    min_gain_se: float = 2.0
    # The trained network replaces its ridge start only where its hold-out gain over it
    # exceeds this many standard errors of the paired per-row gain. With 0, any gain on
    # the hold-out counts; on a few thousand probe rows the hold-out is a few hundred
    # rows and its best step is mostly noise (the 50k-rating MovieLens subsample: CV
    # 0.9669 against the ridge start's 0.9654).
    threads: int = 1
    # torch CPU threads (0: torch's default). One is fastest for batches this small, and
    # spares the cores other jobs use.

    def __post_init__(self):
        super().__post_init__()
        if self.epochs < 1 or self.batch_size < 1 or any(h < 1 for h in self.hidden):
            raise ValueError("need epochs >= 1, batch_size >= 1 and positive hidden sizes")
        if not 0.0 <= self.holdout < 0.5 or self.patience_steps < 1 or self.min_gain_se < 0:
            raise ValueError("need 0 <= holdout < 0.5, patience_steps >= 1 and "
                             "min_gain_se >= 0")
        unknown = [m for m in self.meta if m not in META]
        if unknown:
            raise ValueError(f"unknown meta-feature {unknown[0]!r}; known: {', '.join(META)}")


def _network(n_in: int, hidden: tuple[int, ...]):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.skip = torch.nn.Linear(n_in, 1)
            layers, width = [], n_in
            for h in hidden:
                layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
                width = h
            self.mlp = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)) if hidden \
                else None
            torch.nn.init.constant_(self.skip.weight, 0.0)  # start from the mean...
            torch.nn.init.zeros_(self.skip.bias)
            if self.mlp is not None:  # ...and as a linear blend
                torch.nn.init.zeros_(self.mlp[-1].weight)
                torch.nn.init.zeros_(self.mlp[-1].bias)

        def forward(self, z):
            out = self.skip(z)
            if self.mlp is not None:
                out = out + self.mlp(z)
            return out[:, 0]

    return Net()


RIDGE_FOLDS = 5
# Folds of the CV that picks the ridge start's penalty.


def _ridge_start(net, z, t, n_pred: int) -> float:
    """Set the skip term to a ridge blend of the training rows, the network's start.

    The blend is :class:`prize.blend.ridge.LinearBlender`'s on the standardized
    predictions, its penalty chosen by a ``RIDGE_FOLDS``-fold CV over the same rows.
    Started from the mean, the skip term had to be found by Adam within the early-stopping
    budget; on the 50k-rating MovieLens subsample (2,562 probe rows) the network then
    tied its best single predictor (CV margin 1e-7) where the linear blend beat it by
    0.003.
    """
    import torch

    from prize.blend.ridge import LinearBlender, LinearConfig

    x = z[:, :n_pred].double().numpy()
    lin = LinearBlender(LinearConfig(n_folds=RIDGE_FOLDS), scale=(-np.inf, np.inf))
    lin.fit(x, t.double().numpy())
    w = lin.w_g_  # r̂ = y_mean + w_0 + (x - shift) · w_1..
    with torch.no_grad():
        net.skip.weight.zero_()
        net.skip.weight[0, :n_pred] = torch.from_numpy(w[1:].astype(np.float32))
        net.skip.bias.fill_(float(lin.y_mean_ + w[0] - lin.shift_ @ w[1:]))
    return float(lin.lam_g_)


class NNBlender(Blender):
    name = "nn"
    Config = NNConfig
    uses_meta = True

    def _inputs(self, X, F, fitting: bool) -> np.ndarray:
        x = np.asarray(X, np.float64)
        if fitting:
            self.x_mean_ = x.mean(axis=0)
            self.x_sd_ = float(max(x.std(), 1e-6))
        parts = [(x - self.x_mean_) / self.x_sd_]
        cols = [META.index(m) for m in self.config.meta]
        if cols and F is not None:
            m, self.meta_stats_ = standardize(F[:, cols], None if fitting else
                                              self.meta_stats_)
            parts.append(m)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def fit(self, X, y, F=None):
        import torch

        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)
        torch.manual_seed(c.seed)
        z = torch.from_numpy(self._inputs(X, F, fitting=True))
        y = np.asarray(y, np.float64)
        self.y_mean_ = float(y.mean())
        t = torch.from_numpy((y - self.y_mean_).astype(np.float32))
        net = _network(z.shape[1], tuple(c.hidden))
        opt = torch.optim.AdamW(net.parameters(), lr=c.learning_rate,
                                weight_decay=c.weight_decay)
        gen = torch.Generator().manual_seed(c.seed)
        n_all = len(t)
        n_val = int(round(c.holdout * n_all)) if n_all >= 20 else 0
        z_val = t_val = None
        if n_val:  # a seeded hold-out for early stopping; the rest trains
            split = torch.randperm(n_all, generator=gen)
            z_val, t_val = z[split[:n_val]], t[split[:n_val]]
            z, t = z[split[n_val:]], t[split[n_val:]]
        n = len(t)
        self.ridge_lambda_ = _ridge_start(net, z, t, np.shape(X)[1])
        self.history_ = []
        self.val_history_ = []
        best, best_state, best_step, step = np.inf, None, 0, 0
        kept = np.inf
        self.trained_kept_ = not n_val  # without a hold-out the last step is kept
        if n_val:  # the ridge start is step 0: training keeps only what clearly beats it
            with torch.no_grad():
                e0 = ((net(z_val) - t_val) ** 2).double().numpy()
            best = kept = float(np.sqrt(e0.mean()))
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        steps_per_epoch = -(-n // c.batch_size)
        for _ in range(max(c.epochs, -(-c.min_steps // steps_per_epoch))):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for lo in range(0, n, c.batch_size):
                b = perm[lo:lo + c.batch_size]
                opt.zero_grad()
                loss = torch.mean((net(z[b]) - t[b]) ** 2)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
                step += 1
            if not np.isfinite(total):
                raise ValueError("the NN blender diverged (NaN loss): lower learning_rate")
            self.history_.append(float(np.sqrt(total / n)))
            if n_val:
                with torch.no_grad():
                    e = ((net(z_val) - t_val) ** 2).double().numpy()
                val = float(np.sqrt(e.mean()))
                self.val_history_.append(val)
                gain = e0 - e  # paired with the ridge start, row by row
                clear = gain.mean() > c.min_gain_se * gain.std() / np.sqrt(n_val)
                if clear and val < kept:
                    kept, self.trained_kept_ = val, True
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                if val < best:
                    best, best_step = val, step
                elif step - best_step >= c.patience_steps:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.net_ = net.eval()
        return self

    def predict(self, X, F=None):
        import torch

        z = torch.from_numpy(self._inputs(X, F, fitting=False))
        out = np.empty(len(z))
        with torch.no_grad():
            for lo in range(0, len(z), 1 << 16):
                out[lo:lo + (1 << 16)] = self.net_(z[lo:lo + (1 << 16)]).numpy()
        return clip(out + self.y_mean_, self.scale)

    def report(self, names, meta_names):
        w = self.net_.skip.weight.detach().numpy()[0]
        return {"skip_weights": {n: float(w[j] / self.x_sd_) for j, n in enumerate(names)},
                "ridge_lambda": self.ridge_lambda_, "trained_kept": self.trained_kept_,
                "train_rmse_per_epoch": self.history_,
                "holdout_rmse_per_epoch": self.val_history_}
