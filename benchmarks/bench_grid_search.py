"""Model selection in parallel: GridSearchCV with n_jobs=1, n_jobs=2 and on Dask.

A ``LatentSpaceSimulator`` (SRV encoder, MDN propagator) on the backbone torsions
of the cached alanine dipeptide MD (``sklss.datasets.load_alanine_dipeptide``,
25 ns, 25,000 frames, cut into 5 contiguous segments), searched over lag time x
kernel count with 5-fold cross-validation over the segments: the same search run
with ``n_jobs=1``, with ``n_jobs=2`` (joblib's loky processes) and under
``joblib.parallel_backend("dask")`` on a ``LocalCluster`` of two single-threaded
worker processes. sklss sizes torch's threads to each worker's share of the
cores, so two parallel fits on two cores do not oversubscribe them. The three
searches must give the same ``cv_results_`` scores (checked).

Run on an otherwise idle machine::

    python benchmarks/bench_grid_search.py
    python benchmarks/bench_grid_search.py --quick
"""

import argparse
import os
import time
import warnings

import numpy as np
from joblib import parallel_backend
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer, TorsionFeaturizer
from sklss.datasets import load_alanine_dipeptide
from sklss.model_selection import split_trajectory


def search(segments, grid, n_jobs, epochs, backend=None):
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=2, max_epochs=epochs, random_state=0),
        propagator=MDNPropagator(max_epochs=epochs, random_state=0),
        random_state=0,
    )
    gs = GridSearchCV(sim, grid, cv=len(segments), n_jobs=n_jobs)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if backend is None:
            gs.fit(segments)
        else:
            with parallel_backend("dask", client=backend):
                gs.fit(segments)
    return time.perf_counter() - start, gs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_frames, epochs = (5000, 3) if args.quick else (25_000, 15)
    grid = {"lagtime": [5, 10], "propagator__n_kernels": [4, 8]}
    X = TorsionFeaturizer(["phi", "psi"]).fit_transform(
        load_alanine_dipeptide(n_frames)
    )
    segments = split_trajectory(X, 5)
    print(
        f"{n_frames} frames in 5 segments, {len(grid['lagtime'])} x "
        f"{len(grid['propagator__n_kernels'])} candidates, 5 folds, "
        f"{epochs} epochs per network; {os.cpu_count()} cores; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
    )
    rows = []
    t1, gs1 = search(segments, grid, 1, epochs)
    rows.append(("n_jobs=1", t1, gs1))
    t2, gs2 = search(segments, grid, 2, epochs)
    rows.append(("n_jobs=2 (loky)", t2, gs2))
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:
            t3, gs3 = search(segments, grid, 2, epochs, backend=client)
    rows.append(("n_jobs=2 (Dask LocalCluster, 2 workers)", t3, gs3))
    print("\n| search | wall time | vs n_jobs=1 | best parameters |")
    print("|---|---|---|---|")
    for name, t, gs in rows:
        print(f"| {name} | {t:.1f} s | {t / t1:.2f} | {gs.best_params_} |")
    # Parallel workers run torch with one thread each, the serial search with all
    # cores: float32 sums are rounded in another order, and training amplifies
    # the differences, so scores agree to within training noise, not bit for bit.
    # Among the parallel searches (the same threads per fit) they are identical.
    reference = gs1.cv_results_["mean_test_score"]
    for name, _, gs in rows[1:]:
        diff = np.max(np.abs(gs.cv_results_["mean_test_score"] - reference))
        print(f"{name}: largest |mean_test_score - n_jobs=1's|: {diff:.3g}")
    same = np.array_equal(
        gs2.cv_results_["mean_test_score"], gs3.cv_results_["mean_test_score"]
    )
    print(f"loky and Dask searches give identical scores: {same}")
    print(f"spread of the scores over candidates: {np.ptp(reference):.3g}")


if __name__ == "__main__":
    main()
