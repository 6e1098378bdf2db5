"""router.redact: key-shaped strings are masked, and the cheap pre-check never skips one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.redact import KEY_SHAPED, MASK, Redactor, _may_hold_key

_KEYS = [
    "sk-proj-" + "a1B2" * 6,
    "sk-ant-api03-" + "x" * 20,
    "rk_live_" + "Z9" * 10,
    "pk-" + "q" * 16,
    "gsk_" + "0123456789abcdefXYZ",
    "xai-" + "k" * 18,
    "AIza" + "Sy" * 12,
    "Bearer abc.def-ghi_jkl",
    "bearer   tok/en+123==",
]


def test_every_key_shape_is_masked_inside_provider_text() -> None:
    r = Redactor(())
    for key in _KEYS:
        assert r.text(f"invalid key {key} (see docs)") == f"invalid key {MASK} (see docs)", key


def test_ids_and_model_names_pass_unchanged() -> None:
    r = Redactor(())
    for text in ("chatcmpl-AbCdEf0123456789xyzLONGID", "gpt-4o-2024-08-06", "fp_abc123def4", "req_0123456789abcdef0123", "msg_01XFDUDYJgAACzvnptvVoYEL"):
        assert r.text(text) == text
        assert not _may_hold_key(text)  # the regex is not even run on them


_alphabet = st.sampled_from(list("skrpgxaiAIzaBbearer-_ ./+=0123456789abcdefXYZ\t"))


@settings(max_examples=3000, deadline=None)
@given(st.text(_alphabet, max_size=60))
def test_the_pre_check_holds_wherever_the_pattern_matches(text: str) -> None:
    if KEY_SHAPED.search(text):
        assert _may_hold_key(text), text
