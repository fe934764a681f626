"""Tests of feature stores: featurising files into Zarr, and training from them."""

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("zarr")
md = pytest.importorskip("mdtraj")

import torch  # noqa: E402
import zarr  # noqa: E402

from sklss import (  # noqa: E402
    FeatureStore,
    LatentSpaceSimulator,
    LazyTrajectory,
    MDNPropagator,
    SRVTransformer,
    TorsionFeaturizer,
    featurize_to_zarr,
    open_feature_store,
)
from sklss._data import lagged_pairs  # noqa: E402
from sklss._store import PairBlocks  # noqa: E402


@pytest.fixture(scope="module")
def md_files(alanine_md, tmp_path_factory):
    """Three real trajectory files (DCD, XTC, TRR) and a PDB topology."""
    traj = alanine_md(300)
    d = tmp_path_factory.mktemp("md")
    top = str(d / "top.pdb")
    traj[0].save_pdb(top)
    files = [str(d / "a.dcd"), str(d / "b.xtc"), str(d / "c.trr")]
    traj[:100].save_dcd(files[0])
    traj[100:220].save_xtc(files[1])
    traj[220:].save_trr(files[2])
    return files, top


def _zarr_lazy(tmp_path, arrays, chunk=64):
    group = zarr.open_group(str(tmp_path / "arrays"), mode="w")
    out = []
    for i, x in enumerate(arrays):
        a = group.create_array(
            f"t{i}", shape=x.shape, chunks=(chunk, x.shape[1]), dtype=x.dtype
        )
        a[:] = x
        out.append(LazyTrajectory(a, name=f"t{i}"))
    return out


def _slow_features(n, rng, a=0.98, n_noise=3):
    from scipy.signal import lfilter

    slow = lfilter([np.sqrt(1 - a * a)], [1, -a], rng.normal(size=n))
    noise = rng.normal(size=(n, n_noise))
    return np.column_stack([slow + 0.1 * noise[:, 0], noise]).astype(np.float32)


def test_featurize_matches_loading_each_file(md_files, tmp_path):
    files, top = md_files
    store = featurize_to_zarr(
        TorsionFeaturizer(),
        files,
        tmp_path / "store",
        top=top,
        chunk_frames=32,
        verbose=False,
    )
    assert isinstance(store, FeatureStore)
    assert [len(t) for t in store] == [100, 120, 80]
    assert store.files == [os.path.realpath(f) for f in files]
    assert store.feature_names[:2] == ["sin(phi ALA2)", "cos(phi ALA2)"]
    assert store.nbytes == 300 * 4 * 4
    # The XTC and TRR files record 1 ps between frames, the DCD file no time.
    assert store.timestep == 1.0
    for f, lazy in zip(files, store, strict=True):
        expected = TorsionFeaturizer().fit_transform(md.load(f, top=top))
        np.testing.assert_allclose(np.asarray(lazy), expected, atol=1e-6)
        np.testing.assert_allclose(lazy[5:9], expected[5:9], atol=1e-6)
    again = open_feature_store(tmp_path / "store")
    np.testing.assert_array_equal(np.asarray(again[1]), np.asarray(store[1]))


def test_featurize_resumes_only_missing_files(md_files, tmp_path):
    files, top = md_files
    path = tmp_path / "store"
    featurize_to_zarr(TorsionFeaturizer(), files, path, top=top, verbose=False)
    kept = np.asarray(open_feature_store(path)[0])
    # An interrupted run: the second file's array was never completed.
    group = zarr.open_group(str(path), mode="r+")
    del group["trajectory_00001"]
    with pytest.raises(ValueError, match="incomplete"):
        open_feature_store(path)
    partial = open_feature_store(path, allow_incomplete=True)
    assert len(partial) == 2
    first = path / "trajectory_00000"
    stamp = max(p.stat().st_mtime_ns for p in first.rglob("*"))
    store = featurize_to_zarr(TorsionFeaturizer(), files, path, top=top, verbose=False)
    assert len(store) == 3 and len(store[1]) == 120
    assert max(p.stat().st_mtime_ns for p in first.rglob("*")) == stamp
    np.testing.assert_array_equal(np.asarray(store[0]), kept)


