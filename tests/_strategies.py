"""Helpers of the property-based tests (``tests/test_properties.py``).

- ``Arg``: one generated argument, with a ``kind`` label and whether the contract
  requires its rejection (``"reject"``), allows either a clear error or a valid
  result (``"maybe"``) or requires a valid result (``"accept"``);
- strategies for trajectories, points, integer and real parameters, random states;
- ``Contract``: runs one call under guards (a time limit and a limit on the address
  space, so that a huge size is never actually attempted), classifies its outcome,
  records it in a table and fails the test on a violation of the contract:

  * bad input: ``ValueError`` or ``TypeError`` whose message names the argument;
  * valid input: finite output of the documented shape;
  * always: inputs unchanged (values, dtype and the writeable flag), no hang.
"""

import collections
import contextlib
import json
import os
import re
import resource
import signal
import warnings

import numpy as np
import torch
from hypothesis import strategies as st

# ---------------------------------------------------------------- configuration

#: Record outcomes without failing (to tabulate every outcome of a full run).
SURVEY = os.environ.get("SKLSS_HYPOTHESIS_SURVEY", "") not in ("", "0")
#: Where the table of outcomes is written (JSON) at the end of the module.
REPORT = os.environ.get("SKLSS_PROPERTY_REPORT")
#: Seconds a single call may take before it counts as a hang.
CALL_TIMEOUT = float(os.environ.get("SKLSS_PROPERTY_TIMEOUT", "20"))
#: Extra address space (bytes) a single call may map: huge sizes must be refused
#: before any allocation, so a call needing more counts as an attempt.
MEMORY_HEADROOM = int(os.environ.get("SKLSS_PROPERTY_HEADROOM", str(3 << 30)))

HUGE_INTS = (10**12, 2**31, 2**63, 10**100)


class Arg:
    """A generated argument: ``value``, a ``kind`` label and what is expected."""

    def __init__(self, kind, value, expect):
        assert expect in ("reject", "maybe", "accept")
        self.kind, self.value, self.expect = kind, value, expect

    def __repr__(self):
        return f"<{self.kind}: {short_repr(self.value)}>"


def short_repr(value, limit=300):
    """A runnable-looking, short repr of an argument."""
    if isinstance(value, Arg):
        value = value.value
    if isinstance(value, torch.Tensor):
        inner = short_repr(value.detach().numpy(), limit)
        return f"torch.tensor({inner}, requires_grad={value.requires_grad})"
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=30, edgeitems=2, precision=4):
            text = repr(value)
        text = "np." + text if text.startswith("array") else text
        if not value.flags.writeable:
            text += " (read-only)"
        return text[:limit]
    if isinstance(value, list | tuple):
        inner = ", ".join(short_repr(v, limit) for v in value[:4])
        if len(value) > 4:
            inner += f", ... ({len(value)} items)"
        return (f"[{inner}]" if isinstance(value, list) else f"({inner},)")[:limit]
    try:
        import mdtraj as md

        if isinstance(value, md.Trajectory):
            nan = " with NaN" if not np.all(np.isfinite(value.xyz)) else ""
            return f"<mdtraj.Trajectory {value.n_frames} frames, {value.n_atoms} atoms{nan}>"  # noqa: E501
    except ImportError:  # pragma: no cover
        pass
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------- strategies

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, width=64)


def _matrix(draw, n, d, elements=finite):
    values = draw(st.lists(elements, min_size=n * d, max_size=n * d))
    return np.asarray(values, dtype=np.float64).reshape(n, d)


def _smooth(draw, n, d):
    """A random-walk trajectory: finite, not constant, ``(n, d)`` float64."""
    seed = draw(st.integers(0, 2**16))
    return np.cumsum(np.random.default_rng(seed).normal(size=(n, d)), axis=0)


