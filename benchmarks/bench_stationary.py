"""Stationary error of MDNPropagator's long generated runs on systems with exact laws.

Each system has an exact stationary density, and none of them was used to tune the
propagator:

- ``four-well``: the paper's 1-D potential, Brownian dynamics of
  :func:`sklss.datasets.make_four_well` at several temperatures, strides and lag
  times; exact density ``exp(-V/kT)`` (:func:`four_well_bin_probabilities`);
- ``ou``: an Ornstein-Uhlenbeck process sampled exactly (an AR(1) chain), law
  ``N(0, sigma^2)``;
- ``triple-well-2d``: deeptime's ``triple_well_2d``, Euler-Maruyama for
  ``dX = -grad V dt + 1.09 dW``, so the density is ``exp(-2 V / 1.09^2)`` (a
  thermal energy of 0.594);
- ``double-well-2d``: deeptime's ``double_well_2d`` with its defaults, ``sigma =
  sqrt(kT / (2 m d)) = sqrt(1/2)``, so the density is ``exp(-4 V)`` (deeptime's
  ``temperature_factor`` is not the thermal energy of the Boltzmann density).

The 2-D densities are integrated over every histogram cell on a fine grid.

For every system, data length and seed, one data set (seeded) is generated and
MDNPropagators with each configuration (same seed) are fitted on it with default
training; each generates ten times as many frames as the data (100 parallel
trajectories started from data frames spread evenly over the data, no frames
discarded). Reported per run:

- ``tv_generated``: total-variation distance of the generated frames to the exact
  law (60 bins over the range holding all but 1e-4 of the probability on each side
  for 1-D, 30 x 30 for 2-D; values outside go into the end bins);
- ``tv_data``: the same for the data (the statistical floor of the data);
- ``tv_chain`` (1-D systems): the same for the learned chain's own stationary
  distribution, from its transition density on a grid of 1500 points (no sampling
  noise: the error of the model itself);
- ``t_data``, ``t_generated``: slowest implied time scale of a reversible MSM on
  100 bins of the first coordinate (:func:`sklss.analysis.msm_timescales`) at the
  same lag time (the system's MSM lag rounded to whole propagator steps), in data
  frames; ``t_ratio = t_generated / t_data``;
- ``check_passed``, ``check_ratio``: the verdict of
  :func:`sklss.analysis.compare_stationary_distributions` (generated vs data) and
  its largest distance-to-noise ratio over the coordinates.

Run::

    python benchmarks/bench_stationary.py --quick           # < 3 min
    python benchmarks/bench_stationary.py --jobs 2 --json out.json --records out.jsonl
    python benchmarks/bench_stationary.py --systems ou,four-well-kT1 \
        --configs default,reversible --lengths 20000 --seeds 3
"""

import argparse
import json
import os
import platform
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
from scipy.signal import lfilter
from scipy.stats import norm

# --------------------------------------------------------------------- systems

# Probability left out on each side of the populated range of each coordinate.
_TAIL = 1e-4
N_BINS_1D = 60
N_BINS_2D = 30
N_MSM_BINS = 100
N_GENERATED_TRAJECTORIES = 100
GENERATED_PER_DATA_FRAME = 10


class FourWell:
    """Brownian dynamics in the four-well potential (sklss.datasets)."""

    dim = 1

    def __init__(self, name, kT, stride, lagtime, msm_lag):
        self.name, self.kT, self.stride = name, kT, stride
        self.lagtime, self.msm_lag = lagtime, msm_lag
        self.description = (
            f"four-well, kT={kT}, dt=1e-3, stride {stride}, lag {lagtime} frames"
        )

    def make(self, n_frames, seed):
        from sklss.datasets import make_four_well

        return make_four_well(
            (n_frames - 1) * self.stride,
            stride=self.stride,
            kT=self.kT,
            random_state=seed,
        )

    def edges(self):
        from sklss.datasets import four_well_potential

        grid = np.linspace(-1.5, 1.5, 30001)
        w = np.exp(-(four_well_potential(grid) - four_well_potential(grid).min()))
        w = w ** (1.0 / self.kT)
        cdf = np.cumsum(w) / w.sum()
        lo, hi = np.interp([_TAIL, 1 - _TAIL], cdf, grid)
        return np.linspace(lo, hi, N_BINS_1D + 1)

    def exact(self, edges):
        from sklss.datasets import four_well_bin_probabilities

        return four_well_bin_probabilities(edges, kT=self.kT)

    def density(self, x):
        from sklss.datasets import four_well_boltzmann_density

        return four_well_boltzmann_density(x, kT=self.kT)


