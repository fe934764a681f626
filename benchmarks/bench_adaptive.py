"""Adaptive sampling of alanine dipeptide: how fast does the MD find what it misses?

Every method starts from the same short MD run confined to the β/PII basin
(a run from the extended structure of which only the frames with φ < 0 and
ψ outside (-2.2, 1.0) rad are kept, in contiguous pieces) and gets the same
budget of new MD, spent in rounds of independent segments:

- ``md-long``: plain MD, one long run continuing from the last initial frame;
- ``md-parallel``: plain MD, the same segments as the adaptive methods, started
  from random frames of the initial data (no model);
- ``least-counts``: :class:`sklss.adaptive.AdaptiveSampler`, least-visited bins
  of the SRV coordinates;
- ``lss``: the same, starts chosen by the latent space simulator (regions its
  synthetic trajectories visit and the MD has barely sampled).

The reference is the long MD of :func:`sklss.datasets.load_alanine_dipeptide`
(25 ns; the same force field, solvent and integrator as the engine). Against MD
time spent (new MD, all segments added up), the script reports the fraction of the
reference's Ramachandran probability mass in bins the collected MD has visited
(36 x 36 bins), the Ramachandran free-energy RMSE to the reference
(:func:`sklss.analysis.compare_ramachandran`, bins with at least 20 reference
frames) and the MD time until the first frame in αL (φ > 0). The RMSE is that of
the raw histogram of the collected MD: the adaptive methods choose where to
start, so their histogram is not an equilibrium sample, and this number shows the
price of that choice.

Several seeds (initial run, MD noise and models), a markdown table, curves (PNG)
and the raw results (JSON) in ``--out``. Every MD segment is written to ``--out``
as it finishes, so an interrupted run resumes where it stopped.

Run::

    python benchmarks/bench_adaptive.py                 # 3 seeds, 5 ns per method
    python benchmarks/bench_adaptive.py --quick         # smoke run, a few minutes
    python benchmarks/bench_adaptive.py --seeds 0 1 2 3 4
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer
from sklss.adaptive import AdaptiveSampler
from sklss.analysis import (
    backbone_torsions,
    compare_ramachandran,
    ramachandran_free_energy,
)
from sklss.datasets import load_alanine_dipeptide
from sklss.md import OpenMMEngine, alanine_dipeptide_structure

METHODS = ("md-long", "md-parallel", "least-counts", "lss")
BINS = 36

# fmt: off
SETTINGS = {
    "full": {
        "reference_frames": 25_000, "initial_frames": 500, "min_piece": 20,
        "n_rounds": 10, "n_segments": 10, "segment_length": 50,
        "lagtime": 5, "n_components": 2,
        "srv": {"hidden_layer_sizes": (64, 64), "max_epochs": 30},
        "mdn": {"n_kernels": 6, "hidden_layer_sizes": (64, 64), "max_epochs": 30},
        "n_generated_trajectories": 200, "n_generated_steps": 500, "n_bins": 20,
        "min_count": 20, "seeds": [0, 1, 2],
    },
    "quick": {
        "reference_frames": 1_000, "initial_frames": 100, "min_piece": 10,
        "n_rounds": 3, "n_segments": 4, "segment_length": 10,
        "lagtime": 2, "n_components": 2,
        "srv": {"hidden_layer_sizes": (16,), "max_epochs": 5},
        "mdn": {"n_kernels": 3, "hidden_layer_sizes": (16,), "max_epochs": 5},
        "n_generated_trajectories": 50, "n_generated_steps": 100, "n_bins": 10,
        "min_count": 5, "seeds": [0, 1],
    },
}
# fmt: on


def in_beta(angles):
    """β/PII: φ < 0 and ψ outside the αR band (-2.2, 1.0) rad."""
    phi, psi = angles[:, 0], angles[:, 1]
    return (phi < 0) & ((psi > 1.0) | (psi < -2.2))


def initial_data(seed, settings, out):
    """A run from the minimised extended structure, cut to its β/PII pieces."""
    engine = OpenMMEngine.alanine_dipeptide(random_state=seed)
    run = engine.run(
        alanine_dipeptide_structure(),
        settings["initial_frames"],
        out=out / "initial",
        verbose=False,
    )[0]
    keep = in_beta(backbone_torsions(run))
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(int), 0]))
    pieces = [
        run[a:b]
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if b - a >= settings["min_piece"]
    ]
    if not pieces:
        raise RuntimeError(
            f"seed {seed}: the initial run has no β/PII piece of "
            f"{settings['min_piece']} frames; use another seed."
        )
    return pieces, run.n_frames - 1


def simulator(settings, seed):
    return LatentSpaceSimulator(
        encoder=SRVTransformer(
            n_components=settings["n_components"], **settings["srv"]
        ),
        propagator=MDNPropagator(**settings["mdn"]),
        lagtime=settings["lagtime"],
        timestep=1.0,
        random_state=seed,
    )


def plain_md(method, seed, pieces, settings, out, engine_seed):
    """New MD of the plain methods, as a list of rounds of trajectories."""
    engine = OpenMMEngine.alanine_dipeptide(random_state=engine_seed)
    n_rounds, n_seg, length = (
        settings["n_rounds"],
        settings["n_segments"],
        settings["segment_length"],
    )
    if method == "md-long":
        last = pieces[-1][-1]
        run = engine.run(last, n_rounds * n_seg * length, out=out, verbose=True)[0]
        per_round = n_seg * length
        # Checkpoints at the same MD time as the rounds of the other methods.
        return [
            [run[1 + r * per_round : 1 + (r + 1) * per_round]] for r in range(n_rounds)
        ]
    rng = np.random.default_rng(engine_seed)
    frames = [(i, j) for i, p in enumerate(pieces) for j in range(p.n_frames)]
    rounds = []
    for r in range(n_rounds):
        chosen = [frames[k] for k in rng.choice(len(frames), size=n_seg)]
        starts = pieces[0][[0] * n_seg]
        starts.xyz = np.stack([pieces[i].xyz[j] for i, j in chosen])
        segments = engine.run(starts, length, out=out, first_segment=r * n_seg)
        rounds.append([s[1:] for s in segments])
    return rounds


def adaptive_md(method, seed, pieces, settings, out, engine_seed):
    engine = OpenMMEngine.alanine_dipeptide(random_state=engine_seed)
    sampler = AdaptiveSampler(
        simulator(settings, seed),
        engine,
        n_rounds=settings["n_rounds"],
        n_segments=settings["n_segments"],
        segment_length=settings["segment_length"],
        strategy=method,
        n_bins=settings["n_bins"],
        n_generated_trajectories=settings["n_generated_trajectories"],
        n_generated_steps=settings["n_generated_steps"],
        record_score=False,
        out=out,
        random_state=seed,
    )
    result = sampler.run(pieces)
    n_seg = settings["n_segments"]
    new = result.trajectories[len(pieces) :]
    # The frames after each start (the start is an MD frame counted already).
    return [
        [s[1:] for s in new[r * n_seg : (r + 1) * n_seg]]
        for r in range(settings["n_rounds"])
    ], result.rounds


def metrics(reference, ref_counts, collected, new_rounds, min_count):
    """Coverage, RMSE after every round, and the MD time to the first αL frame."""
    p_ref = ref_counts / ref_counts.sum()
    angles = [backbone_torsions(t) for t in collected]
    curve = []
    time_to_alpha_l = None
    spent = 0
    for rnd in new_rounds:
        for traj in rnd:
            a = backbone_torsions(traj)
            hits = np.flatnonzero(a[:, 0] > 0)
            if time_to_alpha_l is None and len(hits):
                time_to_alpha_l = (spent + hits[0] + 1) * 1e-3  # ns (1 ps frames)
            spent += traj.n_frames
            angles.append(a)
        phi_psi = np.concatenate(angles)
        counts = ramachandran_free_energy(phi_psi, bins=BINS).counts
        try:
            comparison = compare_ramachandran(
                reference, phi_psi, bins=BINS, min_count=min_count
            )
            rmse, missing = float(comparison.rmse), int(comparison.n_missing_bins)
        except ValueError:  # no well-populated reference bin visited yet
            rmse, missing = float("nan"), int((ref_counts >= min_count).sum())
        curve.append(
            {
                "md_time_ns": spent * 1e-3,
                "coverage": float(p_ref[counts > 0].sum()),
                "rmse_kT": rmse,
                "n_missing_bins": missing,
            }
        )
    return curve, time_to_alpha_l


def one_seed(seed, settings, out, reference, ref_counts):
    t0 = time.perf_counter()
    pieces, initial_frames = initial_data(seed, settings, out / f"seed_{seed}")
    kept = sum(p.n_frames for p in pieces)
    print(
        f"seed {seed}: initial run {initial_frames} ps, {len(pieces)} β/PII piece(s), "
        f"{kept} frames kept ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    rows = {}
    for k, method in enumerate(METHODS):
        t0 = time.perf_counter()
        where = out / f"seed_{seed}" / method
        engine_seed = 1000 * seed + k + 1
        print(f"seed {seed}, {method}", flush=True)
        with warnings.catch_warnings():
            # Fixed training budgets; short fits need not converge.
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            if method.startswith("md-"):
                rounds = plain_md(method, seed, pieces, settings, where, engine_seed)
                records = None
            else:
                rounds, records = adaptive_md(
                    method, seed, pieces, settings, where, engine_seed
                )
        curve, t_alpha = metrics(
            reference, ref_counts, pieces, rounds, settings["min_count"]
        )
        rows[method] = {
            "curve": curve,
            "time_to_alpha_l_ns": t_alpha,
            "wall_time_s": time.perf_counter() - t0,
            "chosen_scores": None
            if records is None
            else [[float(s) for s in r["scores"]] for r in records],
        }
        last = curve[-1]
        print(
            f"  coverage {last['coverage']:.3f}, RMSE {last['rmse_kT']:.2f} kT, "
            f"αL after {'-' if t_alpha is None else f'{t_alpha:.3f}'} ns, "
            f"{rows[method]['wall_time_s']:.0f} s",
            flush=True,
        )
    return {
        "initial_md_ns": initial_frames * 1e-3,
        "initial_kept_frames": kept,
        "methods": rows,
    }


def summarise(results, settings):
    budget = settings["n_rounds"] * settings["n_segments"] * settings["segment_length"]
    lines = [
        f"New MD per method: {budget * 1e-3:g} ns ({settings['n_rounds']} rounds x "
        f"{settings['n_segments']} segments x {settings['segment_length']} ps); "
        f"seeds {sorted(results)}; mean ± standard deviation over seeds.",
        "",
        "| method | coverage of reference mass | F RMSE (kT) | missing bins | "
        "αL reached | MD time to αL (ns, median) | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        rows = [r["methods"][method] for r in results.values()]
        cov = np.array([r["curve"][-1]["coverage"] for r in rows])
        rmse = np.array([r["curve"][-1]["rmse_kT"] for r in rows])
        missing = np.array([r["curve"][-1]["n_missing_bins"] for r in rows])
        times = [
            r["time_to_alpha_l_ns"] for r in rows if r["time_to_alpha_l_ns"] is not None
        ]
        wall = np.array([r["wall_time_s"] for r in rows])
        median = f"{np.median(times):.3f}" if times else "—"
        lines.append(
            f"| {method} | {cov.mean():.3f} ± {cov.std():.3f} | "
            f"{np.nanmean(rmse):.2f} ± {np.nanstd(rmse):.2f} | {missing.mean():.1f} | "
            f"{len(times)}/{len(rows)} | {median} | {wall.mean():.0f} |"
        )
    return "\n".join(lines)


def figure(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for method in METHODS:
        curves = [r["methods"][method]["curve"] for r in results.values()]
        t = np.array([c["md_time_ns"] for c in curves[0]])
        for ax, key in zip(axes[:2], ("coverage", "rmse_kT"), strict=True):
            values = np.array([[c[key] for c in curve] for curve in curves])
            ax.plot(t, values.mean(axis=0), marker="o", label=method)
            ax.fill_between(t, values.min(axis=0), values.max(axis=0), alpha=0.2)
        reached = np.array(
            [
                [
                    r["methods"][method]["time_to_alpha_l_ns"] is not None
                    and r["methods"][method]["time_to_alpha_l_ns"] <= x + 1e-12
                    for x in t
                ]
                for r in results.values()
            ]
        )
        axes[2].step(t, reached.mean(axis=0), where="post", label=method)
    axes[0].set(xlabel="new MD (ns)", ylabel="reference mass in visited bins")
    axes[1].set(xlabel="new MD (ns)", ylabel="Ramachandran F RMSE (kT)")
    axes[2].set(xlabel="new MD (ns)", ylabel="fraction of seeds that reached αL")
    axes[2].set_ylim(-0.05, 1.05)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (minutes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument(
        "--reference-frames",
        type=int,
        default=None,
        help="frames of the reference MD (default: 25000, the cached data set; "
        "--quick: 1000)",
    )
    parser.add_argument("--out", default=None, help="output directory")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    settings = dict(SETTINGS[mode])
    if args.seeds is not None:
        settings["seeds"] = args.seeds
    if args.reference_frames is not None:
        settings["reference_frames"] = args.reference_frames
    out = Path(args.out or f"bench-adaptive-{mode}")
    out.mkdir(parents=True, exist_ok=True)

    t_start = time.perf_counter()
    print(
        f"reference: {settings['reference_frames']} ps of alanine dipeptide MD",
        flush=True,
    )
    traj = load_alanine_dipeptide(settings["reference_frames"], verbose=True)
    reference = backbone_torsions(traj)
    ref_counts = ramachandran_free_energy(reference, bins=BINS).counts
    print(
        f"  αL (φ > 0) holds {np.mean(reference[:, 0] > 0):.2%} of the reference "
        "frames",
        flush=True,
    )
    results = {}
    for seed in settings["seeds"]:
        results[seed] = one_seed(seed, settings, out, reference, ref_counts)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
        table = summarise(results, settings)
    wall = time.perf_counter() - t_start
    print()
    print(table)
    print(f"\ntotal wall time {wall:.0f} s")
    (out / "table.md").write_text(table + "\n")
    figure(results, out / "curves.png")
    payload = {
        "mode": mode,
        "settings": settings,
        "reference_frames": settings["reference_frames"],
        "alpha_l_reference_fraction": float(np.mean(reference[:, 0] > 0)),
        "wall_time_s": wall,
        "results": {str(k): v for k, v in results.items()},
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    print(f"wrote {out / 'table.md'}, {out / 'curves.png'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
