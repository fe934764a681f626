"""The ``.sklss`` model file: round trips, refusal of unsafe or damaged files."""

import hashlib
import json
import operator
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import sklss
from sklss import CWGANDecoder, FrameWise, MDNPropagator, SRVTransformer

from .test_simulator import _two_state_features, small_simulator


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return est.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def data():
    return [_two_state_features(800, s) for s in range(2)]


@pytest.fixture(scope="module")
def simulator(data):
    return _quiet_fit(small_simulator(lagtime=2, random_state=0), data, y=data)


@pytest.fixture(scope="module")
def saved(simulator, tmp_path_factory):
    path = tmp_path_factory.mktemp("box") / "sim.sklss"
    sklss.save(simulator, path)
    return path


def _fitted_state(est):
    """Every array and tensor of a fitted estimator (nested), by attribute path."""
    import torch

    out = {}

    def walk(obj, prefix):
        for key, value in sorted(vars(obj).items()):
            name = f"{prefix}.{key}"
            if isinstance(value, torch.nn.Module):
                for k, t in value.state_dict().items():
                    out[f"{name}.{k}"] = t.detach().cpu().numpy()
            elif isinstance(value, np.ndarray):
                out[name] = value
            elif hasattr(value, "get_params") and hasattr(value, "__dict__"):
                walk(value, name)

    walk(est, type(est).__name__)
    return out


def _assert_same_state(a, b):
    sa, sb = _fitted_state(a), _fitted_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def test_simulator_round_trip_samples_identically(simulator, saved):
    loaded = sklss.load(saved)
    assert type(loaded) is type(simulator)
    assert repr(loaded) == repr(simulator)
    _assert_same_state(simulator, loaded)
    a = simulator.sample(40, n_trajectories=3, random_state=7)
    b = loaded.sample(40, n_trajectories=3, random_state=7)
    np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_array_equal(a.configurations, b.configurations)
    assert loaded.encoder_.history_ == simulator.encoder_.history_


def test_round_trip_in_a_fresh_process(simulator, saved):
    expected = simulator.sample(25, n_trajectories=2, random_state=3)
    code = (
        "import sys, numpy as np, sklss\n"
        "sim = sklss.load(sys.argv[1])\n"
        "r = sim.sample(25, n_trajectories=2, random_state=3)\n"
        "np.savez(sys.argv[2], latent=r.latent, conf=r.configurations)\n"
    )
    out = saved.parent / "fresh.npz"
    subprocess.run([sys.executable, "-c", code, str(saved), str(out)], check=True)
    with np.load(out) as f:
        np.testing.assert_array_equal(f["latent"], expected.latent)
        np.testing.assert_array_equal(f["conf"], expected.configurations)


def test_saving_is_deterministic(simulator, saved, tmp_path):
    again = tmp_path / "again.sklss"
    digest = sklss.save(simulator, again)
    assert again.read_bytes() == saved.read_bytes()
    assert digest == hashlib.sha256(saved.read_bytes()).hexdigest()
    # A loaded model saves to the same bytes: nothing is lost on the way.
    third = tmp_path / "third.sklss"
    sklss.save(sklss.load(saved), third)
    assert third.read_bytes() == saved.read_bytes()


