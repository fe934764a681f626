"""Tests of sklss on Dask clusters: threads per worker, Zarr generation, pickling."""

import hashlib
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

pytest.importorskip("distributed")
pytest.importorskip("zarr")
md = pytest.importorskip("mdtraj")

import cloudpickle  # noqa: E402
import dask.array as da  # noqa: E402
import torch  # noqa: E402
import zarr  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import sklss  # noqa: E402
from sklss import (  # noqa: E402
    AlignedCoordinates,
    CWGANDecoder,
    LatentSpaceSimulator,
    MDNPropagator,
    SimulatorEnsemble,
    SRVTransformer,
)
from sklss._distributed import (  # noqa: E402
    limit_threads_in_worker,
    open_zarr_trajectories,
    sample_to_zarr,
    set_worker_threads,
    torch_threads_for_worker,
)

from .conftest import ALANINE_DIPEPTIDE_PDB  # noqa: E402
from .test_simulator import _two_state_features  # noqa: E402

N_STEPS = 40


def _tiny_simulator(**kw):
    return LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, hidden_layer_sizes=(8,), max_epochs=2),
        propagator=MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
        decoder=CWGANDecoder(
            noise_dim=2, hidden_layer_sizes=(8,), max_epochs=1, n_critic=1
        ),
        lagtime=2,
        random_state=0,
        **kw,
    )


@pytest.fixture(scope="module")
def molecular_data(tmp_path_factory):
    """Two-state features with alanine dipeptide structures jiggling around the PDB."""
    pdb = tmp_path_factory.mktemp("topology") / "ala.pdb"
    pdb.write_text(ALANINE_DIPEPTIDE_PDB)
    ref = md.load(str(pdb))
    rng = np.random.default_rng(0)
    X = [_two_state_features(300, seed) for seed in range(2)]
    y = [
        md.Trajectory(
            ref.xyz + 0.01 * rng.normal(size=(300, ref.n_atoms, 3)).astype(np.float32),
            ref.topology,
        )
        for _ in X
    ]
    return X, y


@pytest.fixture(scope="module")
def sim(molecular_data):
    """A tiny fitted molecular simulator: 10 heavy atoms decoded, 0.5 ps frames."""
    X, y = molecular_data
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return _tiny_simulator(
            coordinates=AlignedCoordinates("not element H"), timestep=0.5
        ).fit(X, y=y)


