"""Whole-prefecture report time (not part of ``make test``).

Generates a prefecture (default 東京都, ~1,300 facilities × ~750 institutions), runs the optimal
match — the baseline, measured in the same run — and writes every report with every PDF (the
bundles and one PDF per letter), printing the time of each stage, the number and size of the
PDFs and the ratio to the match time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.generate import generate
from matcher.match import match
from matcher.reports import existing_partner_pairs, find_chromium, write_reports


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefecture", default="東京都")
    ap.add_argument("--pdf", default="each", choices=("bundle", "each", "none"))
    ap.add_argument(
        "--out", default=None, help="keep the reports here (default: a temporary folder)"
    )
    args = ap.parse_args()

    instance = generate(args.prefecture)
    print(
        f"{args.prefecture}: 施設 {len(instance.facilities)}、"
        f"医療機関 {len(instance.institutions)}、"
        f"PDF: {args.pdf} ({find_chromium() or 'Chromium なし'})",
        flush=True,
    )
    t0 = time.perf_counter()
    result = match(instance, forbidden=existing_partner_pairs(instance))
    base = time.perf_counter() - t0
    print(f"  {'match (baseline)':<24} {base:7.2f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        files = write_reports(instance, result, out, pdf=args.pdf)
        total = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in files.pdfs)
    for stage, seconds in files.seconds.items():
        print(f"  {stage:<24} {seconds:7.2f} s", flush=True)
    print(
        f"  {'reports total':<24} {total:7.2f} s   = {total / base:.1f} × match   "
        f"(依頼 {len(files.institution_pages)}、お知らせ {len(files.facility_pages)}、"
        f"PDF {len(files.pdfs)} 件 {size / 1e6:.0f} MB)"
    )
    for note in files.notes:
        print(f"  注意: {note}")


if __name__ == "__main__":
    main()
