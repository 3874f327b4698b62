"""The revisions of the hub's own database, one file each, applied in order
(``down_revision`` chains them). A revision is added, never edited: a deployed
database has run the old one. Each spells out its columns and imports only
alembic and sqlalchemy, never hub.state.tables (tests/test_state_schema.py
checks), so editing today's tables cannot change what an old revision does.

To change a table: edit it in hub/state/tables.py and add the next revision
here (copy the last file: ``revision = "0003"``, ``down_revision = "0002"``)
doing the same change with ``op``; on SQLite, alter columns inside
``op.batch_alter_table``. Alembic ignores this file.
"""
