"""Generation into a Zarr store on a Dask cluster: wall time, memory, store size.

A fitted simulator generates many long trajectories with every latent frame
decoded, written chunk by chunk into a Zarr store by ``sklss.sample_to_zarr``:
locally (``client=None``), and on a ``LocalCluster`` of one and of two worker
processes (one thread each). Each run writes the same store, bit for bit (checked
with the sha256 of every file), so the runs differ only in who generates.

The full run: a simulator fitted on the cached alanine dipeptide MD of
``sklss.datasets`` (all 22 atoms decoded; the first call of
``load_alanine_dipeptide`` runs the MD with OpenMM, about 10 minutes) or loaded with
``--model`` (e.g. ``sklss-demo/simulator.sklss``) generates 100 trajectories of
10^5 steps, at least 5 GiB of output per run (more trajectories are generated when
a smaller model would write less).

Memory: the peak resident set size (VmHWM in /proc/PID/status, Linux) of this
process, reset before each run (``/proc/self/clear_refs``), and of each worker
process over its life, read before the cluster closes; elsewhere the largest RSS
seen by psutil every 50 ms. Store size: the blocks the store's files use on disk.

    python benchmarks/bench_zarr.py                  # full size (tens of minutes)
    python benchmarks/bench_zarr.py --quick          # smoke run, under a minute
    python benchmarks/bench_zarr.py --model sklss-demo/simulator.sklss
"""

import argparse
import hashlib
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

import sklss
from sklss import (
    AlignedCoordinates,
    CWGANDecoder,
    LatentSpaceSimulator,
    MDNPropagator,
    SRVTransformer,
    TorsionFeaturizer,
    open_zarr_trajectories,
    sample_to_zarr,
)

GIB = 2**30
MIB = 2**20
TARGET_OUTPUT = 5 * GIB
TARGET_RSS = 1 * GIB


