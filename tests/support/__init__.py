"""What the tests share, so no test module imports another.

- `service`: start a real service on free ports and drive it (`Running`, `start_service`);
- `smtp`: a raw SMTP client and the checks the SMTP tests make through the API;
- `databases`: a fresh PostgreSQL database per test, Redis, and skipping when one is missing;
- `cli`: the installed `ephemail` script (and `ephemail serve`), run in a subprocess;
- `bench`: the bench harnesses under `bench/`, run in a subprocess;
- `user_suite`: a user's own pytest run, for the SDK's pytest plugin;
- `plans`: a plan for a test in one line;
- `contract`: the API contract's example bodies and the shape checks against them;
- `samples`: sample mail, the hand-written fixtures, and the API fuzzers' seeded data;
- `hostile_mime`, `smtp_hostile`: the hostile corpora, shared with `bench/fuzz.py`.
"""

from tests.support.ports import free_port
from tests.support.samples import FIXTURES, fixture_bytes
from tests.support.service import (
    RawMailWriter,
    Running,
    make_raw_writer,
    make_settings,
    serving,
    start_service,
)

__all__ = [
    "FIXTURES",
    "RawMailWriter",
    "Running",
    "fixture_bytes",
    "free_port",
    "make_raw_writer",
    "make_settings",
    "serving",
    "start_service",
]
