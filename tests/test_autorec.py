"""The AutoRec family: the contract for I- and U-AutoRec, the sparse loss and its gradient
against a dense textbook implementation, Adam's step, exact resume from a checkpoint,
determinism, and the CLI (probe and final rounds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import make_toy_dataset, run_prize
from contract import PredictorContract, predictor, rmse
from planted import planted

from prize.errors import ConfigError
from prize.models import make_predictor
from prize.models.autorec.network import AutoRecNet, make_batch
from prize.models.epochs import load_checkpoint

#: Small and quick: the contract fits each model three times on 11,000 planted ratings.
SMALL = {"n_hidden": 16, "n_epochs": 10, "batch_size": 16, "threads": 1}


def autorec(config: str | None = None, **values):
    return predictor("autorec", config, **values)


# -- the contract ------------------------------------------------------------------------
class TestIAutoRec(PredictorContract):
    family, model, config, overrides = "autorec", "i-autorec", "default", SMALL
    margin = 0.2  # planted: 0.70 against the mean's 0.956


class TestUAutoRec(TestIAutoRec):
    model, config = "u-autorec", "user"


class TestPaperIAutoRec(TestIAutoRec):
    """The paper's model exactly: no biases under the output."""

    overrides = {**SMALL, "offset": "none", "n_epochs": 30}
    margin = 0.1


# -- the maths against a dense, obvious implementation ----------------------------------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def dense_loss_and_grads(R, M, T, P, lam_n):
    """J and its gradients for samples R (S × I, 0 where missing), mask M, targets T, by
    the textbook formulas on dense float64 matrices (V stored inputs × k, as the net)."""
    V, mu, W, b = (P[k].astype(np.float64) for k in ("V", "mu", "W", "b"))
    n = M.sum()
    h = sigmoid(R @ V + mu)
    out = h @ W.T + b
    E = M * (out - T)
    J = (E ** 2).sum() / n + 0.5 * lam_n * ((W ** 2).sum() + (V ** 2).sum())
    dout = 2 * E / n
    dW = dout.T @ h + lam_n * W
    db = dout.sum(0)
    dx = (dout @ W) * h * (1 - h)
    dV = R.T @ dx + lam_n * V
    dmu = dx.sum(0)
    return J, {"V": dV, "mu": dmu, "W": dW, "b": db}


def test_loss_and_gradient_match_the_dense_formulas():
    rng = np.random.default_rng(0)
    S, I, k = 7, 11, 5
    M = (rng.random((S, I)) < 0.4).astype(np.float64)
    M[3] = 0  # a sample with nothing observed
    R = M * rng.integers(1, 6, (S, I))
    T = M * rng.normal(0, 1, (S, I))
    net = AutoRecNet(I, k)
    net.init(rng, rng.normal(0, 0.1, I))
    net.params["W"].copy_(torch.from_numpy(rng.normal(0, 0.3, (I, k)).astype(np.float32)))
    P = {key: v.numpy().copy() for key, v in net.params.items()}
    # The CSR arrays of the samples, and a batch of all of them in a shuffled order.
    indptr = np.concatenate([[0], np.cumsum(M.sum(1))]).astype(np.int64)
    s, j = np.nonzero(M)
    inp, val, tgt = j.astype(np.int32), R[s, j].astype(np.float32), T[s, j].astype(np.float32)
    order = rng.permutation(S)
    batch = make_batch(order, indptr, inp, val, "cpu", tgt)
    lam_n = 0.3
    p = {key: v.detach().clone().requires_grad_(True) for key, v in net.params.items()}
    obj, sse = net.loss(batch, batch.target, lam_n, p)
    obj.backward()
    J, grads = dense_loss_and_grads(R, M, T, P, lam_n)
    assert float(obj.detach()) == pytest.approx(J, rel=1e-5)
    assert float(sse) == pytest.approx(((M * (sigmoid(R @ P["V"] + P["mu"]) @ P["W"].T
                                              + P["b"] - T)) ** 2).sum(), rel=1e-5)
    for key, g in grads.items():
        np.testing.assert_allclose(p[key].grad.numpy(), g, rtol=1e-4, atol=1e-6)

    # Adam's first step: m̂ = g and v̂ = g², so each parameter moves by lr·g/(|g| + ε).
    before = {key: v.clone() for key, v in net.params.items()}
    net.step(batch, batch.target, lam_n, lr=0.01)
    for key, g in grads.items():
        want = P[key] - 0.01 * g / (np.abs(g) + 1e-8)
        np.testing.assert_allclose(net.params[key].numpy(), want, rtol=1e-4, atol=1e-6)
        assert not torch.equal(net.params[key], before[key]) or not np.any(g)


