"""Every notebook in notebooks/ runs top to bottom on the bundled data (nbclient + ipykernel)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MISSING = [
    m
    for m in ("nbclient", "nbformat", "ipykernel", "matplotlib")
    if importlib.util.find_spec(m) is None
]


def test_notebooks_exist_and_carry_no_outputs() -> None:
    import json

    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text("utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name
                source = "".join(cell["source"])
                assert not any(
                    line.startswith(("def ", "class ", "lambda")) or " = lambda" in line
                    for line in source.splitlines()
                ), path.name  # define nothing
            else:  # prose in Japanese
                assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", "".join(cell["source"]))
        assert "use_japanese_font" in json.dumps(nb), path.name  # the one font helper


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if MISSING:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must execute the notebooks but {', '.join(MISSING)} is not installed")
        pytest.skip(f"notebooks not executed: {', '.join(MISSING)} not installed")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path deprecation
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    # No figure fell back to another font: matplotlib warns about every missing glyph.
    stderr = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    )
    assert "missing from" not in stderr and "findfont" not in stderr, stderr[:500]
