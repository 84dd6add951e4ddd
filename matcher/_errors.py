"""The error hierarchy of kyoryoku-match: what went wrong, and where in the user's data."""

from __future__ import annotations

from dataclasses import dataclass


class MatcherError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class RowIssue:
    """One problem found in one cell of an input file (row numbers count the header as row 1)."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" {self.row}行目"
        if self.column:
            where += f" 列「{self.column}」"
        shown = f" 値「{self.value}」" if self.value not in (None, "") else ""
        label = "エラー" if self.severity == "error" else "警告"
        return f"[{label}] {where}{shown}: {self.message}"


class InputError(MatcherError, ValueError):
    """Bad user input; carries every row-level issue found, not only the first."""

    def __init__(self, issues: list[RowIssue] | RowIssue | str, file: str = "") -> None:
        if isinstance(issues, str):
            issues = [RowIssue(file, None, None, None, issues)]
        elif isinstance(issues, RowIssue):
            issues = [issues]
        self.issues: list[RowIssue] = list(issues)
        head = "\n".join(str(i) for i in self.issues[:20])
        more = len(self.issues) - 20
        if more > 0:
            head += f"\n… ほか {more} 件"
        super().__init__(head)


class SolverError(MatcherError, RuntimeError):
    """The solver failed in a way that is not the user's data's fault."""


class SolverTimeLimit(SolverError):
    """The solver stopped at its time limit (the best proposal found so far is still usable)."""


class SolverInfeasible(SolverError):
    """A model the solver was given has no solution (a bug in how it was built, or over-fixing)."""
