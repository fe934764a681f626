"""Figures of sklss.plotting draw what the analysis results hold."""

import matplotlib
import numpy as np
import pytest

from sklss import analysis, plotting

matplotlib.use("Agg")


@pytest.fixture
def axes():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4)
    yield axes
    plt.close(fig)


def test_profiles_and_autocorrelations_draw_the_results(ar1, axes):
    rng = np.random.default_rng(13)
    x = ar1(5000, 0.9, rng, n_features=2)
    profile = analysis.free_energy_profile(x, bins=20)
    ax = plotting.plot_free_energy_profile(
        profile, profile, labels=["MD", "LSS"], ax=axes[0, 0]
    )
    assert ax is axes[0, 0] and len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), profile.free_energy)

    scales = analysis.relaxation_times(x, max_lag=30)
    ax = plotting.plot_autocorrelation(scales, labels=["MD"], dt=2.0, ax=axes[0, 1])
    assert ax is axes[0, 1] and len(ax.lines) == 4  # C and its fit per column
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), 2.0 * scales.lags)
    np.testing.assert_allclose(
        ax.lines[1].get_ydata(), np.exp(-scales.lags / scales.timescales[0])
    )
    assert ax.lines[2].get_label() == "MD ψ2"


def test_other_figures_draw_on_given_axes(ar1, axes):
    rng = np.random.default_rng(14)
    x = ar1(5000, 0.9, rng, n_features=2)
    tica = analysis.tica_comparison(x, x[::-1], lagtime=2, bins=10)
    out = plotting.plot_tica_comparison(tica, axes=axes[0, 2:])
    assert out[0] is axes[0, 2] and axes[0, 2].get_title() == "MD"
    plotting.plot_distributions(x[:, 0], [x[:10, 1], x[10:, 1]], ax=axes[1, 0])
    assert len(axes[1, 0].patches) == 2
    result = analysis.count_transitions(x[:, :1], [(-9, -1), (1, 9)])
    plotting.plot_transitions(x[:, 0], result.core_trajectories, ax=axes[1, 1])
    with pytest.raises(ValueError, match="same length"):
        plotting.plot_transitions(x[:5, 0], result.core_trajectories)
    angles = rng.uniform(-np.pi, np.pi, size=(500, 2))
    surface = analysis.ramachandran_free_energy(angles)
    plotting.plot_ramachandran(surface, title="MD", ax=axes[1, 2])
    assert axes[1, 2].get_title() == "MD"


def test_a_new_figure_without_axes():
    import matplotlib.pyplot as plt

    profile = analysis.free_energy_profile(np.arange(100.0)[:, None], bins=5)
    ax = plotting.plot_free_energy_profile(profile)
    assert ax.figure is not None
    plt.close(ax.figure)


def test_ensemble_estimates_draw_bands_or_error_bars(axes):
    rng = np.random.default_rng(0)
    runs = [rng.normal(loc=0.1 * k, size=(600, 1)) for k in range(4)]
    profile = analysis.ensemble_estimate(
        lambda t: np.quantile(np.concatenate(t), np.linspace(0.05, 0.95, 15)), runs
    )
    ax = plotting.plot_ensemble_estimate(profile, label="LSS", ax=axes[0, 0])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), profile.value)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(profile.low.min())
    assert band.max() == pytest.approx(profile.high.max())
    few = analysis.ensemble_estimate(lambda t: np.concatenate(t).mean(), runs)
    ax = plotting.plot_ensemble_estimate(few, truth=0.15, ax=axes[0, 1])
    assert len(ax.containers) == 1  # the error bar
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% interval (4 models)" in texts and "truth" in texts


def test_four_well_figure_draws_both_runs_on_one_scale():
    import warnings

    import matplotlib.pyplot as plt

    from sklss import MDNPropagator
    from sklss.datasets import compare_four_well, make_four_well

    X = make_four_well(200_000, stride=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdn = MDNPropagator(n_kernels=4, max_epochs=5, random_state=0).fit(X)
    generated = mdn.sample(X[0], len(X), random_state=0)
    comparison = compare_four_well(X, generated, n_timescales=2)
    fig = plotting.plot_four_well(comparison, X, generated, mdn, stride=100)
    try:
        by_title = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
        assert sorted(by_title) == [
            "(a) stationary distribution",
            "(b) Brownian dynamics",
            "(c) learned p(x' | x), lag 100 steps",
            "(d) MSM time scales (lag 100 steps)",
            "(e) MDN, one frame per lag",
            "(f) exact p(x' | x), lag 100 steps",
        ]
        assert len(fig.axes) == 8  # and the two colour bars
        bd_ax = by_title["(b) Brownian dynamics"]
        mdn_ax = by_title["(e) MDN, one frame per lag"]
        # Both trajectories unshifted, on one shared scale.
        np.testing.assert_array_equal(bd_ax.lines[0].get_ydata(), X[:1000, 0])
        np.testing.assert_array_equal(mdn_ax.lines[0].get_ydata(), generated[:1000, 0])
        assert bd_ax.get_ylim() == mdn_ax.get_ylim()
        learned = by_title["(c) learned p(x' | x), lag 100 steps"].images[0]
        exact = by_title["(f) exact p(x' | x), lag 100 steps"].images[0]
        assert learned.get_clim() == exact.get_clim()
        # The time scales on the figure are the comparison's, in steps.
        bars = by_title["(d) MSM time scales (lag 100 steps)"].patches
        heights = [p.get_height() for p in bars]
        np.testing.assert_allclose(
            heights,
            np.concatenate(
                [comparison.timescales_reference, comparison.timescales_generated]
            )
            * 100,
        )
    finally:
        plt.close(fig)