BAD_X_KINDS = (
    "1d",
    "3d",
    "0d",
    "no_frames",
    "no_features",
    "nan",
    "inf",
    "strings",
    "ragged",
    "object",
    "complex",
    "empty_list",
    "none",
    "dict",
    "mixed_list",
    "wrong_width",
    "list_wrong_width",
)
MAYBE_X_KINDS = (
    "float32",
    "int",
    "float16",
    "bool",
    "nested_list",
    "list_of_arrays",
    "tuple_of_arrays",
    "tensor",
    "tensor_grad",
    "huge",
    "readonly",
    "fortran",
    "strided",
    "constant",
    "tiny",
)


@st.composite
def trajectories(
    draw,
    n_features,
    *,
    min_frames=1,
    max_frames=12,
    kinds=None,
    valid_weight=3,
    allow_1d_point=False,
    wrong_widths=None,
):
    """One argument of the sklss data model: good, odd or bad.

    ``allow_1d_point``: a 1-D array of ``n_features`` values is a valid point
    (``MDNPropagator.log_prob``, ``sample(start)``).
    """
    all_kinds = ("valid",) * valid_weight + BAD_X_KINDS + MAYBE_X_KINDS
    kind = draw(st.sampled_from(kinds or all_kinds))
    n = draw(st.integers(min_frames, max_frames))
    d = n_features
    if wrong_widths is None:
        wrong_widths = [w for w in (d - 1, d + 1, d + 2) if w > 0]
    base = _smooth(draw, n, d)
    if kind == "valid":
        return Arg(kind, base, "accept")
    if kind == "1d":
        if allow_1d_point:
            # Wrong length: a point must have n_features values.
            length = draw(st.sampled_from([0, *wrong_widths]))
            point = np.resize(base.ravel(), length)
            return Arg("1d_wrong_length", point, "reject")
        return Arg(kind, base[:, 0].copy(), "reject")
    if kind == "3d":
        return Arg(kind, base[None], "reject")
    if kind == "0d":
        return Arg(kind, np.float64(draw(finite)), "reject")
    if kind == "no_frames":
        return Arg(kind, np.empty((0, d)), "reject")
    if kind == "no_features":
        return Arg(kind, np.empty((n, 0)), "reject")
    if kind in ("nan", "inf"):
        bad = base.copy()
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))
        bad[i, j] = (
            np.nan if kind == "nan" else draw(st.sampled_from([np.inf, -np.inf]))
        )
        return Arg(kind, bad, "reject")
    if kind == "strings":
        return Arg(
            kind, np.full((n, d), draw(st.sampled_from(["a", "1.0", ""]))), "reject"
        )
    if kind == "ragged":
        rows = [list(r) for r in base]
        rows.append(rows[0] + [1.0])
        return Arg(kind, rows, "reject")
    if kind == "object":
        obj = base.astype(object)
        obj[0, 0] = draw(st.sampled_from([None, "x", [1.0], {}]))
        return Arg(kind, obj, "reject")
    if kind == "complex":
        return Arg(kind, base + 1j, "reject")
    if kind == "empty_list":
        return Arg(kind, draw(st.sampled_from([[], ()])), "reject")
    if kind == "none":
        return Arg(kind, None, "reject")
    if kind == "dict":
        return Arg(kind, {"X": base}, "reject")
    if kind == "mixed_list":
        return Arg(kind, [base, base[:, 0].copy()], "reject")
    if kind == "wrong_width":
        width = draw(st.sampled_from(wrong_widths))
        return Arg(kind, _smooth(draw, n, width), "reject")
    if kind == "list_wrong_width":
        width = draw(st.sampled_from(wrong_widths))
        return Arg(kind, [base, _smooth(draw, n, width)], "reject")
    # May be accepted (with finite, well-shaped output) or refused clearly.
    if kind == "float32":
        return Arg(kind, base.astype(np.float32), "maybe")
    if kind == "int":
        return Arg(kind, np.round(base * 3).astype(np.int64), "maybe")
    if kind == "float16":
        return Arg(kind, base.astype(np.float16), "maybe")
    if kind == "bool":
        return Arg(kind, base > 0, "maybe")
    if kind == "nested_list":
        return Arg(kind, base.tolist(), "maybe")
    if kind == "list_of_arrays":
        m = draw(st.integers(1, 3))
        return Arg(kind, [_smooth(draw, n, d) for _ in range(m)], "maybe")
    if kind == "tuple_of_arrays":
        return Arg(kind, (base, _smooth(draw, n, d)), "maybe")
    if kind == "tensor":
        return Arg(kind, torch.tensor(base), "maybe")
    if kind == "tensor_grad":
        return Arg(kind, torch.tensor(base, requires_grad=True), "maybe")
    if kind == "huge":
        scale = draw(st.sampled_from([1e30, 1e100, 1e300]))
        return Arg(kind, base * scale, "maybe")
    if kind == "readonly":
        ro = base.copy()
        ro.flags.writeable = False
        return Arg(kind, ro, "maybe")
    if kind == "fortran":
        return Arg(kind, np.asfortranarray(base), "maybe")
    if kind == "strided":
        return Arg(kind, np.repeat(base, 2, axis=0)[::2], "maybe")
    if kind == "constant":
        return Arg(kind, np.full((n, d), draw(finite)), "maybe")
    if kind == "tiny":
        return Arg(kind, base * 1e-300, "maybe")
    raise AssertionError(kind)


