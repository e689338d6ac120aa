"""0009 listing indexes: a page of packages reads its products from an index alone; the oldest pending outbox row is
one lookup.

* ``products_summary`` (package_id, kind, media_type, size_bytes, sha256): what a listing shows of each product, so
  a sensor's page of packages reads its products from a few adjacent index pages (an index-only scan), not from a
  heap page per package (:func:`hydroserve.acoustics.catalog.list_package_summaries`);
* ``outbox_pending_by_created`` (destination, created) of the pending rows only: the age of the oldest pending row of a
  destination (``/metrics``) is one index lookup, whatever the backlog (:func:`hydroserve.odc_sync.outbox.oldest_pending`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING_ROWS = "state = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table("products") as batch_op:
        batch_op.create_index("products_summary", ["package_id", "kind", "media_type", "size_bytes", "sha256"])
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index("outbox_pending_by_created", ["destination", "created"],
                              postgresql_where=sa.text(PENDING_ROWS), sqlite_where=sa.text(PENDING_ROWS))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("outbox_pending_by_created")
    with op.batch_alter_table("products") as batch_op:
        batch_op.drop_index("products_summary")
