#!/usr/bin/env python3
"""Extraction rate: the share of the test mails whose best code and first link are right.

Runs mail/extract over tests/support/extract_corpus.py (sign-up, reset and notification
mails in eight languages and every MIME shape) and prints the rate, then each miss.

    python bench/extract_rate.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ephemail.mail.extract import extract_message
from tests.support.extract_corpus import CASES


def main() -> int:
    right = codes = links = 0
    misses: list[str] = []
    started = time.perf_counter()
    for case in CASES:
        found = extract_message(case.raw)
        code = found.codes[0].code if found.codes else None
        link = found.links[0].url if found.links else None
        codes += code == case.code
        links += link == case.link
        if code == case.code and link == case.link:
            right += 1
        else:
            misses.append(f"  {case.name}: code {code!r} (want {case.code!r}), link {link!r}")
    took = (time.perf_counter() - started) / len(CASES) * 1000
    print(
        f"extraction rate: {right}/{len(CASES)} = {right / len(CASES):.1%} "
        f"(code right {codes}, first link right {links}; {took:.1f} ms per mail)"
    )
    print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
