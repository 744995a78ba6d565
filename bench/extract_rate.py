#!/usr/bin/env python3
"""Extraction rate: the share of the test mails whose best code and first link are right.

Runs mail/extract over tests/support/extract_corpus.py (sign-up, reset and notification
mails in eight languages and every MIME shape) and prints the rate, then each miss.

    python bench/extract_rate.py               # prints the rate
    python bench/extract_rate.py --write-doc   # ... and updates docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ephemail.mail.extract import extract_message
from lib.docs import BENCHMARKS, today, write_section
from tests.support.extract_corpus import CASES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
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
            misses.append(f"{case.name}: code {code!r} (want {case.code!r}), link {link!r}")
    took = (time.perf_counter() - started) / len(CASES) * 1000
    line = (
        f"extraction rate: {right}/{len(CASES)} = {right / len(CASES):.1%} "
        f"(code right {codes}, first link right {links}; {took:.1f} ms per mail)"
    )
    print(line)
    print("\n".join(f"  {miss}" for miss in misses))
    if args.write_doc:
        write_section(
            BENCHMARKS,
            "extract-rate",
            f"""## Extraction rate

- Date: {today()}
- Command: `python bench/extract_rate.py --write-doc`
- Corpus: the {len(CASES)} mails of `tests/support/extract_corpus.py` (sign-up, reset and
  notification mails; plain, HTML-only, multipart/alternative, quoted-printable, base64,
  8-bit; tracking redirects; English, German, French, Spanish, Portuguese, Russian, Chinese,
  Greek; {sum(c.code is None for c in CASES)} with no code), each with the code and first
  link a test suite wants. A mail counts as right when both the best code (or none) and
  the first link (or none) are the expected ones. The corpus was written together with the
  extractor, so this is a regression figure, not an estimate on unseen mail.

**{right}/{len(CASES)} = {right / len(CASES):.1%}** right (best code right: {codes}, first
link right: {links}); {took:.1f} ms per mail on this machine (parse + extract).
"""
            + ("\nMisses:\n\n" + "\n".join(f"- {m}" for m in misses) + "\n" if misses else ""),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