def int_param(
    minimum=1, *, huge="reject", maximum_valid=None, valid=None, allow_none=False
):
    """Bad (and a few good) values of an integer parameter ``>= minimum``.

    ``allow_none``: None is the parameter's documented default, not a bad value.
    """
    wrong = ["3", "a", b"1", [2], (2,), 2 + 0j] + ([] if allow_none else [None])
    bad = st.one_of(
        st.integers(max_value=minimum - 1).map(lambda v: Arg("below_min", v, "reject")),
        st.booleans().map(lambda v: Arg("bool", v, "reject")),
        st.floats(allow_nan=True).map(lambda v: Arg("float", v, "reject")),
        st.sampled_from(wrong).map(lambda v: Arg("wrong_type", v, "reject")),
        st.sampled_from(HUGE_INTS).map(lambda v: Arg("huge", v, huge)),
    )
    if valid is None:
        return bad
    return st.one_of(bad, valid)


def real_param(
    minimum=0.0, *, closed=True, maximum=None, max_closed=False, allow_none=False
):
    """Bad values of a real parameter in ``[minimum, maximum)`` (or open bounds)."""
    below = st.floats(max_value=minimum, allow_nan=False, allow_infinity=False)
    if closed:
        below = below.filter(lambda v: v < minimum)
    parts = [
        below.map(lambda v: Arg("below_min", v, "reject")),
        st.just(Arg("nan", float("nan"), "reject")),
        st.sampled_from(["0.1", "a", [0.1], 1j] + ([] if allow_none else [None])).map(
            lambda v: Arg("wrong_type", v, "reject")
        ),
        st.just(Arg("bool", True, "reject")),
    ]
    if maximum is None:
        parts.append(st.just(Arg("inf", float("inf"), "reject")))
    else:
        above = st.floats(min_value=maximum, allow_nan=False)
        if not max_closed:
            pass
        else:
            above = above.filter(lambda v: v > maximum)
        parts.append(above.map(lambda v: Arg("above_max", v, "reject")))
    return st.one_of(*parts)


def choice_param(options):
    """Bad values of a string option."""
    return st.one_of(
        st.text(max_size=8)
        .filter(lambda s: s not in options)
        .map(lambda v: Arg("bad_string", v, "reject")),
        st.sampled_from([None, 1, 1.5, True, ["a"]]).map(
            lambda v: Arg("wrong_type", v, "reject")
        ),
    )


