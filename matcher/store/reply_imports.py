"""Returned Excel reply forms in bulk: a folder's files or ZIPs, each file all or nothing.

Every upload goes through ``sources.textfile.expand`` (ZIP members, gzip) within
``sources.limits``; every Excel member is then one returned form (``reports.replyform.read_form``:
size, decompression bounds, the checksum, every cell) and one answer
(``store.replies.record_answer``) applied in a savepoint: a file with one wrong cell, or one that
meets a concurrent change, applies nothing and is listed with the reasons. A file whose very
bytes came before applies nothing (``duplicate``); a re-saved copy of the same answers applies
nothing either (each part's hash, ``store.replies``).

The results of one upload share a ``batch`` id and are stored (``reply_answers``), so that the
page can show them after its redirect and the audit keeps them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .._errors import InputError
from ..reports.replyform import read_form
from ..sources.limits import DEFAULT_LIMITS, ArchiveLimits
from ..sources.textfile import expand
from .errors import ConflictError, NotFoundError, StoreError, TransitionError
from .replies import (
    AnswerResult,
    LetterLocked,
    earlier_file,
    record_answer,
    record_duplicate_file,
    record_refused,
)
from .web_audit import record as audit

MAX_FILES = 500  # forms per upload


@dataclass(frozen=True)
class ImportReport:
    """One upload: its batch id and each file's result, in the order they were read."""

    batch: str
    files: tuple[AnswerResult, ...]

    def count(self, outcome: str) -> int:
        return sum(f.outcome == outcome for f in self.files)


def _issues_text(exc: InputError) -> str:
    return "; ".join(i.message for i in exc.issues[:3]) + (
        f" (ほか {len(exc.issues) - 3} 件)" if len(exc.issues) > 3 else ""
    )


def import_returned_forms(
    session: Session,
    uploads: Sequence[tuple[str, bytes]],
    key: bytes,
    actor: str,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    visible: Callable[[int], bool] | None = None,
) -> ImportReport:
    """Read and apply returned forms; ``visible(letter_id)`` refuses letters outside the
    importing user's scope (as "not ours", without saying whose they are)."""
    batch = uuid.uuid4().hex
    results: list[AnswerResult] = []

    def refuse(
        name: str,
        message: str,
        exc: InputError | None = None,
        letter_id: int | None = None,
        file_hash: str = "",
    ) -> None:
        results.append(
            record_refused(
                session,
                name,
                message,
                actor,
                issues=exc.issues if exc else (),
                letter_id=letter_id,
                file_hash=file_hash,
                batch=batch,
            )
        )

    members = 0
    for upload_name, data in uploads:
        try:
            expanded = expand(data, upload_name, limits)
        except InputError as exc:
            refuse(upload_name, _issues_text(exc), exc)
            continue
        for skipped in expanded.skipped:
            results.append(
                record_refused(session, upload_name, skipped.message, actor, batch=batch)
            )
        for m in expanded.members:
            name = f"{m.archive}/{m.name}" if m.archive else m.name
            members += 1
            if members > MAX_FILES:
                refuse(name, f"一度に取り込める回答票は {MAX_FILES} 件までです")
                continue
            if not m.is_excel:
                refuse(name, "Excel の回答票ではないため読みません")
                continue
            digest = hashlib.sha256(m.data).hexdigest()
            try:
                form = read_form(m.data, name, key, limits)
            except InputError as exc:
                refuse(name, _issues_text(exc), exc, file_hash=digest)
                continue
            if visible is not None and not visible(form.letter_id):
                refuse(name, "担当地域の回答票ではありません", file_hash=digest)
                continue
            before = earlier_file(session, digest)
            if before is not None:
                results.append(
                    record_duplicate_file(
                        session, name, form.letter_id, digest, before, actor, batch
                    )
                )
                continue
            try:
                with session.begin_nested():
                    results.append(
                        record_answer(
                            session,
                            form.letter_id,
                            form.answer,
                            "excel",
                            actor,
                            file_name=name,
                            file_hash=digest,
                            batch=batch,
                            source=name,
                        )
                    )
            except InputError as exc:
                refuse(name, _issues_text(exc), exc, letter_id=form.letter_id, file_hash=digest)
            except LetterLocked as exc:
                refuse(name, str(exc), letter_id=form.letter_id, file_hash=digest)
            except NotFoundError:
                refuse(name, "この回答票の依頼は見つかりません", file_hash=digest)
            except (ConflictError, TransitionError) as exc:
                refuse(
                    name,
                    f"取り込みの途中で他の変更と重なったため、このファイルは反映していません"
                    f" ({exc})。もう一度取り込んでください",
                    letter_id=form.letter_id,
                    file_hash=digest,
                )
            except StoreError:
                raise
    report = ImportReport(batch, tuple(results))
    audit(
        session,
        actor[:100],
        "reply.import",
        f"取り込み {batch[:8]}",
        {
            "files": len(results),
            **{
                o: report.count(o)
                for o in ("applied", "held", "unchanged", "duplicate", "rejected")
                if report.count(o)
            },
        },
    )
    return report
