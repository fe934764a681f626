"""The ``.sklss`` model file: a simulator in a box that is safe to open.

A ``.sklss`` file is a zip archive of four members:

``manifest.json``
    The format and its version, the sklss, torch, numpy and Python versions that
    wrote the file, the class of the saved estimator, and the sha256 of each other
    member.
``model.json``
    The estimator as a tree of plain values: parameters, fitted scalars, the layout
    of every network and, for molecular decoders, the topology.
``arrays.safetensors`` and ``tensors.safetensors``
    The numpy arrays and the torch tensors, in the safetensors format.

Loading builds only classes from a fixed allow-list (the sklss estimators, a few
scikit-learn and deeptime classes whose state is plain arrays, and the torch layers
sklss networks are made of) and never unpickles anything: opening a file cannot run
code. Every member's checksum is verified first, so a damaged file is refused rather
than loaded with different weights.
"""

import hashlib
import importlib
import json
import math
import platform
import zipfile

import numpy as np

from ._io import atomic_path, check_path, file_sha256
from ._version import __version__

__all__ = ["save", "load", "read_manifest", "SUFFIX"]

SUFFIX = ".sklss"
FORMAT = "sklss-model"
FORMAT_VERSION = 1
_MEMBERS = ("manifest.json", "model.json", "arrays.safetensors", "tensors.safetensors")
_MAX_MANIFEST_BYTES = 1 << 20
# Members are read into memory; refuse archives that claim more than this.
_MAX_TOTAL_BYTES = 8 << 30
# Fixed timestamps: the same model always gives the same bytes (and checksum).
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_TAG = "__sklss__"

# Classes a file may construct, by "module:qualname". Their state is restored
# attribute by attribute (as pickle would, but from plain values only).
_ALLOWED_CLASSES = {
    "sklss._srv:SRVTransformer",
    "sklss._mdn:MDNPropagator",
    "sklss._cwgan:CWGANDecoder",
    "sklss._simulator:LatentSpaceSimulator",
    "sklss._ensemble:SimulatorEnsemble",
    "sklss._framewise:FrameWise",
    "sklss._framewise:FeatureUnion",
    "sklss._molecules:TorsionFeaturizer",
    "sklss._molecules:DistanceFeaturizer",
    "sklss._molecules:AlignedCoordinates",
    "sklss._molecules:InternalCoordinates",
    "sklearn.pipeline:Pipeline",
    "sklearn.pipeline:FeatureUnion",
    "sklearn.preprocessing._data:StandardScaler",
    "sklearn.preprocessing._data:MinMaxScaler",
    "sklearn.preprocessing._data:MaxAbsScaler",
    "sklearn.decomposition._pca:PCA",
    "sklearn.decomposition._incremental_pca:IncrementalPCA",
    "deeptime.decomposition._tica:TICA",
    "deeptime.decomposition._vamp:VAMP",
    "deeptime.decomposition._koopman:CovarianceKoopmanModel",
    "deeptime.covariance._covariance:CovarianceModel",
    "deeptime.covariance._covariance:WhiteningTransform",
    "deeptime.basis._base:Concatenation",
    "deeptime.basis._monomials:Identity",
}

# Torch layers a file may construct: "module:qualname" -> name in the file.
_ALLOWED_MODULES = {
    "torch.nn.modules.container:Sequential": "Sequential",
    "torch.nn.modules.linear:Linear": "Linear",
    "torch.nn.modules.linear:Identity": "Identity",
    "torch.nn.modules.batchnorm:BatchNorm1d": "BatchNorm1d",
    "torch.nn.modules.activation:ReLU": "ReLU",
    "torch.nn.modules.activation:Tanh": "Tanh",
    "torch.nn.modules.activation:SiLU": "SiLU",
    "torch.nn.modules.activation:ELU": "ELU",
    "torch.nn.modules.activation:GELU": "GELU",
    "torch.nn.modules.activation:LeakyReLU": "LeakyReLU",
    "torch.nn.modules.activation:Sigmoid": "Sigmoid",
    "sklss._base:AffineScaler": "AffineScaler",
}
_MODULE_CLASSES = {name: key for key, name in _ALLOWED_MODULES.items()}

_ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats


class _Unsafe(ValueError):
    """A value that a .sklss file cannot hold."""


def _class_key(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


def _import(key):
    module, _, qualname = key.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------- writing


class _Writer:
    def __init__(self):
        self.arrays = {}
        self.tensors = {}
        self.memo = {}

    def encode(self, value, where):
        import torch

        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) is int:
            return value
        if type(value) is float:
            return (
                value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
            )
        if isinstance(value, np.generic):
            return self._scalar(value, where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {_TAG: "tuple", "items": items}
        if isinstance(value, dict) and type(value) is dict:
            keys = list(value)
            for k in keys:
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise _Unsafe(f"{where} has a key of type {type(k).__name__}")
            return {
                _TAG: "dict",
                "keys": keys,
                "values": [self.encode(value[k], f"{where}[{k!r}]") for k in keys],
            }
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, torch.Tensor):
            key = f"t{len(self.tensors)}"
            self.tensors[key] = value.detach().to("cpu").contiguous().clone()
            return {_TAG: "tensor", "key": key, "requires_grad": value.requires_grad}
        if isinstance(value, torch.device):
            return {_TAG: "device", "value": str(value)}
        if isinstance(value, np.dtype):
            if value.kind not in _ARRAY_KINDS:
                raise _Unsafe(f"{where} is the dtype {value}")
            return {_TAG: "dtype", "value": value.str}
        if isinstance(value, np.random.RandomState):
            state = value.get_state(legacy=False)
            return {_TAG: "RandomState", "state": self.encode(state, where)}
        if isinstance(value, torch.nn.Module):
            return self._module(value, where)
        return self._object(value, where)

    def _scalar(self, value, where):
        if value.dtype.kind not in _ARRAY_KINDS:
            raise _Unsafe(f"{where} is a numpy {value.dtype} scalar")
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            item = repr(item)
        return {_TAG: "scalar", "dtype": value.dtype.str, "value": item}

    def _array(self, value, where):
        kind = value.dtype.kind
        if kind in _ARRAY_KINDS and value.dtype.fields is None:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.ascontiguousarray(
                value, value.dtype.newbyteorder("=")
            )
            return {_TAG: "ndarray", "key": key}
        flat = value.ravel().tolist()
        if kind in "UO" and all(isinstance(v, str) for v in flat):
            return {
                _TAG: "str_array",
                "dtype": "object" if kind == "O" else value.dtype.str,
                "shape": list(value.shape),
                "items": flat,
            }
        raise _Unsafe(f"{where} is an array of dtype {value.dtype}")

    def _module(self, module, where):
        key = _class_key(type(module))
        if key not in _ALLOWED_MODULES:
            raise _Unsafe(f"{where} is a torch module of type {type(module).__name__}")
        config = {
            k: v
            for k, v in vars(module).items()
            if not k.startswith("_") and k != "training"
        }
        if type(module).__name__ == "Linear":
            config["bias"] = module.bias is not None
        children = [
            [name, self._module(child, f"{where}.{name}")]
            for name, child in module.named_children()
        ]
        params, frozen = {}, []
        for name, p in module.named_parameters(recurse=False):
            params[name] = self.encode(p.data, f"{where}.{name}")["key"]
            if not p.requires_grad:
                frozen.append(name)
        buffers = {
            name: self.encode(b, f"{where}.{name}")["key"]
            for name, b in module.named_buffers(recurse=False)
        }
        return {
            _TAG: "module",
            "type": _ALLOWED_MODULES[key],
            "config": self.encode(config, where),
            "training": bool(module.training),
            "children": children,
            "parameters": params,
            "frozen": frozen,
            "buffers": buffers,
        }

    def _object(self, value, where):
        import mdtraj as md

        if isinstance(value, md.Topology):
            return {_TAG: "topology", "value": _topology_to_json(value)}
        if isinstance(value, md.Trajectory):
            return {
                _TAG: "trajectory",
                "xyz": self._array(value.xyz, where),
                "time": self._array(value.time, where),
                "unitcell_lengths": self.encode(value.unitcell_lengths, where),
                "unitcell_angles": self.encode(value.unitcell_angles, where),
                "topology": _topology_to_json(value.topology),
            }
        key = _class_key(type(value))
        if key not in _ALLOWED_CLASSES:
            what = getattr(value, "__name__", None) or type(value).__name__
            raise _Unsafe(f"{where} is {what!r} (type {type(value).__name__})")
        if id(value) in self.memo:
            return {_TAG: "ref", "id": self.memo[id(value)]}
        self.memo[id(value)] = ident = len(self.memo)
        state = {k: v for k, v in vars(value).items() if k != "_sklss_version"}
        return {
            _TAG: "object",
            "class": key,
            "id": ident,
            "state": self.encode(state, f"{where}"),
        }


