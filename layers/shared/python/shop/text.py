"""Free text the shop stores and shows: no control, bidi-override or zero-width characters.

Names, addresses, descriptions and reasons end up in admin screens, e-mails, logs and terminals,
where a NUL, an ANSI escape, a right-to-left override or an invisible joiner makes the text lie
about itself. Two pydantic types, used by every domain's models for each free-text field:

- :data:`PlainText`: one line. Refuses C0 controls (tab, newline and the rest), DEL and C1 controls.
- :data:`ParagraphText`: the same, but newline, carriage return and tab are allowed (descriptions).

Both refuse the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the
marks U+200E, U+200F and U+061C; the zero-width characters U+200B-U+200D, U+2060, U+FEFF and
U+180E; and the line/paragraph separators U+2028, U+2029. The error names the character and its
position; ``shop.http.validate`` adds the field, so the answer is a 400 naming it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 but tab, newline and CR; DEL; C1
_LINE_BREAKS = "\t\n\r"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u180e\u200b-\u200d\u2060\ufeff\u2028\u2029"

_KINDS = ((re.compile(f"[{_CONTROL}{_LINE_BREAKS}]"), "control characters"),
          (re.compile(f"[{_BIDI}]"), "bidirectional control characters"),
          (re.compile(f"[{_INVISIBLE}]"), "zero-width or invisible separator characters"))


def refuse_unsafe(value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or ``ValueError`` naming the first forbidden character and where it is."""
    for pattern, kind in _KINDS:
        for found in pattern.finditer(value):
            if multiline and found.group() in _LINE_BREAKS:
                continue
            raise ValueError(f"must not contain {kind} (U+{ord(found.group()):04X} at position {found.start()})")
    return value


def _one_line(value: str) -> str:
    return refuse_unsafe(value)


def _paragraphs(value: str) -> str:
    return refuse_unsafe(value, multiline=True)


#: The checks as annotations, last in an ``Annotated[str, StringConstraints(...), OneLine]`` (after
#: stripping and length checks).
OneLine = AfterValidator(_one_line)
Paragraphs = AfterValidator(_paragraphs)

PlainText = Annotated[str, OneLine]
ParagraphText = Annotated[str, Paragraphs]
