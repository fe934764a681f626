"""Tests of ``sklss demo``: files and report of both systems, and (slow) the
validation criteria measured from the files the default alanine demo writes."""

import json

import mdtraj as md
import numpy as np
import pytest

from sklss._cli import main
from sklss._demo import THRESHOLDS, run_demo
from sklss.datasets import compare_four_well

ALANINE_FILES = (
    "topology.pdb",
    "md.dcd",
    "lss.dcd",
    "latent.npz",
    "simulator.sklss",
    "report.json",
    "ramachandran.png",
    "free_energy_psi1.png",
    "timescales.png",
    "training.png",
    "structure.png",
    "tica.png",
    "model_uncertainty.png",
)


def _read_report(path):
    return json.loads((path / "report.json").read_text())


def test_four_well_demo_tiny(tmp_path):
    report = run_demo(tmp_path, "four-well", size="tiny", verbose=False)
    # Exactly these files: no temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "four_well.npz",
        "four_well.png",
        "mdn.sklss",
        "report.json",
    ]
    written = _read_report(tmp_path)
    assert written["system"] == "four-well"
    assert report["metrics"] == written["metrics"]
    metrics = written["metrics"]
    assert 0 <= metrics["tv_distance_generated_vs_bd"] <= 1
    assert written["generation"]["length_factor"] >= 100
    # The report holds what compare_four_well gives for the trajectories written.
    with np.load(tmp_path / "four_well.npz") as data:
        bd, lss = data["bd"], data["lss"]
    assert lss.shape[0] == written["generation"]["n_trajectories"]
    result = compare_four_well(bd, lss)
    for key, value in (
        ("tv_distance_generated_vs_bd", result.tv_generated_vs_reference),
        ("tv_distance_generated_vs_exact", result.tv_generated_vs_exact),
        ("tv_distance_bd_vs_exact", result.tv_reference_vs_exact),
    ):
        assert metrics[key] == pytest.approx(value, abs=2e-3), key
    stride = written["data"]["stride_steps"]
    np.testing.assert_allclose(
        metrics["msm_timescales_bd_steps"], result.timescales_reference * stride, 0.05
    )
    np.testing.assert_allclose(
        metrics["msm_timescales_lss_steps"], result.timescales_generated * stride, 0.05
    )