def _topology_to_json(top):
    chains = []
    for chain in top.chains:
        residues = []
        for res in chain.residues:
            atoms = [
                [a.name, a.element.symbol if a.element is not None else None, a.serial]
                for a in res.atoms
            ]
            residues.append(
                {
                    "name": res.name,
                    "resSeq": res.resSeq,
                    "segment_id": res.segment_id,
                    "atoms": atoms,
                }
            )
        chains.append(
            {"chain_id": getattr(chain, "chain_id", None), "residues": residues}
        )
    bonds = [
        [
            b.atom1.index,
            b.atom2.index,
            None if b.type is None else str(b.type),
            b.order,
        ]
        for b in top.bonds
    ]
    return {"chains": chains, "bonds": bonds}


def save(estimator, path):
    """Save a fitted or unfitted estimator to a ``.sklss`` file.

    The file holds only data (JSON, safetensors and plain arrays), so
    :func:`load` can open it without running any code. It stores the estimator's
    parameters and fitted state, the networks' weights and, for molecular
    decoders, the topology. Saving the same model twice gives identical bytes.

    Parameters
    ----------
    estimator : estimator
        A sklss estimator (``SRVTransformer``, ``MDNPropagator``, ``CWGANDecoder``,
        ``LatentSpaceSimulator``, ``FrameWise``, a featurizer), or a scikit-learn
        ``Pipeline``/``FeatureUnion``/scaler/``PCA``/``IncrementalPCA`` or
        deeptime ``TICA``/``VAMP`` used as an encoder.
    path : str or path-like
        Where to write; must end with ``.sklss``. An existing file is replaced
        atomically (a failed save leaves it as it was).

    Returns
    -------
    str
        The sha256 of the written file (also shown by ``sklss info``).

    Raises
    ------
    ValueError
        ``path`` does not end with ``.sklss``, or the estimator holds something a
        data-only file cannot store (a callback function, an unknown class). The
        message names it; such estimators can still be stored with
        ``joblib.dump``, which is safe only between people who trust each other.

    See Also
    --------
    load : open a ``.sklss`` file.

    Examples
    --------
    >>> import numpy as np, sklss, tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(300, 1)).cumsum(axis=0)
    >>> mdn = sklss.MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,),
    ...                           max_epochs=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "mdn.sklss")
    >>> digest = sklss.save(mdn, path)
    >>> same = sklss.load(path)
    >>> bool(np.array_equal(mdn.sample(X[0], 5, random_state=1),
    ...                     same.sample(X[0], 5, random_state=1)))
    True
    """
    import safetensors.numpy
    import safetensors.torch
    import torch

    path = check_path(path)
    if path.suffix != SUFFIX:
        raise ValueError(
            f"path must end with {SUFFIX!r}, got {str(path)!r}: the suffix tells "
            "readers (and the sklss command line) that the file is safe to open."
        )
    writer = _Writer()
    name = type(estimator).__name__
    try:
        root = writer.encode(estimator, name)
    except _Unsafe as exc:
        raise ValueError(
            f"Cannot save {name} to a .sklss file: {exc}, which a data-only file "
            "cannot hold (it could carry code). Remove it first (for callbacks: "
            "set_params(callbacks=None)), or use joblib.dump, which stores anything "
            "but is safe to open only for files from people you trust."
        ) from None
    if root is None or not (isinstance(root, dict) and root.get(_TAG) == "object"):
        raise TypeError(
            f"estimator must be a sklss or supported scikit-learn/deeptime "
            f"estimator, got {type(estimator).__name__}."
        )
    members = {
        "model.json": json.dumps({"root": root}, sort_keys=True).encode(),
        "arrays.safetensors": safetensors.numpy.save(writer.arrays),
        "tensors.safetensors": safetensors.torch.save(writer.tensors),
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": name,
        "versions": {
            "sklss": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()},
    }
    members = {"manifest.json": json.dumps(manifest, indent=1).encode(), **members}
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for member, data in members.items():
                info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
    return file_sha256(path)