def test_predictions_are_the_network_outputs():
    """A known pair's prediction is biases + W_u · σ(V r^(i) + μ) + b_u, computed densely."""
    train, probe = planted(n_users=80, n_items=40, n_per_user=(10, 30))
    model = autorec(None, **{**SMALL, "n_epochs": 3}).fit(train)
    P = {k: v.numpy().astype(np.float64) for k, v in model.net_.params.items()}
    R = np.zeros((train.n_items, train.n_users))
    R[train.item, train.user] = train.rating
    h = sigmoid(R @ P["V"] + P["mu"])
    out = h @ P["W"].T + P["b"]  # items × users
    u, i = probe.user, probe.item
    want = model.mu_ + model.b_user_[u] + model.b_item_[i] + out[i, u]
    np.testing.assert_allclose(model.predict(u, i), np.clip(want, 1, 5), atol=1e-4)


# -- training runs -----------------------------------------------------------------------
def test_resume_from_a_checkpoint_repeats_the_run_exactly(tmp_path):
    train, probe = planted()
    cfg = {**SMALL, "n_epochs": 8, "early_stopping": True, "patience": 100}
    whole = autorec(None, **cfg)
    whole.fit(train, probe=probe)

    cut = autorec(None, **cfg)
    run = cut.fit_epochs(train, probe=probe)
    for report in run:
        if report.epoch == 3:
            run.save_checkpoint(tmp_path / "ckpt.npz")
            break
    again = autorec(None, **cfg)
    run = again.fit_epochs(train, probe=probe)
    run.restore(load_checkpoint(tmp_path / "ckpt.npz"))
    reports = list(run)
    assert [r.epoch for r in reports] == list(range(4, 9))
    np.testing.assert_array_equal(again.predict(probe.user, probe.item),
                                  whole.predict(probe.user, probe.item))
    def scores(history):
        return [(h["epoch"], h["train_rmse"], h["probe_rmse"]) for h in history]

    assert scores(again.history_) == scores(whole.history_)


def test_seeds_differ_and_early_stopping_keeps_the_best_epoch():
    train, probe = planted()
    a = autorec(None, **SMALL, seed=1).fit(train, probe=probe)
    b = autorec(None, **SMALL).fit(train, probe=probe)
    assert not np.array_equal(a.predict(probe.user, probe.item),
                              b.predict(probe.user, probe.item))
    best = min(h["probe_rmse"] for h in b.history_)
    assert rmse(b.predict(probe.user, probe.item), probe.rating) == pytest.approx(best,
                                                                                 abs=1e-5)


def test_config_errors():
    for bad in ({"n_hidden": -1}, {"lam": -1.0}, {"lr_decay": 0.0}, {"batch_size": 0}):
        with pytest.raises((ValueError, ConfigError)):
            autorec(None, **bad)


def test_cuda_requested_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    train, _ = planted(n_users=50, n_items=30, n_per_user=(5, 20))
    with pytest.raises(ConfigError, match="cuda"):
        autorec(None, device="cuda").fit(train)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_and_predicts_like_the_cpu():
    train, probe = planted()
    cpu = autorec(None, **SMALL).fit(train, probe=probe)
    gpu = autorec(None, **{**SMALL, "device": "cuda"}).fit(train, probe=probe)
    assert gpu.net_.params["W"].is_cuda
    a, b = cpu.predict(probe.user, probe.item), gpu.predict(probe.user, probe.item)
    assert abs(rmse(a, probe.rating) - rmse(b, probe.rating)) < 0.01


