"""Pipeline v2: consumer groups on an immutable event log (PgQ's tick/snapshot batches).

Each event row records the top-level transaction id that inserted it (`txid`, xid8, set by the database). A tick stores
`pg_current_snapshot()`; a group's batch in a partition is "committed by tick B and not by tick A". Positions, leases,
failures and per-minute stats live in their own small tables, so the log is never updated after insert.

Cutover: events not yet processed by the old claim (`processed_at IS NULL`) get this migration's transaction id, so the
first tick after it delivers them to every group; processed ones keep a NULL `txid` and are never read again. Then the
claim columns and their indexes go.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

SQL = """
ALTER TABLE crm_event ADD COLUMN txid xid8;
UPDATE crm_event SET txid = pg_current_xact_id() WHERE processed_at IS NULL;
ALTER TABLE crm_event ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX crm_event_log ON crm_event (((player_id % 16)::int2), txid, id) WHERE txid IS NOT NULL;

CREATE SEQUENCE pipeline_tick_id_seq;
CREATE TABLE pipeline_tick (
    id bigint PRIMARY KEY,
    snap pg_snapshot NOT NULL,
    event_seq bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX pipeline_tick_created ON pipeline_tick (created_at);
INSERT INTO pipeline_tick (id, snap, event_seq, created_at)
SELECT nextval('pipeline_tick_id_seq'), pg_current_snapshot(),
       (SELECT last_value FROM crm_event_id_seq), clock_timestamp();

CREATE TABLE pipeline_cursor (
    group_name text NOT NULL,
    part int2 NOT NULL,
    last_tick bigint NOT NULL REFERENCES pipeline_tick (id),
    next_tick bigint REFERENCES pipeline_tick (id),
    after_txid xid8,
    after_id bigint,
    lease_owner text,
    lease_until timestamptz,
    applied bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, part)
) WITH (fillfactor = 50);

-- The groups that exist today start at the migration's tick, so they receive the events the old claim left.
INSERT INTO pipeline_cursor (group_name, part, last_tick)
SELECT g, p, (SELECT max(id) FROM pipeline_tick)
  FROM unnest(ARRAY['crm', 'gamification']) g, generate_series(0, 15) p;

CREATE TABLE pipeline_worker (
    worker_id text PRIMARY KEY,
    group_name text NOT NULL,
    seen_at timestamptz NOT NULL
);

CREATE TABLE pipeline_failure (
    id bigserial PRIMARY KEY,
    group_name text NOT NULL,
    event_id bigint NOT NULL,
    part int2 NOT NULL,
    label_id bigint NOT NULL,
    handler text NOT NULL,
    error text NOT NULL,
    attempts int NOT NULL DEFAULT 1,
    failed_at timestamptz NOT NULL,
    retry_after timestamptz,
    resolved_at timestamptz,
    UNIQUE (group_name, event_id)
);
CREATE INDEX pipeline_failure_due ON pipeline_failure (group_name, part, retry_after) WHERE resolved_at IS NULL;
CREATE INDEX pipeline_failure_open ON pipeline_failure (label_id, group_name, failed_at DESC)
    WHERE resolved_at IS NULL;
CREATE INDEX pipeline_failure_event ON pipeline_failure (event_id);

CREATE TABLE pipeline_stat (
    group_name text NOT NULL,
    label_id bigint NOT NULL,
    minute timestamptz NOT NULL,
    applied bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    latency_ms int[] NOT NULL,
    PRIMARY KEY (group_name, label_id, minute)
);
CREATE INDEX pipeline_stat_minute ON pipeline_stat (minute);
"""

REVERSE = """
DROP TABLE pipeline_stat, pipeline_failure, pipeline_worker, pipeline_cursor, pipeline_tick;
DROP SEQUENCE pipeline_tick_id_seq;
DROP INDEX crm_event_log;
ALTER TABLE crm_event DROP COLUMN txid;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_label_base_currency_active_only"),
        ("crm", "0005_player_control_group"),
    ]

    operations = [
        migrations.RunSQL(SQL, REVERSE),
        migrations.RemoveIndex(model_name="event", name="event_unprocessed"),
        migrations.RemoveIndex(model_name="event", name="event_unprocessed_label"),
        migrations.RemoveIndex(model_name="event", name="event_failed"),
        migrations.RemoveField(model_name="event", name="processed_at"),
        migrations.RemoveField(model_name="event", name="processing_error"),
        migrations.CreateModel(
            name="PipelineTick",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("snap", models.TextField()),
                ("event_seq", models.BigIntegerField()),
                ("created_at", models.DateTimeField()),
            ],
            options={"db_table": "pipeline_tick", "ordering": ["-id"], "managed": False},
        ),
        migrations.CreateModel(
            name="PipelineCursor",
            fields=[
                ("pk", models.CompositePrimaryKey("group_name", "part", blank=True, editable=False, serialize=False)),
                ("group_name", models.TextField()),
                ("part", models.SmallIntegerField()),
                ("after_id", models.BigIntegerField(null=True)),
                ("lease_owner", models.TextField(null=True)),
                ("lease_until", models.DateTimeField(null=True)),
                ("applied", models.BigIntegerField()),
                ("failed", models.BigIntegerField()),
                ("updated_at", models.DateTimeField()),
                (
                    "last_tick",
                    models.ForeignKey(
                        db_column="last_tick", on_delete=models.DO_NOTHING, related_name="+", to="crm.pipelinetick"
                    ),
                ),
                (
                    "next_tick",
                    models.ForeignKey(
                        db_column="next_tick",
                        null=True,
                        on_delete=models.DO_NOTHING,
                        related_name="+",
                        to="crm.pipelinetick",
                    ),
                ),
            ],
            options={"db_table": "pipeline_cursor", "ordering": ["group_name", "part"], "managed": False},
        ),
        migrations.CreateModel(
            name="PipelineFailure",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("group_name", models.TextField()),
                ("part", models.SmallIntegerField()),
                ("handler", models.TextField()),
                ("error", models.TextField()),
                ("attempts", models.IntegerField()),
                ("failed_at", models.DateTimeField()),
                ("retry_after", models.DateTimeField(null=True)),
                ("resolved_at", models.DateTimeField(null=True)),
                (
                    "event",
                    models.ForeignKey(
                        db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", to="crm.event"
                    ),
                ),
                (
                    "label",
                    models.ForeignKey(
                        db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", to="backoffice.label"
                    ),
                ),
            ],
            options={"db_table": "pipeline_failure", "ordering": ["-failed_at"], "managed": False},
        ),
        migrations.CreateModel(
            name="PipelineStat",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "group_name", "label_id", "minute", blank=True, editable=False, serialize=False
                    ),
                ),
                ("group_name", models.TextField()),
                ("minute", models.DateTimeField()),
                ("applied", models.BigIntegerField()),
                ("failed", models.BigIntegerField()),
                ("latency_ms", ArrayField(models.IntegerField())),
                (
                    "label",
                    models.ForeignKey(
                        db_constraint=False, on_delete=models.DO_NOTHING, related_name="+", to="backoffice.label"
                    ),
                ),
            ],
            options={"db_table": "pipeline_stat", "ordering": ["-minute"], "managed": False},
        ),
    ]