class OrnsteinUhlenbeck:
    """``dx = -x / t_c dt + sqrt(2 sigma^2 / t_c) dW`` sampled exactly every frame."""

    dim = 1

    def __init__(self, name, t_c, sigma, lagtime, msm_lag):
        self.name, self.t_c, self.sigma = name, t_c, sigma
        self.lagtime, self.msm_lag = lagtime, msm_lag
        self.description = (
            f"Ornstein-Uhlenbeck, relaxation {t_c} frames, sigma {sigma}, "
            f"lag {lagtime} frames"
        )

    def make(self, n_frames, seed):
        rng = np.random.default_rng(seed)
        a = np.exp(-1.0 / self.t_c)
        noise = rng.normal(size=n_frames) * self.sigma * np.sqrt(1 - a * a)
        x0 = rng.normal() * self.sigma
        return lfilter([1.0], [1.0, -a], noise, zi=[a * x0])[0][:, None]

    def edges(self):
        lo, hi = norm.ppf([_TAIL, 1 - _TAIL]) * self.sigma
        return np.linspace(lo, hi, N_BINS_1D + 1)

    def exact(self, edges):
        cdf = norm.cdf(edges / self.sigma)
        cdf[0], cdf[-1] = 0.0, 1.0
        return np.diff(cdf)

    def density(self, x):
        return norm.pdf(x / self.sigma) / self.sigma


def _triple_well_potential(x, y):
    return (
        3 * np.exp(-(x**2) - (y - 1 / 3) ** 2)
        - 3 * np.exp(-(x**2) - (y - 5 / 3) ** 2)
        - 5 * np.exp(-((x - 1) ** 2) - y**2)
        - 5 * np.exp(-((x + 1) ** 2) - y**2)
        + 0.2 * x**4
        + 0.2 * (y - 1 / 3) ** 4
    )


def _double_well_potential(x, y):
    return (x**2 - 1) ** 2 + y**2


class Deeptime2D:
    """A 2-D system of ``deeptime.data``, integrated by deeptime."""

    dim = 2

    def __init__(self, name, factory, potential, kT, box, h, n_steps, lagtime, msm_lag):
        self.name, self.factory, self.potential, self.kT = name, factory, potential, kT
        self.box, self.h, self.n_steps = box, h, n_steps
        self.lagtime, self.msm_lag = lagtime, msm_lag
        self.description = (
            f"deeptime {factory}, Euler-Maruyama h={h}, {n_steps} steps per frame, "
            f"density exp(-V/{kT:.4g}), lag {lagtime} frames"
        )
        self._grid = None

    def grid(self):
        """Quadrature grid over ``box`` (cell centres) with Boltzmann weights."""
        if self._grid is None:
            (x0, x1), (y0, y1) = self.box
            n = 1200
            x = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
            y = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
            X, Y = np.meshgrid(x, y, indexing="ij")
            V = self.potential(X, Y)
            w = np.exp(-(V - V.min()) / self.kT)
            self._grid = (X.ravel(), Y.ravel(), w.ravel() / w.sum())
        return self._grid

    def make(self, n_frames, seed):
        import deeptime

        model = getattr(deeptime.data, self.factory)(h=self.h, n_steps=self.n_steps)
        # Start from the exact density, so the data are in equilibrium throughout.
        X, Y, w = self.grid()
        rng = np.random.default_rng(seed)
        i = rng.choice(len(w), p=w)
        x0 = np.array([[X[i], Y[i]]])
        traj = model.trajectory(x0, n_frames, seed=int(seed), n_jobs=1)
        return np.asarray(traj, dtype=np.float64).reshape(-1, 2)[-n_frames:]

    def edges(self):
        X, Y, w = self.grid()
        out = []
        for values in (X, Y):
            order = np.argsort(values, kind="stable")
            cdf = np.cumsum(w[order])
            lo, hi = np.interp([_TAIL, 1 - _TAIL], cdf, values[order])
            out.append(np.linspace(lo, hi, N_BINS_2D + 1))
        return out

    def exact(self, edges):
        X, Y, w = self.grid()
        ex, ey = edges
        p, _, _ = np.histogram2d(
            np.clip(X, ex[0], ex[-1]), np.clip(Y, ey[0], ey[-1]), [ex, ey], weights=w
        )
        return p / p.sum()