# -- the CLI -----------------------------------------------------------------------------
def test_cli_probe_and_final_rounds(home):
    make_toy_dataset(home, n_users=200)
    sets = [f"--set={k}={json.dumps(v)}" for k, v in SMALL.items()]
    biases = run_prize("train", "baseline", "--data", "toy", "--config", "biases", "--json",
                       home=home, json_out=True)
    epochs = {}
    for config, name in ((None, "autorec"), ("user", "autorec-user")):
        extra = ["--config", config] if config else []
        probe = run_prize("train", "autorec", "--data", "toy", "--json", *extra, *sets,
                          home=home, json_out=True)
        assert probe["name"] == name and probe["round"] == "probe"
        assert probe["model"] == ("u-autorec" if config else "i-autorec")
        assert 1 <= probe["epochs"] <= SMALL["n_epochs"]
        # The toy data are biases plus noise: AutoRec has nothing more to find there, and
        # must not lose to the biases it starts from (measured: within 0.002).
        assert probe["probe_rmse"] <= biases["probe_rmse"] + 0.01, (probe, biases)
        epochs[name] = probe["epochs"]
    final = run_prize("train", "autorec", "--data", "toy", "--round", "final", "--json",
                      home=home, json_out=True)
    assert final["round"] == "final" and final["epochs"] == epochs["autorec"]
    assert final["name"] == "autorec" and final["config"]["n_hidden"] == SMALL["n_hidden"]


# -- MovieLens 100K (real data, slow) ----------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_i_autorec_on_ml100k_u1_final_round(tmp_path):
    """The default I-AutoRec, probe round (early stopping on a probe carved from u1.base by
    the latest-ratings rule) then the final round refit on all of u1.base for the best
    epoch count, scored on u1.test; the README's table, fold u1."""
    from conftest import ml100k_fold

    from prize.data import Split

    ds = ml100k_fold(tmp_path, 1)
    train, probe, test = (ds.ratings(s) for s in (Split.TRAIN, Split.PROBE, Split.TEST))
    model = autorec(None, threads=1).fit(train, probe=probe)
    final = autorec(None, threads=1, n_epochs=model.best_epoch_, early_stopping=False)
    final.fit(ds.ratings(Split.TRAIN | Split.PROBE))
    score = rmse(final.predict(test.user, test.item, test.day), test.rating)
    biases, _ = make_predictor("baseline", "biases")
    biases.fit(ds.ratings(Split.TRAIN | Split.PROBE))
    base = rmse(biases.predict(test.user, test.item, test.day), test.rating)
    print("u1.test: I-AutoRec", round(score, 4), "biases", round(base, 4))
    # measured 0.9009 (the biases 0.9599); slack 0.005
    assert score <= 0.9059, score
    assert score <= base - 0.05, (score, base)


# -- the default on any data: hidden units from the data, and the biases beaten ----------
#: The issue's bar for every family's default: quiz RMSE at least this far below the biases'.
MARGIN = 0.005


def test_hidden_units_follow_the_ratings_per_sample():
    from prize.models.autorec.model import hidden_units

    # The paper's 500 from 40 ratings per sample (MovieLens 100K u1: 43.7 per item; Netflix
    # 5,654 per movie), the cube below it, never under 20.
    assert hidden_units(40) == hidden_units(43.7) == hidden_units(5654) == 500
    assert hidden_units(27) == round(500 * (27 / 40) ** 3) == 154
    assert hidden_units(10.6) == hidden_units(0) == 20
    ks = [hidden_units(r) for r in np.linspace(0, 60, 61)]
    assert ks == sorted(ks)


