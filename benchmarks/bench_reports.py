"""Whole-prefecture report time (not part of ``make test``).

Generates a prefecture (default 東京都, ~1,300 facilities × ~750 institutions), runs the optimal
match — the baseline, measured in the same run — and writes every report, printing the time of
each stage and its ratio to the match time. ``--pdf each`` also prints one PDF per institution
and facility (slow by design: Chromium subsets the Japanese font for every file).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.generate import generate
from matcher.match import match
from matcher.reports import find_chromium, write_reports


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefecture", default="東京都")
    ap.add_argument("--pdf", default="bundle", choices=("bundle", "each", "none"))
    ap.add_argument(
        "--out", default=None, help="keep the reports here (default: a temporary folder)"
    )
    args = ap.parse_args()

    instance = generate(args.prefecture)
    print(
        f"{args.prefecture}: 施設 {len(instance.facilities)}、医療機関 {len(instance.institutions)}、"
        f"PDF: {args.pdf} ({find_chromium() or 'Chromium なし'})",
        flush=True,
    )
    t0 = time.perf_counter()
    result = match(instance)
    base = time.perf_counter() - t0
    print(f"  {'match (baseline)':<24} {base:7.2f} s", flush=True)

    first: dict[str, float] = {}
    last: dict[str, float] = {}
    counts: dict[str, int] = defaultdict(int)

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first.setdefault(stage, now)
        last[stage] = now
        counts[stage] = total

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        files = write_reports(instance, result, out, progress, pdf=args.pdf)
        total = time.perf_counter() - t0
    previous = t0
    for stage in first:
        # A stage runs from the end of the previous one to its last report.
        dt = last[stage] - previous
        previous = last[stage]
        print(f"  {stage:<24} {dt:7.2f} s   ({counts[stage]} 件)", flush=True)
    print(
        f"  {'reports total':<24} {total:7.2f} s   = {total / base:.1f} × match   "
        f"(依頼 {len(files.institution_pages)}、お知らせ {len(files.facility_pages)}、PDF {len(files.pdfs)})"
    )
    for note in files.notes:
        print(f"  注意: {note}")


if __name__ == "__main__":
    main()
