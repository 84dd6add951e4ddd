"""Split and join the PDFs Chromium prints, without a PDF library.

Letters are printed in batches (one browser navigation and one font subset per batch instead of
per letter, ~10 × faster); each batch is then cut into one PDF per letter, and the batches are
joined into the bundle PDFs. Which pages belong to which letter comes from the batch's named
destinations: every letter's heading links to the letter's own ``id``, and Chromium writes
``/Dests`` (id → first page).

Only what Chromium's PDF backend (Skia) writes is supported: one classic cross-reference table,
no object streams, no encryption. Objects are copied as bytes — streams are never decoded —
and only their dictionaries are rewritten (renumbered references; a page loses ``/Parent`` and
``/Annots``, the links to destinations that the new file does not have).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .pdf import ReportError

_REF = re.compile(rb"(\d+) 0 R\b")
_STREAM = re.compile(rb">>\s*stream\r?\n")
_OBJ_HEAD = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b")
_KEY_REF = {
    key: re.compile(rb"/" + key + rb"\s+(\d+) 0 R\b") for key in (b"Root", b"Pages", b"Dests")
}
_ANNOTS = re.compile(rb"/Annots\s*(\[[^\]]*\]|\d+ 0 R)")
_PARENT = re.compile(rb"/Parent\s+\d+ 0 R")
_DEST_ENTRY = re.compile(rb"/([^\s/\[\]<>()]+)\s*\[\s*(\d+) 0 R")


@dataclass
class PdfObject:
    """One object: its dictionary/value bytes (``head``) and the raw stream after it, if any."""

    head: bytes
    stream: bytes = b""  # from "stream" up to and including "endstream"

    def refs(self) -> list[int]:
        return [int(n) for n in _REF.findall(self.head)]


@dataclass
class PdfFile:
    """A parsed Chromium PDF: objects by number, pages in order, named destinations."""

    objects: dict[int, PdfObject]
    pages: list[int]
    dests: dict[str, int] = field(default_factory=dict)  # name → page index

    @classmethod
    def parse(cls, data: bytes, name: str = "PDF") -> PdfFile:
        """Parse ``data``; ``ReportError`` when it is not the simple kind described above."""
        start = data.rfind(b"startxref")
        if start < 0:
            raise ReportError(f"{name}: startxref がありません")
        xref_at = int(data[start + 9 :].split()[0])
        if not data.startswith(b"xref", xref_at):
            raise ReportError(f"{name}: 相互参照表の形式に対応していません")
        offsets: dict[int, int] = {}
        lines = data[xref_at:].split(b"trailer", 1)
        tokens = lines[0].split()[1:]
        k = 0
        while k + 1 < len(tokens):
            first, count = int(tokens[k]), int(tokens[k + 1])
            k += 2
            for n in range(count):
                off, _gen, kind = tokens[k : k + 3]
                k += 3
                if kind == b"n":
                    offsets[first + n] = int(off)
        trailer = lines[1] if len(lines) > 1 else b""
        ends = sorted(offsets.values()) + [xref_at]
        next_of = {o: ends[i + 1] for i, o in enumerate(ends[:-1])}
        objects: dict[int, PdfObject] = {}
        for num, at in offsets.items():
            chunk = data[at : next_of[at]]
            head = _OBJ_HEAD.match(chunk)
            if not head or int(head.group(1)) != num:
                raise ReportError(f"{name}: オブジェクト {num} の位置が不正です")
            body = chunk[head.end() : chunk.rfind(b"endobj")]
            m = _STREAM.search(body)
            if m and b"/Length" in body[: m.start()]:
                objects[num] = PdfObject(body[: m.start() + 2], body[m.start() + 2 :].rstrip())
            else:
                objects[num] = PdfObject(body.strip())
        root = _KEY_REF[b"Root"].search(trailer)
        if not root:
            raise ReportError(f"{name}: /Root がありません")
        catalog = objects[int(root.group(1))].head
        pages_root = _KEY_REF[b"Pages"].search(catalog)
        if not pages_root:
            raise ReportError(f"{name}: /Pages がありません")
        pages = _leaves(objects, int(pages_root.group(1)))
        index = {p: k for k, p in enumerate(pages)}
        dests: dict[str, int] = {}
        dest_ref = _KEY_REF[b"Dests"].search(catalog)
        if dest_ref:
            for key, page in _DEST_ENTRY.findall(objects[int(dest_ref.group(1))].head):
                if int(page) in index:
                    dests[_name(key)] = index[int(page)]
        return cls(objects, pages, dests)

    @classmethod
    def read(cls, path: str | Path) -> PdfFile:
        return cls.parse(Path(path).read_bytes(), Path(path).name)


def _name(raw: bytes) -> str:
    """A PDF name token decoded (``#xx`` escapes)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw).decode(
        "utf-8", "replace"
    )


