"""Tests of the shared core: data model, devices, seeding, networks, training loop."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from sklss._data import (
    check_lagtime,
    check_trajectories,
    lagged_pairs,
    mirror,
)
from sklss._torch import (
    TorchEstimatorMixin,
    as_tensor,
    check_hidden_layer_sizes,
    make_mlp,
    resolve_device,
    seed_from_random_state,
    seeded,
    torch_generator,
)
from sklss._training import train, train_validation_split
from sklss.exceptions import InconsistentVersionWarning, TrainingDivergedError
from sklss.model_selection import split_trajectory


class _Holder:
    pass


# --- data model -------------------------------------------------------------------


def test_single_array_and_list_are_recognised():
    X = np.arange(12.0).reshape(6, 2)
    t = check_trajectories(_Holder(), X, reset=True)
    assert not t.is_list and len(t) == 1
    t = check_trajectories(_Holder(), [X, X[:3]], reset=True)
    assert t.is_list and t.lengths == [6, 3]
    t = check_trajectories(_Holder(), (X,), reset=True)
    assert t.is_list
    # A list of lists is one 2-D array (scikit-learn's checks pass those).
    t = check_trajectories(_Holder(), [[1.0, 2.0], [3.0, 4.0]], reset=True)
    assert not t.is_list and t[0].shape == (2, 2)


def test_dtype_preserved_and_ints_become_float64():
    est = _Holder()
    X32 = np.ones((4, 2), dtype=np.float32)
    assert check_trajectories(est, X32, reset=True)[0].dtype == np.float32
    assert check_trajectories(est, np.ones((4, 2)), reset=True)[0].dtype == np.float64
    Xi = np.ones((4, 2), dtype=np.int32)
    assert check_trajectories(est, Xi, reset=True)[0].dtype == np.float64


def test_user_data_is_not_copied_or_modified():
    X = np.random.default_rng(0).normal(size=(10, 3))
    before = X.copy()
    t = check_trajectories(_Holder(), X, reset=True)
    assert np.shares_memory(t[0], X)  # no needless copy
    lagged_pairs(t, 2)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        ([], ValueError, "X is an empty list"),
        ((), ValueError, "X is an empty tuple"),
        (np.zeros(5), ValueError, "Expected 2D array, got 1D array"),
        (np.zeros((2, 3, 4)), ValueError, r"got an array of shape \(2, 3, 4\)"),
        ([np.zeros((3, 2)), np.zeros(3)], TypeError, "element 1"),
        ([np.zeros((3, 2)), np.zeros((3, 3))], ValueError, r"widths \[2, 3\]"),
        (np.array([[np.nan, 1.0]]), ValueError, "Input X contains NaN"),
        (np.array([[np.inf, 1.0]]), ValueError, "Input X contains infinity"),
        ([np.zeros((3, 2)), np.array([[np.nan, 1.0]])], ValueError, r"X\[1\]"),
        (np.zeros((0, 3)), ValueError, "0 sample"),
    ],
)
def test_bad_input_is_named(bad, exc, match):
    with pytest.raises(exc, match=match):
        check_trajectories(_Holder(), bad, reset=True)


def test_argument_name_appears_in_errors():
    with pytest.raises(ValueError, match="Input Z contains NaN"):
        check_trajectories(_Holder(), np.array([[np.nan]]), reset=True, name="Z")
    with pytest.raises(ValueError, match="Z is an empty list"):
        check_trajectories(_Holder(), [], reset=True, name="Z")


def test_feature_count_checked_after_fit():
    est = _Holder()
    check_trajectories(est, np.zeros((5, 3)), reset=True)
    assert est.n_features_in_ == 3
    with pytest.raises(
        ValueError, match="X has 2 features, but _Holder is expecting 3"
    ):
        check_trajectories(est, np.zeros((5, 2)), reset=False)
    with pytest.raises(ValueError, match="X has 2 features"):
        check_trajectories(est, [np.zeros((5, 2))], reset=False)


def test_lagged_pairs_stay_within_trajectories():
    a = np.arange(5.0)[:, None]
    b = 100 + np.arange(4.0)[:, None]
    X0, X1 = lagged_pairs([a, b], 2)
    # Every pair advances by exactly the lag: none jumps from a into b.
    np.testing.assert_array_equal(X1 - X0, 2.0)
    assert len(X0) == (5 - 2) + (4 - 2)


def test_short_trajectories_skipped_with_warning_then_error():
    a, short = np.zeros((10, 1)), np.zeros((2, 1))
    with pytest.warns(UserWarning, match="1 of 2 trajectories in X are shorter"):
        X0, _ = lagged_pairs([a, short], 3)
    assert len(X0) == 7
    with pytest.raises(ValueError, match="no trajectory with at least lagtime"):
        lagged_pairs([short], 3)


def test_lagged_pairs_keep_float32():
    X0, X1 = lagged_pairs([np.zeros((4, 2), np.float32)], 1)
    assert X0.dtype == X1.dtype == np.float32


@pytest.mark.parametrize(
    "lag, exc",
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("2", TypeError),
    ],
)
def test_check_lagtime(lag, exc):
    with pytest.raises(exc, match="lagtime"):
        check_lagtime(lag)


def test_mirror_follows_input():
    X = np.zeros((3, 1))
    out = [np.ones(3)]
    assert (
        mirror(out, check_trajectories(None, X, reset=True, n_features_attr=None))
        is out[0]
    )
    res = mirror(out, check_trajectories(None, [X], reset=True, n_features_attr=None))
    assert isinstance(res, list) and res[0] is out[0]


def test_split_trajectory():
    X = np.arange(20.0).reshape(10, 2)
    parts = split_trajectory(X, 3)
    assert [len(p) for p in parts] == [4, 3, 3]
    np.testing.assert_array_equal(np.concatenate(parts), X)
    with pytest.raises(ValueError, match="n_segments must be in"):
        split_trajectory(X, 11)
    with pytest.raises(TypeError, match="single trajectory"):
        split_trajectory([X, X], 2)


# --- torch plumbing ---------------------------------------------------------------


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="device must be a string"):
        resolve_device(0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' was requested but CUDA"):
            resolve_device("cuda")


def test_seeding_is_reproducible_and_leaves_global_rng_alone():
    assert seed_from_random_state(3) == seed_from_random_state(3)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(seed_from_random_state(0)):
        a = make_mlp(3, (8,), 2)
    with seeded(seed_from_random_state(0)):
        b = make_mlp(3, (8,), 2)
    torch.testing.assert_close(torch.rand(3), expected)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    g1, g2 = torch_generator(5), torch_generator(5)
    torch.testing.assert_close(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_make_mlp_structure():
    net = make_mlp(
        4, (10, 6), 2, activation="tanh", batch_norm=True, output_activation="sigmoid"
    )
    kinds = [type(m).__name__ for m in net]
    assert kinds == [
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Linear",
        "Sigmoid",
    ]
    assert [type(m).__name__ for m in make_mlp(4, (), 2)] == ["Linear"]


@pytest.mark.parametrize("bad", [(0,), (3, -1), (2.5,), "abc", None])
def test_check_hidden_layer_sizes(bad):
    with pytest.raises((ValueError, TypeError), match="hidden_layer_sizes"):
        check_hidden_layer_sizes(bad)
    assert check_hidden_layer_sizes([3, 4]) == (3, 4)
    assert check_hidden_layer_sizes(5) == (5,)
    assert check_hidden_layer_sizes(()) == ()


def test_as_tensor_copies_read_only_arrays():
    X = np.ones((3, 2), dtype=np.float32)
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = as_tensor(X, "cpu")
    t += 1
    assert X[0, 0] == 1.0


class _TorchThing(TorchEstimatorMixin, BaseEstimator):
    def __init__(self, width=3):
        self.width = width


def test_pickle_round_trip_moves_torch_state():
    est = _TorchThing()
    est.device_ = "cpu"
    est.module_ = make_mlp(3, (4,), 1)
    est.scale_ = torch.ones(3)
    clone = pickle.loads(pickle.dumps(est))
    x = torch.randn(5, 3)
    torch.testing.assert_close(clone.module_(x), est.module_(x))
    torch.testing.assert_close(clone.scale_, est.scale_)
    assert clone.device_ == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_model_fitted_on_gpu_loads_on_cpu_with_warning():
    est = _TorchThing()
    est.module_ = make_mlp(3, (4,), 1)
    state = est.__getstate__()
    state["device_"] = "cuda"  # as saved from a GPU machine (tensors are CPU copies)
    clone = _TorchThing.__new__(_TorchThing)
    with pytest.warns(UserWarning, match="fitted on 'cuda'.*loaded onto the CPU"):
        clone.__setstate__(state)
    assert clone.device_ == "cpu"
    assert next(clone.module_.parameters()).device.type == "cpu"


def test_version_mismatch_warns():
    est = _TorchThing()
    state = est.__getstate__()
    state["_sklss_version"] = "0.0.0-old"
    clone = _TorchThing.__new__(_TorchThing)
    with pytest.warns(InconsistentVersionWarning, match="saved with sklss 0.0.0-old"):
        clone.__setstate__(state)


# --- training loop ----------------------------------------------------------------


def _regression_problem(seed=0, n=400):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:]
    return x, y


def _fit(max_epochs=200, lr=1e-2, validation=True, n_iter_no_change=5, seed=0):
    x, y = _regression_problem()
    with seeded(seed):
        net = make_mlp(2, (16,), 1, activation="tanh")
    gen = torch_generator(seed)
    tr, va = train_validation_split(len(x), 0.2 if validation else 0.0, gen)
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def step(idx):
        i = tr[idx]
        loss = ((net(x[i]) - y[i]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    def validate():
        with torch.no_grad():
            return ((net(x[va]) - y[va]) ** 2).mean().item()

    history, converged = train(
        modules={"net": net},
        step=step,
        n_samples=len(tr),
        batch_size=64,
        max_epochs=max_epochs,
        generator=gen,
        validate=validate if va is not None else None,
        n_iter_no_change=n_iter_no_change,
    )
    return net, history, converged, validate if va is not None else None


def test_training_learns_stops_early_and_restores_best():
    net, history, converged, validate = _fit()
    assert converged and len(history) < 200
    val = [h["val_loss"] for h in history]
    assert val[-1] < val[0] / 3  # it learned
    # The best weights are restored, not the last epoch's.
    assert validate() == pytest.approx(min(val), rel=1e-5)
    assert {"epoch", "loss", "val_loss", "duration"} <= set(history[0])


def test_training_is_reproducible():
    a = _fit(max_epochs=15, n_iter_no_change=100)
    b = _fit(max_epochs=15, n_iter_no_change=100)
    for pa, pb in zip(a[0].parameters(), b[0].parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_convergence_warning_when_max_epochs_runs_out():
    with pytest.warns(ConvergenceWarning, match="max_epochs=3 reached"):
        _, history, converged, _ = _fit(max_epochs=3)
    assert not converged and len(history) == 3


def test_no_validation_split_uses_training_loss():
    _, history, _, _ = _fit(max_epochs=5, validation=False, n_iter_no_change=100)
    assert "val_loss" not in history[0]


def test_validation_split_sizes():
    g = torch_generator(0)
    tr, va = train_validation_split(100, 0.1, g)
    assert len(tr) == 90 and len(va) == 10
    assert set(tr.tolist()).isdisjoint(va.tolist())
    tr, va = train_validation_split(5, 0.1, g)
    assert va is None and len(tr) == 5


def test_divergence_raises_and_keeps_last_good_weights():
    net = make_mlp(1, (), 1)
    initial = [p.detach().clone() for p in net.parameters()]
    calls = {"n": 0}

    def step(idx):
        calls["n"] += 1
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)
        # Finite for two epochs (one batch each), then NaN.
        return {"loss": float("nan") if calls["n"] > 2 else 1.0 / calls["n"]}

    with pytest.raises(
        TrainingDivergedError, match=r"loss became nan .* in epoch 3"
    ) as info:
        train(
            modules={"net": net},
            step=step,
            n_samples=4,
            batch_size=4,
            max_epochs=10,
            generator=torch_generator(0),
        )
    # The learning curve up to the diverging epoch travels with the exception.
    assert [h["epoch"] for h in info.value.history] == [1, 2, 3]
    assert info.value.history[1]["loss"] == 0.5
    # The weights after epoch 2 are kept: the NaN epoch's update is undone.
    for p, p0 in zip(net.parameters(), initial, strict=True):
        torch.testing.assert_close(p, p0 + 2.0)
