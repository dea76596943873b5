"""Database access: models, engine and session factory, migrations."""

from orderflow.db import libpq

# Before any engine connects, wherever it was created (the app, Alembic's env.py, a tool):
# libpq-style URL parameters must reach asyncpg in a form it accepts.
libpq.install()