# --------------------------------------------------------------------- reading


def is_sklss_file(path):
    """Whether ``path`` is a zip archive that starts with a sklss manifest."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") and b"manifest.json" in head


def _refuse(path, why):
    return ValueError(f"path {str(path)!r} is not a valid .sklss model file: {why}")


def _read_members(path):
    """The verified members of the archive at ``path`` and its manifest."""
    path = check_path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory, not a .sklss file.")
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if not is_sklss_file(path):
        raise _refuse(path, "it is not a sklss zip archive (see sklss.save)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [info.filename for info in infos]
            if sorted(names) != sorted(_MEMBERS):
                raise _refuse(path, f"unexpected members {names}")
            if sum(info.file_size for info in infos) > _MAX_TOTAL_BYTES:
                raise _refuse(path, "its members are implausibly large")
            if zf.getinfo("manifest.json").file_size > _MAX_MANIFEST_BYTES:
                raise _refuse(path, "its manifest is implausibly large")
            data = {name: zf.read(name) for name in _MEMBERS}
    except ValueError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zipfile raises many types on damaged archives
        raise _refuse(path, f"damaged archive ({type(exc).__name__}: {exc})") from None
    try:
        manifest = json.loads(data["manifest.json"])
        fmt, version = manifest["format"], manifest["format_version"]
        sums = manifest["sha256"]
    except Exception as exc:
        raise _refuse(path, f"unreadable manifest ({type(exc).__name__})") from None
    if fmt != FORMAT:
        raise _refuse(path, f"format {fmt!r}, expected {FORMAT!r}")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses .sklss format version {version!r}; this sklss "
            f"({__version__}) reads version {FORMAT_VERSION}. Upgrade sklss."
        )
    for name in _MEMBERS[1:]:
        if (
            not isinstance(sums, dict)
            or sums.get(name) != hashlib.sha256(data[name]).hexdigest()
        ):
            raise _refuse(path, f"the checksum of {name} does not match (damaged)")
    return manifest, data


def read_manifest(path):
    """What a ``.sklss`` file says about itself, after verifying every member.

    Nothing is constructed: this reads the manifest and checks the members'
    checksums, which is how ``sklss info`` shows who wrote a file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``format``, ``format_version``, ``class``, ``versions`` (sklss, torch,
        numpy, python that wrote the file), ``sha256`` of each member and
        ``file_sha256``, the checksum of the whole file.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a ``.sklss`` file, or a damaged one.
    """
    manifest, _ = _read_members(path)
    return {**manifest, "file_sha256": file_sha256(path)}


class _Reader:
    def __init__(self, arrays, tensors):
        self.arrays = arrays
        self.tensors = tensors
        self.memo = {}

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, float):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or not isinstance(node.get(_TAG), str):
            raise ValueError(f"unexpected node of type {type(node).__name__}")
        kind = node[_TAG]
        method = getattr(self, f"_decode_{kind}", None)
        if method is None:
            raise ValueError(f"unknown node kind {kind!r}")
        return method(node)

    def _decode_float(self, node):
        value = float(node["value"])
        if math.isfinite(value):
            raise ValueError("a finite float stored as special")
        return value

    def _decode_tuple(self, node):
        return tuple(self.decode(v) for v in _list(node["items"]))

    def _decode_dict(self, node):
        keys, values = _list(node["keys"]), _list(node["values"])
        if len(keys) != len(values) or not all(
            isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys
        ):
            raise ValueError("malformed dict")
        return {k: self.decode(v) for k, v in zip(keys, values, strict=True)}

    def _decode_scalar(self, node):
        dtype = _dtype(node["dtype"])
        value = node["value"]
        if isinstance(value, str):
            value = float(value)
        if not isinstance(value, (bool, int, float)):
            raise ValueError("malformed scalar")
        return dtype.type(value)

    def _decode_ndarray(self, node):
        return self.arrays[node["key"]]

    def _decode_str_array(self, node):
        items = _list(node["items"])
        if not all(isinstance(v, str) for v in items):
            raise ValueError("malformed string array")
        dtype = object if node["dtype"] == "object" else _dtype(node["dtype"], "U")
        shape = tuple(int(s) for s in _list(node["shape"]))
        return np.array(items, dtype=dtype).reshape(shape)

    def _decode_tensor(self, node):
        tensor = self.tensors[node["key"]]
        return tensor.requires_grad_(bool(node["requires_grad"]))

    def _decode_device(self, node):
        import torch

        return torch.device(str(node["value"]))

    def _decode_dtype(self, node):
        return _dtype(node["value"])

    def _decode_RandomState(self, node):
        state = self.decode(node["state"])
        rs = np.random.RandomState()
        rs.set_state(state)
        return rs

    def _decode_topology(self, node):
        return _topology_from_json(node["value"])

    def _decode_trajectory(self, node):
        import mdtraj as md

        top = _topology_from_json(node["topology"])
        xyz = self.decode(node["xyz"])
        traj = md.Trajectory(
            xyz,
            top,
            time=self.decode(node["time"]),
            unitcell_lengths=self.decode(node["unitcell_lengths"]),
            unitcell_angles=self.decode(node["unitcell_angles"]),
        )
        return traj

    def _decode_ref(self, node):
        return self.memo[node["id"]]

    def _decode_object(self, node):
        key = node["class"]
        if key not in _ALLOWED_CLASSES:
            raise ValueError(f"class {key!r} is not one a .sklss file may hold")
        cls = _import(key)
        obj = cls.__new__(cls)
        self.memo[node["id"]] = obj
        state = self.decode(node["state"])
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise ValueError("malformed object state")
        obj.__dict__.update(state)
        # Parameters newer than the file get the values that reproduce it.
        fill = getattr(obj, "_fill_added_params", None)
        if fill is not None:
            fill()
        return obj

    def _decode_module(self, node):
        import torch

        name = node["type"]
        if name not in _MODULE_CLASSES:
            raise ValueError(f"torch module {name!r} is not one a .sklss file may hold")
        cls = _import(_MODULE_CLASSES[name])
        config = self.decode(node["config"])
        if not isinstance(config, dict):
            raise ValueError("malformed module config")
        # Built on the meta device, so a malformed layout allocates nothing; every
        # parameter and buffer is then replaced by the stored tensor of that shape.
        with torch.device("meta"):
            module = cls(**config)
        for child_name, child in _list(node["children"]):
            module.add_module(str(child_name), self._decode_module(child))
        expected = dict(module.named_parameters(recurse=False))
        if set(node["parameters"]) != set(expected):
            raise ValueError(f"{name} parameters do not match its layout")
        for pname, key in node["parameters"].items():
            value = self.tensors[key]
            if value.shape != expected[pname].shape or not value.is_floating_point():
                raise ValueError(f"{name}.{pname} has the wrong shape or dtype")
            frozen = pname in node["frozen"]
            module._parameters[pname] = torch.nn.Parameter(value, not frozen)
        expected = dict(module.named_buffers(recurse=False))
        if set(node["buffers"]) != set(expected):
            raise ValueError(f"{name} buffers do not match its layout")
        for bname, key in node["buffers"].items():
            value = self.tensors[key]
            if value.shape != expected[bname].shape or value.dtype.is_complex:
                raise ValueError(f"{name}.{bname} has the wrong shape or dtype")
            module._buffers[bname] = value
        module.train(bool(node["training"]))
        return module


def _list(value):
    if not isinstance(value, list):
        raise ValueError("malformed list")
    return value


def _dtype(text, kinds=_ARRAY_KINDS):
    if not isinstance(text, str):
        raise ValueError("malformed dtype")
    dtype = np.dtype(text)
    if dtype.kind not in kinds or dtype.fields is not None:
        raise ValueError(f"dtype {text!r} is not allowed")
    return dtype


def _topology_from_json(data):
    import mdtraj as md
    from mdtraj.core import element as elem

    top = md.Topology()
    atoms = []
    for chain_data in _list(data["chains"]):
        chain = top.add_chain(chain_id=chain_data.get("chain_id"))
        for res in _list(chain_data["residues"]):
            residue = top.add_residue(
                str(res["name"]),
                chain,
                resSeq=int(res["resSeq"]),
                segment_id=str(res["segment_id"]),
            )
            for name, symbol, serial in _list(res["atoms"]):
                element = None if symbol is None else elem.get_by_symbol(str(symbol))
                atoms.append(top.add_atom(str(name), element, residue, serial=serial))
    bond_types = {
        str(t): t
        for t in (
            md.core.topology.Single,
            md.core.topology.Double,
            md.core.topology.Triple,
            md.core.topology.Aromatic,
            md.core.topology.Amide,
        )
    }
    for i, j, btype, order in _list(data["bonds"]):
        top.add_bond(
            atoms[int(i)],
            atoms[int(j)],
            type=None if btype is None else bond_types[str(btype)],
            order=None if order is None else int(order),
        )
    return top


def load(path, *, device="cpu"):
    """Load an estimator from a ``.sklss`` file, safely.

    The file is checked before anything is built: its members' sha256 must match
    the manifest (a damaged or altered file is refused), and it may only construct
    sklss estimators, a few scikit-learn and deeptime classes whose state is plain
    arrays, and the torch layers of sklss networks. Nothing is unpickled, so opening
    a file, even one from an untrusted source, runs no code.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Where to put the networks. A model fitted on a GPU loads on the CPU by
        default and samples exactly as it would have after ``to_device("cpu")``.

    Returns
    -------
    estimator
        The saved estimator, fitted as it was.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a ``.sklss`` model (for instance a pickle, which this
        function never opens), is damaged or truncated, was altered after saving,
        or asks for a class outside the allow-list.

    See Also
    --------
    save : write a ``.sklss`` file.
    """
    import safetensors.numpy
    import safetensors.torch

    from ._torch import TorchEstimatorMixin

    manifest, data = _read_members(path)
    try:
        arrays = safetensors.numpy.load(data["arrays.safetensors"])
        tensors = safetensors.torch.load(data["tensors.safetensors"])
        tree = json.loads(data["model.json"])
        reader = _Reader(arrays, tensors)
        estimator = reader.decode(tree["root"])
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _refuse(
            path, f"malformed content ({type(exc).__name__}: {exc})"
        ) from None
    except Exception as exc:  # safetensors and torch raise their own types
        raise _refuse(
            path, f"malformed content ({type(exc).__name__}: {exc})"
        ) from None
    # Networks were stored from the CPU; record where they are, then move them.
    for obj in reader.memo.values():
        if isinstance(obj, TorchEstimatorMixin) and "device_" in vars(obj):
            obj.device_ = "cpu"
    if device is not None and str(device) != "cpu":
        if not isinstance(estimator, TorchEstimatorMixin):
            raise ValueError(
                f"device={device!r}: a {type(estimator).__name__} has no networks "
                "to move."
            )
        estimator.to_device(device)
    return estimator
