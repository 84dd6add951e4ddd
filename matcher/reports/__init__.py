"""Reports of a matching run for people who never open the tool (an edge: the core never imports it).

``write_reports(instance, result, out_dir)`` writes the coordinator's Excel workbook, CSV
exports, the area overview, one request per institution and one notice per facility (HTML with
print CSS, and PDF through headless Chromium when one is installed).
"""

from .pdf import ReportError, find_chromium
from .tables import ReportData, days_left
from .writer import PDF_MODES, STAGES_JA, PdfMode, ReportFiles, write_reports

__all__ = [
    "PDF_MODES",
    "STAGES_JA",
    "PdfMode",
    "ReportData",
    "ReportError",
    "ReportFiles",
    "days_left",
    "find_chromium",
    "write_reports",
]
