"""Capacity-gap analysis for prefectures: where demand cannot be met, and what would help.

One module per concept, all pure functions on a :class:`~matcher.gaps.region.Region` (an
instance, its run parameters and the arrays the solver sees) and on a run's result:

- ``region``: the analysed area and each facility's / institution's municipality;
- ``balance``: demand, supply and the share coverable at all, per area × capability;
- ``access``: two-step floating catchment area (2SFCA) accessibility with a distance decay;
- ``uncoverable``: facilities with no institution in range, the nearest one and its distance;
- ``whatif``: exact marginal value of +1 capacity and of a new ①②③ institution, ranked as the
  matching ranks proposals (fully covered 義務, 努力義務, then pairs, partnerships, km);
- ``boundary``: proposals crossing municipality / prefecture lines, within-area matching (広域);
- ``compare``: optimal vs greedy vs stable at several capacity tightness levels;
- ``national``: the notices' per-prefecture status table and its defects;
- ``plot``: maps and charts for notebooks and the ``gaps`` command (matplotlib, optional);
- ``ja``: the tables' Japanese headings and labels, and the sentences that read them;
- ``shapes``: the bundled prefecture outlines of the national maps and how they were made.
"""