random_states = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: Arg("int", v, "accept")),
    st.just(Arg("None", None, "accept")),
    st.integers(0, 1000).map(
        lambda v: Arg("RandomState", np.random.RandomState(v), "accept")
    ),
    st.integers(max_value=-1).map(lambda v: Arg("negative", v, "reject")),
    st.integers(min_value=2**32).map(lambda v: Arg("too_large", v, "reject")),
    st.floats().map(lambda v: Arg("float", v, "reject")),
    st.sampled_from(["seed", [1, 2], (1,), b"x", 1j]).map(
        lambda v: Arg("wrong_type", v, "reject")
    ),
)


# ------------------------------------------------------------ guards, mutation


class Hang(BaseException):
    """The call ran past ``CALL_TIMEOUT`` (a BaseException, so ``except Exception``
    in the code under test cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds):
    def handler(signum, frame):
        raise Hang(f"call took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_size():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def memory_limit(headroom):
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def snapshot(value):
    """A deep copy that remembers the writeable flags of arrays."""
    if isinstance(value, np.ndarray):
        return ("nd", value.copy(), value.flags.writeable, value.dtype)
    if isinstance(value, torch.Tensor):
        return ("pt", value.detach().clone(), value.requires_grad)
    if isinstance(value, list | tuple):
        return ("seq", type(value), [snapshot(v) for v in value])
    if isinstance(value, dict):
        return ("map", {k: snapshot(v) for k, v in value.items()})
    try:
        import mdtraj as md

        if isinstance(value, md.Trajectory):
            return ("md", value.xyz.copy(), value.n_atoms, value.n_frames)
    except ImportError:  # pragma: no cover
        pass
    return ("skip",)


def changed(before, value):
    """Description of how ``value`` differs from its ``snapshot``, or None."""
    tag = before[0]
    if tag == "nd":
        _, arr, writeable, dtype = before
        if not isinstance(value, np.ndarray):
            return "array replaced"
        if value.dtype != dtype or value.shape != arr.shape:
            return "dtype/shape changed"
        if value.flags.writeable != writeable:
            return f"writeable flag changed to {value.flags.writeable}"
        if not np.array_equal(value, arr, equal_nan=value.dtype.kind in "fc"):
            return "values changed"
        return None
    if tag == "pt":
        _, t, grad = before
        if value.requires_grad != grad:
            return "requires_grad changed"
        a, b = value.detach(), t
        if a.shape != b.shape or not torch.equal(
            torch.nan_to_num(a), torch.nan_to_num(b)
        ):
            return "tensor values changed"
        return None
    if tag == "seq":
        _, typ, items = before
        if type(value) is not typ or len(value) != len(items):
            return "container changed"
        for i, (b, v) in enumerate(zip(items, value, strict=True)):
            what = changed(b, v)
            if what:
                return f"[{i}] {what}"
        return None
    if tag == "map":
        if set(value) != set(before[1]):
            return "keys changed"
        for k, b in before[1].items():
            what = changed(b, value[k])
            if what:
                return f"[{k!r}] {what}"
        return None
    if tag == "md":
        _, xyz, n_atoms, n_frames = before
        if value.n_atoms != n_atoms or value.n_frames != n_frames:
            return "trajectory changed size"
        if not np.array_equal(value.xyz, xyz, equal_nan=True):
            return "trajectory coordinates changed"
        return None
    # Other objects (estimators, RandomState instances, which scikit-learn's
    # convention advances, numbers) are not compared.
    return None


def all_finite(value):
    """True when every number in a (nested) output is finite."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all())
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return bool(np.all(np.isfinite(value)))
        if value.dtype == object:
            return all(all_finite(v) for v in value.ravel())
        return True
    if isinstance(value, float | int | np.number):
        return bool(np.isfinite(value))
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(all_finite(v) for v in value)
    return True


# --------------------------------------------------------------- the contract

NAME_PATTERN = "(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


def names(message, name):
    return re.search(NAME_PATTERN.format(re.escape(name)), message) is not None


_VIOLATIONS = {}


def violation(outcome):
    """One exception class per kind of outcome, so that Hypothesis reports (and
    shrinks) every kind of violation of a test separately."""
    key = re.sub(r"\W", "_", outcome.split(":")[0])
    if key not in _VIOLATIONS:
        _VIOLATIONS[key] = type(f"ContractViolation_{key}", (AssertionError,), {})
    return _VIOLATIONS[key]