def test_resolved_hidden_units_are_recorded_and_reused_by_the_final_round(tmp_path):
    """n_hidden = 0 resolves from the training ratings; the value goes to the probe store
    (``resolved``, beside the config as given) and the final round builds the same network
    even though its training set (train + probe) is larger."""
    from prize.data import open_dataset
    from prize.models.autorec.model import hidden_units
    from prize.probes import ProbeStore
    from prize.runs.single import train

    make_toy_dataset(tmp_path, n_users=120, n_items=80)  # ~30 ratings per item
    ds = open_dataset(tmp_path / "data" / "toy")
    store = ProbeStore(tmp_path / "probes")
    sets = ["n_epochs=2", "threads=1", "batch_size=16"]
    probe = train(ds, store, "autorec", overrides=sets, allow_worse=True)
    from prize.data import Split

    tr = ds.ratings(Split.TRAIN)
    want = hidden_units(len(tr) / len(np.unique(tr.item)))
    assert 20 <= want < 500
    assert probe.config["n_hidden"] == 0 and probe.extra["resolved"] == {"n_hidden": want}
    final = train(ds, store, "autorec", overrides=sets, round_="final", save_model=True)
    assert final.config == probe.config and final.extra["resolved"] == {"n_hidden": want}
    both = ds.ratings(Split.TRAIN | Split.PROBE)
    assert hidden_units(len(both) / len(np.unique(both.item))) != want  # the data alone differ
    shown = run_prize("probes", "show", "--data", "toy", "autorec", "--json",
                      home=tmp_path, json_out=True)
    assert shown["resolved"] == {"n_hidden": want}

    # The final round's network has the probe round's hidden units, not train+probe's.
    from prize.models import persist

    kept, _ = persist.load(store.model_path(ds, "autorec"))
    assert kept.n_hidden_ == want and kept.net_.params["W"].shape[1] == want


def _default_against_biases(ds, store) -> tuple[float, float, dict]:
    from prize.runs.single import train

    biases = train(ds, store, "baseline", config="biases", name="biases")
    rec = train(ds, store, "autorec", overrides=["threads=1"], allow_worse=True)
    return rec.quiz_rmse, biases.quiz_rmse, rec.extra.get("resolved")


def test_default_beats_the_biases_on_tiny(tmp_path):
    """The synthetic tiny preset (seed 0; 171 training ratings per item, so 500 units)."""
    from prize.data import open_dataset
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate
    from prize.probes import ProbeStore

    generate(tmp_path / "raw", preset="tiny", seed=0, overwrite=True)
    import_netflix(tmp_path / "raw", tmp_path / "data" / "tiny", name="tiny")
    ds = open_dataset(tmp_path / "data" / "tiny")
    quiz, biases, resolved = _default_against_biases(ds, ProbeStore(tmp_path / "probes"))
    # measured: quiz 0.9726 against the biases' 0.9928 (gain 0.020); slack 0.015
    assert resolved == {"n_hidden": 500}
    assert quiz <= biases - MARGIN, (quiz, biases)


@pytest.mark.realdata
@pytest.mark.slow
def test_default_beats_the_biases_on_a_20k_ml100k_subsample(tmp_path):
    """20,000 ratings of MovieLens 100K drawn uniformly (seed 0), imported as a CSV file with
    the Netflix protocol: 14,361 training ratings, 10.6 per item, so 20 hidden units. The
    sparsest set the default is asked to hold on; 500 units lost to the biases there
    (quiz 1.0274 against 1.0189), whatever λ (300-30,000: at best 1.0147)."""
    from conftest import shared_path

    from prize.data import open_dataset
    from prize.data.csv import import_csv
    from prize.probes import ProbeStore

    rows = np.loadtxt(shared_path("ml-100k", "u.data"), dtype=np.int64)
    keep = np.sort(np.random.default_rng(0).choice(len(rows), 20_000, replace=False))
    np.savetxt(tmp_path / "sub.tsv", rows[keep], fmt="%d", delimiter="\t")
    import_csv(tmp_path / "sub.tsv", tmp_path / "data" / "sub20k", name="sub20k", sep="\t")
    ds = open_dataset(tmp_path / "data" / "sub20k")
    quiz, biases, resolved = _default_against_biases(ds, ProbeStore(tmp_path / "probes"))
    print("sub20k quiz: I-AutoRec", round(quiz, 4), "biases", round(biases, 4), resolved)
    # measured: quiz 1.0136 against the biases' 1.0189 (gain 0.0053, 20 units): the bar
    # holds with 0.0003 to spare, no more -- at 20,000 ratings no AutoRec setting we tried
    # gained more than 0.0055
    assert resolved == {"n_hidden": 20}
    assert quiz <= biases - MARGIN, (quiz, biases)
