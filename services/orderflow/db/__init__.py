"""Database access: models, engine and session factory, migrations."""
