"""Does an answer state a fact? Judged on the fact's words, never on the answer's phrasing.

A fact ("1986", "Jean-baptiste") and an answer are both cut into words the same way: accents
dropped (Unicode NFKD without its combining marks), case folded, runs of letters and runs of
digits kept apart, everything else (spaces, hyphens of any kind, punctuation, markdown) a
separator. The answer states the fact when the fact's words appear in it side by side, or run
together as one word. So "1986." and "(1986)" state 1986 and "19860" does not; "Jean-Baptiste",
"jean baptiste", "JEAN‑BAPTISTE" (a non-breaking hyphen) and "Jéan-Baptiste" all name
Jean-baptiste, and "Jean" alone does not.
"""

from __future__ import annotations

import re
import unicodedata

# a run of digits, or a run of letters (word characters that are neither digits nor "_")
_WORD = re.compile(r"\d+|[^\W\d_]+")


def words(text: str) -> list[str]:
    """``text`` as comparable words: accents dropped, case folded, letters and digits apart."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain.casefold())


def states(answer: str, fact: str) -> bool:
    """True when ``answer`` contains ``fact`` as whole words (see the module docstring)."""
    wanted = words(fact)
    if not wanted:
        raise ValueError(f"a fact needs at least one letter or digit: {fact!r}")
    said = words(answer)
    n = len(wanted)
    joined = "".join(wanted)
    return any(said[i : i + n] == wanted for i in range(len(said) - n + 1)) or (
        n > 1 and joined in said
    )
