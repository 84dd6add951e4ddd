"""Messages shown after a redirect: the URL carries a code (``?msg=proposed``, ``?err=conflict``),
the text comes from the fixed tables here. Unknown codes show nothing, so a link cannot make the
service display text of the sender's choosing as an official banner."""

from __future__ import annotations

from urllib.parse import urlencode

from matcher.store.proposal_commands import STATUS_LABELS_JA

MESSAGES: dict[str, str] = {
    "proposed": "提案に加えました",
    "proposed-override": "距離・受入枠の条件を超える提案を、理由を記録して加えました",
    "logged-out": "ログアウトしました",
    "reply-answered": "回答を登録しました",
    "reply-revoked": "リンクを無効にしました",
    "reply-locked": "回答の受付を締め切りました",
    "reply-unlocked": "回答の受付を再開しました",
    "reply-resolved": "確認待ちの回答を処理しました",
    "intake-updated": "相談を更新しました",
    "intake-confirmed": "協力医療機関の変更を届出に反映しました",
    "intake-taken": "電話・来所・メールの相談を受付に登録しました",
    **{f"status-{k}": f"提案を「{label}」にしました" for k, label in STATUS_LABELS_JA.items()},
}
ERRORS: dict[str, str] = {
    "conflict": "他の人が先にこの提案を更新しました。"
    "最新の内容を確認してから、もう一度操作してください",
    "exists": "この施設と医療機関の組み合わせには既に提案があります",
    "transition": "この提案はその状態には変更できません",
    "limits": "距離の上限または受入枠を超えるため提案できません。"
    "理由を書いて「条件を超えて提案する」を選んでください",
    "session-ended": "セッションが終了しました。もう一度ログインしてください",
}


def message(code: str | None) -> str:
    return MESSAGES.get(code or "", "")


def error(code: str | None) -> str:
    return ERRORS.get(code or "", "")


def with_code(target: str, key: str, code: str) -> str:
    """``target`` with ``?key=code`` (or ``&``) appended; ``code`` must be one of the tables'."""
    assert code in (MESSAGES if key == "msg" else ERRORS), code
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{urlencode({key: code})}"