SYSTEMS = {
    s.name: s
    for s in (
        FourWell("four-well-kT1", kT=1.0, stride=100, lagtime=1, msm_lag=5),
        FourWell("four-well-kT0.7", kT=0.7, stride=25, lagtime=4, msm_lag=20),
        FourWell("four-well-kT1.5", kT=1.5, stride=5, lagtime=2, msm_lag=20),
        OrnsteinUhlenbeck("ou", t_c=20.0, sigma=2.0, lagtime=1, msm_lag=5),
        Deeptime2D(
            "triple-well-2d",
            "triple_well_2d",
            _triple_well_potential,
            kT=1.09**2 / 2,
            box=((-2.6, 2.6), (-1.8, 2.8)),
            h=1e-3,
            n_steps=50,
            lagtime=2,
            msm_lag=10,
        ),
        Deeptime2D(
            "double-well-2d",
            "double_well_2d",
            _double_well_potential,
            kT=0.25,
            box=((-2.0, 2.0), (-1.6, 1.6)),
            h=1e-3,
            n_steps=100,
            lagtime=5,
            msm_lag=20,
        ),
    )
}

# ------------------------------------------------------------- configurations

# Keyword arguments of MDNPropagator (besides lagtime and random_state) on top
# of its defaults (24 kernels); "kernels8" is the default before the mixture
# grew to 24 kernels, "former-default" the propagator before weight averaging
# (8 kernels); "lag_factor" multiplies the system's lag time instead.
_FORMER = {"ema_decay": 0.0, "n_kernels": 8}
CONFIGS = {
    "default": {},
    "kernels8": {"n_kernels": 8},
    "former-default": _FORMER,
    "reversible": {"reversible": True},
    "linear": {"learning_rate": "linear", "max_epochs": 60},
    "batch2048": {"batch_size": 2048},
    "lag3x": {"lag_factor": 3},
    "kernels8+reversible": {"n_kernels": 8, "reversible": True},
    "kernels8+batch2048": {"n_kernels": 8, "batch_size": 2048},
    "kernels8+lag3x": {"n_kernels": 8, "lag_factor": 3},
    "former-default+reversible": {**_FORMER, "reversible": True},
    "former-default+batch2048": {**_FORMER, "batch_size": 2048},
    "former-default+kernels24": {**_FORMER, "n_kernels": 24},
    "former-default+lag3x": {**_FORMER, "lag_factor": 3},
}


# ------------------------------------------------------------------- one run


def _histogram(system, frames, edges):
    if system.dim == 1:
        e = edges
        counts = np.histogram(np.clip(frames[:, 0], e[0], e[-1]), e)[0]
    else:
        ex, ey = edges
        counts = np.histogram2d(
            np.clip(frames[:, 0], ex[0], ex[-1]),
            np.clip(frames[:, 1], ey[0], ey[-1]),
            [ex, ey],
        )[0]
    return counts / counts.sum()


