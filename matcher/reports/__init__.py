"""Reports of a matching run for people who never open the tool (an edge: the core never uses it).

``write_reports(instance, result, out_dir, sender=Sender(...))`` writes the coordinator's Excel
workbook, CSV exports, the area overview (with the comparison against the greedy baseline), one
request letter per institution and one notice per facility (HTML with print CSS, and PDF —
bundles and one file per letter — through headless Chromium when one is installed).
"""

from ..vocab import days_left
from .pdf import ReportError, find_chromium
from .sender import Sender
from .tables import ReportData, existing_partner_pairs
from .writer import PDF_MODES, STAGES_JA, PdfMode, ReportFiles, greedy_baseline, write_reports

__all__ = [
    "PDF_MODES",
    "STAGES_JA",
    "PdfMode",
    "ReportData",
    "ReportError",
    "ReportFiles",
    "Sender",
    "days_left",
    "existing_partner_pairs",
    "find_chromium",
    "greedy_baseline",
    "write_reports",
]
