"""One rule, one place: "clinics never admit" is ``matcher.vocab.admissible_offers`` and nothing
else in ``matcher/`` or ``api/`` tests a clinic kind together with the admit capability.

The scan reads the source (AST). A *site* is flagged when a clinic kind and ③ meet in it:

- an ``if``/``while``/conditional expression/comprehension filter whose condition mentions a
  clinic kind, and whose condition or branches mention ③;
- any other statement (assignment, return, call …) whose expression mentions both.

A clinic kind is ``InstitutionKind.CLINIC`` / ``CLINIC``, a string that *is* ``"clinic"`` or
``"診療所"`` (messages merely containing the word do not count), or a local name assigned from a
test on one (``is_clinic = kind == "clinic"``). ③ is ``Capability.ADMIT`` / ``ADMIT``, the
string ``"admit"``, or the literal bit 4 in a bit operation (``offers & ~4``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("matcher", "api")
HOME = Path("matcher/vocab.py")  # where the rule is defined
_BIT_OPS = (ast.BitAnd, ast.BitOr, ast.BitXor)
_BRANCHING = (ast.If, ast.While, ast.IfExp)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_admit(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(node, ast.Attribute | ast.Name):
        return (node.attr if isinstance(node, ast.Attribute) else node.id) == "ADMIT"
    if isinstance(node, ast.Constant):
        if node.value == "admit":
            return True
        in_bits = (isinstance(parent, ast.BinOp) and isinstance(parent.op, _BIT_OPS)) or (
            isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Invert)
        )
        return in_bits and type(node.value) is int and node.value == 4
    return False


def _is_clinic(node: ast.AST, tainted: set[str]) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "CLINIC"
    if isinstance(node, ast.Name):
        return node.id == "CLINIC" or (isinstance(node.ctx, ast.Load) and node.id in tainted)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip().lower() in ("clinic", "診療所")
    return False


class _Scan:
    def __init__(self, tree: ast.AST) -> None:
        self.parents = _parents(tree)
        self.tainted: set[str] = set()

    def clinic(self, *nodes: ast.AST) -> bool:
        return any(_is_clinic(n, self.tainted) for root in nodes for n in ast.walk(root))

    def admit(self, *nodes: ast.AST) -> bool:
        return any(_is_admit(n, self.parents.get(n)) for root in nodes for n in ast.walk(root))


def _taint(scan: _Scan, body: list[ast.stmt]) -> None:
    """Names assigned from a test on a clinic kind, anywhere in ``body`` (a function's scope)."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if isinstance(node.value, ast.Compare | ast.BoolOp | ast.UnaryOp) and scan.clinic(
                    node.value
                ):
                    scan.tainted.update(t.id for t in targets if isinstance(t, ast.Name))


def violations(source: str, name: str = "<source>") -> list[str]:
    """``file:line`` of every site where a clinic kind and ③ meet (see the module docstring)."""
    tree = ast.parse(source, name)
    scan = _Scan(tree)
    _taint(scan, tree.body if isinstance(tree, ast.Module) else [])
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _taint(scan, node.body)
        if isinstance(node, _BRANCHING):
            if scan.clinic(node.test) and scan.admit(node):
                found.add(node.lineno)
        elif isinstance(node, ast.comprehension):
            if any(scan.clinic(c) for c in node.ifs) and scan.admit(*node.ifs, scan.parents[node]):
                found.add(node.ifs[0].lineno if node.ifs else node.target.lineno)
        elif isinstance(node, ast.stmt) and not isinstance(
            node,
            ast.If
            | ast.While
            | ast.For
            | ast.AsyncFor
            | ast.With
            | ast.AsyncWith
            | ast.Try
            | ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef
            | ast.Match,
        ):
            if scan.clinic(node) and scan.admit(node):
                found.add(node.lineno)
    return [f"{name}:{line}" for line in sorted(found)]


