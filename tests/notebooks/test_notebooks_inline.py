"""Notebooks under the backend a reader's Jupyter uses (inline), where figures really render.

The older test runs them with Agg, which shows no figure, so a missing glyph or a legend
drawn off the figure went unseen. Here each notebook runs as Jupyter runs it; a cell added
before it keeps the figures open, a cell added after it draws every figure and reports, as
JSON: the figures, the texts whose glyphs fell back to another font, the legends and titles
that reach outside their figure — and, from IPython's output cache, every table the notebook
shows with an English heading or a code where its Japanese label belongs, and every other
value shown as an English repr (``Objective(mandatory_full=…)``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MISSING = [
    m
    for m in ("nbclient", "nbformat", "ipykernel", "matplotlib", "matplotlib_inline")
    if importlib.util.find_spec(m) is None
]

KEEP_FIGURES = """\
%matplotlib inline
from matplotlib_inline.backend_inline import InlineBackend
InlineBackend.instance().close_figures = False
"""

# Draws every open figure with warnings recorded: matplotlib warns once per missing glyph.
REPORT = """\
import json as _json
import warnings as _warnings
import matplotlib.pyplot as _plt
_out = {"backend": _plt.get_backend(), "figures": 0, "missing": [], "outside": [], "english": []}
for _n in _plt.get_fignums():
    _fig = _plt.figure(_n)
    with _warnings.catch_warnings(record=True) as _seen:
        _warnings.simplefilter("always")
        _fig.canvas.draw()
    _out["figures"] += 1
    _out["missing"] += [str(_w.message) for _w in _seen if "missing from" in str(_w.message)]
    _box = _fig.bbox
    for _ax in [_fig, *_fig.axes]:
        _legends = _ax.legends if _ax is _fig else [l for l in [_ax.get_legend()] if l]
        for _l in _legends:
            _e = _l.get_window_extent()
            _in = _box.x0 - 1 <= _e.x0 and _e.x1 <= _box.x1 + 1
            _in = _in and _box.y0 - 1 <= _e.y0 and _e.y1 <= _box.y1 + 1
            if not _in:
                _names = " / ".join(t.get_text() for t in _l.get_texts())
                _out["outside"].append(f"figure {_n}: {_names}")
    _texts = [_fig._suptitle, _fig._supxlabel, *(_ax.title for _ax in _fig.axes)]
    for _t in [t for t in _texts if t is not None and t.get_text()]:
        _e = _t.get_window_extent()
        if _e.x0 < _box.x0 - 1 or _e.x1 > _box.x1 + 1:
            _out["outside"].append(f"figure {_n}: {_t.get_text()}")

import re as _re
import pandas as _pd
from matcher.gaps import ja as _ja
_codes = {c for _m in _ja.VALUES_JA.values() for c in _m} - {""}
def _english(label):
    return isinstance(label, str) and label.isascii() and _re.search("[A-Za-z]", label)
for _k, _v in sorted(Out.items()):
    if isinstance(_v, (_pd.DataFrame, _pd.Series)):
        _f = _v.to_frame() if isinstance(_v, _pd.Series) else _v
        _heads = [*_f.columns.names, *_f.index.names]
        _heads += [l for c in _f.columns for l in (c if isinstance(c, tuple) else (c,))]
        _bad = [h for h in _heads if _english(h)]
        _cells = {str(x) for c in _f.columns if _f[c].dtype == object for x in _f[c]}
        _cells |= {str(x) for x in _f.index.to_flat_index()}
        _bad += sorted(_cells & _codes)
        if _bad:
            _out["english"].append(f"Out[{_k}]: {_bad[:5]}")
    elif _re.search(r"[A-Za-z_]{3,}=", repr(_v)):
        _out["english"].append(f"Out[{_k}]: {repr(_v)[:80]}")
print("REPORT" + _json.dumps(_out, ensure_ascii=False))
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_figures_under_the_inline_backend(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if MISSING:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must execute the notebooks but {', '.join(MISSING)} is not installed")
        pytest.skip(f"notebooks not executed: {', '.join(MISSING)} not installed")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path deprecation
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own choice: inline
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells = [
        nbformat.v4.new_code_cell(KEEP_FIGURES),
        *nb.cells,
        nbformat.v4.new_code_cell(REPORT),
    ]
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    line = next(
        t for o in outputs for t in o.get("text", "").splitlines() if t.startswith("REPORT")
    )
    report = json.loads(line.removeprefix("REPORT"))
    assert "inline" in report["backend"], report["backend"]
    # Every figure the notebook makes is shown, and drawn in the Japanese font.
    assert report["figures"] >= 1 and len(images) >= report["figures"], report
    assert not report["missing"], report["missing"][:3]
    assert not report["outside"], report["outside"]
    # Every table shown has Japanese headings and labels, no code (consult, component_full …).
    assert not report["english"], report["english"]
