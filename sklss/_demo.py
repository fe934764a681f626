"""``sklss demo``: the latent space simulator end to end on a built-in system.

Alanine dipeptide (default): OpenMM MD, the full :class:`~sklss.LatentSpaceSimulator`,
trajectories 100 times as long as the MD, validation from the files written.
Four-well: paper §3.1, the MDN propagator on ``x``. Public API only; ``_demo_report``
assembles the report's metrics and figures.
"""

import math
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_union

from . import _demo_report as report_

__all__ = ["run_demo"]

SYSTEMS = ("alanine-dipeptide", "four-well")

# Network sizes and training budgets. "full" is what `sklss demo` runs; "tiny" keeps
# every stage but shrinks it, for tests and smoke runs (its metrics mean nothing).
# 24 kernels and 3 critic updates per generator update: what alanine dipeptide's
# Ramachandran surface needs (user guide, "Checking the thermodynamics").
# fmt: off
_SIZES = {
    "full": {
        "scan_lagtimes": (1, 2, 5, 10, 20), "scan_epochs": 30, "max_components": 4,
        "structural_components": 2,
        "srv": {"hidden_layer_sizes": (100, 100), "max_epochs": 100},
        "mdn": {"n_kernels": 24, "hidden_layer_sizes": (100, 100), "max_epochs": 200,
                "batch_size": 256, "n_iter_no_change": 15},
        "decoder": {"noise_dim": 50, "hidden_layer_sizes": (200, 200, 200),
                    "max_epochs": 200, "batch_size": 256, "learning_rate_init": 1e-3,
                    "n_critic": 3},
        "n_trajectories": 200, "decoded_per_md_frame": 4, "min_count": 20,
        "four_well_steps": 5_000_000, "ensemble_models": 8,
    },
    "tiny": {
        "scan_lagtimes": (1, 2), "scan_epochs": 3, "max_components": 2,
        "structural_components": 1,
        "srv": {"hidden_layer_sizes": (16,), "max_epochs": 5},
        "mdn": {"n_kernels": 2, "hidden_layer_sizes": (16,), "max_epochs": 5},
        "decoder": {"noise_dim": 4, "hidden_layer_sizes": (16,), "max_epochs": 2,
                    "n_critic": 2},
        "n_trajectories": 10, "decoded_per_md_frame": 1, "min_count": 1,
        "four_well_steps": 200_000, "ensemble_models": 4,
    },
}
# fmt: on

THRESHOLDS = report_.THRESHOLDS


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
        Lag time in frames; None selects it with
        :func:`sklss.model_selection.select_lagtime`.
    n_components : int or None, default=None
        Latent dimension: an SRV with that many coordinates. None selects it with
        :func:`sklss.model_selection.select_dimension`: the SRV's slow coordinates
        plus the leading principal components of the standardised features as
        structural coordinates for the decoder (two in the full demo).
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
    for value, name, options in ((system, "system", SYSTEMS), (size, "size", _SIZES)):
        if value not in options:
            raise ValueError(f"{name} must be one of {list(options)}; got {value!r}.")
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
    log = report_.Log(verbose)
    sizes, seed = _SIZES[size], random_state
    if system == "four-well":
        report = _four_well(out, sizes, generation_factor, seed, log)
    else:
        opts = {"n_frames": n_frames, "data_home": data_home, "lagtime": lagtime}
        opts.update(n_components=n_components, generation_factor=generation_factor)
        report = _alanine(out, sizes, opts, seed, verbose, log)
    report["total_wall_time_s"] = log.elapsed()
    report["size"] = size
    report = report_.jsonable(report)  # what is returned is what report.json holds
    report_.write_json(out / "report.json", report)
    log(f"wrote {out / 'report.json'} (total {report['total_wall_time_s']:.0f} s)")
    return report


