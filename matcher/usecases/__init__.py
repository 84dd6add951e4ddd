"""The use cases: one function per thing a user does, between the store and the web.

Each takes a unit of work (``unit.UnitOfWork``: the store and its read cache) and the acting
user (``actor.Actor``: name, role, scope as plain values), applies the rules of the action —
scope, role, what is still open, which letters a run sends — and returns frozen views
(``views``) that the JSON API and the pages both show. Use cases import the store, the sources
and the reports, never the web (``api``).

Modules: ``actor``, ``unit``, ``views``; ``areas`` (areas, status table, dashboard, map),
``facilities`` (lists, facility page, hand-made proposal), ``institutions``, ``proposals``
(lists, one proposal, status change, actions), ``runs`` (request, preview, start, follow, run
page), ``imports`` (uploads), ``reports`` (a run's ZIP), ``exports``, ``audit``, ``replies``
(a run's letters and links, answers, held answers, returned forms, rounds, declines to re-plan),
``intake`` (the 相談窓口: requests, the queue, partner changes confirmed into filings).
"""
