"""Under CI a missing service or tool fails the tests that need it; elsewhere they skip.

A laptop runs what it can; CI (`CI=true`, as `.ci/run` is run) must prove every test, so a
PostgreSQL, Redis, chromium or Postfix that is not there is a failure there, not a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

ON_CI = os.environ.get("CI") == "true"


def unavailable(why: str) -> NoReturn:
    """Skip this test for `why`, or under CI fail it."""
    if ON_CI:
        pytest.fail(why)
    pytest.skip(why)
