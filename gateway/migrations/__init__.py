"""Alembic scripts of the gateway's database (users, API keys), applied at start-up."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
