"""Alembic's environment for the hub's own database.

Run programmatically by ``hub.state.migrations.upgrade`` (no alembic.ini): it
passes the hub's own connection in ``config.attributes["connection"]``, already
inside the transaction and lock it commits, so several hub processes starting
at once migrate one database once. No URL and no metadata here: each revision
in versions/ states its own tables.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the hub's migrations run on the hub's connection: call "
                       "hub.state.migrations.upgrade(engine), or pass config.attributes['connection']")

context.configure(
    connection=connection,
    target_metadata=None,
    # SQLite's DDL is transactional too: the caller's one transaction covers every revision.
    transactional_ddl=True,
    on_version_apply=config.attributes.get("on_version_apply", ()),
)
with context.begin_transaction():
    context.run_migrations()
