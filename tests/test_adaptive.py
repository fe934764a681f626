"""Adaptive sampling: the strategies on latent data with known answers, the loop
with OpenMM and tiny networks, resuming from disk, arguments and the command line."""

import argparse
import json
import warnings

import mdtraj as md
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklss import (
    LatentSpaceSimulator,
    MDNPropagator,
    SimulatorEnsemble,
    SRVTransformer,
)
from sklss.adaptive import (
    AdaptiveSampler,
    add_cli_parser,
    disagreement_starts,
    least_counts_starts,
    lss_starts,
    run_cli,
)
from sklss.md import OpenMMEngine, alanine_dipeptide_structure

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# -- strategies on synthetic latent coordinates ------------------------------------


def test_least_counts_picks_the_rarest_bins_first():
    z = np.r_[np.zeros(100), np.full(10, 0.5), [1.0]][:, None]
    result = least_counts_starts(z, 3, n_bins=4, random_state=0)
    np.testing.assert_array_equal(result.scores, [1, 10, 100])
    assert result.frames[0] == 110
    assert 100 <= result.frames[1] < 110 and result.frames[2] < 100
    np.testing.assert_array_equal(result.bins[:, 0], [3, 2, 0])
    assert result.md_counts.sum() == 111 and result.score_name == "MD frames in the bin"


def test_least_counts_in_two_dimensions_with_trajectories():
    rng = np.random.default_rng(0)
    common = rng.uniform(0, 0.5, size=(500, 3))
    rare = np.array([[0.95, 0.95, 0.0]])
    latent = [common[:300], np.r_[common[300:], rare]]
    result = least_counts_starts(latent, 1, n_bins=4, random_state=0)
    np.testing.assert_array_equal(result.starts, [[1, 200]])
    np.testing.assert_array_equal(result.bins, [[3, 3]])
    # Cycling: more starts than populated bins, never the same frame twice while
    # the bin has others.
    many = least_counts_starts(common[:20], 40, n_bins=1, random_state=0)
    assert len(set(many.frames[:20].tolist())) == 20


def test_least_counts_is_reproducible_and_breaks_ties_at_random():
    z = np.linspace(0, 1, 200)[:, None]
    a = least_counts_starts(z, 5, n_bins=10, random_state=1)
    b = least_counts_starts(z, 5, n_bins=10, random_state=1)
    np.testing.assert_array_equal(a.frames, b.frames)
    picks = {
        tuple(least_counts_starts(z, 2, n_bins=10, random_state=s).bins[:, 0])
        for s in range(10)
    }
    assert len(picks) > 1


def test_lss_starts_nearest_the_region_only_the_simulator_visits():
    rng = np.random.default_rng(0)
    md_latent = rng.uniform(0, 1, size=(2000, 2))
    target = np.array([1.3, 1.3])
    excursion = target + rng.normal(0, 0.01, size=(500, 2))
    generated = np.r_[rng.uniform(0, 1, size=(5000, 2)), excursion]
    result = lss_starts(md_latent, generated, 3, n_bins=10, random_state=0)
    nearest = np.argsort(np.linalg.norm(md_latent - excursion.mean(axis=0), axis=1))
    assert result.frames[0] == nearest[0]
    np.testing.assert_allclose(result.bin_centres[0], target, atol=0.1)
    assert result.scores[0] > 10 * result.scores[1]
    assert np.all(np.diff(result.scores) <= 0)
    assert result.generated_counts.sum() > 5000 and result.md_counts.sum() == 2000
    # One region to go to and three starts: its three nearest frames.
    only = lss_starts(md_latent, excursion, 3, n_bins=10, random_state=0)
    np.testing.assert_array_equal(only.frames, nearest[:3])


def test_lss_prefers_undersampled_over_well_sampled_regions():
    rng = np.random.default_rng(1)
    # The MD sat in the left half; the simulator spreads evenly over both halves.
    md_latent = np.r_[
        rng.uniform([0, 0], [0.5, 1], (3000, 2)), [[0.9, 0.5], [0.8, 0.2]]
    ]
    generated = rng.uniform(0, 1, size=(20_000, 2))
    result = lss_starts(md_latent, generated[None], 4, n_bins=6, random_state=0)
    # The right half is where the MD must go; it starts from the frames nearest
    # to it: the two frames already there, or the edge of the sampled half.
    assert np.all(result.bin_centres[:, 0] > 0.5)
    assert np.all(md_latent[result.frames, 0] > 0.45)
    assert result.score_name == "generated / MD occupancy ratio"


