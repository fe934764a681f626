"""``sklss demo``: the latent space simulator end to end on a built-in system.

Alanine dipeptide (default): OpenMM data (cached), featurisation, model selection
(lag time and latent dimension from the SRV spectrum), the full
:class:`~sklss.LatentSpaceSimulator`, synthetic trajectories at least 100 times as
long as the MD, and the paper's validation metrics computed from the files written.
Four-well: the paper's §3.1, the MDN propagator directly on ``x``.
"""

import json
import math
import time
import warnings
from pathlib import Path

import mdtraj as md
import numpy as np

from ._io import atomic_path

__all__ = ["run_demo"]

SYSTEMS = ("alanine-dipeptide", "four-well")

# Network sizes and training budgets. "full" is what `sklss demo` runs; "tiny" keeps
# every stage but shrinks it, for tests and smoke runs (its metrics mean nothing).
_SIZES = {
    "full": {
        "scan_lagtimes": (1, 2, 5, 10, 20),
        "scan_epochs": 30,
        "max_components": 4,
        "structural_components": 1,
        "srv": {"hidden_layer_sizes": (100, 100), "max_epochs": 100},
        "mdn": {
            "n_kernels": 8,
            "hidden_layer_sizes": (100, 100),
            "max_epochs": 200,
            "batch_size": 256,
            "n_iter_no_change": 15,
        },
        "decoder": {
            "noise_dim": 50,
            "hidden_layer_sizes": (200, 200, 200),
            "max_epochs": 100,
            "batch_size": 256,
            "learning_rate": 1e-4,
        },
        "n_trajectories": 200,
        "decoded_per_md_frame": 4,
        "min_count": 20,
        "four_well_steps": 5_000_000,
    },
    "tiny": {
        "scan_lagtimes": (1, 2),
        "scan_epochs": 3,
        "max_components": 2,
        "structural_components": 1,
        "srv": {"hidden_layer_sizes": (16,), "max_epochs": 5},
        "mdn": {"n_kernels": 2, "hidden_layer_sizes": (16,), "max_epochs": 5},
        "decoder": {
            "noise_dim": 4,
            "hidden_layer_sizes": (16,),
            "max_epochs": 2,
            "n_critic": 2,
        },
        "n_trajectories": 10,
        "decoded_per_md_frame": 1,
        "min_count": 1,
        "four_well_steps": 200_000,
    },
}

# Pass/fail thresholds of issue 6 ("Done means"); the report states each one.
THRESHOLDS = {
    "ramachandran_rmse_kT": 0.5,
    "timescale_relative_tolerance": 0.2,
    "bond_length_relative_error": 0.02,
    "speedup": 1e4,
}


