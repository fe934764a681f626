"""Calibration of ensemble error bars, and the speed-up of fitting them in parallel.

Calibration: on systems with exact answers, the whole experiment is repeated on
independent training data sets of limited length. On each, a
``SimulatorEnsemble`` of MDN propagators (default settings: 10 models, two per
block bootstrap resample) is fitted, every model generates 10x the data from the
same starting points, and :func:`sklss.analysis.ensemble_estimate` (with the
ensemble's ``groups_``) gives 90% intervals for the well populations and the
slowest relaxation time. The table counts how often the intervals contain the
truth, next to the same models' interval without the grouping (every model taken
as its own resample) and the paper-style error bar (block errors of one model's
long generated run) on the same data sets.

- four-well: Brownian dynamics (1e6 steps, a frame every 100 steps: 1e4 frames).
  Populations of the four wells (split at the barrier tops) are exact (quadrature
  of the Boltzmann density); the slowest relaxation time is the implied time scale
  of a 40-bin Markov state model at lag 5 frames, whose truth is the same
  estimator on a 5e7-step simulation (50x the data).
- OU: an Ornstein-Uhlenbeck process sampled exactly (AR(1), relaxation time 20
  frames, 1e4 frames). Populations of four intervals are Gaussian integrals; the
  relaxation time is exactly 20 frames and is estimated from the
  autocorrelation function (single exponential, so the estimator is consistent).

Speed: fitting an ensemble of 10 MDNs with ``n_jobs=2`` against ``n_jobs=1``.

Run::

    python benchmarks/bench_ensemble.py               # 20 data sets per system
    python benchmarks/bench_ensemble.py --quick       # 3 data sets, 4 models
    python benchmarks/bench_ensemble.py --speed       # only the n_jobs comparison
"""

import argparse
import json
import time
import warnings

import numpy as np
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from sklss import MDNPropagator, SimulatorEnsemble
from sklss.analysis import (
    ensemble_estimate,
    msm_timescales,
    populations,
    relaxation_times,
)
from sklss.datasets import four_well_bin_probabilities, make_four_well

LEVEL = 0.9
BARRIERS = (-0.5016, 0.0, 0.5016)  # tops between the four wells
FOUR_WELL_REGIONS = [(-3.0, -0.5016), (-0.5016, 0.0), (0.0, 0.5016), (0.5016, 3.0)]
MSM_EDGES = np.linspace(-1.0, 1.0, 41)
MSM_LAG = 5
OU_TAU = 20.0
OU_REGIONS = [(-6.0, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, 6.0)]


def four_well_system():
    edges = np.array([-3.0, *BARRIERS, 3.0])
    truth_pop = four_well_bin_probabilities(edges)
    reference = make_four_well(50_000_000, stride=100, random_state=12345)
    truth_t = msm_timescales(reference, MSM_EDGES, lagtime=MSM_LAG, n_timescales=1)[0]

    def data(seed):
        return make_four_well(1_000_000, stride=100, random_state=1000 + seed)

    def slowest(trajs):
        return msm_timescales(trajs, MSM_EDGES, lagtime=MSM_LAG, n_timescales=1)[0]

    return {
        "name": "four-well",
        "data": data,
        "regions": FOUR_WELL_REGIONS,
        "truth_populations": truth_pop,
        "slowest": slowest,
        "truth_time": float(truth_t),
    }


def ou_system():
    a = np.exp(-1.0 / OU_TAU)

    def data(seed):
        rng = np.random.default_rng(2000 + seed)
        noise = rng.normal(size=10_000) * np.sqrt(1 - a * a)
        x = np.empty(10_000)
        x[0] = rng.normal()
        for i in range(1, len(x)):
            x[i] = a * x[i - 1] + noise[i]
        return x[:, None]

    cdf = stats.norm.cdf
    truth_pop = np.array([cdf(b) - cdf(lo) for lo, b in OU_REGIONS])

    def slowest(trajs):
        return relaxation_times(trajs, max_lag=100, n_blocks=2).timescales[0]

    return {
        "name": "OU",
        "data": data,
        "regions": OU_REGIONS,
        "truth_populations": truth_pop,
        "slowest": slowest,
        "truth_time": OU_TAU,
    }


