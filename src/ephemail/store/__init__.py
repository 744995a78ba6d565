"""Persistence: schema, engines, repositories and the group-commit writer. No HTTP here."""
