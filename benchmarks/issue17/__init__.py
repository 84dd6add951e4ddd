"""The solver and candidate search as issue 17 left them (pattern formulation, one process),
frozen so that ``benchmarks/national.py`` measures issue 26's changes against them in the same
run. Benchmarks only; nothing in ``matcher`` imports this package.
"""
