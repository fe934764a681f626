"""The report of ``sklss demo``: metrics, figures and ``report.json`` sections.

Built on the public API only (:mod:`sklss.analysis`, :mod:`sklss.plotting`,
:mod:`sklss.datasets`); the thresholds are the demo's pass/fail criteria.
"""

import contextlib
import json
import math
import time
import warnings

import numpy as np

from ._io import atomic_path

# Pass/fail criteria of the alanine dipeptide demo; the report states each one.
THRESHOLDS = {
    "ramachandran_rmse_kT": 0.5,
    "timescale_relative_tolerance": 0.2,
    "bond_length_relative_error": 0.02,
    "speedup": 1e4,
}

ALANINE_FILES = {
    "topology": "topology.pdb",
    "md_trajectory": "md.dcd",
    "lss_trajectory": "lss.dcd",
    "latent": "latent.npz",
    "simulator": "simulator.sklss",
}

SELECTION_RULE = (
    "lag: sklss.model_selection.select_lagtime, the smallest candidate where the "
    "leading SRV time scale t1 is within 10% of its value at the next candidate, "
    "t1 >= 2 lags and the next time scale t2 <= lag / 2; dimension: "
    "sklss.model_selection.select_dimension, the processes slower than the lag "
    "(eigenvalue > exp(-1)) plus the next (fast) SRV coordinate(s) as structural "
    "information for the decoder"
)


