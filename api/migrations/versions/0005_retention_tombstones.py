"""0005 retention: products deleted by the retention rules, and tombstones of their resources.

* ``expired_products``: when and why a product was deleted, and when its blobs went (:mod:`hydroserve.acoustics.retention`);
* ``resources.deleted_at`` and ``deletion_reason``: the resource is a tombstone (OAI-PMH ``status="deleted"``, the
  since-feed, the ODC);
* ``packages_by_created``: retention reads the packages archived longest ago first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expired_products",
        sa.Column("package_id", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=False,
                  comment="when it was marked deleted (served as 410 since)"),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True,
                  comment="when its blobs were deleted; NULL: still to do"),
        sa.ForeignKeyConstraint(["package_id"], ["packages.package_id"]),
        sa.PrimaryKeyConstraint("package_id", "kind"),
    )
    with op.batch_alter_table("expired_products") as batch_op:
        batch_op.create_index("expired_products_to_purge", ["purged_at"])
    with op.batch_alter_table("resources") as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True,
                                      comment="set when the bytes were deleted: a tombstone"))
        batch_op.add_column(sa.Column("deletion_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("packages") as batch_op:
        batch_op.create_index("packages_by_created", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("packages") as batch_op:
        batch_op.drop_index("packages_by_created")
    with op.batch_alter_table("resources") as batch_op:
        batch_op.drop_column("deletion_reason")
        batch_op.drop_column("deleted_at")
    op.drop_table("expired_products")