def test_featurize_on_a_local_cluster_is_identical(md_files, tmp_path):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    files, top = md_files
    local = featurize_to_zarr(
        TorsionFeaturizer(), files, tmp_path / "local", top=top, verbose=False
    )
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:
            remote = featurize_to_zarr(
                TorsionFeaturizer(),
                files,
                tmp_path / "remote",
                top=top,
                client=client,
                verbose=False,
            )
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"featurizer": object()}, TypeError, "featurizer must be a transformer"),
        ({"trajectories": 3}, TypeError, "trajectories must be a path"),
        ({"trajectories": ["missing.dcd"]}, ValueError, "no such file"),
        ({"stride": 0}, ValueError, "stride"),
        ({"chunk_frames": 1.5}, TypeError, "chunk_frames"),
        ({"client": "local"}, TypeError, "client"),
    ],
)
def test_featurize_argument_errors(md_files, tmp_path, kwargs, error, match):
    files, top = md_files
    args = {
        "featurizer": TorsionFeaturizer(),
        "trajectories": files,
        "path": tmp_path / "s",
        "top": top,
        "verbose": False,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        featurize_to_zarr(**args)


def test_featurize_refuses_to_mix_stores(md_files, tmp_path):
    files, top = md_files
    path = tmp_path / "store"
    featurize_to_zarr(TorsionFeaturizer(), files, path, top=top, verbose=False)
    with pytest.raises(ValueError, match="other arguments"):
        featurize_to_zarr(TorsionFeaturizer(), files[:2], path, top=top, verbose=False)
    store = featurize_to_zarr(
        TorsionFeaturizer(), files[:2], path, top=top, overwrite=True, verbose=False
    )
    assert len(store) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a feature store"):
        featurize_to_zarr(
            TorsionFeaturizer(), files, tmp_path / "other", top=top, verbose=False
        )
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a feature store"):
        open_feature_store(tmp_path / "other")
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(ValueError, match="not a feature store"):
        featurize_to_zarr(
            TorsionFeaturizer(), files, tmp_path / "a_file", top=top, verbose=False
        )
    assert (tmp_path / "a_file").read_text() == "mine"


def test_pair_blocks_hold_exactly_the_lagged_pairs(rng=None):
    rng = np.random.default_rng(0)
    trajs = [rng.normal(size=(n, 2)) for n in (50, 3, 131)]
    pairs = PairBlocks(trajs, 4, block_pairs=20)
    # No block crosses a trajectory; together they are lagged_pairs' pairs.
    assert all(b <= len(trajs[i]) - 4 for i, a, b in pairs.blocks)
    X0, X1 = pairs.read_many(pairs.blocks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R0, R1 = lagged_pairs(trajs, 4)
    np.testing.assert_array_equal(X0, R0)
    np.testing.assert_array_equal(X1, R1)
    assert pairs.n_pairs == len(R0)
    # One epoch of minibatches visits every training pair once (twice reversed).
    generator = torch.Generator().manual_seed(0)
    train, val = pairs.split(0.2, generator)
    assert val is not None and not set(train) & set(val)
    assert set(train) | set(val) == set(pairs.blocks)
    n_train = sum(b - a for _, a, b in train)
    seen = np.concatenate([b[0] for b in pairs.minibatches(train, 16, generator)])
    assert len(seen) == n_train
    T0, _ = pairs.read_many(train)
    np.testing.assert_array_equal(np.sort(seen, axis=0), np.sort(T0, axis=0))
    both = list(pairs.minibatches(train, 16, generator, reverse=True))
    assert sum(len(b[0]) for b in both) == 2 * n_train


def test_srv_from_lazy_trajectories_is_a_vamp_solution(tmp_path):
    rng = np.random.default_rng(1)
    data = [_slow_features(3000, rng) for _ in range(3)]
    lazy = _zarr_lazy(tmp_path, data, chunk=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srv = SRVTransformer(n_components=2, lagtime=3, max_epochs=4, random_state=0)
        srv.fit(lazy)
    # The final eigenproblem was solved over all training pairs (streamed): the
    # outputs are orthonormal with C1 = diag(eigenvalues), computed here directly.
    psi = srv.transform(lazy)
    assert isinstance(psi, list) and psi[0].dtype == np.float32
    P0 = np.concatenate([p[:-3] for p in psi]).astype(np.float64)
    P1 = np.concatenate([p[3:] for p in psi]).astype(np.float64)
    mean = (P0.mean(0) + P1.mean(0)) / 2
    P0, P1 = P0 - mean, P1 - mean
    C0 = (P0.T @ P0 + P1.T @ P1) / (2 * len(P0))
    C1 = (P0.T @ P1 + P1.T @ P0) / (2 * len(P0))
    np.testing.assert_allclose(C0, np.eye(2), atol=1e-4)
    np.testing.assert_allclose(C1, np.diag(srv.eigenvalues_), atol=1e-4)
    # The scaling statistics of every frame, streamed.
    allx = np.concatenate(data).astype(np.float64)
    np.testing.assert_allclose(srv.scaler_.center, allx.mean(0), rtol=1e-9)
    np.testing.assert_allclose(srv.scaler_.scale, allx.std(0), rtol=1e-6)
    # transform reads a lazy trajectory in chunks: the same as in memory.
    np.testing.assert_allclose(psi[1], srv.transform(data[1]), rtol=1e-6, atol=1e-6)


def test_streamed_training_scores_as_well_as_in_memory(tmp_path):
    rng = np.random.default_rng(2)
    data = [_slow_features(20_000, rng) for _ in range(2)]
    test = _slow_features(20_000, rng)
    lazy = _zarr_lazy(tmp_path, data, chunk=2000)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, X in (("memory", data), ("lazy", lazy)):
            srv = SRVTransformer(
                n_components=1, lagtime=5, max_epochs=8, random_state=0
            ).fit(X)
            scores[name] = srv.score(test)
    # The slow process scores 1 + 0.98**10 = 1.82 at best.
    assert scores["lazy"] > 1.7
    assert abs(scores["lazy"] - scores["memory"]) < 0.03


def test_mdn_from_lazy_trajectories(tmp_path):
    rng = np.random.default_rng(3)
    Z = [
        _slow_features(4000, rng, n_noise=1)[:, :1].astype(np.float64) for _ in range(2)
    ]
    lazy = _zarr_lazy(tmp_path, Z, chunk=700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = MDNPropagator(n_kernels=3, lagtime=2, max_epochs=6, random_state=0)
        memory.fit(Z)
        for reversible in (False, True):
            streamed = MDNPropagator(
                n_kernels=3,
                lagtime=2,
                max_epochs=6,
                random_state=0,
                reversible=reversible,
            ).fit(lazy)
            np.testing.assert_array_equal(streamed.data_min_, memory.data_min_)
            np.testing.assert_array_equal(streamed.data_max_, memory.data_max_)
            assert abs(streamed.score(Z) - memory.score(Z)) < 0.1
            assert len(streamed.history_) >= 1
            assert "val_loss" in streamed.history_[0]


def test_non_finite_values_on_disk_are_named(tmp_path):
    rng = np.random.default_rng(4)
    data = [rng.normal(size=(300, 2)), rng.normal(size=(300, 2))]
    data[1][123, 1] = np.nan
    lazy = _zarr_lazy(tmp_path, data)
    with pytest.raises(
        ValueError, match=r"X\[1\] contains NaN or infinity \(frame 123"
    ):
        SRVTransformer(n_components=1, max_epochs=1).fit(lazy)
    srv = SRVTransformer(n_components=1, max_epochs=1)
    assert not hasattr(srv, "network_")


def test_simulator_fits_from_a_feature_store(md_files, tmp_path):
    files, top = md_files
    store = featurize_to_zarr(
        TorsionFeaturizer(), files, tmp_path / "store", top=top, verbose=False
    )
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, max_epochs=3, random_state=0),
        propagator=MDNPropagator(n_kernels=2, max_epochs=3, random_state=0),
        lagtime=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(store)
    Z = sim.transform(store)
    assert [len(z) for z in Z] == [100, 120, 80]
    memory = [np.asarray(t) for t in store]
    np.testing.assert_allclose(Z[2], sim.transform(memory)[2], rtol=1e-6, atol=1e-6)
    result = sim.sample(10, n_trajectories=3, random_state=0)
    assert result.latent.shape == (3, 11, 1)


class _CountingArray:
    """A zarr array that records how many frames each read returns."""

    def __init__(self, array):
        self._array, self.reads = array, []
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        out = self._array[key]
        self.reads.append(len(out))
        return out


def test_framewise_streams_a_store_through_partial_fit(tmp_path, monkeypatch):
    from sklearn.decomposition import PCA, IncrementalPCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklss import FrameWise

    monkeypatch.setattr("sklss._store.READ_FRAMES", 1000)
    rng = np.random.default_rng(5)
    mix = rng.normal(size=(5, 5))
    # Lengths that cross the streaming batches and leave a short remainder.
    data = [
        (rng.normal(size=(n, 5)) * [3.0, 1.0, 0.5, 2.0, 0.1] @ mix + 7.0).astype(
            np.float32
        )
        for n in (9000, 10_000, 301)
    ]
    arrays = [_CountingArray(t._array) for t in _zarr_lazy(tmp_path, data, chunk=500)]
    lazy = [LazyTrajectory(a) for a in arrays]
    fw = FrameWise(make_pipeline(StandardScaler(), IncrementalPCA(n_components=2)))
    fw.fit(lazy)
    out = fw.transform(lazy)
    assert max(max(a.reads) for a in arrays) <= 1000  # never a whole trajectory
    # Independent reference: the correlation matrix's leading eigenvectors (numpy).
    allx = np.concatenate(data).astype(np.float64)
    scaler, pca = fw.transformer_[0], fw.transformer_[1]
    np.testing.assert_allclose(scaler.mean_, allx.mean(0), rtol=1e-9)
    np.testing.assert_allclose(scaler.scale_, allx.std(0), rtol=1e-6)
    std = (allx - allx.mean(0)) / allx.std(0)
    evals, evecs = np.linalg.eigh(np.cov(std.T))
    top = evecs[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(pca.components_ @ top), np.eye(2), atol=1e-6)
    np.testing.assert_allclose(pca.explained_variance_, evals[::-1][:2], rtol=1e-6)
    assert [len(o) for o in out] == [9000, 10_000, 301]
    np.testing.assert_allclose(
        np.concatenate(out), std @ pca.components_.T, rtol=1e-4, atol=1e-4
    )
    # A transformer without partial_fit is fitted on the frames read into memory.
    plain = FrameWise(make_pipeline(StandardScaler(), PCA(n_components=2))).fit(lazy)
    np.testing.assert_allclose(
        np.abs(plain.transformer_[1].components_ @ top), np.eye(2), atol=1e-6
    )


def test_union_encoder_fits_per_trajectory_from_a_store(md_files, tmp_path):
    from sklearn.decomposition import PCA, IncrementalPCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklss import FeatureUnion, FrameWise

    files, top = md_files
    store = featurize_to_zarr(
        TorsionFeaturizer(), files, tmp_path / "store", top=top, verbose=False
    )
    srv = SRVTransformer(n_components=1, lagtime=2, max_epochs=3, random_state=0)
    structure = make_pipeline(StandardScaler(), IncrementalPCA(n_components=2))
    sim = LatentSpaceSimulator(
        encoder=FeatureUnion([("srv", srv), ("structure", structure)]),
        propagator=MDNPropagator(n_kernels=2, max_epochs=3, random_state=0),
        lagtime=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(store)
        # The SRV saw the trajectories one by one, as when fitted on its own.
        alone = SRVTransformer(n_components=1, lagtime=2, max_epochs=3, random_state=0)
        alone.fit(store)
    fitted = dict(sim.encoder_.transformer_list)
    np.testing.assert_array_equal(fitted["srv"].eigenvalues_, alone.eigenvalues_)
    # The frame-wise part was wrapped to stream the store.
    assert isinstance(fitted["structure"], FrameWise)
    memory = [np.asarray(t, dtype=np.float64) for t in store]
    pca = make_pipeline(StandardScaler(), PCA(n_components=2))
    pca.fit(np.concatenate(memory))
    Z = sim.transform(store)
    assert [z.shape for z in Z] == [(100, 3), (120, 3), (80, 3)]
    np.testing.assert_allclose(
        np.abs(Z[2][:, 1:]), np.abs(pca.transform(memory[2])), rtol=1e-3, atol=1e-3
    )
