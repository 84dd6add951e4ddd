"""The reports' Jinja environment and stylesheet, shared by the letters (``pages``), the reply
form (``replyform``) and the meeting documents (``meeting``).

A module of its own so that ``pages`` can print the reply form of ``replyform`` on every letter
while ``replyform`` renders with the same environment (no import cycle).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .. import fonts
from ..wareki import nendo
from .sender import printed, reply_sentence

# The letters' styles, then the reply form's (the form is printed after every letter).
STYLESHEETS = ("templates/report.css", "templates/replyform.css")
_BOX = Markup('<span class="box">□</span>')


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates of ``matcher/reports/templates`` with the filters and globals they use."""
    env = Environment(
        loader=PackageLoader("matcher.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    env.filters["nendo"] = nendo
    # One definition of a sender field as printed and of the reply request (``sender``).
    env.globals["printed"] = printed
    env.globals["reply_sentence"] = reply_sentence
    # A function rather than a macro: a form prints ~15 boxes and a Jinja macro call costs ~10×.
    env.globals["box"] = box
    return env


def box(label: str) -> Markup:
    """A check box (□) and its label (escaped), as a form prints a choice."""
    return _BOX + label


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string that is safe inside ``<style>`` (the running heads of the
    printed pages carry recipients' names)."""
    escaped = (
        " ".join(text.split())
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("<", "\\3c ")
        .replace(">", "\\3e ")
    )
    return Markup(f'"{escaped}"')


@lru_cache(maxsize=1)
def css() -> str:
    """The stylesheet of every printed document, in the Japanese font found (``fonts``)."""
    package = resources.files("matcher.reports")
    text = "\n".join(package.joinpath(name).read_text("utf-8") for name in STYLESHEETS)
    return text.replace("/*FONT*/", fonts.css_font_family())
