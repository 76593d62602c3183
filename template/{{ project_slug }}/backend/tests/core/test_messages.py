"""Every sentence for people exists in both languages, and zxcvbn's English feedback is covered."""

from __future__ import annotations

import ast
import inspect
import string

import pytest

from app.core.messages import MESSAGES, ZXCVBN_FRENCH

# pydantic's own sentence for an error type we do not word ourselves is English: the French
# message names the type instead.
ENGLISH_ONLY_VALUES = {"invalid_other": {"message"}}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_each_message_is_written_in_french_and_in_english(key: str) -> None:
    texts = MESSAGES[key]
    assert set(texts) == {"en", "fr"}
    assert texts["en"].strip() and texts["fr"].strip()
    # The same text in both would be a sentence nobody translated.
    assert texts["fr"] != texts["en"]
    english_only = ENGLISH_ONLY_VALUES.get(key, set())
    assert placeholders(texts["fr"]) | english_only == placeholders(texts["en"])


def zxcvbn_sentences() -> set[str]:
    """The sentences zxcvbn's feedback module can return: the strings it passes to gettext."""
    from zxcvbn import feedback

    tree = ast.parse(inspect.getsource(feedback))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_"
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_password_feedback_of_zxcvbn_has_a_french_translation() -> None:
    sentences = zxcvbn_sentences()
    assert len(sentences) > 20  # the module was read, not an empty parse
    assert sentences - set(ZXCVBN_FRENCH) == set()
    assert set(ZXCVBN_FRENCH) - sentences == set()  # nothing stale after an upgrade
    assert all(french != english for english, french in ZXCVBN_FRENCH.items())