class _Log:
    """Timestamped progress lines on stdout when verbose."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.start = time.perf_counter()

    def __call__(self, message):
        if self.verbose:
            print(f"[{time.perf_counter() - self.start:7.1f} s] {message}", flush=True)


def _check_choice(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}.")
    return value


def _check_optional_int(value, name, minimum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int or None; got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or None; got {value}.")
    return int(value)


def run_demo(
    out_dir="sklss-demo",
    system="alanine-dipeptide",
    *,
    n_frames=None,
    data_home=None,
    lagtime=None,
    n_components=None,
    generation_factor=100,
    size="full",
    random_state=0,
    verbose=True,
):
    """Run the demo: fit a latent space simulator, generate, validate, write files.

    Parameters
    ----------
    out_dir : str or path-like, default="sklss-demo"
        Directory for every output file (created if needed).
    system : {"alanine-dipeptide", "four-well"}, default="alanine-dipeptide"
        Alanine dipeptide in implicit solvent (OpenMM, see
        :func:`sklss.datasets.load_alanine_dipeptide`), or the paper's 1-D
        four-well potential (§3.1, an MDN propagator on ``x`` alone).
    n_frames : int or None, default=None
        MD frames (1 ps apart) for alanine dipeptide; None uses the data set's
        default (25 ns, generated once and cached). Ignored for the four-well.
    data_home : str or path-like or None, default=None
        Cache directory of the MD data (see
        :func:`sklss.datasets.load_alanine_dipeptide`).
    lagtime : int or None, default=None
        Lag time in frames; None selects it from SRV implied time scales.
    n_components : int or None, default=None
        Latent dimension; None selects it from the gap in the SRV spectrum.
    generation_factor : float, default=100
        Total length of the synthetic trajectories as a multiple of the MD length.
    size : {"full", "tiny"}, default="full"
        Network sizes and training budgets. "tiny" runs every stage with tiny
        networks in seconds (for tests); its metrics are meaningless.
    random_state : int, default=0
        Seed of training and generation (the MD data always use seed 0).
    verbose : bool, default=True
        Print progress and show progress bars.

    Returns
    -------
    report : dict
        The content of ``report.json``: settings, metrics, pass/fail of each
        criterion, wall times and the files written.
    """
    _check_choice(system, "system", SYSTEMS)
    _check_choice(size, "size", tuple(_SIZES))
    n_frames = _check_optional_int(n_frames, "n_frames", 100)
    lagtime = _check_optional_int(lagtime, "lagtime", 1)
    n_components = _check_optional_int(n_components, "n_components", 1)
    if not isinstance(generation_factor, int | float) or not generation_factor > 0:
        raise ValueError(
            f"generation_factor must be a positive number; got {generation_factor!r}."
        )
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise TypeError(f"random_state must be an int; got {random_state!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(verbose)
    if system == "four-well":
        report = _four_well(out, _SIZES[size], generation_factor, random_state, log)
    else:
        report = _alanine(
            out,
            _SIZES[size],
            n_frames=n_frames,
            data_home=data_home,
            lagtime=lagtime,
            n_components=n_components,
            generation_factor=generation_factor,
            seed=random_state,
            verbose=verbose,
            log=log,
        )
    report["total_wall_time_s"] = time.perf_counter() - log.start
    report["size"] = size
    report = _jsonable(report)  # what is returned is what report.json holds
    _write_json(out / "report.json", report)
    log(f"wrote {out / 'report.json'} (total {report['total_wall_time_s']:.0f} s)")
    return report


# ----------------------------------------------------------------------- writing
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _write_json(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        # Table axes cannot be laid out; bbox_inches="tight" below still fits them.
        warnings.filterwarnings("ignore", message="This figure includes Axes")
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _save_trajectory(traj, path):
    with atomic_path(path) as tmp:
        traj.save(str(tmp))


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


# ------------------------------------------------------------- alanine dipeptide
def _featurizer():
    """Backbone torsions (sin, cos) and all heavy-atom pair distances.

    Applied to heavy-atom trajectories, so that MD and decoded LSS structures (which
    have no hydrogens) get identical features.
    """
    from sklearn.pipeline import FeatureUnion

    from ._molecules import DistanceFeaturizer, TorsionFeaturizer

    return FeatureUnion(
        [
            ("torsions", TorsionFeaturizer(angles=("phi", "psi"))),
            ("distances", DistanceFeaturizer("all")),
        ]
    )


def _spectrum_srv(features, lagtime, sizes, seed):
    """A short SRV fit whose eigenvalues guide the choice of lag and dimension."""
    from . import SRVTransformer

    srv = SRVTransformer(
        lagtime=lagtime,
        n_components=min(sizes["max_components"], features.shape[1]),
        hidden_layer_sizes=sizes["srv"]["hidden_layer_sizes"],
        max_epochs=sizes["scan_epochs"],
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short scans stop before convergence
        return srv.fit(features)


def _select_lagtime(features, sizes, seed, log):
    """Lag time from the SRV implied time scales at candidate lags.

    An SRV with ``max_components`` outputs is fitted at each candidate lag. The
    chosen lag is the smallest one at which

    - the leading time scale ``t1`` has converged (within 10 % of its value at the
      next candidate), the usual Markovianity test of implied time scales;
    - ``t1 >= 2 * lag``, so that the propagator resolves the slowest process in
      several steps;
    - the next process has decayed within one step to ``exp(-2)``
      (``t2 <= lag / 2``), so that the processes left out of the latent space look
      like uncorrelated noise to the propagator.

    Without such a lag, the largest candidate with ``t1 >= 2 * lag`` is used.
    """

    scan = []
    n = len(features)
    for lag in sizes["scan_lagtimes"]:
        if lag >= n // 20:
            continue
        srv = _spectrum_srv(features, lag, sizes, seed)
        scan.append(
            {
                "lagtime": lag,
                "eigenvalues": srv.eigenvalues_.tolist(),
                "timescales": srv.timescales_.tolist(),
            }
        )
        log(
            f"  SRV scan lag {lag:3d}: time scales "
            + ", ".join(f"{t:.1f}" for t in srv.timescales_)
        )
    if not scan:
        raise ValueError(f"{n} frames are too few to select a lag time.")

    def t(entry, i):
        value = entry["timescales"][i] if i < len(entry["timescales"]) else 0.0
        return value if np.isfinite(value) else 0.0

    resolving = [e for e in scan if t(e, 0) >= 2 * e["lagtime"]] or scan[:1]
    chosen = resolving[-1]
    for a, b in zip(scan[:-1], scan[1:], strict=True):
        if (
            t(a, 0) >= 2 * a["lagtime"]
            and abs(t(a, 0) - t(b, 0)) <= 0.1 * t(b, 0)
            and t(a, 1) <= a["lagtime"] / 2
        ):
            chosen = a
            break
    return chosen["lagtime"], scan, chosen


def _select_dimension(eigenvalues, structural=1):
    """Latent dimension: the slow processes, plus ``structural`` faster ones.

    The slow processes are those that survive one lag (``lambda > exp(-1)``, time
    scale longer than the lag): the kinetics the propagator must reproduce. The
    next ``structural`` eigenfunctions (the slowest of the fast motions) are added
    as information for the decoder: they tell it which configurational substate a
    frame is in, which the slow coordinates alone do not; the propagator samples
    them as fast variables (see the module notes).
    """
    lam = np.nan_to_num(np.asarray(eigenvalues, dtype=float))
    slow = max(1, int(np.sum(lam > np.exp(-1))))
    return min(slow + structural, len(lam)), slow


def _alanine(
    out,
    sizes,
    *,
    n_frames,
    data_home,
    lagtime,
    n_components,
    generation_factor,
    seed,
    verbose,
    log,
):
    import joblib

    from . import (
        AlignedCoordinates,
        CWGANDecoder,
        LatentSpaceSimulator,
        MDNPropagator,
        SRVTransformer,
    )
    from .datasets import load_alanine_dipeptide

    report = {"system": "alanine-dipeptide", "thresholds": THRESHOLDS}
    timings = {}

    # -- data ------------------------------------------------------------------
    log("loading alanine dipeptide MD (generated with OpenMM on first use)")
    kwargs = {} if n_frames is None else {"n_frames": n_frames}
    t0 = time.perf_counter()
    traj, meta = load_alanine_dipeptide(
        **kwargs, data_home=data_home, return_metadata=True, verbose=verbose
    )
    timings["load_data_s"] = time.perf_counter() - t0
    dt_ps = float(meta["frame_interval_ps"])
    report["md"] = {
        "n_frames": traj.n_frames,
        "length_ns": traj.n_frames * dt_ps / 1000,
        "frame_interval_ps": dt_ps,
        "data_file": meta.get("path"),
        "settings": meta.get("settings"),
    }
    log(f"  {traj.n_frames} frames, {traj.n_frames * dt_ps / 1000:.1f} ns")

    heavy_idx = traj.topology.select("element != H")
    heavy = traj.atom_slice(heavy_idx)
    featurizer = _featurizer().fit(heavy)
    features = np.asarray(featurizer.transform(heavy), dtype=np.float32)
    report["features"] = {
        "n_features": features.shape[1],
        "description": "sin/cos of backbone phi and psi, all heavy-atom pair "
        "distances (nm); the SRV standardises each feature before its first layer",
    }

    # -- model selection ---------------------------------------------------------
    t0 = time.perf_counter()
    scan = chosen = None
    if lagtime is None:
        log("selecting the lag time from SRV implied time scales")
        lagtime, scan, chosen = _select_lagtime(features, sizes, seed, log)
    spectrum = n_slow = None
    if n_components is None:
        if chosen is None:
            log(f"measuring the SRV spectrum at lag {lagtime}")
            srv = _spectrum_srv(features, lagtime, sizes, seed)
            chosen = {
                "eigenvalues": srv.eigenvalues_.tolist(),
                "timescales": srv.timescales_.tolist(),
            }
        n_components, n_slow = _select_dimension(
            chosen["eigenvalues"], sizes["structural_components"]
        )
        spectrum = {
            "eigenvalues": chosen["eigenvalues"],
            "timescales_ps": [x * dt_ps for x in chosen["timescales"]],
        }
    timings["model_selection_s"] = time.perf_counter() - t0
    report["model_selection"] = {
        "lagtime_frames": lagtime,
        "lagtime_ps": lagtime * dt_ps,
        "n_components": n_components,
        "lagtime_scan": scan,
        "spectrum_at_lagtime": spectrum,
        "n_slow_processes": n_slow,
        "rule": "lag: smallest candidate where the leading SRV time scale t1 is "
        "within 10% of its value at the next candidate, t1 >= 2 lags and the next "
        "time scale t2 <= lag / 2; dimension: the processes slower than the lag "
        "(eigenvalue > exp(-1)) plus the next (fast) SRV coordinate(s) as "
        "structural information for the decoder",
    }
    log(f"  lag time {lagtime} frames ({lagtime * dt_ps:g} ps), {n_components} latent")

    # -- fit -----------------------------------------------------------------------
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=n_components, **sizes["srv"]),
        propagator=MDNPropagator(verbose=verbose, **sizes["mdn"]),
        decoder=CWGANDecoder(verbose=verbose, **sizes["decoder"]),
        lagtime=lagtime,
        coordinates=AlignedCoordinates("element != H"),
        timestep=dt_ps,
        random_state=seed,
    )
    log("fitting the latent space simulator (SRV encoder, MDN propagator, cWGAN)")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(features, y=traj)
    timings["training_s"] = time.perf_counter() - t0
    for name in ("encoder_", "propagator_", "decoder_"):
        est = getattr(sim, name)
        timings[f"training_{name[:-1]}_s"] = float(
            sum(h.get("duration", 0.0) for h in est.history_)
        )
    report["training"] = {
        "encoder_epochs": sim.encoder_.n_epochs_,
        "propagator_epochs": sim.propagator_.n_epochs_,
        "decoder_epochs": sim.decoder_.n_epochs_,
        "encoder_timescales_ps": (sim.encoder_.timescales_ * dt_ps).tolist(),
        "encoder_eigenvalues": sim.encoder_.eigenvalues_.tolist(),
    }
    log(
        f"  trained in {timings['training_s']:.0f} s; SRV time scales (ps) "
        + ", ".join(f"{t * dt_ps:.1f}" for t in sim.encoder_.timescales_)
    )
    model_path = out / "simulator.joblib"
    with atomic_path(model_path) as tmp:
        joblib.dump(sim, tmp)

    # -- generate ------------------------------------------------------------------
    n_traj = sizes["n_trajectories"]
    md_ps = traj.n_frames * dt_ps
    n_steps = math.ceil(generation_factor * md_ps / (n_traj * lagtime * dt_ps))
    frames_per_traj = n_steps + 1
    decode_stride = max(
        1,
        (n_traj * frames_per_traj) // (sizes["decoded_per_md_frame"] * traj.n_frames),
    )
    log(
        f"generating {n_traj} latent trajectories x {n_steps} steps "
        f"({n_traj * n_steps * lagtime * dt_ps / 1000:.0f} ns)"
    )
    t0 = time.perf_counter()
    result = sim.sample(n_steps, n_traj, random_state=seed, decode=False)
    timings["generation_latent_s"] = time.perf_counter() - t0
    latent = result.latent
    sub = latent[:, ::decode_stride]
    log(f"decoding every {decode_stride}th frame: {sub.shape[0] * sub.shape[1]} frames")
    t0 = time.perf_counter()
    configs = np.asarray(
        sim.decoder_.sample(sub.reshape(-1, n_components), random_state=seed + 1)
    )
    timings["generation_decoding_s"] = time.perf_counter() - t0
    timings["generation_s"] = (
        timings["generation_latent_s"] + timings["generation_decoding_s"]
    )

    # -- write -----------------------------------------------------------------------
    reference = sim.coordinates_.reference_
    files = {
        "topology": "topology.pdb",
        "md_trajectory": "md.dcd",
        "lss_trajectory": "lss.dcd",
        "latent": "latent.npz",
        "simulator": "simulator.joblib",
    }
    _save_trajectory(reference, out / files["topology"])
    md_aligned = sim.coordinates_.inverse_transform(sim.coordinates_.transform(traj))
    _save_trajectory(md_aligned, out / files["md_trajectory"])
    lss_traj = sim.coordinates_.inverse_transform(configs)
    _save_trajectory(lss_traj, out / files["lss_trajectory"])
    md_latent = np.asarray(sim.transform(features), dtype=np.float32)
    with atomic_path(out / files["latent"]) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            md=md_latent,
            lss=latent.astype(np.float32),
            lagtime=lagtime,
            frame_interval_ps=dt_ps,
            decode_stride=decode_stride,
        )
    report["generation"] = {
        "n_trajectories": n_traj,
        "n_steps": n_steps,
        "step_ps": lagtime * dt_ps,
        "total_length_ns": n_traj * n_steps * lagtime * dt_ps / 1000,
        "length_factor": n_traj * n_steps * lagtime / traj.n_frames,
        "decode_stride": decode_stride,
        "decoded_frames": int(len(configs)),
        "decoded_frame_interval_ps": decode_stride * lagtime * dt_ps,
        "lss_file_layout": f"{n_traj} trajectories one after another, "
        f"{sub.shape[1]} frames each",
    }
    report["files"] = files
    log(f"wrote {', '.join(files.values())} to {out}")

    # -- metrics from the files ---------------------------------------------------
    log("computing the validation metrics from the written files")
    md_file = md.load(str(out / files["md_trajectory"]), top=str(out / "topology.pdb"))
    lss_file = md.load(
        str(out / files["lss_trajectory"]), top=str(out / "topology.pdb")
    )
    ref_file = md.load(str(out / files["topology"]))
    with np.load(out / files["latent"]) as data:
        md_latent_f, lss_latent_f = data["md"], data["lss"]
    lss_list = np.split(lss_file.xyz, n_traj)
    lss_trajs = [md.Trajectory(x, lss_file.topology) for x in lss_list]
    metrics, figures = _alanine_metrics(
        md_file,
        lss_trajs,
        ref_file,
        md_latent_f,
        list(lss_latent_f),
        lagtime=lagtime,
        dt_ps=dt_ps,
        featurizer=featurizer,
        min_count=sizes["min_count"],
    )
    report["metrics"] = metrics

    # -- cost ------------------------------------------------------------------------
    report["cost"] = _cost(meta, report["generation"], timings)
    report["timings"] = timings
    report["passed"] = {
        "ramachandran_rmse": metrics["ramachandran"]["rmse_kT"]
        <= THRESHOLDS["ramachandran_rmse_kT"],
        "no_missing_basin": len(metrics["ramachandran"]["missing_basins"]) == 0,
        "timescales": bool(metrics["timescales"]["leading"])
        and all(t["within"] for t in metrics["timescales"]["leading"]),
        "bond_lengths": metrics["bond_lengths"]["max_relative_error"]
        <= THRESHOLDS["bond_length_relative_error"],
        "speedup": report["cost"]["speedup"] >= THRESHOLDS["speedup"],
    }
    report["passed"]["all"] = all(report["passed"].values())

    # -- figures ---------------------------------------------------------------------
    figures["training"] = _training_figure(sim)
    names = {}
    for name, fig in figures.items():
        path = out / f"{name}.png"
        _save_figure(fig, path)
        names[name] = path.name
    report["figures"] = names
    log(
        "Ramachandran RMSE {:.2f} kT, missing basins {}, time scales {}, bonds "
        "{:.2%}, speed-up {:.2g}x".format(
            metrics["ramachandran"]["rmse_kT"],
            len(metrics["ramachandran"]["missing_basins"]),
            ", ".join(
                f"{t['md_ps']:.1f}±{t['md_standard_error_ps']:.1f} vs "
                f"{t['lss_ps']:.1f} ps"
                for t in metrics["timescales"]["leading"]
            ),
            metrics["bond_lengths"]["max_relative_error"],
            report["cost"]["speedup"],
        )
    )
    return report


def _cost(meta, generation, timings):
    """MD (OpenMM, this machine) vs LSS ns per day of wall time."""
    md_speed = {"source": "dataset metadata", "ns_per_day": meta.get("ns_per_day")}
    try:
        from .datasets._alanine import measure_md_speed

        live = measure_md_speed(n_steps=10_000)
        md_speed = {"source": "measured now (10,000 steps)", **live}
        md_speed["dataset_ns_per_day"] = meta.get("ns_per_day")
    except ImportError:  # OpenMM absent: cached data, speed from their metadata
        pass
    simulated_ns = generation["total_length_ns"]
    per_day = 86400.0 / 1.0
    lss_latent = simulated_ns / timings["generation_latent_s"] * per_day
    lss_total = simulated_ns / timings["generation_s"] * per_day
    return {
        "md_ns_per_day": md_speed["ns_per_day"],
        "md_speed": md_speed,
        "lss_ns_per_day": lss_total,
        "lss_ns_per_day_latent_only": lss_latent,
        "lss_ns_per_day_includes": "latent propagation of all frames and decoding "
        "of the written (strided) frames",
        "speedup": lss_total / md_speed["ns_per_day"],
        "note": "wall times on a shared 2-core CPU; other processes competed",
    }


def _bond_lengths(md_traj, lss_trajs):
    top = md_traj.topology
    pairs = np.array([[b[0].index, b[1].index] for b in top.bonds])
    if len(pairs) == 0:
        raise ValueError("The topology has no bonds to compare.")
    d_md = md.compute_distances(md_traj, pairs)
    d_lss = np.concatenate([md.compute_distances(t, pairs) for t in lss_trajs])
    m_md, m_lss = d_md.mean(0), d_lss.mean(0)
    rel = np.abs(m_lss - m_md) / m_md
    labels = [f"{top.atom(int(a))}-{top.atom(int(b))}" for a, b in pairs]
    return {
        "bonds": labels,
        "md_mean_nm": m_md,
        "lss_mean_nm": m_lss,
        "md_std_nm": d_md.std(0),
        "lss_std_nm": d_lss.std(0),
        "relative_error": rel,
        "max_relative_error": float(rel.max()),
        "mean_relative_error": float(rel.mean()),
    }, (d_md, d_lss, labels)


def _psi1_cores(md_latent):
    """Two metastable cores on ψ1: within 1 kT of the two deepest profile minima."""
    from .analysis import free_energy_profile

    prof = free_energy_profile(md_latent, bins=50)
    f = np.nan_to_num(prof.free_energy, nan=np.inf)
    # Local minima of the profile, deepest first.
    interior = [
        i
        for i in range(len(f))
        if f[i] <= f[max(i - 1, 0)] and f[i] <= f[min(i + 1, len(f) - 1)]
    ]
    interior.sort(key=lambda i: f[i])
    if len(interior) < 2:
        return None
    a, b = sorted(interior[:2])
    cores = []
    for m in (a, b):
        lo = hi = m
        while lo > 0 and f[lo - 1] <= f[m] + 1:
            lo -= 1
        while hi < len(f) - 1 and f[hi + 1] <= f[m] + 1:
            hi += 1
        cores.append((prof.bin_edges[lo], prof.bin_edges[hi + 1]))
    if cores[0][1] >= cores[1][0]:
        return None
    return cores


def _alanine_metrics(
    md_traj,
    lss_trajs,
    reference,
    md_latent,
    lss_latent,
    *,
    lagtime,
    dt_ps,
    featurizer,
    min_count,
):
    from . import analysis as A

    metrics, figures = {}, {}

    # Ramachandran.
    rama = A.compare_ramachandran(md_traj, lss_trajs, min_count=min_count)
    metrics["ramachandran"] = {
        "rmse_kT": rama.rmse,
        "n_bins_compared": rama.n_bins,
        "n_missing_bins": rama.n_missing_bins,
        "basin_population_md": rama.basin_population_reference,
        "basin_population_lss": rama.basin_population_generated,
        "missing_basins": rama.missing_basins,
        "settings": f"36x36 bins (10 degrees); populated = >= {min_count} MD "
        "frames; basins "
        "within 3 kT of the minimum holding >= 1% of MD; missing = LSS population "
        "< 10% of MD's",
    }
    fig, axes = _figure(1, 2, figsize=(11, 4.5))
    vmax = float(np.nanmax(rama.reference.free_energy))
    A.plot_ramachandran(rama.reference, title="MD", vmax=vmax, ax=axes[0])
    A.plot_ramachandran(
        rama.generated,
        title=f"LSS (RMSE {rama.rmse:.2f} kT over populated bins)",
        vmax=vmax,
        ax=axes[1],
    )
    figures["ramachandran"] = fig

    # Free-energy profiles along every latent coordinate (ψ1 in the figure).
    m = md_latent.shape[1]
    profiles = []
    for i in range(m):
        lo, hi = float(md_latent[:, i].min()), float(md_latent[:, i].max())
        p_md = A.free_energy_profile(md_latent, coordinate=i, bins=50, range=(lo, hi))
        p_lss = A.free_energy_profile(lss_latent, coordinate=i, bins=50, range=(lo, hi))
        cmp = A.profile_rmse(p_md, p_lss)
        profiles.append({"coordinate": f"psi{i + 1}", "rmse_kT": cmp.rmse})
        if i == 0:
            fig, ax = _figure(figsize=(6, 4))
            A.plot_free_energy_profile(p_md, p_lss, labels=["MD", "LSS"], ax=ax)
            ax.set_xlabel("ψ1 (SRV)")
            ax.set_title(
                f"Free energy along ψ1 (5-block errors), RMSE {cmp.rmse:.2f} kT"
            )
            figures["free_energy_psi1"] = fig
    metrics["free_energy_profiles"] = profiles

    # Time scales: both at the propagator's spacing (MD strided by the lag).
    md_strided = md_latent[::lagtime]
    max_lag = max(10, min(len(md_strided) // 50, 200))
    ts_md = A.implied_timescales(md_strided, max_lag=max_lag)
    ts_lss = A.implied_timescales(lss_latent, max_lag=max_lag)
    step = lagtime * dt_ps
    leading, faster = [], []
    for i in range(m):
        t_md, se_md = ts_md.timescales[i] * step, ts_md.standard_error[i] * step
        t_lss, se_lss = ts_lss.timescales[i] * step, ts_lss.standard_error[i] * step
        tol = max(se_md, THRESHOLDS["timescale_relative_tolerance"] * t_md)
        entry = {
            "coordinate": f"psi{i + 1}",
            "md_ps": t_md,
            "md_standard_error_ps": se_md,
            "lss_ps": t_lss,
            "lss_standard_error_ps": se_lss,
            "relative_difference": (t_lss - t_md) / t_md,
            "within": bool(abs(t_lss - t_md) <= tol),
        }
        # A process faster than one propagator step has decayed before the first
        # sampled lag: its fitted time scale is not resolved by either series.
        (leading if t_md > step else faster).append(entry)
    metrics["timescales"] = {
        "leading": leading,
        "unresolved": faster,
        "method": "exponential fit of the autocorrelation of each SRV coordinate "
        "(fit up to C = exp(-2)), 5-block standard errors; MD taken every lag "
        "frames so that both series have the propagator's spacing; 'leading' "
        "are the coordinates whose MD time scale exceeds one propagator step, "
        "'unresolved' the faster ones (decayed within a step, not compared)",
        "max_lag_steps": max_lag,
    }
    fig, axes = _figure(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.2]})
    rows = [
        [
            t["coordinate"] + ("" if t in leading else " (< 1 step)"),
            f"{t['md_ps']:.1f} ± {t['md_standard_error_ps']:.1f}",
            f"{t['lss_ps']:.1f} ± {t['lss_standard_error_ps']:.1f}",
            f"{100 * t['relative_difference']:+.0f}%",
        ]
        for t in leading + faster
    ]
    axes[0].axis("off")
    table = axes[0].table(
        cellText=rows,
        colLabels=["process", "MD t (ps)", "LSS t (ps)", "difference"],
        loc="center",
    )
    table.scale(1, 1.6)
    axes[0].set_title("Implied time scales (5-block standard errors)")
    A.plot_autocorrelation(ts_md, ts_lss, labels=["MD", "LSS"], dt=step, ax=axes[1])
    axes[1].set_xlabel("lag / ps")
    axes[1].set_xlim(0, min(max_lag, 4 * max(ts_md.fit_window)) * step)
    figures["timescales"] = fig

    # Transitions between the two metastable ψ1 regions.
    cores = _psi1_cores(md_latent[:, :1])
    if cores is not None:
        tr_md = A.count_transitions(md_strided[:, :1], cores)
        tr_lss = A.count_transitions([z[:, :1] for z in lss_latent], cores)
        md_ns = len(md_strided) * step / 1000
        lss_ns = sum(len(z) for z in lss_latent) * step / 1000
        metrics["transitions"] = {
            "cores_psi1": cores,
            "md_count": tr_md.n_transitions,
            "md_per_ns": tr_md.n_transitions / md_ns,
            "lss_count": tr_lss.n_transitions,
            "lss_per_ns": tr_lss.n_transitions / lss_ns,
            "resolution_ps": step,
        }

    # Bond lengths.
    bonds, (d_md, d_lss, labels) = _bond_lengths(md_traj, lss_trajs)
    metrics["bond_lengths"] = bonds

    # RMSD and radius of gyration.
    rmsd_md = A.rmsd_to_reference(md_traj, reference)
    rmsd_lss = A.rmsd_to_reference(lss_trajs, reference)
    rg_md = A.radius_of_gyration(md_traj)
    rg_lss = A.radius_of_gyration(lss_trajs)
    structure = {}
    for name, v_md, v_lss in (("rmsd_nm", rmsd_md, rmsd_lss), ("rg_nm", rg_md, rg_lss)):
        a, b = A.block_average(v_md), A.block_average(v_lss)
        structure[name] = {
            "md_mean": a.mean,
            "md_standard_error": a.standard_error,
            "md_std": a.std,
            "lss_mean": b.mean,
            "lss_standard_error": b.standard_error,
            "lss_std": b.std,
        }
    metrics["structure"] = structure
    fig, axes = _figure(1, 3, figsize=(15, 4))
    A.plot_distributions(
        rmsd_md,
        rmsd_lss,
        labels=["MD", "LSS"],
        xlabel="RMSD to reference / nm",
        ax=axes[0],
    )
    A.plot_distributions(
        rg_md, rg_lss, labels=["MD", "LSS"], xlabel="Rg (heavy atoms) / nm", ax=axes[1]
    )
    x = np.arange(len(labels))
    axes[2].errorbar(x - 0.1, d_md.mean(0), d_md.std(0), fmt="o", label="MD")
    axes[2].errorbar(x + 0.1, d_lss.mean(0), d_lss.std(0), fmt="s", label="LSS")
    axes[2].set_xticks(x, labels, rotation=90, fontsize=7)
    axes[2].set_ylabel("bond length / nm (mean ± std)")
    axes[2].legend()
    figures["structure"] = fig

    # TICA of MD features vs features of the decoded structures.
    f_md = np.asarray(featurizer.transform(md_traj), dtype=np.float64)
    f_lss = [np.asarray(featurizer.transform(t), dtype=np.float64) for t in lss_trajs]
    tica = A.tica_comparison(f_md, f_lss, lagtime=lagtime, min_count=min_count)
    metrics["tica"] = {
        "rmse_kT": tica.rmse.rmse,
        "n_bins_compared": tica.rmse.n_bins,
        "n_missing_bins": tica.n_missing_bins,
        "lagtime_frames": lagtime,
    }
    fig, axes = _figure(1, 2, figsize=(10, 4))
    A.plot_tica_comparison(tica, axes=axes)
    figures["tica"] = fig
    return metrics, figures


def _training_figure(sim):
    fig, axes = _figure(1, 3, figsize=(15, 4))
    panels = (
        (sim.encoder_, "SRV encoder", ("loss", "val_loss"), "-VAMP-2"),
        (sim.propagator_, "MDN propagator", ("loss", "val_loss"), "NLL per step"),
        (sim.decoder_, "cWGAN decoder", ("wasserstein",), "Wasserstein estimate"),
    )
    for ax, (est, title, keys, ylabel) in zip(axes, panels, strict=True):
        for key in keys:
            values = [h.get(key) for h in est.history_]
            if any(v is not None for v in values):
                ax.plot(
                    np.arange(1, len(values) + 1),
                    [np.nan if v is None else v for v in values],
                    label=key,
                )
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        ax.legend()
    return fig


# ---------------------------------------------------------------------- four-well
def _four_well(out, sizes, generation_factor, seed, log):
    import joblib
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    from . import MDNPropagator
    from .datasets import make_four_well
    from .datasets._four_well import four_well_boltzmann_density

    report = {"system": "four-well"}
    timings = {}
    stride = 100
    n_steps = sizes["four_well_steps"]
    log(f"Brownian dynamics in the four-well potential: {n_steps:.0e} steps")
    t0 = time.perf_counter()
    X = make_four_well(n_steps, stride=stride, random_state=seed)
    timings["data_s"] = time.perf_counter() - t0
    mdn_params = {k: v for k, v in sizes["mdn"].items() if k != "batch_size"}
    mdn = MDNPropagator(lagtime=1, random_state=seed, **mdn_params)
    log(f"fitting the MDN propagator on {len(X)} frames (lag {stride} steps)")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdn.fit(X)
    timings["training_s"] = time.perf_counter() - t0
    n_gen = int(round(generation_factor * len(X)))
    # Several parallel trajectories: the same total length, faster to generate.
    n_traj = 100 if n_gen >= 100 * 200 else 1
    per_traj = n_gen // n_traj
    log(f"generating {n_traj} x {per_traj} frames")
    rng = np.random.default_rng(seed)
    starts = X[rng.integers(0, len(X), size=n_traj)]
    t0 = time.perf_counter()
    gen = mdn.sample(starts, per_traj, random_state=seed)
    timings["generation_s"] = time.perf_counter() - t0
    gen = np.asarray(gen).reshape(n_traj, per_traj + 1, 1)

    edges = np.linspace(-1.2, 1.2, 61)
    p_bd, _ = np.histogram(X[:, 0], edges)
    p_gen, _ = np.histogram(gen.ravel(), edges)
    p_bd, p_gen = p_bd / p_bd.sum(), p_gen / p_gen.sum()
    centers = 0.5 * (edges[1:] + edges[:-1])
    fine = np.linspace(edges[0], edges[-1], 2001)
    exact = four_well_boltzmann_density(fine)
    p_exact = np.array(
        [
            exact[(fine >= a) & (fine < b)].mean() * (b - a)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    p_exact /= p_exact.sum()
    msm_edges = np.linspace(-1.3, 1.3, 101)

    def timescales(trajs):
        dtrajs = [
            np.clip(np.digitize(t[:, 0], msm_edges) - 1, 0, len(msm_edges) - 2)
            for t in trajs
        ]
        counts = TransitionCountEstimator(1, "sliding").fit(dtrajs).fetch_model()
        msm = MaximumLikelihoodMSM(reversible=True).fit(counts.submodel_largest())
        return msm.fetch_model().timescales(3) * stride

    ts_bd, ts_gen = timescales([X]), timescales(list(gen))
    report["metrics"] = {
        "tv_distance_generated_vs_bd": 0.5 * float(np.abs(p_gen - p_bd).sum()),
        "tv_distance_generated_vs_exact": 0.5 * float(np.abs(p_gen - p_exact).sum()),
        "tv_distance_bd_vs_exact": 0.5 * float(np.abs(p_bd - p_exact).sum()),
        "msm_timescales_bd_steps": ts_bd,
        "msm_timescales_lss_steps": ts_gen,
        "msm": "reversible MLE MSM on 100 bins over [-1.3, 1.3], lag 100 steps",
    }
    report["data"] = {"n_frames": len(X), "stride_steps": stride}
    report["generation"] = {
        "n_trajectories": n_traj,
        "frames_per_trajectory": per_traj + 1,
        "length_factor": n_traj * per_traj / len(X),
    }
    report["training"] = {"epochs": mdn.n_epochs_}
    report["timings"] = timings
    with atomic_path(out / "mdn.joblib") as tmp:
        joblib.dump(mdn, tmp)
    np_path = out / "four_well.npz"
    with atomic_path(np_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, bd=X.astype(np.float32), lss=gen.astype(np.float32))
    report["files"] = {"model": "mdn.joblib", "trajectories": np_path.name}

    fig, axes = _figure(1, 3, figsize=(15, 4))
    ax = axes[0]
    ax.plot(fine, exact, "k-", label="exact")
    width = edges[1] - edges[0]
    ax.step(centers, p_bd / width, where="mid", label="BD")
    ax.step(centers, p_gen / width, where="mid", label="MDN")
    ax.set(xlabel="x", ylabel="p(x)", title="(a) stationary distribution")
    ax.legend()
    ax = axes[1]
    n_show = min(1000, len(X), gen.shape[1])
    t = np.arange(n_show) * stride
    ax.plot(t, X[:n_show, 0], lw=0.5, label="BD")
    ax.plot(t, gen[0, :n_show, 0] - 2.5, lw=0.5, label="MDN (shifted by -2.5)")
    ax.set(xlabel="time (steps)", ylabel="x", title="(b) trajectories")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    grid = np.linspace(-1.1, 1.1, 100)
    width = grid[1] - grid[0]
    learned = mdn.transition_density(grid[:, None], grid[:, None]) * width
    ax.imshow(
        learned.T,
        origin="lower",
        extent=(grid[0], grid[-1], grid[0], grid[-1]),
        cmap="viridis",
        aspect="auto",
    )
    ax.set(xlabel="x (from)", ylabel="x' (to)", title="(c) learned p(x' | x)")
    _save_figure(fig, out / "four_well.png")
    report["figures"] = {"four_well": "four_well.png"}
    log(
        "TV distance MDN vs BD {:.3f}; MSM time scales BD {} vs MDN {} steps".format(
            report["metrics"]["tv_distance_generated_vs_bd"],
            np.round(ts_bd).astype(int).tolist(),
            np.round(ts_gen).astype(int).tolist(),
        )
    )
    return report
