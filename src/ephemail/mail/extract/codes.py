"""One-time codes in a text: 4–8 digits, or short upper-case codes with letters and digits,
near a word that announces a code, in any of the languages of words.py.

One pass finds the words (`\\w+`, no backtracking), a second walks them: each word is a
keyword, a word that says "not a code" (order, coupon, phone…), or a candidate. A candidate
is kept when the nearest such word within reach is a keyword; it is scored by distance
(a keyword before it counts more than one after it). Years, prices, phone numbers, postcodes
and order numbers fail one of the shape tests or have no keyword near them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from ephemail.mail.extract.words import CODE_WORDS, NOT_CODE_WORDS

# Of text searched per body: codes sit near the top, and this bounds one request's work.
MAX_TEXT_CHARS = 256 * 1024
REACH_BEFORE = 160  # characters from a keyword to a code after it
REACH_AFTER = 60  # characters from a code to a keyword after it ("482913 is your code")
_WORD = re.compile(r"\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_CJK_MIN = 0x2E80
_SENTENCE_ENDS = (".", "!", "?", "\n", "。", "！")


def _split(table: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """(whole words, stems, CJK entries found inside runs)."""
    cjk = tuple(w for w in table if ord(w[0]) >= _CJK_MIN)
    stems = tuple(w[:-1] for w in table if w.endswith("*"))
    whole = frozenset(w for w in table if not w.endswith("*") and w not in cjk)
    return whole, stems, cjk


_YES = _split(tuple(w for words in CODE_WORDS.values() for w in words))
_NO = _split(NOT_CODE_WORDS)
_PAIRS = frozenset({("one", "time"), ("sign", "in"), ("log", "in"), ("mot", "de")})


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    context: str


class _Found(NamedTuple):
    """A candidate near a code word, and how near: the lowest score wins."""

    code: str
    start: int
    end: int
    score: int


def _is(word: str, table: tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]) -> bool:
    whole, stems, cjk = table
    if word in whole or word.startswith(stems):
        return True
    return not word.isascii() and ord(word[0]) >= _CJK_MIN and any(c in word for c in cjk)


def _joined(text: str, left: re.Match[str] | None, right: re.Match[str] | None) -> bool:
    """Two words written as one group: `482 913`, `555-1234`, `A7K-9QX`."""
    return (
        left is not None
        and right is not None
        and right.start() == left.end() + 1
        and text[left.end()] in " -"
    )


def _shape(text: str, words: list[re.Match[str]], i: int) -> tuple[str, int, int] | None:
    """The code that word i starts: (code, its end, how many words it takes), or None."""
    word = words[i].group()
    start, end = words[i].span()
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before in "#+$€£¥₽(@/_©" or after in "%$€£¥₽@_":
        return None  # an order number, a phone, a price, a path, an address
    if (before in ".," and start >= 2 and text[start - 2].isdigit()) or (
        after in ".,:/" and end + 1 < len(text) and text[end + 1].isdigit()
    ):
        return None  # a decimal, a time, a date
    prev = words[i - 1] if i else None
    nxt = words[i + 1] if i + 1 < len(words) else None
    third = words[i + 2] if i + 2 < len(words) else None
    if word.isascii() and word.isdigit():
        if prev is not None and prev.group().isdigit() and _joined(text, prev, words[i]):
            return None  # the tail of a number written in groups
        if nxt is not None and nxt.group().isdigit() and _joined(text, words[i], nxt):
            pair = nxt.group()
            tail = third is not None and third.group().isdigit() and _joined(text, nxt, third)
            if len(word) in (3, 4) and len(pair) == len(word) and not tail:
                return word + pair, nxt.end(), 2
            return None  # a phone or an account number written in groups
        return (word, end, 1) if 4 <= len(word) <= 8 else None
    if 6 <= len(word) <= 8 and _alnum_code(word):
        return word, end, 1
    if nxt is not None and len(word) in (3, 4) and after == "-" and _joined(text, words[i], nxt):
        pair = nxt.group()
        if len(pair) == len(word) and _alnum_code(word + pair, loose=True):
            return f"{word}-{pair}", nxt.end(), 2
    return None


def _alnum_code(word: str, *, loose: bool = False) -> bool:
    """Upper-case ASCII letters and digits, with both (`X4T9QZ`; `A7K9QX` when loose)."""
    if not (word.isascii() and word.isalnum() and word.upper() == word):
        return False
    digits = sum(c.isdigit() for c in word)
    return digits >= (1 if loose else 2) and digits < len(word)


def find_codes(text: str) -> list[Code]:
    """Codes in the text, best first, each once, with the sentence it stands in."""
    text = _URL.sub(lambda m: " " * len(m.group()), text[:MAX_TEXT_CHARS])
    words = list(_WORD.finditer(text))
    marks: list[tuple[int, int, bool]] = []  # (start, end, is a keyword)
    candidates: list[tuple[str, int, int]] = []
    i = 0
    while i < len(words):
        word = words[i].group().lower()
        prev = words[i - 1].group().lower() if i else ""
        if word.isdigit():
            pass  # a number is never a keyword
        elif (prev, word) in _PAIRS or _is(word, _YES):
            # "promo code", "zip code": the word before says what kind of code it is
            yes = not (prev and _is(prev, _NO))
            marks.append((words[i].start(), words[i].end(), yes))
        elif _is(word, _NO):
            marks.append((words[i].start(), words[i].end(), False))
        shaped = _shape(text, words, i)
        if shaped is not None:
            candidates.append((shaped[0], words[i].start(), shaped[1]))
            i += shaped[2]
            continue
        i += 1
    return _ranked(text, candidates, marks)


def _ranked(
    text: str, candidates: list[tuple[str, int, int]], marks: list[tuple[int, int, bool]]
) -> list[Code]:
    found: list[_Found] = []
    m = 0  # marks before the candidate: walk them once, in step with the candidates
    for code, start, end in candidates:
        while m < len(marks) and marks[m][1] <= start:
            m += 1
        before = marks[m - 1] if m else None
        after = marks[m] if m < len(marks) and marks[m][0] >= end else None
        score: int | None = None
        if before is not None and before[2] and start - before[1] <= REACH_BEFORE:
            score = start - before[1]
        # a "not a code" word right before it outweighs a keyword after it
        denied = before is not None and not before[2] and start - before[1] <= 20
        if (
            after is not None
            and after[2]
            and not denied
            and after[0] - end <= REACH_AFTER
            and not any(stop in text[end : after[0]] for stop in _SENTENCE_ENDS)
        ):
            late = (after[0] - end) * 2 + 10
            score = late if score is None else min(score, late)
        if score is None:
            continue
        if not code.isdigit():
            score += 40  # letter codes are rarer; a digit code near the same word wins
        elif len(code) == 4 and code[:2] in ("19", "20"):
            score += 80  # looks like a year
        found.append(_Found(code, start, end, score))
    found.sort(key=lambda f: (f.score, f.start))
    seen: set[str] = set()
    best: list[Code] = []
    for f in found:
        if f.code not in seen:
            seen.add(f.code)
            best.append(Code(f.code, context(text, f.start, f.end)))
    return best


def context(text: str, start: int, end: int, reach: int = 80) -> str:
    """The sentence around text[start:end], at most `reach` characters each side."""
    left = max(0, start - reach)
    for stop in ".!?。\n":
        cut = text.rfind(stop, left, start)
        if cut >= 0 and not (stop == "." and cut + 1 < len(text) and text[cut + 1].isdigit()):
            left = max(left, cut + 1)
    right = min(len(text), end + reach)
    for stop in ".!?。\n":
        cut = text.find(stop, end, right)
        if cut >= 0:
            right = min(right, cut + 1)
    return " ".join(text[left:right].split())
