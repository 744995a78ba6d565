"""Column shapes the migrations repeat, so each table reads as its own columns only.

Migrations are history: these helpers must keep producing exactly the DDL the migrations
were written with. Change a shape by adding a helper, never by editing one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger there would not.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# On SQLite a batch rebuilds the table: it must keep the AUTOINCREMENT that 0002 gave it.
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}


def serial_id() -> sa.Column[int]:
    """The `id` of a table whose primary key is declared apart (0001's style)."""
    return sa.Column("id", Id, autoincrement=True, nullable=False)


def ref(name: str, *, nullable: bool = False) -> sa.Column[int]:
    """A column holding another table's id; its foreign key is declared apart."""
    return sa.Column(name, Id, nullable=nullable)


def bigint(name: str, *, nullable: bool = False) -> sa.Column[int]:
    """A 64-bit integer: a count, or a time in UTC epoch seconds or milliseconds."""
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def string(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    """A bounded text column: a name, an address, a hash or a token."""
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def cascade(column: str, table: str) -> sa.ForeignKeyConstraint:
    """`column` names a row of `table`, and goes when that row goes."""
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], ondelete="CASCADE")


def owned_by(column: str, table: str, *, nullable: bool = False) -> sa.Column[int]:
    """A reference declared inline, with its cascading foreign key (0006's style)."""
    return sa.Column(
        column, Id, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable
    )


def add_column(table: str, column: sa.Column[Any]) -> None:
    """Add `column` to `table`; on SQLite the batch rebuilds the table, AUTOINCREMENT kept."""
    with op.batch_alter_table(table, table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.add_column(column)


def drop_column(table: str, name: str) -> None:
    """Drop column `name` of `table`, rebuilding it on SQLite as `add_column` does."""
    with op.batch_alter_table(table, table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.drop_column(name)
