"""`flask db upgrade` gives exactly the schema of the models, on SQLite and on PostgreSQL."""
import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.conftest import TEST_DATABASE_URL, build_app
from tfa.config import database_url
from tfa.extensions import db


def _schema_diff(url):
    app = build_app(url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    return diff


def test_sqlite_upgrade_matches_models(tmp_path):
    assert _schema_diff(f"sqlite:///{tmp_path / 'migrated.db'}") == []


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL tests need TEST_DATABASE_URL")
def test_postgresql_upgrade_matches_models():
    admin = sa.create_engine(database_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    name = f"tfa_migration_test_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(database_url(TEST_DATABASE_URL)).set(database=name)
        assert _schema_diff(url.render_as_string(hide_password=False)) == []
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
