"""0001 baseline: the catalog as the release before migrations made it (``create_all`` of its five MetaData).

A catalog of that release has these tables and no ``alembic_version``: ``hydroserve db upgrade`` stamps it with this
revision instead of running it (:func:`hydroserve.api.schema.upgrade`).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('damaged_blobs',
        sa.Column('blob_key', sa.String(length=255), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=False, comment='the package id or event-table id the blob belongs to'),
        sa.Column('detail', sa.String(length=500), nullable=False, comment='what did not match: which chunk, or the size'),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('repaired_at', sa.DateTime(timezone=True), nullable=True, comment='NULL while the blob is damaged'),
        sa.PrimaryKeyConstraint('blob_key')
    )
    with op.batch_alter_table('damaged_blobs') as batch_op:
        batch_op.create_index('damaged_blobs_by_owner', ['owner'])

    op.create_table('sensors',
        sa.Column('sensor_id', sa.String(length=64), nullable=False),
        sa.Column('dom_id', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('next_boundary_tick', sa.BigInteger(), nullable=True, comment='windows before this are final (resume cursor)'),
        sa.PrimaryKeyConstraint('sensor_id')
    )
    op.create_table('packages',
        sa.Column('package_id', sa.String(length=96), nullable=False),
        sa.Column('sensor_id', sa.String(length=64), nullable=False),
        sa.Column('boundary_tick', sa.BigInteger(), nullable=False),
        sa.Column('start_tick', sa.BigInteger(), nullable=False),
        sa.Column('end_tick', sa.BigInteger(), nullable=False),
        sa.Column('n_samples', sa.BigInteger(), nullable=False),
        sa.Column('n_expected', sa.BigInteger(), nullable=False),
        sa.Column('runs', sa.JSON(), nullable=False, comment='[[start_tick, first_sample, n_samples], ...]'),
        sa.Column('window_size', sa.Integer(), nullable=False),
        sa.Column('samples_key', sa.String(length=255), nullable=False),
        sa.Column('sources', sa.JSON(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('software_version', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sensor_id'], ['sensors.sensor_id'], ),
        sa.PrimaryKeyConstraint('package_id')
    )
    with op.batch_alter_table('packages') as batch_op:
        batch_op.create_index('packages_by_sensor_time', ['sensor_id', 'boundary_tick'])
        batch_op.create_index('packages_by_time', ['boundary_tick'])

    op.create_table('skipped_windows',
        sa.Column('sensor_id', sa.String(length=64), nullable=False),
        sa.Column('boundary_tick', sa.BigInteger(), nullable=False),
        sa.Column('n_samples', sa.BigInteger(), nullable=False),
        sa.Column('n_expected', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sensor_id'], ['sensors.sensor_id'], ),
        sa.PrimaryKeyConstraint('sensor_id', 'boundary_tick')
    )
    op.create_table('products',
        sa.Column('package_id', sa.String(length=96), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('media_type', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('blob_key', sa.String(length=255), nullable=True, comment='NULL for views on the samples blob'),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['package_id'], ['packages.package_id'], ),
        sa.PrimaryKeyConstraint('package_id', 'kind')
    )
    op.create_table('collections',
        sa.Column('kid', sa.String(length=96), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('publisher', sa.String(length=200), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kid')
    )
    op.create_table('registry_clock',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_table('streams',
        sa.Column('kid', sa.String(length=128), nullable=False),
        sa.Column('collection_kid', sa.String(length=96), nullable=False),
        sa.Column('ktype', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['collection_kid'], ['collections.kid'], ),
        sa.PrimaryKeyConstraint('kid')
    )
    op.create_table('resources',
        sa.Column('kid', sa.String(length=200), nullable=False),
        sa.Column('stream_kid', sa.String(length=128), nullable=False),
        sa.Column('ktype', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('creator', sa.String(length=200), nullable=False),
        sa.Column('publisher', sa.String(length=200), nullable=False),
        sa.Column('license', sa.String(length=100), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('access_url', sa.String(length=1000), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('coverage_start', sa.DateTime(timezone=True), nullable=True),
        sa.Column('coverage_end', sa.DateTime(timezone=True), nullable=True),
        sa.Column('subject_id', sa.String(length=200), nullable=True, comment='package id, table id, alert id ...'),
        sa.Column('info_url', sa.String(length=1000), nullable=True),
        sa.Column('provenance', sa.JSON(), nullable=False),
        sa.Column('software_version', sa.String(length=32), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False, comment='type-specific metadata'),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['stream_kid'], ['streams.kid'], ),
        sa.PrimaryKeyConstraint('kid')
    )
    with op.batch_alter_table('resources') as batch_op:
        batch_op.create_index('resources_by_stream', ['stream_kid', 'modified', 'kid'])
        batch_op.create_index('resources_by_subject', ['subject_id'])
        batch_op.create_index('resources_feed', ['modified', 'kid'])

    op.create_table('outbox',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('destination', sa.String(length=200), nullable=False),
        sa.Column('resource_kid', sa.String(length=200), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False, comment='pending | delivered | failed'),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_status', sa.String(length=200), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['resource_kid'], ['resources.kid'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('destination', 'resource_kid', name='outbox_once')
    )
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.create_index('outbox_due', ['destination', 'state', 'next_attempt_at'])

    op.create_table('alerts',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.String(length=80), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('alert_type', sa.String(length=16), nullable=False, comment='initial | update | retraction'),
        sa.Column('role', sa.String(length=16), nullable=False, comment='observation | test'),
        sa.Column('ivorn', sa.String(length=300), nullable=False),
        sa.Column('instrument', sa.String(length=32), nullable=False),
        sa.Column('trigger_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued', sa.DateTime(timezone=True), nullable=False, comment='Who/Date'),
        sa.Column('received', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ra_deg', sa.Float(), nullable=False),
        sa.Column('dec_deg', sa.Float(), nullable=False),
        sa.Column('x', sa.Float(), nullable=False, comment='unit vector of (ra, dec), for cone searches'),
        sa.Column('y', sa.Float(), nullable=False),
        sa.Column('z', sa.Float(), nullable=False),
        sa.Column('error_radius_50_deg', sa.Float(), nullable=False),
        sa.Column('error_radius_90_deg', sa.Float(), nullable=False),
        sa.Column('cites_alert_id', sa.String(length=80), nullable=True),
        sa.Column('cites_ivorn', sa.String(length=300), nullable=True),
        sa.Column('content_sha256', sa.String(length=64), nullable=False, comment='of the posted content without record_number'),
        sa.Column('alert', sa.JSON(), nullable=False, comment='the accepted alert fields'),
        sa.Column('packet', sa.LargeBinary(), nullable=False),
        sa.Column('packet_sha256', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('alert_id'),
        sa.UniqueConstraint('event_id', 'revision', name='alerts_revision_once'),
        sa.UniqueConstraint('ivorn')
    )
    with op.batch_alter_table('alerts') as batch_op:
        batch_op.create_index('alerts_by_dec', ['dec_deg'])
        batch_op.create_index('alerts_by_time', ['trigger_time'])

    op.create_table('event_tables',
        sa.Column('table_id', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('n_rows', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False,
                  comment='SHA-256 of the canonical metadata file, a NUL byte and the CSV'),
        sa.Column('document', sa.JSON(), nullable=False, comment='canonical metadata document'),
        sa.Column('products', sa.JSON(), nullable=False, comment='format -> {key, size_bytes, sha256}'),
        sa.Column('cone_search', sa.JSON(), nullable=True, comment="the cone search's test query; null without sky positions"),
        sa.Column('resources', sa.JSON(), nullable=False, comment='kids of the registered resources'),
        sa.Column('software_version', sa.String(length=32), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('table_id')
    )
    op.create_table('catalog_identity',
        sa.Column('row', sa.Integer(), nullable=False),
        sa.Column('catalog_id', sa.String(length=36), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint('row')
    )


def downgrade() -> None:
    for table in ("catalog_identity", "event_tables", "alerts", "outbox", "resources", "streams", "registry_clock",
                  "collections", "products", "skipped_windows", "packages", "sensors", "damaged_blobs"):
        op.drop_table(table)  # its indexes go with it
