"""Training from a feature store larger than the memory the process uses.

Real trajectory files (DCD, written with mdtraj) of a synthetic 50-bead chain
whose beads follow a slow two-state coordinate (a double-well Brownian motion
moving a group of beads) plus fast thermal noise are featurised into all 1,225
bead-pair distances by ``sklss.featurize_to_zarr``: a store of several GiB of
float32 features. Then, each in a fresh process so that its peak memory is its
own:

- ``streamed``: a ``LatentSpaceSimulator`` (SRV encoder, MDN propagator) fitted on
  the whole store, read lazily (``sklss.open_feature_store``);
- ``in-memory subset``: the same simulator fitted on as many files as fit
  comfortably in memory, loaded into numpy arrays.

Both are scored on a held-out file never used in training: the SRV's VAMP-2
score (``SRVTransformer.score``), with its noise from five contiguous blocks of
the held-out file (standard deviation over blocks / sqrt(5)). Peak memory is the
peak resident set size of the fitting process (``ru_maxrss``) at the end of the
fit, against the store's size in memory (scoring afterwards loads the held-out
file into memory and is reported separately).

    python benchmarks/bench_feature_store.py               # ~4 GiB store
    python benchmarks/bench_feature_store.py --quick       # smoke run, ~1 min
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

N_BEADS = 50
SETTINGS = {
    "full": {
        "n_files": 10,
        "frames_per_file": 100_000,
        "subset_files": 1,
        "max_epochs": 5,
    },
    "quick": {
        "n_files": 3,
        "frames_per_file": 5_000,
        "subset_files": 1,
        "max_epochs": 3,
    },
}
LAGTIME = 10


def _topology():
    import mdtraj as md

    top = md.Topology()
    chain = top.add_chain()
    for _ in range(N_BEADS):
        top.add_atom("CA", md.element.carbon, top.add_residue("ALA", chain))
    return top


def _trajectory(n_frames, seed):
    """Bead positions (nm): a chain along x; beads 0-9 move with a slow
    double-well coordinate s(t) (Brownian, wells at +-1, about 1,000 frames
    between hops), every bead has independent thermal noise."""
    rng = np.random.default_rng(seed)
    s = np.empty(n_frames)
    x, dt = rng.choice([-1.0, 1.0]), 0.01
    noise = rng.normal(size=n_frames) * np.sqrt(2 * 0.25 * dt)
    for t in range(n_frames):
        x += -4 * x * (x * x - 1) * dt + noise[t]
        s[t] = x
    base = np.zeros((N_BEADS, 3))
    base[:, 0] = 0.38 * np.arange(N_BEADS)
    base[:, 1] = 0.3 * np.sin(np.arange(N_BEADS))
    xyz = np.broadcast_to(base, (n_frames, N_BEADS, 3)).copy()
    xyz[:, :10, 1] += 0.5 * s[:, None]
    xyz += 0.05 * rng.normal(size=xyz.shape)
    return xyz.astype(np.float32)


def write_files(directory, settings):
    import mdtraj as md

    directory.mkdir(parents=True, exist_ok=True)
    top = _topology()
    pdb = directory / "chain.pdb"
    md.Trajectory(_trajectory(1, 0), top).save_pdb(str(pdb))
    files = []
    for i in range(settings["n_files"] + 1):
        path = directory / f"run{i:02d}.dcd"
        if not path.exists():
            traj = md.Trajectory(_trajectory(settings["frames_per_file"], 100 + i), top)
            traj.save_dcd(str(path) + ".part")
            Path(str(path) + ".part").rename(path)
        files.append(str(path))
    return str(pdb), files[:-1], files[-1]


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit_and_score(mode, store, settings, test_file, top):
    """Fit in this process; return the measurements (run in a child process)."""
    import mdtraj as md
    from sklearn.exceptions import ConvergenceWarning

    from sklss import (
        DistanceFeaturizer,
        LatentSpaceSimulator,
        MDNPropagator,
        SRVTransformer,
        open_feature_store,
    )

    features = open_feature_store(store)
    if mode == "in-memory subset":
        X = [np.asarray(t) for t in features[: settings["subset_files"]]]
        n_bytes = sum(x.nbytes for x in X)
    else:
        X = features
        n_bytes = features.nbytes
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(
            n_components=1, max_epochs=settings["max_epochs"], random_state=0
        ),
        propagator=MDNPropagator(
            n_kernels=4, max_epochs=settings["max_epochs"], random_state=0
        ),
        lagtime=LAGTIME,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sim.fit(X)
    fit_seconds = time.perf_counter() - start
    # The peak of the fit itself (loading the subset counts for the in-memory
    # fit); scoring below loads the held-out file into memory.
    peak_fit = _peak_rss_bytes()
    featurizer = DistanceFeaturizer("all", periodic=False)
    test = featurizer.fit_transform(md.load(test_file, top=top))
    blocks = np.array_split(test, 5)
    scores = [sim.encoder_.score(b) for b in blocks]
    return {
        "mode": mode,
        "n_frames": int(sum(len(x) for x in X)),
        "data_bytes": int(n_bytes),
        "fit_seconds": fit_seconds,
        "heldout_vamp2": float(sim.encoder_.score(test)),
        "heldout_vamp2_block_se": float(np.std(scores, ddof=1) / np.sqrt(len(blocks))),
        "timescale_frames": float(sim.encoder_.timescales_[0]),
        "mdn_heldout_loglik": float(sim.propagator_.score(sim.transform(test))),
        "peak_rss_bytes": peak_fit,
        "peak_rss_with_scoring_bytes": _peak_rss_bytes(),
    }


def _child(args):
    settings = SETTINGS["quick" if args.quick else "full"]
    result = fit_and_score(args.child, args.store, settings, args.test, args.top)
    print("RESULT " + json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", default="/tmp/sklss-bench-feature-store")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--test", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--top", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    from sklss import DistanceFeaturizer, featurize_to_zarr

    settings = SETTINGS["quick" if args.quick else "full"]
    directory = Path(args.dir) / ("quick" if args.quick else "full")
    start = time.perf_counter()
    top, files, test_file = write_files(directory, settings)
    print(
        f"{len(files)} training files + 1 held-out file of "
        f"{settings['frames_per_file']} frames ({time.perf_counter() - start:.0f} s)"
    )
    start = time.perf_counter()
    store = featurize_to_zarr(
        DistanceFeaturizer("all", periodic=False),
        files,
        directory / "features.zarr",
        top=top,
        chunk_frames=2000,
    )
    featurize_seconds = time.perf_counter() - start
    print(
        f"store: {store.n_frames} frames x {store.n_features} features, "
        f"{store.nbytes / 2**30:.2f} GiB in memory, featurised in "
        f"{featurize_seconds:.0f} s (peak RSS {_peak_rss_bytes() / 2**20:.0f} MiB)"
    )
    results = []
    for mode in ("streamed", "in-memory subset"):
        command = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--store",
            str(store.path),
            "--test",
            test_file,
            "--top",
            top,
        ]
        if args.quick:
            command.append("--quick")
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if out.returncode or not line:
            raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(line[0][7:]))
    print()
    print(
        "| fit | frames | data in memory | peak RSS of the fit | data / peak | "
        "fit (s) | held-out VAMP-2 (± block s.e.) | slowest time (frames) | "
        "peak RSS with scoring |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['n_frames']:,} | {r['data_bytes'] / 2**30:.2f} GiB | "
            f"{r['peak_rss_bytes'] / 2**30:.2f} GiB | "
            f"{r['data_bytes'] / r['peak_rss_bytes']:.1f}x | {r['fit_seconds']:.0f} | "
            f"{r['heldout_vamp2']:.4f} ± {r['heldout_vamp2_block_se']:.4f} | "
            f"{r['timescale_frames']:.0f} | "
            f"{r['peak_rss_with_scoring_bytes'] / 2**30:.2f} GiB |"
        )
    streamed, subset = results
    gap = streamed["heldout_vamp2"] - subset["heldout_vamp2"]
    noise = np.hypot(
        streamed["heldout_vamp2_block_se"], subset["heldout_vamp2_block_se"]
    )
    print(
        f"\nheld-out VAMP-2, streamed - in-memory subset: {gap:+.4f} "
        f"(combined block s.e. {noise:.4f})"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "settings": settings,
                    "featurize_seconds": featurize_seconds,
                    "store_bytes": store.nbytes,
                    "results": results,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
