"""Whole-prefecture report time (not part of ``make test``).

Generates a prefecture (default 東京都, ~1,300 facilities × ~750 institutions), runs the optimal
match — the baseline, measured in the same run — and writes every report with every PDF (the
bundles and one PDF per letter), printing the time of each stage, the number and size of the
PDFs, the ratio to the match time, and the machine's load (1/5/15-minute averages) at the start
and at the end: the reports use both cores (two browsers beside Python), so on a busy machine
they take longer in proportion to the load, not to the code.

``seconds`` per stage are wall-clock seconds on the calling thread; the printing overlaps the
stages after the first letters, so ``pdf`` is only what it adds at the end (see
``matcher.reports.write_reports``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.generate import generate
from matcher.match import match
from matcher.reports import existing_partner_pairs, find_chromium, write_reports


def load() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, and its number of cores."""
    one, five, fifteen = os.getloadavg()
    return f"負荷 {one:.2f} / {five:.2f} / {fifteen:.2f}(1/5/15 分、{os.cpu_count()} コア)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefecture", default="東京都")
    ap.add_argument("--pdf", default="each", choices=("bundle", "each", "none"))
    ap.add_argument(
        "--out", default=None, help="keep the reports here (default: a temporary folder)"
    )
    args = ap.parse_args()

    print(f"開始時の{load()}", flush=True)
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
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        files = write_reports(instance, result, out, pdf=args.pdf)
        total = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        size = sum(p.stat().st_size for p in files.pdfs)
    for stage, seconds in files.seconds.items():
        print(f"  {stage:<24} {seconds:7.2f} s", flush=True)
    python_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    print(
        f"  {'reports total':<24} {total:7.2f} s   = {total / base:.1f} × match   "
        f"(依頼 {len(files.institution_pages)}、お知らせ {len(files.facility_pages)}、"
        f"PDF {len(files.pdfs)} 件 {size / 1e6:.0f} MB; Python の CPU {python_cpu:.2f} s、"
        "ブラウザの分は含まない)"
    )
    if files.browser_cpu is not None:
        cores = os.cpu_count() or 1
        floor = (files.browser_cpu + python_cpu) / cores
        print(
            f"  {'browser CPU':<24} {files.browser_cpu:7.2f} s   "
            f"(ブラウザ + Python の CPU {files.browser_cpu + python_cpu:.1f} s ÷ {cores} コア "
            f"= {floor:.1f} s: 待ち時間のない場合の下限)"
        )
    print(f"終了時の{load()}")
    for note in files.notes:
        print(f"  注意: {note}")


if __name__ == "__main__":
    main()