def test_lss_min_count_ignores_single_excursions():
    rng = np.random.default_rng(2)
    md_latent = rng.uniform(0, 1, size=(1000, 1))
    generated = np.r_[rng.uniform(0, 1, size=(5000, 1)), np.full((20, 1), 3.0)]
    strict = lss_starts(md_latent, generated, 1, n_bins=10, min_count=25)
    assert strict.bin_centres[0, 0] < 1.5
    loose = lss_starts(md_latent, generated, 1, n_bins=10, min_count=5)
    assert loose.bin_centres[0, 0] > 2.5


def test_disagreement_starts_where_the_models_differ():
    rng = np.random.default_rng(0)
    md_latent = rng.uniform(0, 1, size=(2000, 2))
    agree_everywhere = rng.uniform(0, 1, size=(20_000, 2))
    only_left = rng.uniform([0, 0], [0.5, 1], size=(20_000, 2))
    # The second model's latent space is the first's mirrored: regions are defined
    # on MD frames, so the orientation of each model's space does not matter.
    result = disagreement_starts(
        [md_latent, -md_latent],
        [agree_everywhere, -only_left],
        5,
        n_bins=4,
        random_state=0,
    )
    assert np.all(md_latent[result.frames, 0] > 0.5)
    assert result.model_counts.shape == (2, 16)
    assert np.all(result.scores > 1.0)  # kT
    # Models that agree give a small spread everywhere.
    same = disagreement_starts(
        [md_latent, md_latent], [agree_everywhere, agree_everywhere], 1, n_bins=4
    )
    assert same.scores[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda z: least_counts_starts(z, 0),
            ValueError,
            "n_starts must be an int >= 1",
        ),
        (lambda z: least_counts_starts(z, 1, n_bins=0), ValueError, "n_bins"),
        (
            lambda z: least_counts_starts(z, 1, n_coordinates=4),
            ValueError,
            "n_coordinates",
        ),
        (lambda z: least_counts_starts("z", 1), TypeError, "latent"),
        (lambda z: lss_starts(z, z[:, :1], 1), ValueError, "generated has 1 latent"),
        (lambda z: lss_starts(z, z, 1, min_count=0), ValueError, "min_count"),
        (lambda z: disagreement_starts(z, [z], 1), TypeError, "latent must be a list"),
        (lambda z: disagreement_starts([z], [z], 1), ValueError, "at least two models"),
        (
            lambda z: disagreement_starts([z, z[:5]], [z, z], 1),
            ValueError,
            "every model must encode the same MD frames",
        ),
    ],
)
def test_bad_strategy_arguments(call, error, match):
    z = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(error, match=match):
        call(z)


def test_strategies_do_not_modify_their_inputs():
    rng = np.random.default_rng(0)
    z, g = rng.normal(size=(100, 2)), rng.normal(size=(300, 2))
    z0, g0 = z.copy(), g.copy()
    least_counts_starts(z, 3)
    lss_starts(z, g, 3)
    disagreement_starts([z, z], [g, g], 3)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(g, g0)


# -- the sampler with OpenMM and tiny networks --------------------------------------


def tiny_simulator(**kwargs):
    return LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=2, hidden_layer_sizes=(8,), max_epochs=2),
        propagator=MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
        lagtime=2,
        n_start_points=200,
        **kwargs,
    )


def tiny_engine():
    pytest.importorskip("openmm")
    # 20 steps of 2 fs per frame: segments of a few hundred steps.
    return OpenMMEngine.alanine_dipeptide(steps_per_frame=20, random_state=0)


@pytest.fixture(scope="module")
def initial():
    engine = tiny_engine()
    start = alanine_dipeptide_structure()
    return engine.run(md.join([start, start]), 30, verbose=False)


