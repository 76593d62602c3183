"""Text as people read it: names without hidden formatting, words without their accents."""

from __future__ import annotations

import re
import unicodedata

# Characters that change how a name is shown without being seen: bidirectional overrides,
# embeddings, isolates and marks (U+202E makes "gpj.exe" read "exe.jpg"), and zero-width spaces.
# Zero-width (non-)joiners stay: Persian, Indic scripts and emoji sequences need them.
HIDDEN_FORMATTING = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def without_hidden_formatting(value: str) -> str:
    return HIDDEN_FORMATTING.sub("", value)


def unaccented(value: str) -> str:
    """The letters without their accents ("Dupré" → "Dupre", "été" → "ete")."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
