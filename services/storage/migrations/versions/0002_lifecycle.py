"""Package lifecycle: uncompressed AIPs, replicas, related packages, fixity; replicators, audits, deletions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("storage_packages") as batch:
        batch.add_column(sa.Column("uncompressed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("replica_of", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("related_package_uuid", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("fixity_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("fixity_ok", sa.Boolean(), nullable=True))
        batch.create_foreign_key("fk_storage_packages_replica_of", "storage_packages", ["replica_of"], ["uuid"])
        batch.create_index("ix_storage_packages_replica_of", ["replica_of"])
        batch.create_index("ix_storage_packages_related_package_uuid", ["related_package_uuid"])
    with op.batch_alter_table("storage_packages") as batch:
        batch.alter_column("uncompressed", server_default=None)
    op.create_table(
        "storage_location_replicators",
        sa.Column("location_uuid", sa.Uuid(), nullable=False),
        sa.Column("replicator_uuid", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["location_uuid"], ["storage_locations.uuid"]),
        sa.ForeignKeyConstraint(["replicator_uuid"], ["storage_locations.uuid"]),
        sa.PrimaryKeyConstraint("location_uuid", "replicator_uuid"),
    )
    op.create_table(
        "storage_audits",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("location_uuid", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("failed_packages", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["location_uuid"], ["storage_locations.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_storage_audits_location_uuid", "storage_audits", ["location_uuid"])
    op.create_table(
        "storage_deletion_requests",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=4000), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=4000), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["storage_packages.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_storage_deletion_requests_package_uuid", "storage_deletion_requests", ["package_uuid"])
    op.create_index("ix_storage_deletion_requests_status", "storage_deletion_requests", ["status"])


def downgrade() -> None:
    op.drop_table("storage_deletion_requests")
    op.drop_table("storage_audits")
    op.drop_table("storage_location_replicators")
    with op.batch_alter_table("storage_packages") as batch:
        batch.drop_index("ix_storage_packages_related_package_uuid")
        batch.drop_index("ix_storage_packages_replica_of")
        batch.drop_constraint("fk_storage_packages_replica_of", type_="foreignkey")
        for column in ("fixity_ok", "fixity_checked_at", "related_package_uuid", "replica_of", "uncompressed"):
            batch.drop_column(column)