def test_alanine_demo_tiny_via_cli(tmp_path, capsys):
    pytest.importorskip("openmm")
    out = tmp_path / "out"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--tiny",
            "--quiet",
            "--n-frames",
            "300",
            "--data-home",
            str(tmp_path / "data"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "report.json" in printed
    report = _read_report(out)
    # One pass/FAIL line per validation check.
    for name, ok in report["passed"].items():
        if name != "all":
            assert f"{name:<18s} {'pass' if ok else 'FAIL'}" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(ALANINE_FILES)
    for key in (
        "md",
        "model_selection",
        "training",
        "generation",
        "metrics",
        "cost",
        "timings",
        "passed",
        "files",
        "figures",
        "total_wall_time_s",
    ):
        assert key in report, key
    for key in (
        "ramachandran",
        "free_energy_profiles",
        "timescales",
        "bond_lengths",
        "structure",
        "tica",
        "model_uncertainty",
    ):
        assert key in report["metrics"], key
    # Model-uncertainty intervals next to the block errors of one run.
    unc = report["metrics"]["model_uncertainty"]
    assert unc["n_models"] == 4 and unc["n_resamples"] == 2
    rows = unc["relaxation_times_ps"] + unc["core_populations"]
    assert len(unc["relaxation_times_ps"]) == len(
        report["metrics"]["timescales"]["leading"]
    )
    for row in rows:
        low, high = row["ensemble_interval"]
        assert low <= row["ensemble"] <= high
        assert row["md_block_interval"][0] <= row["md"] <= row["md_block_interval"][1]
    for key in ("md_ns_per_day", "lss_ns_per_day", "speedup"):
        assert report["cost"][key] > 0
    assert report["generation"]["length_factor"] >= 100
    selection = report["model_selection"]
    scanned = [entry["lagtime"] for entry in selection["lagtime_scan"]]
    assert scanned == [1, 2] and selection["lagtime_frames"] in scanned
    assert report["training"]["encoder_epochs"] >= 1
    # The SRV's slow coordinates, then principal components for the decoder.
    n_slow = selection["n_slow_processes"]
    assert len(report["training"]["encoder_eigenvalues"]) == n_slow
    names = report["training"]["latent_coordinates"]
    assert len(names) == selection["n_components"] > n_slow
    assert names == [f"psi{i + 1}" for i in range(n_slow)] + [
        f"pc{i + 1}" for i in range(len(names) - n_slow)
    ]
    profiles = report["metrics"]["free_energy_profiles"]
    assert [p["coordinate"] for p in profiles] == names

    # The files are what the report says: heavy atoms, MD and decoded frames.
    top = md.load(str(out / "topology.pdb"))
    assert top.n_atoms == 10
    assert all(a.element.symbol != "H" for a in top.topology.atoms)
    md_traj = md.load(str(out / "md.dcd"), top=str(out / "topology.pdb"))
    lss = md.load(str(out / "lss.dcd"), top=str(out / "topology.pdb"))
    assert md_traj.n_frames == 300
    assert lss.n_frames == report["generation"]["decoded_frames"] >= md_traj.n_frames
    with np.load(out / "latent.npz") as data:
        n_traj = report["generation"]["n_trajectories"]
        assert data["lss"].shape[:2] == (n_traj, report["generation"]["n_steps"] + 1)
        assert data["md"].shape == (300, len(names))
        assert list(data["coordinates"]) == names

    # The saved simulator loads and samples (what `sklss simulate` needs).
    assert main(["info", str(out / "simulator.sklss")]) == 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="system"):
        run_demo(tmp_path, "trp-cage", verbose=False)
    with pytest.raises(ValueError, match="size"):
        run_demo(tmp_path, size="huge", verbose=False)
    with pytest.raises(ValueError, match="n_frames"):
        run_demo(tmp_path, n_frames=5, verbose=False)
    with pytest.raises(TypeError, match="lagtime"):
        run_demo(tmp_path, lagtime=2.5, verbose=False)
    with pytest.raises(ValueError, match="generation_factor"):
        run_demo(tmp_path, generation_factor=0, verbose=False)


@pytest.mark.slow
def test_alanine_demo_meets_the_validation_criteria(tmp_path):
    """The default demo (about 10-20 minutes) passes its validation criteria.

    Ramachandran and bond lengths are recomputed here from the written trajectory
    files, independently of the demo's own analysis code path.
    """
    pytest.importorskip("openmm")
    from sklss.analysis import compare_ramachandran

    out = tmp_path / "demo"
    run_demo(out, verbose=False)
    report = _read_report(out)
    top = str(out / "topology.pdb")
    md_traj = md.load(str(out / "md.dcd"), top=top)
    lss = md.load(str(out / "lss.dcd"), top=top)
    assert report["generation"]["length_factor"] >= 100
    assert lss.n_frames >= md_traj.n_frames

    rama = compare_ramachandran(md_traj, lss)
    assert rama.rmse <= THRESHOLDS["ramachandran_rmse_kT"]
    assert len(rama.missing_basins) == 0

    pairs = np.array([[b[0].index, b[1].index] for b in md_traj.topology.bonds])
    assert len(pairs) == 9  # the heavy-atom bonds of ACE-ALA-NME
    mean_md = md.compute_distances(md_traj, pairs).mean(0)
    mean_lss = md.compute_distances(lss, pairs).mean(0)
    rel = np.abs(mean_lss - mean_md) / mean_md
    assert rel.max() <= THRESHOLDS["bond_length_relative_error"]

    for t in report["metrics"]["timescales"]["leading"]:
        tol = max(
            t["md_standard_error_ps"],
            THRESHOLDS["timescale_relative_tolerance"] * t["md_ps"],
        )
        assert abs(t["lss_ps"] - t["md_ps"]) <= tol, t
    assert report["cost"]["speedup"] >= THRESHOLDS["speedup"]
