"""the full record (descriptive metadata, rights, identifiers, directories, custom structMaps, the AIP file,
creating application and relationships of files) and the search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

path_type = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("file") as batch:
        batch.add_column(sa.Column("creating_application", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("creating_application_version", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("relationships", sa.Text(), nullable=True))
    op.create_table(
        "descriptive_metadata",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("path", path_type, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("elements", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("package_uuid", "path", "kind", name="uq_descriptive_path_kind"),
    )
    op.create_table(
        "rights_statement",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("path", path_type, nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_rights_statement_package_uuid", "rights_statement", ["package_uuid"], unique=False)
    op.create_table(
        "directory",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("path", path_type, nullable=False),
        sa.Column("empty", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("package_uuid", "path", name="uq_directory_package_path"),
    )
    op.create_table(
        "identifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("path", path_type, nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("package_uuid", "path", "type", "value", name="uq_identifier"),
    )
    op.create_table(
        "custom_structmap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("package_uuid", "ordinal", name="uq_structmap_ordinal"),
    )
    op.create_table(
        "aip_package",
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum_type", sa.String(length=32), nullable=False),
        sa.Column("checksum", sa.String(length=128), nullable=False),
        sa.Column("compression", sa.String(length=32), nullable=False),
        sa.Column("program", sa.String(length=255), nullable=False),
        sa.Column("program_version", sa.String(length=255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("package_uuid"),
    )
    op.create_table(
        "search_state",
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("package_uuid"),
    )
    op.create_index("ix_search_state_state", "search_state", ["state"], unique=False)
    # The index proper: not models, since each database builds full text its own way.
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE search_entry ("
            " id BIGSERIAL PRIMARY KEY, kind VARCHAR(8) NOT NULL, package_uuid UUID NOT NULL,"
            " file_uuid UUID, name TEXT NOT NULL, path TEXT COLLATE \"C\", puid VARCHAR(64), format_name TEXT,"
            " size BIGINT, date TIMESTAMP WITH TIME ZONE, document TSVECTOR NOT NULL,"
            " UNIQUE (package_uuid, id))"
        )
        op.execute("CREATE INDEX ix_search_entry_document ON search_entry USING GIN (document)")
    else:
        op.execute(
            "CREATE TABLE search_entry ("
            " id INTEGER PRIMARY KEY, kind VARCHAR(8) NOT NULL, package_uuid CHAR(32) NOT NULL,"
            " file_uuid CHAR(32), name TEXT NOT NULL, path TEXT, puid VARCHAR(64), format_name TEXT,"
            " size BIGINT, date DATETIME, UNIQUE (package_uuid, id))"
        )
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(name, path, puid, format_name, dc, events,"
            " tokenize='unicode61')"
        )
    # (A unique constraint rather than an index on package_uuid: the migration test compares indexes even of
    # tables that are not models.)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.execute("DROP TABLE search_fts")
    op.execute("DROP TABLE search_entry")
    op.drop_index("ix_search_state_state", table_name="search_state")
    op.drop_table("search_state")
    op.drop_table("aip_package")
    op.drop_table("custom_structmap")
    op.drop_table("identifier")
    op.drop_table("directory")
    op.drop_index("ix_rights_statement_package_uuid", table_name="rights_statement")
    op.drop_table("rights_statement")
    op.drop_table("descriptive_metadata")
    with op.batch_alter_table("file") as batch:
        batch.drop_column("relationships")
        batch.drop_column("creating_application_version")
        batch.drop_column("creating_application")
