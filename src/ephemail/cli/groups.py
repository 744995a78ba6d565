"""The command groups of `ephemail`: where each lives and its one-line help.

Kept apart from the groups' modules so that `ephemail --help` can list every group without
importing them (the database stack alone takes about a second to import); each module's
Typer takes its help from here, so the two cannot drift.
"""

from __future__ import annotations

from typing import NamedTuple


class Group(NamedTuple):
    module: str
    attribute: str  # the module's Typer
    help: str


# In the order `ephemail --help` lists them.
GROUPS = {
    "user": Group(
        "ephemail.cli.users", "user_app", "Users (accounts that own mailboxes and API keys)."
    ),
    "key": Group("ephemail.cli.users", "key_app", "API keys: shown once, stored as hashes."),
    "domain": Group("ephemail.cli.inboxes", "domain_app", "Receiving domains."),
    "plan": Group("ephemail.cli.plans", "plan_app", "Plans: quota, mailbox lifetime and limits."),
    "mailbox": Group("ephemail.cli.inboxes", "mailbox_app", "Mailboxes."),
    "client": Group(
        "ephemail.cli.client",
        "client_app",
        "Use a running service's API (EPHEMAIL_BASE_URL, EPHEMAIL_API_KEY).",
    ),
}
