"""Free text the shop stores and shows: no control, bidi-override or zero-width characters.

Names, addresses, descriptions and reasons end up in admin screens, e-mails, logs and terminals,
where a NUL, an ANSI escape, a right-to-left override or an invisible joiner makes the text lie
about itself. Every free-text field of every domain's models refuses:

- C0 controls, DEL and C1 controls (one-line fields also tab, newline and carriage return;
  paragraph fields such as descriptions allow those three);
- the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the marks
  U+200E, U+200F and U+061C;
- the zero-width characters U+200B-U+200D, U+2060, U+FEFF and U+180E, and the line/paragraph
  separators U+2028, U+2029.

Each rule is stated twice on purpose, in the same place: as a JSON Schema pattern (so the
OpenAPI document says what the API accepts, see :mod:`shop.fields`) and as a validator that runs
first and names the character and its position (``shop.http.validate`` adds the field, so the
answer is a 400 naming it).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

from shop.fields import WHITESPACE

# Escapes that Python's, pydantic's (Rust) and JSON Schema's (ECMA-262) regexes all read alike.
_CONTROL = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"  # C0 but tab, newline, CR; DEL; C1
_LINE_BREAKS = r"\u0009\u000a\u000d"
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = r"\u180e\u200b-\u200d\u2060\ufeff\u2028\u2029"

_IN_PARAGRAPHS = _CONTROL + _BIDI + _INVISIBLE
_IN_LINE = _IN_PARAGRAPHS + _LINE_BREAKS
#: What a one-line field never holds, as the inside of a regex character class.
UNSAFE_IN_LINE = _IN_LINE

#: Patterns for ``StringConstraints``: a line (maybe blank), a line with something in it, paragraphs.
LINE = f"^[^{_IN_LINE}]*$"
LINE_NOT_BLANK = f"^[^{_IN_LINE}]*[^{_IN_LINE}{WHITESPACE}][^{_IN_LINE}]*$"
PARAGRAPHS = f"^[^{_IN_PARAGRAPHS}]*$"

_KINDS = ((re.compile(f"[{_CONTROL}{_LINE_BREAKS}]"), "control characters"),
          (re.compile(f"[{_BIDI}]"), "bidirectional control characters"),
          (re.compile(f"[{_INVISIBLE}]"), "zero-width or invisible separator characters"))
_BREAKS = frozenset("\t\n\r")


def refuse_unsafe(value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or ``ValueError`` naming the first forbidden character and where it is."""
    for pattern, kind in _KINDS:
        for found in pattern.finditer(value):
            if multiline and found.group() in _BREAKS:
                continue
            raise ValueError(f"must not contain {kind} (U+{ord(found.group()):04X} at position {found.start()})")
    return value


def _one_line(value: Any) -> Any:
    return refuse_unsafe(value) if isinstance(value, str) else value


def _paragraphs(value: Any) -> Any:
    return refuse_unsafe(value, multiline=True) if isinstance(value, str) else value


#: Validators that run before the field's own constraints, so the error names the character.
OneLine = BeforeValidator(_one_line)
Paragraphs = BeforeValidator(_paragraphs)

PlainText = Annotated[str, StringConstraints(pattern=LINE), OneLine]
ParagraphText = Annotated[str, StringConstraints(pattern=PARAGRAPHS), Paragraphs]
