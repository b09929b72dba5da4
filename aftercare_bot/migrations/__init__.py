"""Alembic migrations, applied at start-up; alembic.ini at the repository root for writing new ones."""
