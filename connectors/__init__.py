"""One connector per source system; each maps its source's own tables onto the
unified types. The tables are declared in the connector's module so that the
synthetic-city generator and the connector agree on one layout per source."""
