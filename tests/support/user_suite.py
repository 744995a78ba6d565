"""A user's own pytest run for the SDK's plugin: `pytester` in a subprocess, so the plugin
loads from its `pytest11` entry point as it does in a user's suite."""

from __future__ import annotations

import pytest

# This project's test dependencies register pytest plugins of their own (schemathesis and
# hypothesis, for the API fuzzers). A user of the SDK has neither, and loading them cost each
# run 2-3 s of start-up that has nothing to do with ours; every other installed plugin,
# ours included, still loads from its entry point.
UNRELATED_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")


def run_user_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """`pytest args` in pytester's directory, in a fresh interpreter, without a cache."""
    return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", *UNRELATED_PLUGINS)