def _alanine(out, sizes, opts, seed, verbose, log):
    """The alanine dipeptide study; ``opts`` holds ``run_demo``'s checked options."""
    from . import (
        AlignedCoordinates,
        CWGANDecoder,
        DistanceFeaturizer,
        LatentSpaceSimulator,
        MDNPropagator,
        SimulatorEnsemble,
        SRVTransformer,
        TorsionFeaturizer,
    )
    from .datasets import load_alanine_dipeptide
    from .model_selection import make_encoder, select_dimension, select_lagtime

    report = {"system": "alanine-dipeptide", "thresholds": THRESHOLDS}
    timings = {}
    log("loading alanine dipeptide MD (generated with OpenMM on first use)")
    with log.timed(timings, "load_data_s"):
        kwargs = {"data_home": opts["data_home"], "verbose": verbose}
        if opts["n_frames"] is not None:
            kwargs["n_frames"] = opts["n_frames"]
        traj, meta = load_alanine_dipeptide(**kwargs, return_metadata=True)
    dt = float(meta["frame_interval_ps"])
    report["md"] = report_.md_summary(traj, meta)
    log(f"  {traj.n_frames} frames, {traj.n_frames * dt / 1000:.1f} ns")

    # Heavy atoms only, so that MD and decoded structures get identical features.
    heavy = traj.atom_slice(traj.topology.select("element != H"))
    featurizer = make_union(
        TorsionFeaturizer(angles=("phi", "psi")), DistanceFeaturizer("all")
    ).fit(heavy)
    features = np.asarray(featurizer.transform(heavy), dtype=np.float32)
    report["features"] = report_.feature_summary(features)

    # -- lag time and latent dimension from short SRV fits
    scan_srv = SRVTransformer(
        n_components=min(sizes["max_components"], features.shape[1]),
        hidden_layer_sizes=sizes["srv"]["hidden_layer_sizes"],
        max_epochs=sizes["scan_epochs"],
        random_state=seed,
    )
    lagtime, n_components = opts["lagtime"], opts["n_components"]
    selection = spectrum = n_slow = None
    with log.timed(timings, "model_selection_s"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # short fits
        warnings.filterwarnings("ignore", "No candidate lag time")  # logged below
        # The scan fits more coordinates than there are slow processes on purpose.
        warnings.filterwarnings("ignore", r"SRVTransformer\.fit: \d+ of the \d+ latent")
        if lagtime is None:
            candidates = [t for t in sizes["scan_lagtimes"] if t < len(features) // 20]
            if not candidates:
                raise ValueError(f"{len(features)} frames are too few to select a lag.")
            log(f"selecting the lag time from SRV time scales at lags {candidates}")
            selection = select_lagtime(features, candidates, estimator=scan_srv)
            lagtime, spectrum = selection.lagtime, selection.estimator
            report_.log_scan(log, selection)
        elif n_components is None:
            spectrum = scan_srv.set_params(lagtime=lagtime).fit(features)
        if n_components is None:
            n_components, n_slow = select_dimension(
                spectrum.eigenvalues_, n_structural=sizes["structural_components"]
            )
    report["model_selection"] = report_.selection_summary(
        lagtime, n_components, n_slow, selection, spectrum if n_slow else None, dt
    )
    log(f"  lag time {lagtime} frames ({lagtime * dt:g} ps), {n_components} latent")

    # -- fit
    if n_slow is None:  # the latent dimension was given: all SRV coordinates
        encoder = SRVTransformer(n_components=n_components, **sizes["srv"])
    else:
        encoder = make_encoder(n_slow, n_components - n_slow, **sizes["srv"])
    sim = LatentSpaceSimulator(
        encoder=encoder,
        propagator=MDNPropagator(verbose=verbose, **sizes["mdn"]),
        decoder=CWGANDecoder(verbose=verbose, **sizes["decoder"]),
        lagtime=lagtime,
        coordinates=AlignedCoordinates("element != H"),
        timestep=dt,
        time_unit="ps",
        random_state=seed,
    )
    log("fitting the latent space simulator (SRV encoder, MDN propagator, cWGAN)")
    with log.timed(timings, "training_s"), warnings.catch_warnings():
        # Fixed training budgets; the epochs run are in the report.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim.fit(features, y=traj)
    timings.update(report_.stage_timings(sim))
    report["training"] = report_.training_summary(sim, dt)
    log(f"  trained in {timings['training_s']:.0f} s")

    # -- generate: latent trajectories, then a strided subset decoded to structures
    n_traj = sizes["n_trajectories"]
    n_steps = math.ceil(opts["generation_factor"] * traj.n_frames / (n_traj * lagtime))
    per_md_frame = sizes["decoded_per_md_frame"] * traj.n_frames
    decode_stride = max(1, (n_traj * (n_steps + 1)) // per_md_frame)
    log(f"generating {n_traj} latent trajectories x {n_steps} steps")
    with log.timed(timings, "generation_s"):
        with log.timed(timings, "generation_latent_s"):
            latent = sim.sample(n_steps, n_traj, random_state=seed, decode=False).latent
        sub = latent[:, ::decode_stride]
        log(f"decoding every {decode_stride}th frame")
        with log.timed(timings, "generation_decoding_s"):
            Z = sub.reshape(-1, n_components)
            configs = sim.decoder_.sample(Z, random_state=seed + 1)

    # -- write the files, then compute every metric from what was written
    files = report_.write_alanine_files(
        out, sim, traj, features, latent, configs, decode_stride=decode_stride
    )
    report["generation"] = report_.generation_summary(
        n_traj, n_steps, lagtime, dt, traj.n_frames, decode_stride, sub.shape[1]
    )
    report["files"] = files
    log(f"wrote {', '.join(files.values())} to {out}; computing the metrics from them")
    metrics, figures = report_.alanine_metrics(
        out, n_traj, lagtime, dt, featurizer, sizes["min_count"]
    )

    # -- model uncertainty: propagators refitted on block resamples of the MD's
    # latent trajectory (the fitted encoder fixes the space, so the models'
    # latent results are comparable), each generating as much as the simulator did
    n_models = sizes["ensemble_models"]
    log(
        f"model uncertainty: {n_models} propagators on {n_models // 2} block "
        "resamples of the MD (two seeds each)"
    )
    with log.timed(timings, "ensemble_s"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        md_latent = sim.transform(features)
        ensemble = SimulatorEnsemble(
            MDNPropagator(lagtime=lagtime, **sizes["mdn"]),
            n_models=n_models,
            resample="blocks",
            n_blocks=10,
            random_state=seed,
            n_jobs=2,
        ).fit(md_latent)
        runs = ensemble.sample(latent[:, 0], n_steps, random_state=seed)
    metrics["model_uncertainty"], figures["model_uncertainty"] = (
        report_.model_uncertainty(
            metrics,
            runs,
            ensemble.groups_,
            md_latent,
            list(latent),
            lagtime * dt,
        )
    )
    report["metrics"] = metrics
    report["cost"] = report_.cost(meta, report["generation"], timings)
    report["timings"] = timings
    report["passed"] = report_.passed(metrics, report["cost"])
    figures["training"] = report_.training_figure(sim)
    report["figures"] = report_.save_figures(figures, out)
    log(report_.alanine_summary(report))
    return report


def _four_well(out, sizes, generation_factor, seed, log):
    from . import MDNPropagator
    from .datasets import compare_four_well, make_four_well

    timings = {}
    stride = 100  # integration steps per frame: the MDN's lag
    n_steps = sizes["four_well_steps"]
    log(f"Brownian dynamics in the four-well potential: {n_steps:.0e} steps")
    with log.timed(timings, "data_s"):
        X = make_four_well(n_steps, stride=stride, random_state=seed)
    mdn_params = {k: v for k, v in sizes["mdn"].items() if k != "batch_size"}
    mdn = MDNPropagator(lagtime=1, random_state=seed, **mdn_params)
    log(f"fitting the MDN propagator on {len(X)} frames (lag {stride} steps)")
    with log.timed(timings, "training_s"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        mdn.fit(X)
    n_gen = int(round(generation_factor * len(X)))
    # Several parallel trajectories: the same total length, faster to generate.
    n_traj = 100 if n_gen >= 100 * 200 else 1
    per_traj = n_gen // n_traj
    log(f"generating {n_traj} x {per_traj} frames")
    starts = X[np.random.default_rng(seed).integers(0, len(X), size=n_traj)]
    with log.timed(timings, "generation_s"):
        gen = mdn.sample(starts, per_traj, random_state=seed)
    gen = np.asarray(gen).reshape(n_traj, per_traj + 1, 1)
    comparison = compare_four_well(X, gen)
    report = report_.four_well_report(X, gen, mdn, comparison, stride, timings, out)
    log(report_.four_well_summary(report["metrics"]))
    return report