def test_manifest_records_versions_and_checksums(saved):
    from sklss._serialization import read_manifest

    info = read_manifest(saved)
    assert info["format"] == "sklss-model" and info["class"] == "LatentSpaceSimulator"
    assert set(info["versions"]) == {"sklss", "torch", "numpy", "python"}
    assert info["versions"]["sklss"] == sklss.__version__
    assert info["file_sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    with zipfile.ZipFile(saved) as zf:
        names = zf.namelist()
        assert names[0] == "manifest.json"
        for name in names[1:]:
            assert info["sha256"][name] == hashlib.sha256(zf.read(name)).hexdigest()
        # No member is a pickle.
        for name in names:
            assert not zf.read(name).startswith(b"\x80")


@pytest.mark.parametrize(
    "make",
    [
        lambda X: SRVTransformer(
            lagtime=2, n_components=1, hidden_layer_sizes=(8,), max_epochs=2
        ).fit(X),
        lambda X: MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2).fit(
            X[:, :1]
        ),
        lambda X: CWGANDecoder(noise_dim=3, hidden_layer_sizes=(8,), max_epochs=2).fit(
            X[:, :1], X
        ),
        lambda X: SRVTransformer(lagtime=2, n_components=1),  # unfitted
    ],
    ids=["srv", "mdn", "cwgan", "unfitted"],
)
def test_each_network_round_trips(make, data, tmp_path):
    X = data[0]
    est = _quiet_fit_call(make, X)
    path = tmp_path / "net.sklss"
    sklss.save(est, path)
    loaded = sklss.load(path)
    assert repr(loaded) == repr(est)
    if not hasattr(est, "n_features_in_"):
        assert not hasattr(loaded, "n_features_in_")
        return
    _assert_same_state(est, loaded)
    if isinstance(est, SRVTransformer):
        np.testing.assert_array_equal(est.transform(X), loaded.transform(X))
    elif isinstance(est, MDNPropagator):
        np.testing.assert_array_equal(
            est.sample(X[0, :1], 30, random_state=1),
            loaded.sample(X[0, :1], 30, random_state=1),
        )
        np.testing.assert_array_equal(
            est.log_prob(X[:-1, :1], X[1:, :1]), loaded.log_prob(X[:-1, :1], X[1:, :1])
        )
    else:
        np.testing.assert_array_equal(
            est.sample(X[:9, :1], random_state=1),
            loaded.sample(X[:9, :1], random_state=1),
        )


def _quiet_fit_call(make, X):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return make(X)


def test_warm_start_continues_from_a_loaded_network(data, tmp_path):
    X = data[0][:, :1]
    mdn = _quiet_fit(
        MDNPropagator(
            n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0
        ),
        X,
    )
    sklss.save(mdn, tmp_path / "m.sklss")
    loaded = sklss.load(tmp_path / "m.sklss").set_params(warm_start=True)
    mdn.set_params(warm_start=True)
    _quiet_fit(mdn, X)
    _quiet_fit(loaded, X)
    _assert_same_state(mdn, loaded)


def test_encoders_from_scikit_learn_and_deeptime(data, tmp_path):
    from deeptime.decomposition import TICA
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    for encoder in (
        FrameWise(make_pipeline(StandardScaler(), PCA(n_components=1))),
        TICA(lagtime=2, dim=1),
    ):
        sim = small_simulator(lagtime=2, random_state=0).set_params(encoder=encoder)
        _quiet_fit(sim, data, y=data)
        path = tmp_path / "enc.sklss"
        sklss.save(sim, path)
        loaded = sklss.load(path)
        np.testing.assert_array_equal(sim.transform(data[0]), loaded.transform(data[0]))
        np.testing.assert_array_equal(
            sim.sample(10, random_state=2).latent,
            loaded.sample(10, random_state=2).latent,
        )


@pytest.mark.parametrize("union", ["sklss", "sklearn"])
def test_feature_union_encoder_round_trips(data, tmp_path, union):
    # The SRV's slow coordinates plus principal components (as `sklss demo` builds).
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if union == "sklss":  # for lists of trajectories
        FeatureUnion, X = sklss.FeatureUnion, data
    else:
        from sklearn.pipeline import FeatureUnion

        X = data[0]
    encoder = FeatureUnion(
        [
            ("srv", SRVTransformer(n_components=1, hidden_layer_sizes=(8,))),
            (
                "structure",
                FrameWise(make_pipeline(StandardScaler(), PCA(n_components=1))),
            ),
        ]
    )
    sim = small_simulator(lagtime=2, random_state=0).set_params(encoder=encoder)
    _quiet_fit(sim, X, y=X)
    sklss.save(sim, tmp_path / "union.sklss")
    loaded = sklss.load(tmp_path / "union.sklss")
    assert type(loaded.encoder_) is FeatureUnion
    np.testing.assert_array_equal(sim.transform(data[1]), loaded.transform(data[1]))
    np.testing.assert_array_equal(
        sim.sample(10, random_state=2).latent, loaded.sample(10, random_state=2).latent
    )