def _leaves(objects: dict[int, PdfObject], node: int) -> list[int]:
    """Page objects under a /Pages node, in order."""
    head = objects[node].head
    if re.search(rb"/Type\s*/Page\b(?!s)", head):
        return [node]
    kids = re.search(rb"/Kids\s*\[([^\]]*)\]", head)
    out: list[int] = []
    for kid in _REF.findall(kids.group(1) if kids else b""):
        out.extend(_leaves(objects, int(kid)))
    return out


def page_ranges(pdf: PdfFile, names: Sequence[str]) -> list[range]:
    """The pages of each named part, in the given (document) order: from its destination's page
    up to the next part's; ``ReportError`` when a name has no destination."""
    missing = [n for n in names if n not in pdf.dests]
    if missing:
        raise ReportError(f"PDF に目印がありません: {', '.join(missing[:5])}")
    starts = [pdf.dests[n] for n in names]
    return [
        range(s, starts[k + 1] if k + 1 < len(starts) else len(pdf.pages))
        for k, s in enumerate(starts)
    ]


def _renumbered(numbers: dict[tuple[int, int], int], doc: int, num: int) -> bytes:
    new = numbers.get((doc, num))
    return b"null" if new is None else b"%d 0 R" % new


def _utf16_text(text: str) -> bytes:
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def write_pages(
    parts: Iterable[tuple[PdfFile, Iterable[int]]], out: str | Path, title: str = ""
) -> Path:
    """Write the given pages (page indices of each file, in order) as one new PDF."""
    numbers: dict[tuple[int, int], int] = {}
    order: list[tuple[PdfFile, int]] = []
    page_refs: list[int] = []
    next_num = 4  # 1 catalog, 2 pages, 3 info

    def visit(pdf: PdfFile, num: int) -> int:
        nonlocal next_num
        key = (id(pdf), num)
        if key in numbers:
            return numbers[key]
        stack = [num]
        while stack:
            n = stack.pop()
            if (id(pdf), n) in numbers or n not in pdf.objects:
                continue
            numbers[(id(pdf), n)] = next_num
            next_num += 1
            order.append((pdf, n))
            head = pdf.objects[n].head
            if n in page_set[id(pdf)]:
                head = _ANNOTS.sub(b"", _PARENT.sub(b"", head))
            stack.extend(reversed([int(r) for r in _REF.findall(head)]))
        return numbers[key]

    page_set: dict[int, set[int]] = {}
    parts = [(pdf, list(idx)) for pdf, idx in parts]
    for pdf, _ in parts:
        page_set.setdefault(id(pdf), set(pdf.pages))
    for pdf, idx in parts:
        for k in idx:
            page_refs.append(visit(pdf, pdf.pages[k]))

    chunks: list[bytes] = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    offsets: dict[int, int] = {}
    size = len(chunks[0])

    def emit(num: int, head: bytes, stream: bytes = b"") -> None:
        nonlocal size
        body = b"%d 0 obj\n" % num + head + (b"\n" + stream if stream else b"") + b"\nendobj\n"
        offsets[num] = size
        chunks.append(body)
        size += len(body)

    emit(1, b"<</Type /Catalog\n/Pages 2 0 R>>")
    kids = b" ".join(b"%d 0 R" % n for n in page_refs)
    emit(2, b"<</Type /Pages\n/Count %d\n/Kids [%s]>>" % (len(page_refs), kids))
    emit(
        3,
        b"<</Producer (kyoryoku-match)"
        + (b"\n/Title " + _utf16_text(title) if title else b"")
        + b">>",
    )
    for pdf, n in order:
        obj = pdf.objects[n]
        head = obj.head
        if n in page_set[id(pdf)]:
            head = _ANNOTS.sub(b"", _PARENT.sub(b"", head))
            head = head[: head.rfind(b">>")] + b"\n/Parent 2 0 R>>"
        doc = id(pdf)

        def renumber(m: re.Match[bytes], doc: int = doc) -> bytes:
            return _renumbered(numbers, doc, int(m.group(1)))

        head = _REF.sub(renumber, head)
        emit(numbers[(id(pdf), n)], head, obj.stream)
    xref_at = size
    total = next_num
    xref = [b"xref\n0 %d\n" % total, b"0000000000 65535 f \n"]
    xref += [b"%010d 00000 n \n" % offsets[n] for n in range(1, total)]
    chunks.append(b"".join(xref))
    chunks.append(
        b"trailer\n<</Size %d\n/Root 1 0 R\n/Info 3 0 R>>\nstartxref\n%d\n%%EOF\n"
        % (total, xref_at)
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))
    return path
