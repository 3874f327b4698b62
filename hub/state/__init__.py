"""The hub's own database: the audit trail and enterprises' return-to-work
commitments. ``tables`` is what the code reads and writes today;
``migrations`` creates and upgrades the database to match, with Alembic, at
start-up."""