def _tv(p, q):
    return 0.5 * float(np.abs(p - q).sum())


def _chain_stationary_error(mdn, system, edges, n_grid=1500):
    """TV distance of the learned chain's own stationary distribution (1-D).

    The learned chain on ``n_grid`` cells spanning the data range plus 10 % on each
    side: from the mixture at each cell centre, the probability of landing in each
    cell (the end cells take the tails), so every row sums to one. Its stationary
    vector, and the exact density on the same cells, are binned on ``edges``: the
    error of the model itself, without sampling noise.
    """
    lo, hi = float(mdn.data_min_[0]), float(mdn.data_max_[0])
    pad = 0.1 * (hi - lo)
    cells = np.linspace(lo - pad, hi + pad, n_grid + 1)
    centres = 0.5 * (cells[1:] + cells[:-1])
    weights, means, stds = mdn.mixture_parameters(centres[:, None])
    inner = cells[1:-1]
    cdf = norm.cdf((inner[None, None, :] - means) / stds)  # (n, K, n_grid - 1)
    cdf = np.concatenate(
        [np.zeros(cdf.shape[:2] + (1,)), cdf, np.ones(cdf.shape[:2] + (1,))], axis=2
    )
    P = np.einsum("ik,ikj->ij", weights, np.diff(cdf, axis=2))
    A = P.T - np.eye(n_grid)
    A[-1] = 1.0
    b = np.zeros(n_grid)
    b[-1] = 1.0
    pi = np.linalg.solve(A, b)
    exact = system.density(centres)
    idx = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, len(edges) - 2)
    binned = [np.bincount(idx, w, minlength=len(edges) - 1) for w in (pi, exact)]
    return _tv(binned[0] / binned[0].sum(), binned[1] / binned[1].sum())


