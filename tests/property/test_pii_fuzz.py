"""pii.mask's cheap `@` check never skips a text the address pattern would mask."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import pii

# Address-like texts: any local part (possibly empty), any domain and suffix, any characters
# around them; plus arbitrary text.
_ADDRESSES = st.builds(
    lambda before, local, domain, tld, after: f"{before}{local}@{domain}.{tld}{after}",
    st.text(alphabet=" @.a-_\n", max_size=3), st.text(alphabet="aZ7ü٣_.+%-@", max_size=5),
    st.text(alphabet="ab9-.", min_size=1, max_size=5), st.text(alphabet="coIOm1", min_size=1, max_size=3),
    st.text(alphabet=" .a-@", max_size=2))
_TEXTS = st.one_of(_ADDRESSES, st.text(max_size=40))


@settings(max_examples=500, deadline=None)
@given(_TEXTS)
def test_the_email_guard_never_skips_an_address(text: str) -> None:
    if pii._EMAIL.search(text):  # noqa: SLF001 - the guard exists to skip this pattern
        assert pii._may_hold_email(text)  # noqa: SLF001
        assert "[email]" in pii.mask(text)