def fit_simulator(quick):
    """A small but real simulator: swiss roll (quick) or alanine dipeptide."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # short fits
        if quick:
            from sklss.datasets import make_swissroll

            X = make_swissroll(4_000, random_state=0)
            sim = LatentSpaceSimulator(
                encoder=SRVTransformer(
                    n_components=1, hidden_layer_sizes=(16,), max_epochs=3
                ),
                propagator=MDNPropagator(
                    n_kernels=4, hidden_layer_sizes=(16,), max_epochs=3
                ),
                decoder=CWGANDecoder(hidden_layer_sizes=(16,), max_epochs=1),
                lagtime=5,
                random_state=0,
            )
            return sim.fit(X, y=X)
        from sklss.datasets import load_alanine_dipeptide

        traj = load_alanine_dipeptide()
        sim = LatentSpaceSimulator(
            encoder=SRVTransformer(n_components=2, max_epochs=20),
            propagator=MDNPropagator(max_epochs=20),
            decoder=CWGANDecoder(max_epochs=5),
            lagtime=10,
            coordinates=AlignedCoordinates("all"),
            timestep=1.0,
            random_state=0,
        )
        return sim.fit(TorsionFeaturizer().fit_transform(traj), y=traj)


def _vmhwm(pid):
    """Peak resident set size of a process in bytes (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak RSS of this process and of its child processes (the Dask workers)."""

    def __init__(self, interval=0.05):
        self.interval = interval
        self.main = 0
        self.workers = {}
        self._stop = threading.Event()

    def __enter__(self):
        try:  # the peak of this process from now on, not from the fit
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self._reset = True
        except OSError:
            self._reset = False
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        me = psutil.Process()
        while not self._stop.is_set():
            self._sample(me)
            self._stop.wait(self.interval)

    def _sample(self, me):
        try:
            self.main = max(self.main, me.memory_info().rss)
            for child in me.children(recursive=True):
                rss = child.memory_info().rss
                self.workers[child.pid] = max(self.workers.get(child.pid, 0), rss)
        except psutil.Error:
            pass

    def read(self):
        """Take the peaks now (call while the workers still run)."""
        me = psutil.Process()
        self._sample(me)
        if self._reset and _vmhwm(me.pid) is not None:
            self.main = _vmhwm(me.pid)
        for child in me.children(recursive=True):
            peak = _vmhwm(child.pid)
            if peak is not None:
                self.workers[child.pid] = peak

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def worker_peak(self):
        return max(self.workers.values(), default=None)


def file_digests(path):
    """sha256 of every file of a store, by its path in the store."""
    digests = {}
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digests[file.relative_to(path).as_posix()] = digest.hexdigest()
    return digests


def compare_stores(a, b, digests_a, digests_b):
    """Which arrays of two stores differ, and by how much at most.

    Only the Zarr chunks whose files differ are read."""
    import zarr

    differing = sorted(k for k in digests_a if digests_a[k] != digests_b.get(k))
    report = {}
    for name in ("latent", "configurations"):
        keys = [k for k in differing if k.startswith(name + "/c/")]
        if not keys:
            continue
        x, y = (
            zarr.open_array(str(a / name), mode="r"),
            zarr.open_array(str(b / name), mode="r"),
        )
        worst = 0.0
        for key in keys:
            index = [int(i) for i in key.split("/")[2:]]
            region = tuple(
                slice(i * c, (i + 1) * c) for i, c in zip(index, x.chunks, strict=True)
            )
            diff = np.abs(np.asarray(x[region], np.float64) - y[region])
            worst = max(worst, float(np.nanmax(diff)))
        total = sum(1 for k in digests_a if k.startswith(name + "/c/"))
        report[name] = (len(keys), total, worst)
    return report


def size(n):
    return f"{n / GIB:.2f} GiB" if n >= GIB / 10 else f"{n / MIB:.1f} MiB"


def disk_bytes(path):
    return sum(p.stat().st_blocks * 512 for p in Path(path).rglob("*") if p.is_file())


def run_once(sim, path, n_workers, kwargs):
    """One generation; returns its measurements."""
    with PeakMemory() as memory:
        cluster = client = None
        start = time.perf_counter()
        if n_workers:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
            client = Client(cluster)
            # Workers import torch and sklss once; count it as start-up.
            client.run(lambda: __import__("sklss").LatentSpaceSimulator)
        startup = time.perf_counter() - start
        try:
            start = time.perf_counter()
            sample_to_zarr(sim, path, client=client, **kwargs)
            wall = time.perf_counter() - start
            memory.read()
        finally:
            for resource in (client, cluster):
                if resource is not None:
                    resource.close()
    return {
        "startup": startup,
        "wall": wall,
        "main": memory.main,
        "workers": memory.worker_peak,
        "disk": disk_bytes(path),
        "digests": file_digests(path),
    }


def main(argv=None):
    """Run the benchmark, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--model", default=None, help="a .sklss simulator to use")
    parser.add_argument("--n-trajectories", type=int, default=None)
    parser.add_argument("--n-steps", type=int, default=None)
    parser.add_argument(
        "--out",
        default="bench_zarr_output",
        help="directory for the stores (removed at the end unless --keep)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the last store")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    sim = sklss.load(args.model) if args.model else fit_simulator(args.quick)
    fit_seconds = time.perf_counter() - start
    n_steps = args.n_steps or (5_000 if args.quick else 100_000)
    probe = sim.sample(1, n_trajectories=1, random_state=0)
    per_trajectory = (n_steps + 1) * (
        probe.latent.shape[-1] * probe.latent.dtype.itemsize
        + probe.configurations.shape[-1] * probe.configurations.dtype.itemsize
    )
    n_trajectories = args.n_trajectories or (
        8 if args.quick else max(100, -(-TARGET_OUTPUT // per_trajectory))
    )
    output = n_trajectories * per_trajectory
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if 3 * output * 1.05 > free:  # the three stores are compared at the end
        shutil.rmtree(out, ignore_errors=True)
        raise SystemExit(
            f"bench_zarr: three runs write about {3 * output / GIB:.2f} GiB and "
            f"{out.resolve()} has {free / GIB:.2f} GiB free; free some space, pass "
            "--out on a larger disk, or reduce --n-trajectories / --n-steps."
        )
    kwargs = {
        "n_steps": n_steps,
        "n_trajectories": n_trajectories,
        "decode_stride": 1,
        "random_state": 0,
        "verbose": False,
    }
    if args.quick:
        kwargs["chunk_trajectories"] = 2
    print(
        f"simulator: {'loaded from ' + args.model if args.model else 'fitted'} in "
        f"{fit_seconds:.1f} s; {probe.latent.shape[-1]} latent -> "
        f"{probe.configurations.shape[-1]} outputs ({probe.configurations.dtype})"
    )
    print(
        f"generating {n_trajectories} x {n_steps:,} steps, every frame decoded: "
        f"{size(output)} of output per run, into {out.resolve()}",
        flush=True,
    )

    results = {}
    runs = (
        ("client=None", 0),
        ("LocalCluster, 1 worker", 1),
        ("LocalCluster, 2 workers", 2),
    )
    for name, n_workers in runs:
        path = out / f"run_{n_workers}.zarr"
        results[name] = run_once(sim, path, n_workers, kwargs)
        store = open_zarr_trajectories(path)
        assert store.latent.shape == (
            n_trajectories,
            n_steps + 1,
            probe.latent.shape[-1],
        )
        print(f"  {name}: {results[name]['wall']:.1f} s", flush=True)
    paths = {name: out / f"run_{n}.zarr" for name, n in runs}
    reference = runs[0][0]
    comparisons = {
        name: compare_stores(
            paths[reference],
            paths[name],
            results[reference]["digests"],
            results[name]["digests"],
        )
        for name, _ in runs[1:]
    }
    workers_alike = results[runs[1][0]]["digests"] == results[runs[2][0]]["digests"]
    for name, _ in runs[:-1] if args.keep else runs:
        shutil.rmtree(paths[name])
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)

    steps = n_trajectories * n_steps
    print()
    print(
        "| run | cluster start (s) | generation (s) | trajectory-steps/s "
        "| main peak RSS (MiB) | worker peak RSS (MiB) | store on disk "
        "| output (uncompressed) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        workers = (
            "-"
            if r["workers"] is None or name == "client=None"
            else (f"{r['workers'] / MIB:.0f}")
        )
        print(
            f"| {name} | {r['startup']:.1f} | {r['wall']:.1f} "
            f"| {steps / r['wall']:.3g} "
            f"| {r['main'] / MIB:.0f} | {workers} | {size(r['disk'])} "
            f"| {size(output)} |"
        )
    peak = max(max(r["main"], r["workers"] or 0) for r in results.values())
    print()
    print(
        "stores of 1 and 2 workers identical bit for bit: "
        f"{'yes' if workers_alike else 'NO'}"
    )
    for name, report in comparisons.items():
        if not report:
            print(f"{name} vs {reference}: identical bit for bit")
        for array, (n, total, worst) in report.items():
            print(
                f"{name} vs {reference}: {array} differs in {n} of {total} Zarr "
                f"chunks, by at most {worst:.3g} (torch's float32 products differ "
                "in the last bits with the number of threads)"
            )
    print(
        f"peak RSS {peak / MIB:.0f} MiB (target <= {TARGET_RSS / MIB:.0f} MiB): "
        f"{'met' if peak <= TARGET_RSS else 'NOT met'}; output {size(output)} "
        f"per run (target >= {TARGET_OUTPUT / GIB:.0f} GiB): "
        f"{'met' if output >= TARGET_OUTPUT else 'not met (smaller run)'}"
    )
    one = results["LocalCluster, 1 worker"]["wall"]
    two = results["LocalCluster, 2 workers"]["wall"]
    return [
        {
            "benchmark": "sample_to_zarr, 2 vs 1 workers",
            "sklss": f"2 workers {two:.1f} s, peak RSS {peak / MIB:.0f} MiB",
            "reference": f"1 worker {one:.1f} s; {size(output)} written",
            "speed-up": one / two,
            "target": "peak RSS <= 1 GiB with >= 5 GiB output",
        }
    ]


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