@pytest.mark.parametrize("coordinates", ["AlignedCoordinates", "InternalCoordinates"])
def test_molecular_simulator_keeps_its_topology(alanine_md, tmp_path, coordinates):
    md = pytest.importorskip("mdtraj")
    from sklss import TorsionFeaturizer

    traj = alanine_md(200)
    X = TorsionFeaturizer().fit_transform(traj)
    coords = getattr(sklss, coordinates)("not element H")
    sim = small_simulator(lagtime=2, coordinates=coords)
    _quiet_fit(sim, X, y=traj)
    path = tmp_path / "ala.sklss"
    sklss.save(sim, path)
    loaded = sklss.load(path)
    top, top2 = sim.coordinates_.topology_, loaded.coordinates_.topology_
    assert [str(a) for a in top.atoms] == [str(a) for a in top2.atoms]
    assert [a.element for a in top.atoms] == [a.element for a in top2.atoms]
    assert [(b[0].index, b[1].index) for b in top.bonds] == [
        (b[0].index, b[1].index) for b in top2.bonds
    ]
    a = sim.sample(5, random_state=0).to_mdtraj(0)
    b = loaded.sample(5, random_state=0).to_mdtraj(0)
    assert isinstance(b, md.Trajectory)
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(
        sim.coordinates_.reference_.xyz, loaded.coordinates_.reference_.xyz
    )
    if coordinates == "InternalCoordinates":
        np.testing.assert_array_equal(
            sim.coordinates_.zmatrix_, loaded.coordinates_.zmatrix_
        )


def test_paper_size_simulator_file_is_small(tmp_path):
    """The paper's Trp-cage networks: SRV 2x100 (190 distances -> 3), MDN 2x100 with
    24 kernels, cWGAN 3x200 with 50 noise dimensions (-> 20 C-alpha atoms), and
    10,000 start points: the file stays within 1.5 MB."""
    rng = np.random.default_rng(0)
    n = 11_000
    X = np.cumsum(rng.normal(size=(n, 190)), axis=0).astype(np.float32) * 0.01
    Y = rng.normal(size=(n, 60)).astype(np.float32)
    sim = sklss.LatentSpaceSimulator(
        encoder=SRVTransformer(
            lagtime=5, n_components=3, hidden_layer_sizes=(100, 100), max_epochs=1
        ),
        propagator=MDNPropagator(
            n_kernels=24, hidden_layer_sizes=(100, 100), max_epochs=1
        ),
        decoder=CWGANDecoder(
            noise_dim=50, hidden_layer_sizes=(200, 200, 200), max_epochs=1
        ),
        lagtime=5,
        random_state=0,
    )
    _quiet_fit(sim, X, y=Y)
    assert len(sim.start_points_) == 10_000
    path = tmp_path / "paper.sklss"
    sklss.save(sim, path)
    size = path.stat().st_size
    assert size <= 1.5e6, f"{size / 1e6:.2f} MB"


# ----------------------------------------------------------------- refusals


class _SideEffect:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


class _Payload:
    """Unpickles to ``(exec(<write marker>), simulator)[1]``: runs code, then gives
    the genuine simulator, so nothing looks wrong to the victim."""

    def __init__(self, simulator, marker):
        self.simulator, self.marker = simulator, marker

    def __reduce__(self):
        return (operator.getitem, ((_SideEffect(self.marker), self.simulator), 1))


def pickle_with_side_effect(simulator, path, marker):
    """A pickle that writes ``marker`` and then returns the genuine simulator."""
    with open(path, "wb") as fh:
        pickle.dump(_Payload(simulator, marker), fh)
    return path


def test_load_never_unpickles(simulator, tmp_path):
    marker = tmp_path / "marker"
    path = pickle_with_side_effect(simulator, tmp_path / "evil.sklss", marker)
    with pytest.raises(ValueError, match="not a sklss zip archive"):
        sklss.load(path)
    with pytest.raises(ValueError, match="allow_pickle"):
        sklss.load_simulator(path)
    assert not marker.exists()
    # The payload is real: a trusting load runs it (what allow_pickle warns about).
    loaded = sklss.load_simulator(path, allow_pickle=True)
    assert marker.exists()
    assert isinstance(loaded, sklss.LatentSpaceSimulator)


