"""Normalising names and addresses so that two registries' spellings can be joined (the sources,
sites and corporations share these keys)."""

from __future__ import annotations

import re
import unicodedata

from .reference import prefectures

# 旧字体/異体字 → 新字体 that registries spell either way
# (the 厚生局 lists keep the registered form).
KYUJITAI = str.maketrans(
    {
        "澤": "沢",
        "邊": "辺",
        "邉": "辺",
        "齋": "斎",
        "齊": "斉",
        "髙": "高",
        "﨑": "崎",
        "德": "徳",
        "濱": "浜",
        "廣": "広",
        "國": "国",
        "會": "会",
        "櫻": "桜",
        "惠": "恵",
        "榮": "栄",
        "嶋": "島",
        "塲": "場",
        "藏": "蔵",
        "龍": "竜",
        "瀨": "瀬",
        "眞": "真",
        "壽": "寿",
        "佛": "仏",
        "醫": "医",
        "學": "学",
        "驛": "駅",
        "團": "団",
        "禮": "礼",
        "曾": "曽",
        "淺": "浅",
        "靜": "静",
    }
)
# 齊 is also written for 斎 in names; both end up as 斎 after this second pass.
_SAI = str.maketrans({"斉": "斎"})

# Corporate forms written before a hospital's own name (longest first).
CORPORATE_PREFIXES = (
    "特定医療法人社団",
    "特定医療法人財団",
    "特定医療法人",
    "社会医療法人社団",
    "社会医療法人財団",
    "社会医療法人",
    "医療法人社団",
    "医療法人財団",
    "医療法人",
    "社会福祉法人",
    "一般財団法人",
    "公益財団法人",
    "一般社団法人",
    "公益社団法人",
    "独立行政法人",
    "地方独立行政法人",
    "国立研究開発法人",
    "学校法人",
    "宗教法人",
    "社会福祉法人恩賜財団",
)
_PREFIXES_LONGEST = tuple(sorted(CORPORATE_PREFIXES, key=len, reverse=True))
CORPORATE_PREFIXES_LONGEST = _PREFIXES_LONGEST  # for matching a name's leading form
_SPACE = re.compile(r"\s+")
_PREFECTURE = re.compile("^(?:" + "|".join(prefectures()) + ")")
_DASHES = re.compile(r"[‐‑‒–—―−ｰー－-]+")
_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")


def nfkc(value: object) -> str:
    """NFKC-normalised, stripped text (``None`` → "")."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()


def spelling(value: object) -> str:
    """NFKC and 新字体: the spelling every key here starts from."""
    return nfkc(value).translate(KYUJITAI).translate(_SAI)


def normalize_name(value: object) -> str:
    """Join key of an institution name: NFKC, 新字体, no spaces, no leading 医療法人… part.

    When the corporation's own name is separated by a space (``医療法人社団 明和会 山田医院``)
    the whole corporation part is dropped; otherwise only the corporate form is.
    """
    text = spelling(value)
    tokens = [t for t in _SPACE.split(text) if t]
    while len(tokens) > 1 and tokens[0].startswith(CORPORATE_PREFIXES):
        rest = tokens[0]
        for p in _PREFIXES_LONGEST:
            if rest.startswith(p):
                rest = rest[len(p) :]
                break
        # "医療法人社団" alone: the corporation's name is the next token, drop it too.
        tokens = tokens[2:] if rest == "" and len(tokens) > 2 else tokens[1:]
    text = "".join(tokens)
    for p in _PREFIXES_LONGEST:
        if text.startswith(p) and len(text) > len(p):
            text = text[len(p) :]
            break
    return re.sub(r"[()（）「」・･.,、]", "", text)


def normalize_address(value: object) -> str:
    """Join key of an address: NFKC, 新字体, no prefecture, no spaces, 丁目/番地/号 → hyphens.

    ``東京都千代田区霞が関１丁目２番２号`` and ``千代田区霞が関1-2-2`` give the same key.
    """
    text = _SPACE.sub("", spelling(value))
    text = re.sub(r"^〒?\d{3}-?\d{4}", "", text)
    text = _PREFECTURE.sub("", text, count=1)
    text = re.sub(
        r"[〇一二三四五六七八九]+(?=丁目|番|号)",
        lambda m: m.group(0).translate(_KANJI_DIGITS),
        text,
    )
    text = re.sub(r"(\d+)(丁目|番地の?|番の?|号の?|の)", r"\1-", text)
    text = _DASHES.sub("-", text).replace("大字", "")
    return text.strip("-")