@pytest.fixture(scope="module")
def client2():
    """Two worker processes with one thread each: the setting of a real cluster."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def client1():
    """One worker thread in this process (fast to start)."""
    threads = torch.get_num_threads()
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client
    torch.set_num_threads(threads)  # the in-process worker sized them


def _files(path):
    """Every file of a store by relative path, with its sha256."""
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _run(sim, path, **kw):
    kw = {
        "n_steps": N_STEPS,
        "n_trajectories": 5,
        "chunk_trajectories": 2,
        "random_state": 7,
        "verbose": False,
        **kw,
    }
    return sample_to_zarr(sim, path, **kw)


_SEGMENTS = LatentSpaceSimulator._segments


class _CountingSample:
    """Wraps the simulator's generation of a chunk; counts chunk calls, may fail
    after k."""

    def __init__(self, fail_after=None):
        self.calls = 0
        self.fail_after = fail_after
        self.original = _SEGMENTS

    def install(self, monkeypatch):
        counter = self

        def segments(self, z0, n_steps, *args, **kwargs):
            if n_steps == N_STEPS:  # not the two-frame dtype probe of a new run
                if (
                    counter.fail_after is not None
                    and counter.calls >= counter.fail_after
                ):
                    raise RuntimeError("worker lost")
                counter.calls += 1
            return counter.original(self, z0, n_steps, *args, **kwargs)

        monkeypatch.setattr(LatentSpaceSimulator, "_segments", segments)
        return self


# ---------------------------------------------------------------- threads


def _threads_in_task(_=None):
    return limit_threads_in_worker(), torch.get_num_threads()


def test_tasks_on_a_cluster_use_their_share_of_the_cores(client2):
    n_cores = len(__import__("os").sched_getaffinity(0))
    futures = client2.map(_threads_in_task, range(4), pure=False)
    expected = max(1, n_cores // 2)
    assert client2.gather(futures) == [(expected, expected)] * 4
    # A number chosen by hand on every worker stays, until sizing is automatic again.
    assert set(client2.run(set_worker_threads, 2).values()) == {2}
    futures = client2.map(_threads_in_task, range(4), pure=False)
    assert client2.gather(futures) == [(2, 2)] * 4
    client2.run(set_worker_threads)
    futures = client2.map(_threads_in_task, range(4), pure=False)
    assert client2.gather(futures) == [(expected, expected)] * 4


def _fit_in_worker(n_threads_before):
    import torch

    from sklss import _distributed

    torch.set_num_threads(n_threads_before)  # as if the worker had all cores
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MDNPropagator(n_kernels=2, max_epochs=1).fit(rng.normal(size=(200, 1)))
    return (
        torch.get_num_threads(),
        _distributed._MALLOC_TUNED,
        "MALLOC_TRIM_THRESHOLD_" in __import__("os").environ,
    )


def test_a_fit_on_a_worker_sizes_threads_and_malloc(client2):
    # What a GridSearchCV under the Dask backend runs: a plain fit on a worker.
    n_cores = len(__import__("os").sched_getaffinity(0))
    threads, tuned, dask_set_trim = client2.submit(
        _fit_in_worker, 8, pure=False
    ).result()
    assert threads == max(1, n_cores // 2)
    # dask's static malloc thresholds are raised once the worker trains.
    assert tuned == dask_set_trim
    # The main process is left as it was.
    from sklss import _distributed

    assert not _distributed._MALLOC_TUNED


def test_joblib_workers_follow_omp_num_threads(monkeypatch):
    import multiprocessing

    class LokyProcess:  # how a joblib worker sees itself
        name = "LokyProcess-1"

    before = torch.get_num_threads()
    monkeypatch.setattr(multiprocessing, "current_process", LokyProcess)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert limit_threads_in_worker() == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert limit_threads_in_worker() is None  # nothing to follow
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_joblib_workers_follow_omp_num_threads_for_real():
    from joblib import Parallel, delayed

    def task():  # sent by value: the workers need not import this test module
        import torch

        from sklss._distributed import limit_threads_in_worker

        return limit_threads_in_worker(), torch.get_num_threads()

    out = Parallel(n_jobs=2)(delayed(task)() for _ in range(2))
    n_cores = len(__import__("os").sched_getaffinity(0))
    expected = max(1, n_cores // 2)  # joblib's OMP_NUM_THREADS in its workers
    assert out == [(expected, expected)] * 2


def test_threads_outside_workers(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert limit_threads_in_worker() is None  # the main process is left alone
        assert torch.get_num_threads() == before
        assert set_worker_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert set_worker_threads() == 2 and torch.get_num_threads() == 2
        with torch_threads_for_worker(1) as n:
            assert n == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with torch_threads_for_worker() as n:  # no worker: nothing changes
            assert n is None and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(TypeError, match="n must be an int"):
        set_worker_threads(1.5)
    with pytest.raises(ValueError, match="n must be an int >= 1; got 0"):
        set_worker_threads(0)


# ---------------------------------------------------------------- generation


def test_stores_are_identical_for_any_number_of_workers(
    sim, client1, client2, tmp_path
):
    local = _run(sim, tmp_path / "local.zarr")
    one = _run(sim, tmp_path / "one.zarr", client=client1)
    two = _run(sim, tmp_path / "two.zarr", client=client2)
    assert local.complete and local.latent.shape == (5, N_STEPS + 1, 1)
    assert local.configurations.shape == (5, N_STEPS + 1, 30)
    arrays = local.to_numpy()
    for store in (one, two):
        other = store.to_numpy()
        np.testing.assert_array_equal(other.latent, arrays.latent)
        np.testing.assert_array_equal(other.configurations, arrays.configurations)
        assert store.attrs == local.attrs
    # Bit for bit, down to the files.
    files = _files(tmp_path / "local.zarr")
    assert _files(tmp_path / "one.zarr") == files == _files(tmp_path / "two.zarr")
    # Each chunk is what sample() gives with that chunk's seed.
    seeds = local.attrs["chunk_seeds"]
    assert len(seeds) == 3 and len(set(seeds)) == 3
    for i, seed in enumerate(seeds):
        ref = sim.sample(N_STEPS, n_trajectories=min(2, 5 - 2 * i), random_state=seed)
        np.testing.assert_array_equal(arrays.latent[2 * i : 2 * i + 2], ref.latent)
        np.testing.assert_array_equal(
            arrays.configurations[2 * i : 2 * i + 2], ref.configurations
        )


def test_seeds_depend_on_the_run_seed_and_chunk_only(sim, tmp_path):
    a = _run(sim, tmp_path / "a.zarr", n_trajectories=4)
    b = _run(sim, tmp_path / "b.zarr", n_trajectories=6)
    c = _run(sim, tmp_path / "c.zarr", n_trajectories=4, random_state=8)
    assert b.attrs["chunk_seeds"][:2] == a.attrs["chunk_seeds"]
    np.testing.assert_array_equal(b.latent[:4].compute(), a.latent.compute())
    assert not set(c.attrs["chunk_seeds"]) & set(a.attrs["chunk_seeds"])


def test_metadata_records_the_run(sim, tmp_path):
    store = _run(sim, tmp_path / "run.zarr", decode_stride=3)
    attrs = store.attrs
    path = tmp_path / "model.sklss"
    assert attrs["simulator_sha256"] == sklss.save(sim, path)
    assert attrs["simulator_class"] == "LatentSpaceSimulator"
    assert attrs["sklss_version"] == sklss.__version__
    assert attrs["random_state"] == attrs["seed"] == 7
    assert (attrs["lagtime"], attrs["timestep"], attrs["input_timestep"]) == (
        2,
        1.0,
        0.5,
    )
    assert (attrs["decode_stride"], attrs["n_steps"], attrs["n_trajectories"]) == (
        3,
        N_STEPS,
        5,
    )
    assert (attrs["chunk_trajectories"], attrs["n_chunks"]) == (2, 3)
    assert attrs["complete"] is True
    assert store.configurations.shape == (5, 14, 30)  # ceil(41 / 3) decoded frames
    assert store.topology.n_atoms == 10
    assert [a.element.symbol for a in store.topology.atoms][:2] == ["C", "C"]
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="r")
    assert group["latent"].chunks[0] == 2 == group["configurations"].chunks[0]
    np.testing.assert_array_equal(group["chunk_done"][:], [1, 1, 1])


def test_default_chunks_hold_about_64_mib(sim, tmp_path):
    store = sample_to_zarr(
        sim, tmp_path / "run.zarr", n_steps=5, n_trajectories=3, verbose=False
    )
    assert store.attrs["chunk_trajectories"] == 3 and store.attrs["n_chunks"] == 1
    # Random seeds are drawn and recorded when none is given.
    assert store.attrs["random_state"] is None and isinstance(store.attrs["seed"], int)


def test_default_chunks_advance_many_trajectories_together(sim, tmp_path, monkeypatch):
    # Fewer than 32 whole trajectories of 201 frames fit in the (lowered) 12,800
    # bytes of a chunk: 32 per chunk instead, in time segments of 12,800 bytes.
    monkeypatch.setattr(sklss._distributed, "_CHUNK_BYTES", 12_800)
    store = sample_to_zarr(
        sim,
        tmp_path / "run.zarr",
        n_steps=200,
        n_trajectories=40,
        decode=False,
        random_state=0,
        verbose=False,
    )
    attrs = store.attrs
    assert (attrs["chunk_trajectories"], attrs["n_chunks"]) == (32, 2)
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="r")
    segment = 12_800 // (32 * group["latent"].dtype.itemsize)
    assert attrs["segment_frames"] == segment < 201
    assert group["latent"].chunks == (32, segment, 1)
    assert np.isfinite(store.latent).all().compute()


def test_segmented_stores_are_identical_for_any_number_of_workers(
    sim, client2, tmp_path, monkeypatch
):
    # 2 trajectories of 1 latent + 30 decoded float64 values per frame: 496 bytes per
    # frame, segments of 10 frames in 5,000 bytes. (MKL's float32 products of 5-11
    # rows can differ in the last bit with the number of threads: decoded batches of
    # 20 and 2 frames here.)
    assert sim.start_points_.dtype == np.float64
    monkeypatch.setattr(sklss._distributed, "_CHUNK_BYTES", 5_000)
    local = _run(sim, tmp_path / "local.zarr", n_trajectories=6)
    _run(sim, tmp_path / "two.zarr", n_trajectories=6, client=client2)
    assert local.attrs["segment_frames"] == 10
    assert _files(tmp_path / "local.zarr") == _files(tmp_path / "two.zarr")


def test_long_trajectories_are_generated_in_segments(sim, tmp_path, monkeypatch):
    # 2 trajectories of 1 latent + 30 / 3 decoded float64 values per frame: 176
    # bytes per frame, 11 frames in 2,000 bytes, 9 as a multiple of decode_stride.
    monkeypatch.setattr(sklss._distributed, "_CHUNK_BYTES", 2_000)
    store = _run(sim, tmp_path / "run.zarr", decode_stride=3)
    assert store.attrs["segment_frames"] == 9
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="r")
    assert group["latent"].chunks == (2, 9, 1)
    assert group["configurations"].chunks == (2, 3, 30)
    arrays = store.to_numpy()
    assert arrays.configurations.shape == (5, 14, 30)
    assert np.isfinite(arrays.latent).all() and np.isfinite(arrays.configurations).all()
    for i, seed in enumerate(store.attrs["chunk_seeds"]):
        rows = slice(2 * i, 2 * i + 2)
        n = len(arrays.latent[rows])
        # The first segment is what sample() gives with the chunk's seed...
        ref = sim.sample(8, n_trajectories=n, random_state=seed, decode_stride=3)
        np.testing.assert_array_equal(arrays.latent[rows, :9], ref.latent)
        np.testing.assert_array_equal(
            arrays.configurations[rows, :3], ref.configurations
        )
        # ...and the second continues its last frame, with the next seed drawn.
        rng = np.random.RandomState(seed)
        rng.randint(0, len(sim.start_points_), size=n)
        for _ in range(2):  # the first segment's seeds: propagator and decoder
            rng.randint(0, 2**31 - 1)
        last = arrays.latent[rows, 8]
        nxt = sim.propagator_.sample(
            last, 9, random_state=int(rng.randint(0, 2**31 - 1))
        )
        np.testing.assert_allclose(arrays.latent[rows, 9:18], nxt[:, 1:], rtol=1e-5)


def test_without_decoding_only_latent_is_stored(sim, tmp_path):
    store = _run(sim, tmp_path / "run.zarr", decode=False)
    assert store.configurations is None and store.attrs["topology"] is None
    assert store.to_numpy().configurations is None
    with pytest.raises(ValueError, match="no configurations"):
        store.to_mdtraj(0)


def test_an_interrupted_run_is_completed_by_rerunning(sim, tmp_path, monkeypatch):
    reference = _run(sim, tmp_path / "reference.zarr")
    path = tmp_path / "run.zarr"
    _CountingSample(fail_after=2).install(monkeypatch)
    with pytest.raises(RuntimeError, match="worker lost"):
        _run(sim, path)
    with pytest.raises(ValueError, match=r"incomplete run \(2 of 3 chunks"):
        open_zarr_trajectories(path)
    partial = open_zarr_trajectories(path, allow_incomplete=True)
    assert not partial.complete
    np.testing.assert_array_equal(partial.chunk_done, [True, True, False])
    assert np.isnan(partial.latent[4].compute()).all()
    np.testing.assert_array_equal(
        partial.latent[:4].compute(), reference.latent[:4].compute()
    )
    with pytest.raises(ValueError, match="not been written"):
        partial.to_mdtraj(4)

    counter = _CountingSample().install(monkeypatch)
    store = _run(sim, path)
    assert counter.calls == 1  # only the missing chunk
    assert store.complete
    assert _files(path) == _files(tmp_path / "reference.zarr")
    with pytest.raises(ValueError, match="complete run already"):
        _run(sim, path)


def test_a_lost_chunk_is_regenerated_on_a_cluster(sim, client1, tmp_path, monkeypatch):
    path = tmp_path / "run.zarr"
    _run(sim, path, client=client1)
    files = _files(path)
    group = zarr.open_group(str(path), mode="r+")
    group["chunk_done"][1] = 0
    group["latent"][2:4] = np.nan
    group.attrs["complete"] = False
    assert _files(path) != files
    counter = _CountingSample().install(monkeypatch)  # the worker is in this process
    store = _run(sim, path, client=client1)
    assert counter.calls == 1 and store.complete
    assert _files(path) == files


@pytest.mark.parametrize(
    "change, name",
    [
        ({"n_steps": N_STEPS + 1}, "n_steps"),
        ({"n_trajectories": 6}, "n_trajectories"),
        ({"decode_stride": 2}, "decode_stride"),
        ({"decode": False}, "decode"),
        ({"chunk_trajectories": 3}, "chunk_trajectories"),
        ({"random_state": 8}, "random_state"),
    ],
)
def test_resuming_with_other_arguments_is_refused(
    sim, tmp_path, monkeypatch, change, name
):
    path = tmp_path / "run.zarr"
    _CountingSample(fail_after=1).install(monkeypatch)
    with pytest.raises(RuntimeError):
        _run(sim, path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=rf"started with {name}=.*overwrite=True"):
        _run(sim, path, **change)
    # overwrite=True starts over with the new arguments.
    store = _run(sim, path, overwrite=True, **change)
    assert store.complete


def test_resuming_with_another_simulator_is_refused(sim, tmp_path, monkeypatch):
    path = tmp_path / "run.zarr"
    _CountingSample(fail_after=1).install(monkeypatch)
    with pytest.raises(RuntimeError):
        _run(sim, path)
    monkeypatch.undo()
    sklss.save(sim, tmp_path / "model.sklss")
    other = sklss.load(tmp_path / "model.sklss")
    other.start_points_ = other.start_points_[::-1].copy()
    with pytest.raises(ValueError, match="different simulator"):
        _run(other, path)
    # The same simulator, saved and loaded (as on another machine), completes it.
    assert _run(sklss.load(tmp_path / "model.sklss"), path).complete


def test_random_state_none_resumes_with_the_recorded_seed(sim, tmp_path, monkeypatch):
    path = tmp_path / "run.zarr"
    _CountingSample(fail_after=1).install(monkeypatch)
    with pytest.raises(RuntimeError):
        _run(sim, path, random_state=None)
    seed = open_zarr_trajectories(path, allow_incomplete=True).attrs["seed"]
    monkeypatch.undo()
    store = _run(sim, path, random_state=None)
    reference = _run(sim, tmp_path / "ref.zarr", random_state=seed)
    np.testing.assert_array_equal(store.latent.compute(), reference.latent.compute())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_steps": "10"}, TypeError, "n_steps must be an int"),
        ({"n_steps": -1}, ValueError, "n_steps must be an int >= 0; got -1"),
        ({"n_trajectories": 0}, ValueError, "n_trajectories must be an int >= 1"),
        ({"decode_stride": 0}, ValueError, "decode_stride must be an int >= 1"),
        ({"chunk_trajectories": 0}, ValueError, "chunk_trajectories must be an int"),
        ({"chunk_trajectories": 1.5}, TypeError, "chunk_trajectories must be an int"),
        ({"decode": "yes"}, TypeError, "decode must be a bool; got 'yes'"),
        ({"overwrite": 1}, TypeError, "overwrite must be a bool"),
        ({"client": "tcp://localhost:8786"}, TypeError, "client must be None or a"),
        ({"random_state": -1}, ValueError, "random_state must be None or an int"),
        ({"random_state": 1.0}, TypeError, "random_state must be None or an int"),
        (
            {"random_state": np.random.RandomState(0)},
            TypeError,
            "the seed is recorded in the store",
        ),
    ],
)
def test_bad_arguments_are_named(sim, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        _run(sim, tmp_path / "run.zarr", **kwargs)
    assert not (tmp_path / "run.zarr").exists()


def test_bad_simulators_and_paths(sim, tmp_path):
    with pytest.raises(TypeError, match="simulator must be a fitted sklss Latent"):
        _run(MDNPropagator(), tmp_path / "run.zarr")
    with pytest.raises(NotFittedError):
        _run(_tiny_simulator(), tmp_path / "run.zarr")
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        _run(sim, 3)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        _run(sim, afile)
    assert _run(sim, tmp_path / "new" / "dir" / "run.zarr").complete
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a sklss trajectory store; it is left"):
        _run(sim, other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------- reading


def test_reader_round_trip_to_numpy_and_mdtraj(sim, tmp_path):
    store = _run(sim, tmp_path / "run.zarr", decode_stride=2)
    assert isinstance(store.latent, da.Array)
    assert isinstance(store.configurations, da.Array)
    again = open_zarr_trajectories(str(tmp_path / "run.zarr"))
    assert repr(again).startswith("ZarrTrajectories(") and "complete" in repr(again)
    arrays = again.to_numpy()
    ref = sim.sample(
        N_STEPS,
        n_trajectories=1,
        random_state=again.attrs["chunk_seeds"][2],
        decode_stride=2,
    )
    np.testing.assert_array_equal(arrays.latent[4:], ref.latent)
    np.testing.assert_array_equal(arrays.configurations[4:], ref.configurations)
    traj = again.to_mdtraj(-1)
    expected = ref.to_mdtraj(0)
    assert isinstance(traj, md.Trajectory) and traj.n_atoms == 10
    assert traj.n_frames == 21 == expected.n_frames
    np.testing.assert_array_equal(traj.xyz, expected.xyz)
    np.testing.assert_allclose(traj.time, expected.time)
    assert traj.time[1] == 2.0  # lag 2 frames x 0.5 ps x decode_stride 2
    assert [a.name for a in traj.topology.atoms] == [
        a.name for a in sim.coordinates_.topology_.atoms
    ]
    with pytest.raises(ValueError, match=r"index in \[-5, 4\]"):
        again.to_mdtraj(5)
    with pytest.raises(TypeError, match="trajectory must be an int"):
        again.to_mdtraj(1.0)


def test_opening_what_is_not_a_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="No trajectory store"):
        open_zarr_trajectories(tmp_path / "none.zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(ValueError, match="not a sklss trajectory store"):
        open_zarr_trajectories(tmp_path / "plain.zarr")
    with pytest.raises(TypeError, match="allow_incomplete must be a bool"):
        open_zarr_trajectories(tmp_path / "plain.zarr", allow_incomplete="yes")


# ---------------------------------------------------------------- model selection


def test_grid_search_on_dask_matches_the_local_search(client2, ar1):
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    X = [ar1(400, 0.9, rng) for _ in range(4)]
    grid = {"lagtime": [1, 3], "n_kernels": [1, 2]}
    mdn = MDNPropagator(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    # The workers run one torch thread each; the local search does too, since
    # the order of the sums in a product can change with the number of threads.
    threads = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        torch.set_num_threads(1)
        try:
            local = GridSearchCV(mdn, grid, cv=2, n_jobs=1).fit(X)
        finally:
            torch.set_num_threads(threads)
        with parallel_backend("dask", client=client2):
            remote = GridSearchCV(mdn, grid, cv=2, n_jobs=2).fit(X)
    keys = [k for k in local.cv_results_ if "test_score" in k or k == "params"]
    assert "mean_test_score" in keys and "split1_test_score" in keys
    for key in keys:
        assert list(remote.cv_results_[key]) == list(local.cv_results_[key]), key
    assert remote.best_params_ == local.best_params_


# ---------------------------------------------------------------- pickling


def _roundtrip_on_worker(payload, method, args, seed):
    est = cloudpickle.loads(payload)
    call = getattr(est, method)
    return call(*args) if seed is None else call(*args, random_state=seed)


def _as_arrays(out):
    if isinstance(out, list):
        return [a for o in out for a in _as_arrays(o)]
    if hasattr(out, "latent"):
        return [out.latent, out.configurations]
    if isinstance(out, md.Trajectory):
        return [out.xyz]
    return [np.asarray(out)]


def test_estimators_pickled_to_a_worker_sample_identically(
    sim, molecular_data, client2, ar1
):
    X, y = molecular_data
    Z = sim.transform(X[0])
    x = ar1(300, 0.9, np.random.default_rng(1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        ensemble = SimulatorEnsemble(
            MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
            n_models=2,
            resample="blocks",
            n_blocks=2,
            random_state=0,
        )
        if "n_repeats" in ensemble.get_params():
            ensemble.set_params(n_repeats=1)
        ensemble.fit(x)
    cases = [
        (sim.encoder_, "transform", (X[0],), None),
        (sim.propagator_, "sample", (Z[:3], 20), 3),
        (sim.decoder_, "sample", (Z[:50],), 3),
        (
            sim.coordinates_,
            "inverse_transform",
            (sim.coordinates_.transform(y[0]),),
            None,
        ),
        (sim, "sample", (20, 3), 3),
        (ensemble, "sample", (x[:1], 20), 3),
    ]
    futures = [
        client2.submit(
            _roundtrip_on_worker, cloudpickle.dumps(est), method, args, seed, pure=False
        )
        for est, method, args, seed in cases
    ]
    for (est, method, args, seed), future in zip(cases, futures, strict=True):
        call = getattr(est, method)
        here = call(*args) if seed is None else call(*args, random_state=seed)
        there = future.result()
        for a, b in zip(_as_arrays(here), _as_arrays(there), strict=True):
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b, err_msg=type(est).__name__)
