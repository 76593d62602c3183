"""Which passwords are accepted: long enough, and not easy to guess (zxcvbn, offline).

zxcvbn estimates how many guesses a password takes with its built-in lists (common passwords,
names, English words, keyboard patterns, dates, repeats), plus the words of this account and site
(the e-mail address, the name, the site's name and domain). Score 3 means at least 10^8
guesses: years of an attacker's time against argon2id hashes, forever through the throttled API.
"""

from __future__ import annotations

import re

import anyio

from app.core.messages import password_feedback, say
from app.core.text import unaccented

MIN_SCORE = 3  # 0 (top-10 password) … 4 (very unguessable)
# zxcvbn refuses longer input (and slows down with length); past this a password is long anyway.
CHECKED_LENGTH = 72
_WORDS = re.compile(r"[^\W_]+")


def context_words(*values: str | None) -> list[str]:
    """The values, their parts and words (ada.lovelace@clo-so.com → ada.lovelace, clo-so.com,
    ada, lovelace, clo, com), with and without accents ("Dupré & Fils" → dupré, dupre, fils)."""
    words: list[str] = []
    for value in values:
        if value:
            value = value.lower()
            words.extend([value, *value.split("@")] if "@" in value else [value])
            words.extend(word for word in _WORDS.findall(value) if len(word) > 2)
    return list(dict.fromkeys([*words, *(unaccented(word) for word in words)]))


def weakness(password: str, *, context: list[str]) -> str | None:
    """Why the password is refused, as a sentence for the user; None when it is accepted."""
    # Imported on the first check (registration, password change), not at start: its word lists
    # are ~13 MB of every worker's memory that signing in and reading never use.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:CHECKED_LENGTH], user_inputs=context)
    if result["score"] >= MIN_SCORE:
        rest = _without_words(password, context)
        if rest == password or zxcvbn(rest[:CHECKED_LENGTH])["score"] >= MIN_SCORE:
            return None
        # Built on the site's or the account's words (zxcvbn scores "Dupre&Fils2024" high for
        # "Cabinet Dupré & Fils"): what is left once they are taken out must hold on its own.
        return say("password_weak", why=say("password_personal"))
    feedback = result["feedback"]
    # zxcvbn writes English only: its sentences go through core/messages (ZXCVBN_FRENCH).
    reasons = [
        password_feedback(reason)
        for reason in (feedback.get("warning"), *feedback.get("suggestions", []))
        if reason
    ]
    if any(match.get("dictionary_name") == "user_inputs" for match in result["sequence"]):
        reasons.insert(0, say("password_personal"))
    why = " ".join(reason for reason in reasons if reason) or say("password_longer")
    return say("password_weak", why=why)


def _without_words(password: str, words: list[str]) -> str:
    """The password with every word of `words` (3 letters or more) taken out, in any case and
    with or without accents; the password itself when none is in it."""
    folded = unaccented(password).lower()
    if len(folded) != len(password):  # a letter that is not one character once unaccented
        return password
    keep = [True] * len(password)
    for word in {unaccented(word) for word in words if len(word) > 2}:
        start = folded.find(word)
        while start != -1:
            keep[start : start + len(word)] = [False] * len(word)
            start = folded.find(word, start + 1)
    return "".join(c for c, kept in zip(password, keep, strict=True) if kept)


async def password_weakness(password: str, *, context: list[str]) -> str | None:
    # A few milliseconds of CPU: off the event loop, like the hashing.
    return await anyio.to_thread.run_sync(lambda: weakness(password, context=context))
