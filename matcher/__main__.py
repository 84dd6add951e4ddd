"""``python -m matcher`` runs the ``kyoryoku`` command line."""

from .cli import app

app()