def sampler(strategy="lss", **kwargs):
    simulator = (
        SimulatorEnsemble(tiny_simulator(), n_models=2, n_repeats=1, random_state=0)
        if strategy == "disagreement"
        else tiny_simulator()
    )
    params = {
        "n_rounds": 2,
        "n_segments": 3,
        "segment_length": 4,
        "strategy": strategy,
        "n_generated_trajectories": 10,
        "n_generated_steps": 20,
        "random_state": 0,
        "verbose": False,
        **kwargs,
    }
    engine = params.pop("engine", tiny_engine())
    return AdaptiveSampler(simulator, engine, **params)


# The ensemble's models, fitted on resamples, may see start frames beyond their
# own training range; they clip them and say so.
@pytest.mark.filterwarnings("ignore:start lies outside the range")
@pytest.mark.parametrize("strategy", ["least-counts", "lss", "disagreement"])
def test_rounds_collect_segments_from_the_chosen_frames(initial, strategy):
    before = [t.xyz.copy() for t in initial]
    result = sampler(strategy).run(initial)
    assert len(result.trajectories) == 2 + 2 * 3
    assert all(t.n_frames == 5 for t in result.trajectories[2:])
    assert len(result.features) == len(result.trajectories)
    assert result.features[0].shape == (31, 2 * 2 + 45)  # sin/cos φ ψ, 10 heavy atoms
    dt = 0.04e-3
    assert result.initial_md_time_ns == pytest.approx(60 * dt)
    assert result.new_md_time_ns == pytest.approx(2 * 3 * 4 * dt)
    assert result.md_time_ns == pytest.approx(84 * dt)
    for r, record in enumerate(result.rounds):
        assert record["status"] == "done" and record["strategy"] == strategy
        assert record["md_time_ns"] == pytest.approx((60 + 12 * (r + 1)) * dt)
        assert len(record["starts"]) == len(record["scores"]) == 3
        assert record["simulator"]["lagtime_frames"] == 2
        assert len(record["simulator"]["timescales_ps"]) == 2
        assert "score" in record["simulator"]
        for k, (i, j) in enumerate(record["starts"]):
            # Starts refer to the MD collected before the round.
            assert i < 2 + 3 * r
            segment = result.trajectories[2 + 3 * r + k]
            np.testing.assert_array_equal(segment.xyz[0], result.trajectories[i].xyz[j])
    assert hasattr(
        result.simulator, "estimators_" if strategy == "disagreement" else "encoder_"
    )
    for t, xyz in zip(initial, before, strict=True):
        np.testing.assert_array_equal(t.xyz, xyz)


def test_simulator_template_is_never_fitted(initial):
    run = sampler("least-counts", n_rounds=1)
    run.run(initial)
    assert not hasattr(run.simulator, "encoder_")


def test_same_seed_reproduces_the_choices(initial):
    a = sampler("lss", n_rounds=1).run(initial)
    b = sampler("lss", n_rounds=1).run(initial)
    assert a.rounds[0]["starts"] == b.rounds[0]["starts"]
    np.testing.assert_array_equal(a.trajectories[-1].xyz, b.trajectories[-1].xyz)


def test_fit_decoder_gives_a_final_simulator_that_generates_structures(initial):
    from sklss import AlignedCoordinates, CWGANDecoder

    run = AdaptiveSampler(
        LatentSpaceSimulator(
            encoder=SRVTransformer(
                n_components=2, hidden_layer_sizes=(8,), max_epochs=2
            ),
            propagator=MDNPropagator(
                n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2
            ),
            decoder=CWGANDecoder(noise_dim=2, hidden_layer_sizes=(8,), max_epochs=1),
            lagtime=2,
            coordinates=AlignedCoordinates("element != H"),
        ),
        tiny_engine(),
        n_rounds=0,
        n_segments=1,
        segment_length=4,
        fit_decoder=True,
        record_score=False,
        random_state=0,
        verbose=False,
    )
    result = run.run(initial)
    assert result.rounds == []
    structures = result.simulator.sample(3, random_state=0).to_mdtraj(0)
    assert structures.n_atoms == 10  # the heavy atoms


