"""The code of the user guide's workflow pages runs as written."""

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

DOC = Path(__file__).resolve().parents[1] / "doc" / "user_guide"


def python_blocks(page):
    """The ``.. code-block:: python`` blocks of an rst page, dedented, in order."""
    text = (DOC / page).read_text()
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text):
        lines = match.group(1).rstrip("\n").splitlines()
        blocks.append("\n".join(line[3:] for line in lines))
    return blocks


def run_page(page, tmp_path, monkeypatch):
    """Run every Python block of ``page`` in one namespace, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    matplotlib.use("Agg")
    namespace = {"__name__": f"doc_{Path(page).stem}"}
    blocks = python_blocks(page)
    assert blocks, f"{page} has no Python code blocks"
    for i, block in enumerate(blocks):
        code = compile(block, f"{page} (block {i + 1})", "exec")
        exec(code, namespace)
    return namespace


def test_code_blocks_are_found():
    blocks = python_blocks("protein.rst")
    assert len(blocks) == 5 and blocks[0].startswith("import mdtraj as md")


def test_the_protein_workflow_page_runs(tmp_path, monkeypatch):
    pytest.importorskip("MDAnalysisTests")
    pytest.importorskip("zarr")
    with warnings.catch_warnings():
        # The page says which warnings this tiny data set raises; they are shown
        # to its readers, not to the test log.
        warnings.simplefilter("ignore")
        ns = run_page("protein.rst", tmp_path, monkeypatch)
    sim = ns["sim"]
    assert sim.coordinates_.topology_.n_atoms == 214
    assert (tmp_path / "adk.sklss").is_file()
    assert ns["out"].configurations.shape[:2] == (4, 201)
    # The generated C-alpha structures lie inside the range of MD's.
    assert ns["rg_md"].min() < ns["rg_lss"].mean() < ns["rg_md"].max()


def test_the_analysis_page_runs(tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_page("analysis.rst", tmp_path, monkeypatch)
    assert (tmp_path / "four_well_profile.png").stat().st_size > 0
