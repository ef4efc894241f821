"""normalise_text's ASCII shortcut gives what NFC plus control-character removal gives."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.normalise import _CONTROL, normalise_text

# Mostly ASCII with every control character, DEL, whitespace and a few composed/decomposed letters.
_TEXTS = st.one_of(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40),
                   st.text(alphabet="ab \t\n\r\x00\x1f\x7f\x0be\u0301\u00e9", max_size=20), st.text(max_size=40))


@settings(max_examples=1000, deadline=None)
@given(_TEXTS)
def test_the_ascii_shortcut_equals_the_full_normalisation(text: str) -> None:
    assert normalise_text(text) == _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
