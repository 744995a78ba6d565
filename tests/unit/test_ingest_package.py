"""The ingest package stays light enough for the commit process, which loads it first."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from ephemail.store.ingest.rows import Outcome, Rows
from ephemail.store.sqlite_setup import sqlite_database


def test_the_commit_process_module_loads_without_sqlalchemy() -> None:
    """`python -m ephemail.store.ingest.commit_process` imports the whole ingest package;
    SQLAlchemy in it would add about a second to every service start on a busy machine."""
    code = (
        "import sys, ephemail.store.ingest.commit_process; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'asyncpg')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////var/lib/ephemail/ephemail.db",
        "sqlite+aiosqlite:////tmp/with space/x.db",
        "sqlite:///relative.db",
        "sqlite:////a%20b.db",
        "sqlite:///:memory:",
        "sqlite+aiosqlite:///file:x.db?mode=ro&uri=true",
    ],
)
def test_the_sqlite_file_of_a_url_is_the_one_sqlalchemy_opens(url: str) -> None:
    assert sqlite_database(url) == make_url(url).database


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://u:p@127.0.0.1:5432/db", "postgresql://h/sqlite", "sqlite"]
)
def test_other_backends_have_no_sqlite_file(url: str) -> None:
    assert sqlite_database(url) is None


def test_a_sqlite_url_without_a_database_names_none() -> None:
    assert not sqlite_database("sqlite://")
    assert not make_url("sqlite://").database


def test_rows_and_outcomes_cross_the_commit_socket_whole() -> None:
    """They pickle as their fields in order (`__reduce__`, for speed): every field, set to
    something other than its default, comes back; a field added later and not pickled fails
    here rather than vanishing on the way to the commit process."""
    rows = Rows(
        messages=[{"id": "m1", "search_text": "x"}],
        raws=[{"message_id": "m1"}],
        files=[{"name": "a.txt"}],
        lives={7: "life"},
        cap=99,
    )
    outcome = Outcome(stored=["m1"], refused="452 4.2.2 full", outboxed=True)
    for value in (rows, outcome):
        names = [f.name for f in dataclasses.fields(value)]
        assert len(value.__reduce__()[1]) == len(names)
        back = pickle.loads(pickle.dumps(value))
        assert [getattr(back, n) for n in names] == [getattr(value, n) for n in names]