def run_one(task):
    """Generate one data set, fit every configuration on it, measure each."""
    import torch
    from sklearn.exceptions import ConvergenceWarning

    from sklss import MDNPropagator
    from sklss.analysis import compare_stationary_distributions, msm_timescales

    system_name, n_frames, seed, config_names, n_threads = task
    if n_threads:
        # Threads for torch and for numpy's BLAS: more threads than free cores
        # slow the small matrix products of training and sampling many times over
        # (spinning threads), so one per process is the default.
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(n_threads)
        threadpool_limits(n_threads)
    system = SYSTEMS[system_name]
    start = time.perf_counter()
    data = system.make(n_frames, seed)
    data_seconds = time.perf_counter() - start
    edges = system.edges()
    exact = system.exact(edges)
    first = edges if system.dim == 1 else edges[0]
    msm_edges = np.linspace(first[0], first[-1], N_MSM_BINS + 1)
    t_data = {}  # by MSM lag time in frames
    tv_data = _tv(_histogram(system, data, edges), exact)
    starts = data[np.linspace(0, n_frames - 1, N_GENERATED_TRAJECTORIES).astype(int)]
    n_steps = GENERATED_PER_DATA_FRAME * n_frames // N_GENERATED_TRAJECTORIES
    records = []
    for config in config_names:
        params = dict(CONFIGS[config])
        lag = system.lagtime * params.pop("lag_factor", 1)
        params.update(lagtime=lag, random_state=seed)
        # The MSM lag closest to the system's that is a whole number of steps.
        msm_steps = max(1, round(system.msm_lag / lag))
        if msm_steps * lag not in t_data:
            t_data[msm_steps * lag] = float(
                msm_timescales(
                    data, msm_edges, lagtime=msm_steps * lag, n_timescales=1
                )[0]
            )
        mdn = MDNPropagator(**params)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            mdn.fit(data)
        fit_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        generated = mdn.sample(starts, n_steps, random_state=seed)
        sample_seconds = time.perf_counter() - t0
        frames = generated.reshape(-1, system.dim)
        t_gen = float(
            msm_timescales(
                list(generated),
                msm_edges,
                lagtime=msm_steps,
                n_timescales=1,
            )[0]
            * lag
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            check = compare_stationary_distributions(data, generated)
        tv_chain = (
            _chain_stationary_error(mdn, system, edges) if system.dim == 1 else None
        )
        records.append(
            {
                "system": system_name,
                "n_frames": n_frames,
                "seed": seed,
                "config": config,
                "params": {k: v for k, v in params.items() if k != "random_state"},
                "tv_generated": _tv(_histogram(system, frames, edges), exact),
                "tv_data": tv_data,
                "tv_chain": tv_chain,
                "t_data": t_data[msm_steps * lag],
                "msm_lag": msm_steps * lag,
                "t_generated": t_gen,
                "t_ratio": t_gen / t_data[msm_steps * lag],
                "check_passed": check.passed,
                "check_ratio": float(np.max(check.ratio)),
                "n_epochs": int(mdn.n_epochs_),
                "converged": bool(mdn.converged_),
                "fit_seconds": fit_seconds,
                "sample_seconds": sample_seconds,
                "data_seconds": data_seconds,
            }
        )
    return records


# ------------------------------------------------------------------- summary


def summarize(records):
    """Mean and worst over seeds per (system, n_frames, config)."""
    groups = {}
    for r in records:
        groups.setdefault((r["system"], r["n_frames"], r["config"]), []).append(r)
    rows = []
    for (system, n_frames, config), rs in groups.items():
        tv_gen = np.array([r["tv_generated"] for r in rs])
        tv_data = np.array([r["tv_data"] for r in rs])
        ratio = np.array([r["t_ratio"] for r in rs])
        chain = [r["tv_chain"] for r in rs if r["tv_chain"] is not None]
        check = [r["check_ratio"] for r in rs if r["check_ratio"] is not None]
        worst_ratio = ratio[np.argmax(np.abs(np.log(ratio)))]
        rows.append(
            {
                "system": system,
                "n_frames": n_frames,
                "config": config,
                "n_seeds": len(rs),
                "tv_generated_mean": float(tv_gen.mean()),
                "tv_generated_worst": float(tv_gen.max()),
                "tv_data_mean": float(tv_data.mean()),
                "tv_data_worst": float(tv_data.max()),
                "tv_chain_mean": float(np.mean(chain)) if chain else None,
                "tv_chain_worst": float(np.max(chain)) if chain else None,
                "t_ratio_mean": float(ratio.mean()),
                "t_ratio_worst": float(worst_ratio),
                "check_failures": int(sum(not r["check_passed"] for r in rs)),
                "check_ratio_mean": float(np.mean(check)) if check else None,
                "check_ratio_worst": float(np.max(check)) if check else None,
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rs])),
                "n_epochs_mean": float(np.mean([r["n_epochs"] for r in rs])),
            }
        )
    return rows