def _rewrite(path, out, edit):
    """Copy a .sklss file, editing ``model.json`` and fixing the checksums, as an
    attacker who knows the format would."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    model = json.loads(members["model.json"])
    edit(model)
    members["model.json"] = json.dumps(model).encode()
    manifest = json.loads(members["manifest.json"])
    manifest["sha256"]["model.json"] = hashlib.sha256(members["model.json"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def test_files_from_before_newer_parameters_load_as_they_were(saved, tmp_path):
    # A file written before MDNPropagator.ema_decay and the decoder's mean network
    # existed: the parameters are filled with the values that reproduce it.
    def drop(node, names):
        state = node["state"]
        for name in names:
            i = state["keys"].index(name)
            del state["keys"][i], state["values"][i]

    def edit(model):
        root = model["root"]["state"]
        drop(root["values"][root["keys"].index("propagator_")], ["ema_decay"])
        decoder = root["values"][root["keys"].index("decoder_")]
        drop(
            decoder,
            [
                "mean_layer_sizes",
                "mean_network_",
                "mean_scaler_",
                "mean_history_",
                "conditional_scale",
                "scale_network_",
                "scale_history_",
            ],
        )

    old = sklss.load(_rewrite(saved, tmp_path / "old.sklss", edit))
    assert old.propagator_.ema_decay == 0.0
    assert old.decoder_.mean_layer_sizes is None
    assert old.decoder_.get_params()["mean_layer_sizes"] is None
    assert old.decoder_.conditional_scale is False
    clone(old.decoder_), clone(old.propagator_)  # every parameter is there
    out = old.sample(5, 2, random_state=0)
    assert np.all(np.isfinite(out.configurations))
    # The same through pickle's path.
    state = old.propagator_.__getstate__()
    del state["ema_decay"]
    mdn = type(old.propagator_).__new__(type(old.propagator_))
    mdn.__setstate__(state)
    assert mdn.get_params()["ema_decay"] == 0.0


@pytest.mark.parametrize(
    "target", ["builtins:eval", "os:system", "subprocess:Popen", "sklss._io:Path"]
)
def test_classes_outside_the_allow_list_are_refused(saved, tmp_path, target):
    def edit(model):
        model["root"]["class"] = target

    path = _rewrite(saved, tmp_path / "evil.sklss", edit)
    with pytest.raises(ValueError, match="not one a .sklss file may hold"):
        sklss.load(path)


def test_torch_modules_outside_the_allow_list_are_refused(saved, tmp_path):
    def edit(model):
        state = model["root"]["state"]
        enc = state["values"][state["keys"].index("encoder_")]
        net = enc["state"]["values"][enc["state"]["keys"].index("network_")]
        net["type"] = "Conv1d"

    with pytest.raises(ValueError, match="not one a .sklss file may hold"):
        sklss.load(_rewrite(saved, tmp_path / "evil.sklss", edit))


def test_oversized_layouts_allocate_nothing(saved, tmp_path):
    def edit(model):
        state = model["root"]["state"]
        enc = state["values"][state["keys"].index("encoder_")]
        net = enc["state"]["values"][enc["state"]["keys"].index("network_")]
        linear = net["children"][0][1]
        linear["config"]["values"][linear["config"]["keys"].index("in_features")] = (
            10**12
        )

    with pytest.raises(ValueError, match="wrong shape"):
        sklss.load(_rewrite(saved, tmp_path / "big.sklss", edit))


def test_tampered_member_fails_its_checksum(saved, tmp_path):
    with zipfile.ZipFile(saved) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    tensors = bytearray(members["tensors.safetensors"])
    tensors[-1] ^= 0x01  # one bit of one weight
    members["tensors.safetensors"] = bytes(tensors)
    out = tmp_path / "tampered.sklss"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="checksum of tensors.safetensors"):
        sklss.load(out)


def _flip_outcomes(saved, simulator, tmp_path, positions):
    """Load the file with each byte in ``positions`` flipped: count refusals and
    loads; any load must hold exactly the saved state."""
    original = saved.read_bytes()
    path = tmp_path / "flipped.sklss"
    counts = {"refused": 0, "identical": 0}
    for i in positions:
        data = bytearray(original)
        data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            loaded = sklss.load(path)
        except ValueError:
            counts["refused"] += 1
            continue
        _assert_same_state(simulator, loaded)
        counts["identical"] += 1
    return counts


def test_byte_flipped_files_are_refused_or_identical(saved, simulator, tmp_path):
    size = saved.stat().st_size
    positions = range(0, size, max(1, size // 400))
    counts = _flip_outcomes(saved, simulator, tmp_path, positions)
    assert counts["refused"] + counts["identical"] == len(positions)
    assert counts["refused"] > 0.9 * len(positions)


@pytest.mark.slow
def test_every_byte_flip_is_refused_or_identical(saved, simulator, tmp_path):
    size = saved.stat().st_size
    counts = _flip_outcomes(saved, simulator, tmp_path, range(size))
    assert counts["refused"] + counts["identical"] == size


@pytest.mark.parametrize("cut", [0, 10, 100, 0.5, -1])
def test_truncated_files_are_refused(saved, tmp_path, cut):
    data = saved.read_bytes()
    n = int(cut * len(data)) if isinstance(cut, float) else cut % len(data)
    path = tmp_path / "cut.sklss"
    path.write_bytes(data[:n])
    with pytest.raises(ValueError, match="not a valid .sklss model file"):
        sklss.load(path)


def test_garbage_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        sklss.load(tmp_path / "none.sklss")
    for content in (b"", b"garbage", b"PK\x03\x04manifest.json" + b"\x00" * 100):
        (tmp_path / "g.sklss").write_bytes(content)
        with pytest.raises(ValueError, match="not a valid .sklss model file"):
            sklss.load(tmp_path / "g.sklss")


def test_extra_members_are_refused(saved, tmp_path):
    out = tmp_path / "extra.sklss"
    out.write_bytes(saved.read_bytes())
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("payload.pkl", pickle.dumps(1))
    with pytest.raises(ValueError, match="unexpected members"):
        sklss.load(out)


# ------------------------------------------------------------- save refusals


def test_save_refuses_what_a_data_file_cannot_hold(data, tmp_path):
    X = data[0][:, :1]
    mdn = MDNPropagator(
        n_kernels=2, hidden_layer_sizes=(4,), max_epochs=1, callbacks=[lambda r: False]
    )
    _quiet_fit(mdn, X)
    with pytest.raises(ValueError, match="callbacks"):
        sklss.save(mdn, tmp_path / "m.sklss")
    assert not (tmp_path / "m.sklss").exists()
    mdn.set_params(callbacks=None)
    sklss.save(mdn, tmp_path / "m.sklss")
    with pytest.raises(ValueError, match="must end with '.sklss'"):
        sklss.save(mdn, tmp_path / "m.joblib")
    with pytest.raises(TypeError, match="estimator must be"):
        sklss.save(np.zeros(3), tmp_path / "a.sklss")


def test_load_onto_another_device_validates_the_device(saved):
    with pytest.raises(ValueError, match="device"):
        sklss.load(saved, device="tpu")


def test_saved_file_is_a_plain_zip(saved):
    # Readers other than sklss can inspect the box: JSON and safetensors only.
    with zipfile.ZipFile(saved) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        model = json.loads(zf.read("model.json"))
        from safetensors.numpy import load as load_arrays

        arrays = load_arrays(zf.read("arrays.safetensors"))
    assert manifest["class"] == model["root"]["class"].split(":")[1]
    assert all(isinstance(a, np.ndarray) for a in arrays.values())


def test_a_model_recorded_on_a_gpu_loads_onto_the_cpu(data, tmp_path):
    """Tensors are stored from the CPU whatever device the model was on; a file
    written on a GPU machine records device_='cuda...' and loads onto the CPU."""
    X = data[0][:, :1]
    mdn = _quiet_fit(
        MDNPropagator(
            n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0
        ),
        X,
    )
    expected = mdn.sample(X[0], 20, random_state=4)
    mdn.device_ = "cuda:0"  # as recorded by a fit on a GPU
    sklss.save(mdn, tmp_path / "gpu.sklss")
    loaded = sklss.load(tmp_path / "gpu.sklss")
    assert loaded.device_ == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.network_.parameters())
    np.testing.assert_array_equal(loaded.sample(X[0], 20, random_state=4), expected)
