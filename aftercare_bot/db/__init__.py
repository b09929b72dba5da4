"""The database: models, engine and sessions, references that leave it (refs.py), migrations applied at start,
and the repositories that hold every query."""