def _signature(message):
    message = re.sub(r"0x[0-9a-f]+", "0x..", message)
    message = re.sub(r"[-+]?\d[\d.e+-]*", "#", message)
    return message[:70]


class Contract:
    """Runs calls, classifies and tabulates their outcomes.

    ``table[target][outcome]`` counts cases; ``examples[signature]`` keeps the
    shortest reproducer of every distinct violation.
    """

    ALLOWED = {"ok", "clear"}

    def __init__(self):
        self.table = collections.defaultdict(collections.Counter)
        self.examples = {}

    def check(
        self,
        target,
        fn,
        args,
        *,
        name,
        expect,
        call="",
        output=None,
        inputs=None,
        timeout=CALL_TIMEOUT,
        headroom=MEMORY_HEADROOM,
        finite=True,
    ):
        """Call ``fn(**args)`` (args: a dict of keyword -> value or Arg) and check.

        name : the argument under test (the error must name it);
        expect : "reject", "maybe" or "accept" (for ``name``'s value);
        output : callable(result) -> None or a description of a wrong output;
        inputs : values whose mutation is checked (default: every argument).
        """
        values = {k: (v.value if isinstance(v, Arg) else v) for k, v in args.items()}
        watched = values if inputs is None else inputs
        before = {k: snapshot(v) for k, v in watched.items()}
        result, error = None, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with memory_limit(headroom), time_limit(timeout):
                    result = fn(**values)
            except Hang as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - classified below
                error = exc
        outcome, detail = self._classify(
            result, error, name=name, expect=expect, output=output, finite=finite
        )
        for k, b in before.items():
            what = changed(b, watched[k])
            if what:
                outcome, detail = "mutated", f"{k}: {what}"
                break
        self._record(target, name, outcome, detail, call, args)
        return outcome, result

    def _classify(self, result, error, *, name, expect, output, finite=True):
        if isinstance(error, Hang):
            return "hang", str(error)
        if error is not None:
            message = f"{type(error).__name__}: {error}"
            if isinstance(error, ValueError | TypeError):
                if expect == "accept":
                    return "rejected_valid", message
                if any(names(str(error), n) for n in name.split("|")):
                    return "clear", message
                return "unnamed", message
            return f"wrong_type:{type(error).__name__}", message
        problem = output(result) if output is not None else None
        if problem is None and finite and not all_finite(result):
            problem = "non-finite output"
        if expect == "reject":
            if problem and "non-finite" in problem:
                return "accepted_nan", problem
            return "accepted", problem or "no error"
        if problem:
            return ("nan" if "non-finite" in problem else "bad_output"), problem
        return "ok", ""

    def _record(self, target, name, outcome, detail, call, args):
        self.table[target][outcome] += 1
        if outcome in self.ALLOWED:
            return
        kinds = ",".join(f"{k}={v.kind}" for k, v in args.items() if isinstance(v, Arg))
        key = (target, name, outcome, _signature(detail))
        text = (
            call.format(**{k: short_repr(v) for k, v in args.items()})
            if call
            else ", ".join(f"{k}={short_repr(v)}" for k, v in args.items())
        )
        entry = {
            "target": target,
            "argument": name,
            "outcome": outcome,
            "detail": detail[:300],
            "kinds": kinds,
            "call": text,
        }
        old = self.examples.get(key)
        if old is None or len(text) < len(old["call"]):
            self.examples[key] = entry
        if not SURVEY:
            raise violation(outcome)(
                f"{target}: {outcome} for {name} ({kinds}): {detail[:300]}\n  {text}"
            )

    def dump(self, path):
        data = {
            "table": {t: dict(c) for t, c in sorted(self.table.items())},
            "examples": sorted(
                self.examples.values(), key=lambda e: (e["target"], e["outcome"])
            ),
        }
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=str)