def one_data_set(system, seed, n_models, n_jobs):
    X = system["data"](seed)
    ens = SimulatorEnsemble(
        MDNPropagator(lagtime=1),
        n_models=n_models,
        resample="blocks",
        n_blocks=10,
        random_state=seed,
        n_jobs=n_jobs,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        ens.fit(X)
    n_traj = 10
    starts = X[np.random.default_rng(seed).integers(0, len(X), size=n_traj)]
    runs = ens.sample(starts, len(X), random_state=seed)
    regions = system["regions"]
    groups = ens.groups_
    out = {}
    for name, observable, truth in (
        ("populations", lambda t: populations(t, regions), system["truth_populations"]),
        ("slowest time", system["slowest"], np.array([system["truth_time"]])),
    ):
        est = ensemble_estimate(observable, runs, groups=groups, level=LEVEL)
        # The same models without the grouping: every model taken as its own
        # resample, which cannot separate the training randomness.
        plain = ensemble_estimate(observable, runs, level=LEVEL)
        value, truth = np.atleast_1d(est.value), np.atleast_1d(truth)
        low, high = np.atleast_1d(est.low), np.atleast_1d(est.high)
        # Paper-style: one model's run, its block standard error.
        single = np.atleast_1d(est.per_model[0])
        se = np.atleast_1d(est.per_model_sampling_error[0])
        q = stats.t.ppf(0.5 + LEVEL / 2, df=4)  # 5 blocks
        out[name] = {
            "covered": ((low <= truth) & (truth <= high)).tolist(),
            "covered_sampling_only": (np.abs(single - truth) <= q * se).tolist(),
            "covered_ungrouped": (
                (np.atleast_1d(plain.low) <= truth)
                & (truth <= np.atleast_1d(plain.high))
            ).tolist(),
            "standard_error": np.atleast_1d(est.standard_error).tolist(),
            "data_error": np.atleast_1d(est.data_error).tolist(),
            "training_error": np.atleast_1d(est.training_error).tolist(),
            "value": value.tolist(),
            "truth": truth.tolist(),
            "model_error": np.atleast_1d(est.model_error).tolist(),
            "sampling_error": se.tolist(),
            # Raw material to re-analyse the same fits with another estimator.
            "per_model": np.asarray(est.per_model).reshape(len(runs), -1).tolist(),
            "per_model_sampling_error": np.asarray(est.per_model_sampling_error)
            .reshape(len(runs), -1)
            .tolist(),
            "groups": np.asarray(groups).tolist(),
        }
    return out


SYSTEMS = {"four-well": four_well_system, "OU": ou_system}


def calibration(n_data_sets, n_models, n_jobs, systems=tuple(SYSTEMS)):
    rows, records = [], {}
    for make in (SYSTEMS[name] for name in systems):
        system = make()
        per_set = []
        t0 = time.perf_counter()
        for seed in range(n_data_sets):
            per_set.append(one_data_set(system, seed, n_models, n_jobs))
            print(f"  {system['name']}: data set {seed + 1}/{n_data_sets}", flush=True)
        wall = time.perf_counter() - t0
        records[system["name"]] = per_set
        for obs in ("populations", "slowest time"):
            hits = np.array([r[obs]["covered"] for r in per_set], dtype=float)
            naive = np.array([r[obs]["covered_sampling_only"] for r in per_set], float)
            plain = np.array([r[obs]["covered_ungrouped"] for r in per_set], float)
            z = np.array(
                [
                    (np.array(r[obs]["value"]) - r[obs]["truth"])
                    / np.array(r[obs]["standard_error"])
                    for r in per_set
                ]
            )
            model = np.array([r[obs]["model_error"] for r in per_set])
            sampling = np.array([r[obs]["sampling_error"] for r in per_set])
            rows.append(
                (
                    system["name"],
                    obs,
                    hits.mean(),
                    hits.mean(axis=0).min(),
                    plain.mean(),
                    naive.mean(),
                    float(np.sqrt(np.mean(z**2))),
                    float(np.median(model / np.maximum(sampling, 1e-300))),
                    wall,
                )
            )
    return rows, records


def speed(n_models=10):
    X = make_four_well(1_000_000, stride=100, random_state=0)
    times = {}
    for n_jobs in (1, 2):
        ens = SimulatorEnsemble(
            MDNPropagator(lagtime=1, max_epochs=30),
            n_models=n_models,
            resample="blocks",
            random_state=0,
            n_jobs=n_jobs,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            ens.fit(X)
        times[n_jobs] = time.perf_counter() - t0
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--n-data-sets", type=int, default=20)
    parser.add_argument("--n-models", type=int, default=10)
    parser.add_argument(
        "--systems", nargs="+", choices=tuple(SYSTEMS), default=list(SYSTEMS)
    )
    parser.add_argument("--json", default=None, help="write the raw results here")
    args = parser.parse_args()

    if args.speed:
        times = speed()
        ratio = times[2] / times[1]
        print("| ensemble of 10 MDNs, four-well | n_jobs=1 | n_jobs=2 | ratio |")
        print("|---|---|---|---|")
        print(f"| fit wall time | {times[1]:.1f} s | {times[2]:.1f} s | {ratio:.2f} |")
        print(f"target: ratio <= 0.65 -> {'met' if ratio <= 0.65 else 'NOT met'}")
        return

    n_sets, n_models = (3, 4) if args.quick else (args.n_data_sets, args.n_models)
    rows, records = calibration(n_sets, n_models, args.n_jobs, args.systems)
    print(
        f"\n{n_sets} data sets, {n_models} models each, nominal {LEVEL:.0%} intervals\n"
    )
    print(
        "| system | observable | ensemble coverage (mean) | worst component | "
        "without groups | sampling-only coverage | RMS error / standard error | "
        "model / sampling error | wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, obs, cov, worst, plain, naive, rms_z, ratio, wall in rows:
        print(
            f"| {name} | {obs} | {cov:.0%} | {worst:.0%} | {plain:.0%} | "
            f"{naive:.0%} | {rms_z:.2f} | {ratio:.1f} | {wall:.0f} s |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "records": records}, fh, indent=1)


if __name__ == "__main__":
    main()
