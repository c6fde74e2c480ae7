"""The free-text types: control, bidi and zero-width characters are refused, naming the field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from shop.errors import BadRequest
from shop.http import validate
from shop.text import ParagraphText, PlainText, refuse_unsafe


class Body(BaseModel):
    name: PlainText
    description: ParagraphText = ""


@pytest.mark.parametrize("text", ["Ada Lovelace", "Zoë Ñuñez", "東京都", "O'Brien & Sons, 3½", "🙂 emoji", ""])
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert refuse_unsafe(text) == text
    assert refuse_unsafe(text, multiline=True) == text


@pytest.mark.parametrize(("char", "kind"), [
    ("\x00", "control"), ("\x07", "control"), ("\x1b", "control"), ("\x7f", "control"),
    ("\x85", "control"), ("\x9b", "control"),
    ("\u202a", "bidirectional"), ("\u202e", "bidirectional"), ("\u2066", "bidirectional"),
    ("\u2069", "bidirectional"), ("\u200f", "bidirectional"), ("\u061c", "bidirectional"),
    ("\u200b", "zero-width"), ("\u200d", "zero-width"), ("\u2060", "zero-width"), ("\ufeff", "zero-width"),
    ("\u2028", "zero-width or invisible separator"),
])
def test_unsafe_characters_are_refused_in_both_kinds(char: str, kind: str) -> None:
    for multiline in (False, True):
        with pytest.raises(ValueError, match=kind) as err:
            refuse_unsafe(f"ab{char}cd", multiline=multiline)
        assert f"U+{ord(char):04X} at position 2" in str(err.value)


@pytest.mark.parametrize("char", ["\n", "\r", "\t"])
def test_line_breaks_and_tabs_only_in_paragraphs(char: str) -> None:
    assert refuse_unsafe(f"one{char}two", multiline=True) == f"one{char}two"
    with pytest.raises(ValueError, match="control"):
        refuse_unsafe(f"one{char}two")


def test_a_model_field_error_is_a_400_naming_the_field() -> None:
    assert validate(Body, {"name": "ok", "description": "a\nb"}).description == "a\nb"
    with pytest.raises(BadRequest) as err:
        validate(Body, {"name": "bad\u202e", "description": "fine"})
    assert err.value.status == 400
    assert err.value.message == "invalid name"
    assert [d["field"] for d in err.value.details] == ["name"]
    assert "U+202E" in err.value.details[0]["message"]


@pytest.mark.parametrize(("model", "payload", "field"), [
    ("shop.orders.models:ShippingAddress",
     {"line1": "1 Main\x00", "city": "X", "postalCode": "1", "country": "US"}, "line1"),
    ("shop.orders.models:CancelOrder", {"reason": "changed my mind\u200b"}, "reason"),
    ("shop.catalog.models:ProductUpdate", {"category": "tools\u2067"}, "category"),
    ("shop.catalog.models:ProductUpdate", {"description": "a\x1b[2Jb"}, "description"),
    ("shop.identity.models:RegisterBody", {"email": "a@b.co", "password": "long-enough", "name": "Eve\u202d"}, "name"),
    ("shop.inventory.models:AdjustBody", {"delta": 1, "note": "restock\x00"}, "note"),
])
def test_every_domain_uses_the_free_text_types(model: str, payload: dict[str, object], field: str) -> None:
    """Each domain's free-text fields go through the same check."""
    import importlib

    module, _, name = model.partition(":")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(BadRequest) as err:
        validate(cls, payload)
    assert [d["field"] for d in err.value.details] == [field]