def _project_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_the_scan_sees_the_project() -> None:
    files = _project_files()
    assert len(files) > 80
    # The definition itself is found: a scan that finds nothing would pass the rule below.
    home = (ROOT / HOME).read_text(encoding="utf-8")
    hits = violations(home, str(HOME))
    assert len(hits) == 1
    line = int(hits[0].rsplit(":", 1)[1])
    assert "admissible_offers" in "".join(home.splitlines()[line - 4 : line])


def test_clinics_never_admit_is_written_only_in_vocab() -> None:
    found = [
        hit
        for path in _project_files()
        if path.relative_to(ROOT) != HOME
        for hit in violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == [], (
        "call matcher.vocab.admissible_offers(kind, offers) instead of testing a clinic kind "
        f"with ③ here: {found}"
    )


# The four copies removed in issue 22 (validate, kouseikyoku, declarations, filings) and other
# spellings of the same rule: each must be caught.
COPIES = {
    "validate": """
def _build_institution(row):
    kind = row.parse("kind", parse_institution_kind, InstitutionKind.CLINIC)
    offers = row.parse("offers", parse_capabilities, 0)
    if kind == "clinic" and offers & Capability.ADMIT:
        row.warn("offers", "診療所は③入院受入を提供できません(③は病院に限る): ③を無視します")
        offers &= ~Capability.ADMIT
""",
    "kouseikyoku": """
def apply_flags(insts, joined, out):
    for i, inst in enumerate(insts):
        offers = 0
        if inst.kind == "clinic" and offers & Capability.ADMIT:
            out.warnings.append(RowIssue(None, None, None, inst.name, "③入院受入は無視します"))
            offers &= ~Capability.ADMIT
""",
    "declarations": """
def apply_declarations(inst, d, out):
    offers = inst.offers if d.offers is None else d.offers
    if inst.kind == "clinic" and offers & Capability.ADMIT:
        out.warnings.append(clinic_admit_ignored(d))
        offers &= ~Capability.ADMIT
""",
    "filings": """
def _row(inst, provides, out):
    if inst is not None:
        if inst.kind == "clinic" and provides & Capability.ADMIT:
            out.warnings.append(RowIssue(None, None, None, None, "③を数えません"))
            provides &= ~Capability.ADMIT
""",
    "enum_member": """
def f(inst):
    if inst.kind is InstitutionKind.CLINIC:
        return inst.offers & ~Capability.ADMIT
    return inst.offers
""",
    "conditional_expression": """
def f(kind, offers):
    return offers & ~4 if kind == "clinic" else offers
""",
    "vectorised": """
def f(kinds, offers):
    return np.where(kinds == "clinic", offers & ~ADMIT, offers)
""",
    "comprehension": """
def f(insts):
    return [i for i in insts if i.kind != InstitutionKind.CLINIC or not i.offers & ADMIT]
""",
    "through_a_name": """
def f(inst, offers):
    is_clinic = inst.kind == "診療所"
    if is_clinic:
        offers = offers & 3  # ③ dropped
        offers ^= Capability.ADMIT & offers
    return offers
""",
    "query": """
def f(q):
    return q.where(InstitutionRow.kind != "clinic").where(
        InstitutionRow.offers.op("&")(int(Capability.ADMIT)) != 0
    )
""",
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_the_scan_catches_a_copy(name: str) -> None:
    assert violations(COPIES[name], name), f"{name}: a copy of the rule went unnoticed"


@pytest.mark.parametrize(
    "source",
    [
        # calling the one definition, and telling the user what was dropped
        "a = admissible_offers(kind, offers)\nif a != offers:\n    warn('診療所は③…')\n",
        # kinds and capabilities apart
        'LABELS = {"hospital": "病院", "clinic": "診療所"}\nMASK = Capability.ADMIT | 3\n',
        "if kind == 'clinic':\n    n_clinics += 1\nif offers & Capability.ADMIT:\n    beds += 1\n",
        # a message naming both is not a test
        "raise ValueError('診療所は③入院受入 (admit) を提供できません')\n",
    ],
)
def test_the_scan_leaves_other_code_alone(source: str) -> None:
    assert violations(source) == []