def test_callable_featurizer(initial):
    from sklss.analysis import backbone_torsions

    def torsions(traj):
        angles = backbone_torsions(traj)
        return np.column_stack([np.sin(angles), np.cos(angles)])

    result = sampler("least-counts", n_rounds=1, featurizer=torsions).run(initial)
    assert result.features[-1].shape == (5, 4)


def test_interrupted_run_resumes_without_redoing_finished_segments(
    initial, tmp_path, monkeypatch
):
    calls = []
    run_segment = OpenMMEngine._run_segment

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 5:  # the second segment of the second round
            raise KeyboardInterrupt
        return run_segment(self, *args)

    monkeypatch.setattr(OpenMMEngine, "_run_segment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sampler("lss", out=tmp_path).run(initial)
    first = json.loads((tmp_path / "round_000.json").read_text())
    second = json.loads((tmp_path / "round_001.json").read_text())
    assert first["status"] == "done" and second["status"] == "planned"
    assert sorted(p.name for p in (tmp_path / "md").glob("*.trr")) == [
        f"segment_{i:05d}.trr" for i in range(4)
    ]

    calls.clear()
    fits = []
    fit = AdaptiveSampler._fit

    def counting_fit(self, *args):
        fits.append(1)
        return fit(self, *args)

    monkeypatch.setattr(AdaptiveSampler, "_fit", counting_fit)
    result = sampler("lss", out=tmp_path).run(initial)
    assert len(calls) == 2  # only the missing segments of round 2
    assert len(fits) == 1  # the final fit: both rounds had made their choices
    assert result.rounds[1]["starts"] == second["starts"]
    assert [r["status"] for r in result.rounds] == ["done", "done"]
    done = json.loads((tmp_path / "round_001.json").read_text())
    assert done["segments"] == [f"md/segment_{i:05d}.trr" for i in (3, 4, 5)]

    # The same run without interruption collects the same MD.
    monkeypatch.setattr(OpenMMEngine, "_run_segment", run_segment)
    monkeypatch.setattr(AdaptiveSampler, "_fit", fit)
    plain = sampler("lss").run(initial)
    assert [r["starts"] for r in plain.rounds] == [r["starts"] for r in result.rounds]
    for a, b in zip(plain.trajectories, result.trajectories, strict=True):
        np.testing.assert_array_equal(a.xyz, b.xyz)

    # More rounds extend the finished run.
    calls.clear()
    monkeypatch.setattr(OpenMMEngine, "_run_segment", interrupted)
    longer = sampler("lss", out=tmp_path, n_rounds=3).run(initial)
    assert len(calls) == 3 and len(longer.trajectories) == 2 + 9


def test_out_of_another_run_is_refused(initial, tmp_path):
    sampler("least-counts", n_rounds=1, out=tmp_path).run(initial)
    with pytest.raises(ValueError, match="other settings.*n_segments"):
        sampler("least-counts", n_rounds=1, n_segments=2, out=tmp_path).run(initial)
    with pytest.raises(ValueError, match="other settings.*strategy"):
        sampler("lss", n_rounds=1, out=tmp_path).run(initial)
    with pytest.raises(ValueError, match="initial_trajectories"):
        sampler("least-counts", n_rounds=1, out=tmp_path).run(initial[:1])
    (tmp_path / "round_000.json").write_text("{trunc")
    with pytest.raises(ValueError, match="cannot be read as a record"):
        sampler("least-counts", n_rounds=1, out=tmp_path).run(initial)


def test_progress_output(initial, capsys):
    sampler("least-counts", n_rounds=1, verbose=True).run(initial)
    out = capsys.readouterr().out
    assert "round 1/1 [least-counts]: fitting the simulator on 2 trajectories" in out
    assert "chose 3 starts" in out and "MD frames in the bin" in out
    assert "OpenMM: 3 segment(s)" in out and "final fit on all MD" in out


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"simulator": "sim"}, TypeError, "simulator must be an estimator instance"),
        ({"simulator": LatentSpaceSimulator}, TypeError, "got the class"),
        (
            {"simulator": SimulatorEnsemble(MDNPropagator())},
            TypeError,
            "SimulatorEnsemble of LatentSpaceSimulators",
        ),
        ({"engine": object()}, TypeError, "engine must be an MD engine"),
        ({"n_rounds": -1}, ValueError, "n_rounds must be an int >= 0"),
        ({"n_segments": 0}, ValueError, "n_segments must be an int >= 1"),
        ({"segment_length": 1.5}, TypeError, "segment_length must be an int"),
        ({"segment_length": 1}, ValueError, "shorter than the simulator's lagtime=2"),
        ({"strategy": "random"}, ValueError, "strategy must be one of"),
        ({"strategy": "disagreement"}, ValueError, "needs a SimulatorEnsemble"),
        ({"featurizer": 3}, TypeError, "featurizer must be None"),
        ({"n_bins": 0}, ValueError, "n_bins must be an int >= 1"),
        ({"n_coordinates": 4}, ValueError, "n_coordinates must be 1, 2 or 3"),
        ({"min_count": 0}, ValueError, "min_count"),
        ({"n_generated_steps": 0}, ValueError, "n_generated_steps"),
        ({"fit_decoder": 1}, TypeError, "fit_decoder must be a bool"),
        ({"out": 5}, TypeError, "out must be a str or path-like"),
        ({"random_state": -1}, ValueError, "random_state"),
        ({"random_state": 2**32}, ValueError, "random_state must be None or an int"),
    ],
)
def test_bad_sampler_arguments(kwargs, error, match):
    params = {
        "simulator": tiny_simulator(),
        "engine": tiny_engine(),
        "n_rounds": 1,
        "n_segments": 2,
        "segment_length": 4,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        AdaptiveSampler(params.pop("simulator"), params.pop("engine"), **params)


def test_bad_initial_trajectories():
    run = sampler()
    with pytest.raises(TypeError, match="initial_trajectories must be an mdtraj"):
        run.run(np.zeros((5, 22, 3)))
    top = md.Topology()
    top.add_atom("C", md.element.carbon, top.add_residue("X", top.add_chain()))
    with pytest.raises(ValueError, match=r"initial_trajectories\[0\] has 1 atoms"):
        run.run([md.Trajectory(np.zeros((5, 1, 3)), top)])


# -- command line -------------------------------------------------------------------


def parser():
    main = argparse.ArgumentParser(prog="sklss")
    add_cli_parser(main.add_subparsers(dest="command", required=True))
    return main


def test_cli_runs_and_resumes(initial, tmp_path, capsys):
    path = tmp_path / "initial.dcd"
    initial[0].save_dcd(str(path))
    out = tmp_path / "run"
    argv = [
        "adaptive",
        str(path),
        "--out",
        str(out),
        "--rounds",
        "1",
        "--segments",
        "2",
        "--segment-length",
        "0.16",
        "--steps-per-frame",
        "20",
        "--strategy",
        "least-counts",
        "--lagtime",
        "2",
        "--hidden-size",
        "8",
        "--max-epochs",
        "1",
        "--seed",
        "3",
    ]
    args = parser().parse_args(argv)
    assert args.func is run_cli
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "sklss adaptive:" in printed and "round 1: 2 segments" in printed
    for name in (
        "sampler.json",
        "round_000.json",
        "simulator.sklss",
        "md/topology.pdb",
    ):
        assert (out / name).exists()
    segments = sorted((out / "md").glob("segment_*.trr"))
    assert len(segments) == 2
    assert md.load(str(segments[0]), top=str(out / "md" / "topology.pdb")).n_frames == 5
    from sklss import load

    assert load(out / "simulator.sklss").n_components_ == 2
    stamps = [p.stat().st_mtime_ns for p in segments]
    again = parser().parse_args([*argv, "--quiet"])
    assert again.func(again) == 0
    assert [p.stat().st_mtime_ns for p in segments] == stamps


def test_cli_refuses_a_segment_length_between_frames(tmp_path):
    args = parser().parse_args(
        ["adaptive", "x.dcd", "--out", str(tmp_path), "--segment-length", "2.5"]
    )
    with pytest.raises(ValueError, match="multiple of the frame interval"):
        run_cli(args)
    args = parser().parse_args(
        ["adaptive", "x.dcd", "--out", str(tmp_path), "--system-xml", "s.xml"]
    )
    with pytest.raises(ValueError, match="--system-xml needs --top"):
        run_cli(args)
