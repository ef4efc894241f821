"""Links keep their site and path; their query and fragment (booking codes, surnames, tokens) are masked."""

from __future__ import annotations

import pytest

from services.common import pii
from services.common.errors import ConfigError


@pytest.mark.parametrize("text,masked", [
    ("https://book.example/manage?pnr=QX7K2L&last=Smith", "https://book.example/manage?[masked]"),
    ("reset: http://acme.example/reset#token=abc, thanks", "reset: http://acme.example/reset?[masked] thanks"),
    ("plain https://acme.example/help/billing link", "plain https://acme.example/help/billing link"),
    ("HTTPS://BOOK.EXAMPLE/M?PNR=1 and www.example.com?x=1", "HTTPS://BOOK.EXAMPLE/M?[masked] and www.example.com?x=1"),
])
def test_link_queries_are_masked_and_masking_is_idempotent(text, masked):
    assert pii.mask(text) == masked
    assert pii.mask(masked) == masked


def test_links_can_be_allowed_like_any_kind():
    text = "https://book.example/manage?pnr=QX7K2L"
    assert pii.mask(text, pii.parse_allow("link")) == text
    assert pii.parse_allow("card,email,phone,link") == frozenset(pii.KINDS)
    with pytest.raises(ConfigError, match="link"):
        pii.parse_allow("links")
