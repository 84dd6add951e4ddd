"""Decompression limits for uploaded and imported archives (ZIP, gzip, Excel) and a bounded reader.

An archive is refused (``ArchiveError``, an ``InputError`` with the file's name) when

- it is not a readable ZIP / gzip (corrupt, truncated, encrypted),
- it has more than ``max_members`` members,
- the uncompressed total exceeds ``max_total_bytes``, or
- a member expands more than ``max_ratio`` times its compressed size once it is larger than
  ``ratio_floor_bytes`` (small files may compress very well; bombs are large and repetitive).

Sizes are checked twice: first the sizes the archive declares (nothing is decompressed for a
bomb that tells the truth), then while reading, chunk by chunk, because the declarations can lie.
Memory stays bounded by what is returned (at most ``max_total_bytes``) plus one chunk;
``verify_archive`` decompresses everything but keeps nothing.

Public surface (stable): ``ArchiveLimits``, ``DEFAULT_LIMITS``, ``ArchiveError``,
``open_zip``, ``read_member``, ``gunzip``, ``verify_archive``.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from .._errors import InputError, RowIssue

CHUNK = 1 << 20  # decompressed bytes per step (memory per step ≈ one chunk)


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits of one archive (all members together)."""

    max_total_bytes: int = 200 * 1024 * 1024
    max_members: int = 1000
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 8 * 1024 * 1024

    def mb(self) -> str:
        return f"{self.max_total_bytes / 1024 / 1024:.0f} MB"


DEFAULT_LIMITS = ArchiveLimits()


class ArchiveError(InputError):
    """An archive that cannot be read or would expand beyond the limits."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(RowIssue(name, None, "file", None, message))


def _ratio_ok(out: int, compressed: int, limits: ArchiveLimits) -> bool:
    return out <= limits.ratio_floor_bytes or out <= limits.max_ratio * max(compressed, 1)


def _too_large(name: str, what: str, limits: ArchiveLimits) -> ArchiveError:
    return ArchiveError(
        name,
        f"圧縮ファイル{what}の展開後の大きさが上限を超えます (合計上限 {limits.mb()}、"
        f"圧縮率の上限 {limits.max_ratio:.0f} 倍)",
    )


def open_zip(data: bytes, name: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """Open ZIP bytes after checking the member count and the declared sizes."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(
            name, f"ZIP ファイルとして読めません (壊れているか途中までです: {exc})"
        ) from None
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        zf.close()
        raise ArchiveError(
            name, f"ZIP の中のファイルが多すぎます ({len(infos)} 個、上限 {limits.max_members})"
        )
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes or not all(
        _ratio_ok(i.file_size, i.compress_size, limits) for i in infos
    ):
        zf.close()
        raise _too_large(name, "", limits)
    if any(i.flag_bits & 0x1 for i in infos):
        zf.close()
        raise ArchiveError(name, "暗号化された ZIP は読めません (パスワードを外してください)")
    return zf


def read_member(
    zf: zipfile.ZipFile,
    member: str | zipfile.ZipInfo,
    name: str,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    *,
    already: int = 0,
    keep: bool = True,
) -> bytes:
    """One member's bytes, decompressed chunk by chunk and counted (``already``: bytes taken from
    earlier members of the same archive). ``keep=False`` only checks and returns ``b""``."""
    info = member if isinstance(member, zipfile.ZipInfo) else zf.getinfo(member)
    out = io.BytesIO() if keep else None
    n = 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(CHUNK):
                n += len(chunk)
                if already + n > limits.max_total_bytes or not _ratio_ok(
                    n, info.compress_size, limits
                ):
                    raise _too_large(name, f"の「{info.filename}」", limits)
                if out is not None:
                    out.write(chunk)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise ArchiveError(name, f"ZIP の中の「{info.filename}」を展開できません: {exc}") from None
    return out.getvalue() if out is not None else b""


def gunzip(
    data: bytes, name: str, limits: ArchiveLimits = DEFAULT_LIMITS, *, keep: bool = True
) -> bytes:
    """gzip bytes decompressed with the same limits (all concatenated members)."""
    parts: list[bytes] = []
    n = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)
            buf = rest
            while buf:
                chunk = d.decompress(buf, CHUNK)
                buf = d.unconsumed_tail
                n += len(chunk)
                if n > limits.max_total_bytes or not _ratio_ok(n, len(data), limits):
                    raise _too_large(name, "", limits)
                if keep:
                    parts.append(chunk)
                if d.eof:
                    break
            if not d.eof:
                raise ArchiveError(name, "gzip ファイルが途中で終わっています")
            rest = d.unused_data.lstrip(b"\x00")
    except zlib.error as exc:
        raise ArchiveError(name, f"gzip ファイルとして読めません: {exc}") from None
    return b"".join(parts)


def verify_archive(data: bytes, name: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
    """Check a whole upload without keeping anything: a ZIP (also .xlsx, which is one) or gzip is
    decompressed in full, counted and CRC-checked; other bytes pass unchanged."""
    if data[:2] == b"PK":
        with open_zip(data, name, limits) as zf:
            used = 0
            for info in zf.infolist():
                if info.is_dir():
                    continue
                read_member(zf, info, name, limits, already=used, keep=False)
                used += info.file_size
    elif data[:2] == b"\x1f\x8b":
        gunzip(data, name, limits, keep=False)
