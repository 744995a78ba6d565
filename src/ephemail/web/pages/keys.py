"""Placeholder: filled in by the next commit."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
