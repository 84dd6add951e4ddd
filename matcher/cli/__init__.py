"""The ``kyoryoku`` command line: Japanese messages, exit code 2 on bad input.

One module per command group (``match``, ``sources``, ``store``, ``reports``, ``gaps``,
``sample``), each with a ``register(app)``; what they share is in ``common``. Commands of other
packages (the web service's ``serve`` and ``users``) are added through the ``kyoryoku.cli`` entry
point group, so ``matcher`` never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from ..memory import tune_allocator
from . import areas, gaps, match, reports, sample, sources, store

app = typer.Typer(
    help="協力医療機関マッチング (kyoryoku-match)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _process() -> None:
    # The CLI is a process of its own: its plans reuse heap memory (``matcher.memory``).
    tune_allocator()


for _module in (match, sources, sample, store, reports, gaps, areas):
    _module.register(app)
for _plugin in sorted(entry_points(group="kyoryoku.cli"), key=lambda e: e.name):
    _plugin.load()(app)


def main() -> None:  # pragma: no cover - console entry
    app()