def markdown_table(rows):
    lines = [
        "| system | frames | config | TV generated, mean (worst) | TV data, mean "
        "(worst) | TV learned chain, mean (worst) | t gen / t data, mean (worst) | "
        "drift check fails (distance / noise, mean) | fit s | epochs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        chain = (
            "–"
            if r["tv_chain_mean"] is None
            else f"{r['tv_chain_mean']:.3f} ({r['tv_chain_worst']:.3f})"
        )
        check = "–" if r["check_ratio_mean"] is None else f"{r['check_ratio_mean']:.1f}"
        lines.append(
            f"| {r['system']} | {r['n_frames']:.0e} | {r['config']} | "
            f"{r['tv_generated_mean']:.3f} ({r['tv_generated_worst']:.3f}) | "
            f"{r['tv_data_mean']:.3f} ({r['tv_data_worst']:.3f}) | {chain} | "
            f"{r['t_ratio_mean']:.2f} ({r['t_ratio_worst']:.2f}) | "
            f"{r['check_failures']}/{r['n_seeds']} ({check}) | "
            f"{r['fit_seconds_mean']:.0f} | "
            f"{r['n_epochs_mean']:.0f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- main


def main(argv=None):
    """Run the study, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 3 min)")
    parser.add_argument("--systems", default=None, help="comma-separated names")
    parser.add_argument("--configs", default="default,kernels8")
    parser.add_argument("--lengths", default="20000,200000", help="data frames")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads per process (0: leave the libraries' defaults)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--records",
        default=None,
        help="JSON-lines file: every finished run is appended, runs already in it "
        "are skipped (an interrupted study resumes)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        systems = ["four-well-kT1", "ou"]
        lengths, seeds = [10_000], 1
    else:
        systems = args.systems.split(",") if args.systems else list(SYSTEMS)
        lengths, seeds = [int(n) for n in args.lengths.split(",")], args.seeds
    configs = args.configs.split(",")
    for name in systems:
        if name not in SYSTEMS:
            parser.error(f"unknown system {name!r}; choose from {list(SYSTEMS)}")
    for name in configs:
        if name not in CONFIGS:
            parser.error(f"unknown config {name!r}; choose from {list(CONFIGS)}")
    n_threads = args.threads
    done, records = set(), []
    if args.records and os.path.exists(args.records):
        with open(args.records) as fh:
            for line in fh:
                r = json.loads(line)
                key = (r["system"], r["n_frames"], r["seed"], r["config"])
                if key[0] in systems and key[1] in lengths and key[3] in configs:
                    if key[2] < seeds and key not in done:
                        done.add(key)
                        records.append(r)
    # Longest data sets first, so that the workers finish together.
    tasks = sorted(
        (
            (system, n, seed, [config], n_threads)
            for system in systems
            for n in lengths
            for seed in range(seeds)
            for config in configs
            if (system, n, seed, config) not in done
        ),
        key=lambda t: -t[1],
    )
    start = time.perf_counter()

    def finished(result):
        records.extend(result)
        _progress(result, start)
        if args.records:
            with open(args.records, "a") as fh:
                for r in result:
                    fh.write(json.dumps(r) + "\n")

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for future in as_completed([pool.submit(run_one, t) for t in tasks]):
                finished(future.result())
    else:
        for task in tasks:
            finished(run_one(task))
    wall = time.perf_counter() - start
    order = {
        (s, n, c): i
        for i, (s, n, c) in enumerate(
            (s, n, c) for s in systems for n in lengths for c in configs
        )
    }
    rows = sorted(
        summarize(records), key=lambda r: order[r["system"], r["n_frames"], r["config"]]
    )
    print()
    for name in systems:
        print(f"{name}: {SYSTEMS[name].description}")
    print()
    print(markdown_table(rows))
    print(f"\nwall time {wall:.0f} s with {args.jobs} process(es)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "settings": {
                        "systems": {n: SYSTEMS[n].description for n in systems},
                        "configs": {c: CONFIGS[c] for c in configs},
                        "lengths": lengths,
                        "seeds": seeds,
                        "jobs": args.jobs,
                        "generated_frames_per_data_frame": GENERATED_PER_DATA_FRAME,
                        "n_generated_trajectories": N_GENERATED_TRAJECTORIES,
                        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                    },
                    "wall_seconds_this_invocation": wall,
                    "rows": rows,
                    "records": records,
                },
                fh,
                indent=1,
            )
    return rows


def _progress(records, start):
    for r in records:
        print(
            f"[{time.perf_counter() - start:6.0f} s] {r['system']} n={r['n_frames']} "
            f"seed={r['seed']} {r['config']}: TV gen {r['tv_generated']:.3f} "
            f"(data {r['tv_data']:.3f}, chain {r['tv_chain'] or float('nan'):.3f}), "
            f"t ratio {r['t_ratio']:.2f}, "
            f"check {'pass' if r['check_passed'] else 'FAIL'}, fit "
            f"{r['fit_seconds']:.0f} s, {r['n_epochs']} epochs",
            flush=True,
        )


if __name__ == "__main__":
    main()