class Log:
    """Timestamped progress lines on stdout when verbose, and wall-time records."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.start = time.perf_counter()

    def __call__(self, message):
        if self.verbose:
            print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    def elapsed(self):
        return time.perf_counter() - self.start

    @contextlib.contextmanager
    def timed(self, timings, key):
        """Store the wall time of the block in ``timings[key]`` (seconds)."""
        t0 = time.perf_counter()
        yield
        timings[key] = time.perf_counter() - t0


# ----------------------------------------------------------------------- writing
def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_json(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def save_trajectory(traj, path):
    with atomic_path(path) as tmp:
        traj.save(str(tmp))


def save_figures(figures, out):
    """Write each figure to ``out/<name>.png``; returns ``{name: file name}``."""
    import matplotlib.pyplot as plt

    names = {}
    for name, fig in figures.items():
        with warnings.catch_warnings():
            # Table axes cannot be laid out; bbox_inches="tight" below still fits them.
            warnings.filterwarnings("ignore", message="This figure includes Axes")
            fig.tight_layout()
        path = out / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        names[name] = path.name
    return names


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _figure(*args, **kwargs):
    return _pyplot().subplots(*args, **kwargs)


# ------------------------------------------------------- alanine dipeptide sections
def md_summary(traj, meta):
    dt = float(meta["frame_interval_ps"])
    return {
        "n_frames": traj.n_frames,
        "length_ns": traj.n_frames * dt / 1000,
        "frame_interval_ps": dt,
        "data_file": meta.get("path"),
        "settings": meta.get("settings"),
    }


def feature_summary(features):
    return {
        "n_features": features.shape[1],
        "description": "sin/cos of backbone phi and psi, all heavy-atom pair "
        "distances (nm); the SRV standardises each feature before its first layer",
    }


def log_scan(log, selection):
    for lag, ts in zip(selection.lagtimes, selection.timescales, strict=True):
        log(
            f"  SRV scan lag {lag:3d}: time scales " + ", ".join(f"{t:.1f}" for t in ts)
        )
    if not selection.converged:
        log("  no candidate met the convergence rule; using the fallback lag")


def selection_summary(lagtime, n_components, n_slow, selection, spectrum, dt):
    scan = None
    if selection is not None:
        scan = [
            {"lagtime": lag, "eigenvalues": lam, "timescales": t}
            for lag, lam, t in zip(
                selection.lagtimes,
                selection.eigenvalues,
                selection.timescales,
                strict=True,
            )
        ]
    return {
        "lagtime_frames": lagtime,
        "lagtime_ps": lagtime * dt,
        "n_components": n_components,
        "lagtime_scan": scan,
        "spectrum_at_lagtime": None
        if spectrum is None
        else {
            "eigenvalues": spectrum.eigenvalues_,
            "timescales_ps": spectrum.timescales_ * dt,
        },
        "n_slow_processes": n_slow,
        "rule": SELECTION_RULE,
    }


def srv_of(sim):
    """The SRV of the simulator's encoder: the encoder itself, or the ``"srv"``
    part of a union that adds structural coordinates
    (:func:`sklss.model_selection.make_encoder`)."""
    encoder = sim.encoder_
    if hasattr(encoder, "named_transformers"):
        return encoder.named_transformers["srv"]
    return encoder


def coordinate_names(sim):
    """``psi1, psi2, ...`` for the SRV's coordinates, ``pc1, ...`` for the
    principal components after them."""
    n_srv = srv_of(sim).n_components
    return [f"psi{i + 1}" for i in range(n_srv)] + [
        f"pc{i + 1}" for i in range(sim.n_components_ - n_srv)
    ]


def training_summary(sim, dt):
    srv = srv_of(sim)
    return {
        "encoder_epochs": srv.n_epochs_,
        "propagator_epochs": sim.propagator_.n_epochs_,
        "decoder_epochs": sim.decoder_.n_epochs_,
        "encoder_timescales_ps": srv.timescales_ * dt,
        "encoder_eigenvalues": srv.eigenvalues_,
        "latent_coordinates": coordinate_names(sim),
    }


def stage_timings(sim):
    """Training time of each network, summed over its epochs."""
    networks = {"encoder": srv_of(sim), "propagator": sim.propagator_}
    networks["decoder"] = sim.decoder_
    return {
        f"training_{name}_s": float(sum(h.get("duration", 0.0) for h in est.history_))
        for name, est in networks.items()
    }


def generation_summary(n_traj, n_steps, lagtime, dt, n_md_frames, stride, n_written):
    return {
        "n_trajectories": n_traj,
        "n_steps": n_steps,
        "step_ps": lagtime * dt,
        "total_length_ns": n_traj * n_steps * lagtime * dt / 1000,
        "length_factor": n_traj * n_steps * lagtime / n_md_frames,
        "decode_stride": stride,
        "decoded_frames": n_traj * n_written,
        "decoded_frame_interval_ps": stride * lagtime * dt,
        "lss_file_layout": f"{n_traj} trajectories one after another, "
        f"{n_written} frames each",
    }


def write_alanine_files(out, sim, traj, features, latent, configs, *, decode_stride):
    """Topology, MD and decoded LSS structures, latent trajectories and the model."""
    import sklss

    files = dict(ALANINE_FILES)
    coords = sim.coordinates_
    save_trajectory(coords.reference_, out / files["topology"])
    save_trajectory(
        coords.inverse_transform(coords.transform(traj)), out / files["md_trajectory"]
    )
    save_trajectory(coords.inverse_transform(configs), out / files["lss_trajectory"])
    with atomic_path(out / files["latent"]) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            md=np.asarray(sim.transform(features), dtype=np.float32),
            coordinates=np.array(coordinate_names(sim)),
            lss=latent.astype(np.float32),
            lagtime=sim.lagtime_,
            frame_interval_ps=sim.timestep,
            decode_stride=decode_stride,
        )
    sklss.save(sim, out / files["simulator"])
    return files


def alanine_metrics(out, n_trajectories, lagtime, dt, featurizer, min_count):
    """The validation metrics and their figures, from the files in ``out``."""
    import mdtraj as md

    from . import analysis as A
    from . import plotting as P

    top = str(out / ALANINE_FILES["topology"])
    reference = md.load(top)
    md_traj = md.load(str(out / ALANINE_FILES["md_trajectory"]), top=top)
    lss = md.load(str(out / ALANINE_FILES["lss_trajectory"]), top=top)
    lss_trajs = [
        md.Trajectory(x, lss.topology) for x in np.split(lss.xyz, n_trajectories)
    ]
    with np.load(out / ALANINE_FILES["latent"]) as data:
        md_latent, lss_latent = data["md"], list(data["lss"])
        names = [str(name) for name in data["coordinates"]]
    metrics, figures = {}, {}

    rama = A.compare_ramachandran(md_traj, lss_trajs, min_count=min_count)
    metrics["ramachandran"] = {
        "rmse_kT": rama.rmse,
        "n_bins_compared": rama.n_bins,
        "n_missing_bins": rama.n_missing_bins,
        "basin_population_md": rama.basin_population_reference,
        "basin_population_lss": rama.basin_population_generated,
        "missing_basins": rama.missing_basins,
        "settings": f"36x36 bins (10 degrees); populated = >= {min_count} MD "
        "frames; basins within 3 kT of the minimum holding >= 1% of MD; missing = "
        "LSS population < 10% of MD's",
    }
    fig, axes = _figure(1, 2, figsize=(11, 4.5))
    vmax = float(np.nanmax(rama.reference.free_energy))
    P.plot_ramachandran(rama.reference, title="MD", vmax=vmax, ax=axes[0])
    title = f"LSS (RMSE {rama.rmse:.2f} kT over populated bins)"
    P.plot_ramachandran(rama.generated, title=title, vmax=vmax, ax=axes[1])
    figures["ramachandran"] = fig

    # Free-energy profiles along every latent coordinate (ψ1 in the figure).
    profiles = []
    for i in range(md_latent.shape[1]):
        span = (float(md_latent[:, i].min()), float(md_latent[:, i].max()))
        kw = {"coordinate": i, "bins": 50, "range": span}
        p_md = A.free_energy_profile(md_latent, **kw)
        p_lss = A.free_energy_profile(lss_latent, **kw)
        rmse = A.profile_rmse(p_md, p_lss).rmse
        profiles.append({"coordinate": names[i], "rmse_kT": rmse})
        if i == 0:
            fig, ax = _figure(figsize=(6, 4))
            P.plot_free_energy_profile(p_md, p_lss, labels=["MD", "LSS"], ax=ax)
            ax.set_xlabel("ψ1 (SRV)")
            ax.set_title(f"Free energy along ψ1 (5-block errors), RMSE {rmse:.2f} kT")
            figures["free_energy_psi1"] = fig
    metrics["free_energy_profiles"] = profiles

    md_strided = md_latent[::lagtime]  # the propagator's spacing
    metrics["timescales"], figures["timescales"] = _timescales(
        md_strided, lss_latent, lagtime * dt, names
    )

    # Transitions between the two metastable ψ1 regions.
    cores = A.metastable_cores(A.free_energy_profile(md_latent, bins=50), n_cores=2)
    if len(cores) == 2:
        tr_md = A.count_transitions(md_strided[:, :1], cores)
        tr_lss = A.count_transitions([z[:, :1] for z in lss_latent], cores)
        md_ns = len(md_strided) * lagtime * dt / 1000
        lss_ns = sum(len(z) for z in lss_latent) * lagtime * dt / 1000
        metrics["transitions"] = {
            "cores_psi1": cores,
            "md_count": tr_md.n_transitions,
            "md_per_ns": tr_md.n_transitions / md_ns,
            "lss_count": tr_lss.n_transitions,
            "lss_per_ns": tr_lss.n_transitions / lss_ns,
            "resolution_ps": lagtime * dt,
        }

    bonds = A.compare_bond_lengths(md_traj, lss_trajs)
    metrics["bond_lengths"] = {
        "bonds": bonds.labels,
        "md_mean_nm": bonds.reference_mean,
        "lss_mean_nm": bonds.generated_mean,
        "md_std_nm": bonds.reference_std,
        "lss_std_nm": bonds.generated_std,
        "relative_error": bonds.relative_error,
        "max_relative_error": bonds.max_relative_error,
        "mean_relative_error": bonds.mean_relative_error,
    }

    rmsd = [A.rmsd_to_reference(t, reference) for t in (md_traj, lss_trajs)]
    rg = [A.radius_of_gyration(t) for t in (md_traj, lss_trajs)]
    metrics["structure"] = {}
    for name, (v_md, v_lss) in (("rmsd_nm", rmsd), ("rg_nm", rg)):
        a, b = A.block_average(v_md), A.block_average(v_lss)
        metrics["structure"][name] = {
            "md_mean": a.mean,
            "md_standard_error": a.standard_error,
            "md_std": a.std,
            "lss_mean": b.mean,
            "lss_standard_error": b.standard_error,
            "lss_std": b.std,
        }
    fig, axes = _figure(1, 3, figsize=(15, 4))
    kw = {"labels": ["MD", "LSS"]}
    P.plot_distributions(*rmsd, xlabel="RMSD to reference / nm", ax=axes[0], **kw)
    P.plot_distributions(*rg, xlabel="Rg (heavy atoms) / nm", ax=axes[1], **kw)
    P.plot_bond_lengths(bonds, ax=axes[2], **kw)
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
    P.plot_tica_comparison(tica, axes=axes)
    figures["tica"] = fig
    return metrics, figures


def _timescales(md_latent, lss_latent, step, names):
    """Relaxation times of each latent coordinate, MD vs LSS, at the same spacing."""
    from . import analysis as A
    from . import plotting as P

    max_lag = max(10, min(len(md_latent) // 50, 200))
    ts_md = A.relaxation_times(md_latent, max_lag=max_lag)
    ts_lss = A.relaxation_times(lss_latent, max_lag=max_lag)
    leading, faster = [], []
    for i in range(md_latent.shape[1]):
        t_md, se_md = ts_md.timescales[i] * step, ts_md.standard_error[i] * step
        t_lss, se_lss = ts_lss.timescales[i] * step, ts_lss.standard_error[i] * step
        tol = max(se_md, THRESHOLDS["timescale_relative_tolerance"] * t_md)
        entry = {
            "coordinate": names[i],
            "index": i,
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
    metrics = {
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
    columns = ["process", "MD t (ps)", "LSS t (ps)", "difference"]
    axes[0].table(cellText=rows, colLabels=columns, loc="center").scale(1, 1.6)
    axes[0].set_title("Relaxation times (5-block standard errors)")
    P.plot_autocorrelation(ts_md, ts_lss, labels=["MD", "LSS"], dt=step, ax=axes[1])
    axes[1].set_xlabel("lag / ps")
    axes[1].set_xlim(0, min(max_lag, 4 * max(ts_md.fit_window)) * step)
    return metrics, fig


def training_figure(sim):
    from . import plotting as P

    fig, axes = _figure(1, 3, figsize=(15, 4))
    losses = ("loss", "val_loss")
    panels = (
        (srv_of(sim), "SRV encoder", losses, "-VAMP-2"),
        (sim.propagator_, "MDN propagator", losses, "NLL per step"),
        (sim.decoder_, "cWGAN decoder", ("wasserstein",), "Wasserstein estimate"),
    )
    for ax, (est, title, keys, ylabel) in zip(axes, panels, strict=True):
        P.plot_training_history(est, keys=keys, ax=ax)
        ax.set(title=title, ylabel=ylabel)
    return fig


def cost(meta, generation, timings):
    """MD (OpenMM, this machine) vs LSS ns per day of wall time."""
    md_speed = {"source": "dataset metadata", "ns_per_day": meta.get("ns_per_day")}
    try:
        from .datasets import measure_md_speed

        live = measure_md_speed(n_steps=10_000)
        md_speed = {"source": "measured now (10,000 steps)", **live}
        md_speed["dataset_ns_per_day"] = meta.get("ns_per_day")
    except ImportError:  # OpenMM absent: cached data, speed from their metadata
        pass
    simulated_ns = generation["total_length_ns"]
    lss_latent = simulated_ns / timings["generation_latent_s"] * 86400.0
    lss_total = simulated_ns / timings["generation_s"] * 86400.0
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


def passed(metrics, cost):
    checks = {
        "ramachandran_rmse": metrics["ramachandran"]["rmse_kT"]
        <= THRESHOLDS["ramachandran_rmse_kT"],
        "no_missing_basin": len(metrics["ramachandran"]["missing_basins"]) == 0,
        "timescales": bool(metrics["timescales"]["leading"])
        and all(t["within"] for t in metrics["timescales"]["leading"]),
        "bond_lengths": metrics["bond_lengths"]["max_relative_error"]
        <= THRESHOLDS["bond_length_relative_error"],
        "speedup": cost["speedup"] >= THRESHOLDS["speedup"],
    }
    checks["all"] = all(checks.values())
    return checks


def model_uncertainty(metrics, runs, groups, md_latent, lss_latent, step):
    """Model-uncertainty intervals next to the block errors of one run.

    ``runs`` are the latent trajectories of the propagator ensemble (same starts
    and length as the simulator's), ``groups`` its resample labels, ``step`` the
    propagator's step in ps.
    """
    from . import analysis as A

    level = 0.9
    q = float(_student(level, 4))  # 5 blocks
    max_lag = metrics["timescales"]["max_lag_steps"]
    times = A.ensemble_estimate(
        lambda t: A.relaxation_times(t, max_lag=max_lag).timescales * step,
        runs,
        groups=groups,
        level=level,
    )
    rows = {"relaxation_times_ps": [], "core_populations": []}
    for entry in metrics["timescales"]["leading"]:
        k = entry["index"]
        rows["relaxation_times_ps"].append(
            _uncertainty_row(
                entry["coordinate"],
                (entry["md_ps"], entry["md_standard_error_ps"]),
                (entry["lss_ps"], entry["lss_standard_error_ps"]),
                times,
                k,
                q,
            )
        )
    cores = metrics.get("transitions", {}).get("cores_psi1")
    if cores:
        regions = [tuple(c) for c in cores]
        pops = A.ensemble_estimate(
            lambda t: A.populations(t, regions), runs, groups=groups, level=level
        )
        lss_flat = np.concatenate([z[:, 0] for z in lss_latent])
        for k, (lo, hi) in enumerate(regions):
            md_in = ((md_latent[:, 0] >= lo) & (md_latent[:, 0] < hi)).astype(float)
            lss_in = ((lss_flat >= lo) & (lss_flat < hi)).astype(float)
            a, b = A.block_average(md_in), A.block_average(lss_in)
            rows["core_populations"].append(
                _uncertainty_row(
                    f"core {k + 1} [{lo:.2f}, {hi:.2f})",
                    (a.mean, a.standard_error),
                    (b.mean, b.standard_error),
                    pops,
                    k,
                    q,
                )
            )
    figure = _uncertainty_figure(rows)
    summary = {
        **rows,
        "level": level,
        "n_models": int(times.n_models),
        "n_resamples": int(len(np.unique(groups))),
        "method": "MDN propagators refitted on 10-block bootstrap resamples of the "
        "MD's latent trajectory (two seeds per resample), each generating as many "
        "steps from the same starts as the simulator; interval from "
        "sklss.analysis.ensemble_estimate with the resample groups (data and "
        "training parts separated). Block errors: 5 blocks of one run, shown as "
        f"± t(4) x standard error at the same {level:.0%} level",
    }
    return summary, figure


def _student(level, dof):
    from scipy import stats

    return stats.t.ppf(0.5 + level / 2, dof)


def _uncertainty_row(name, md, lss, est, k, q):
    return {
        "name": name,
        "md": md[0],
        "md_block_interval": [md[0] - q * md[1], md[0] + q * md[1]],
        "lss_one_run": lss[0],
        "lss_block_interval": [lss[0] - q * lss[1], lss[0] + q * lss[1]],
        "ensemble": float(est.value[k]),
        "ensemble_interval": [float(est.low[k]), float(est.high[k])],
        "data_error": float(est.data_error[k]),
        "training_error": float(est.training_error[k]),
        "sampling_error": float(est.sampling_error[k]),
        "md_in_ensemble_interval": bool(est.low[k] <= md[0] <= est.high[k]),
        "md_in_block_interval": bool(
            lss[0] - q * lss[1] <= md[0] <= lss[0] + q * lss[1]
        ),
    }


def _uncertainty_figure(rows):
    panels = [(key, r) for key, r in rows.items() if r]
    fig, axes = _figure(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 4))
    axes = np.atleast_1d(axes)
    titles = {
        "relaxation_times_ps": ("relaxation time / ps", "Relaxation times"),
        "core_populations": ("population", "Metastable ψ1 core populations"),
    }
    for ax, (key, entries) in zip(axes, panels, strict=False):
        x = np.arange(len(entries))
        for shift, label, centre, band in (
            (-0.2, "MD (block errors)", "md", "md_block_interval"),
            (0.0, "LSS, one run (block errors)", "lss_one_run", "lss_block_interval"),
            (0.2, "LSS ensemble (model uncertainty)", "ensemble", "ensemble_interval"),
        ):
            c = np.array([e[centre] for e in entries])
            lo = np.array([e[band][0] for e in entries])
            hi = np.array([e[band][1] for e in entries])
            ax.errorbar(
                x + shift, c, yerr=[c - lo, hi - c], fmt="o", capsize=4, label=label
            )
        ax.set_xticks(x, [e["name"] for e in entries])
        ax.set(ylabel=titles[key][0], title=f"{titles[key][1]} (90% intervals)")
        ax.legend(fontsize=8)
    return fig


def alanine_summary(report):
    m = report["metrics"]
    times = ", ".join(
        f"{t['md_ps']:.1f}±{t['md_standard_error_ps']:.1f} vs {t['lss_ps']:.1f} ps"
        for t in m["timescales"]["leading"]
    )
    unc = m.get("model_uncertainty", {}).get("relaxation_times_ps", [])
    if unc:
        times += "; 90% model-uncertainty interval " + ", ".join(
            "[{:.1f}, {:.1f}] ps".format(*u["ensemble_interval"]) for u in unc
        )
    return (
        f"Ramachandran RMSE {m['ramachandran']['rmse_kT']:.2f} kT, missing basins "
        f"{len(m['ramachandran']['missing_basins'])}, time scales {times}, bonds "
        f"{m['bond_lengths']['max_relative_error']:.2%}, speed-up "
        f"{report['cost']['speedup']:.2g}x"
    )


# --------------------------------------------------------------------- four-well
def four_well_metrics(comparison, stride):
    return {
        "tv_distance_generated_vs_bd": comparison.tv_generated_vs_reference,
        "tv_distance_generated_vs_exact": comparison.tv_generated_vs_exact,
        "tv_distance_bd_vs_exact": comparison.tv_reference_vs_exact,
        "msm_timescales_bd_steps": comparison.timescales_reference * stride,
        "msm_timescales_lss_steps": comparison.timescales_generated * stride,
        "msm": f"reversible MLE MSM on 100 bins over [-1.3, 1.3], lag {stride} steps",
    }


def four_well_summary(metrics):
    bd = np.round(metrics["msm_timescales_bd_steps"]).astype(int).tolist()
    lss = np.round(metrics["msm_timescales_lss_steps"]).astype(int).tolist()
    return (
        f"TV distance MDN vs BD {metrics['tv_distance_generated_vs_bd']:.3f}; "
        f"MSM time scales BD {bd} vs MDN {lss} steps"
    )


def four_well_report(bd, generated, mdn, comparison, stride, timings, out):
    """Write the model, the trajectories and the figure; the report's sections."""
    import sklss

    sklss.save(mdn, out / "mdn.sklss")
    with atomic_path(out / "four_well.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, bd=bd.astype(np.float32), lss=generated.astype(np.float32))
    from .plotting import plot_four_well

    _pyplot()  # the non-interactive backend, before the figure
    figure = plot_four_well(comparison, bd, generated, mdn, stride=stride)
    n_traj, n_frames = generated.shape[:2]
    return {
        "system": "four-well",
        "metrics": four_well_metrics(comparison, stride),
        "data": {"n_frames": len(bd), "stride_steps": stride},
        "generation": {
            "n_trajectories": n_traj,
            "frames_per_trajectory": n_frames,
            "length_factor": n_traj * (n_frames - 1) / len(bd),
        },
        "training": {"epochs": mdn.n_epochs_},
        "timings": timings,
        "files": {"model": "mdn.sklss", "trajectories": "four_well.npz"},
        "figures": save_figures({"four_well": figure}, out),
    }
