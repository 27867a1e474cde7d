"""Mission progress at one row per player (issue 10, item 5).

The pipeline used to write every (player, mission) run it counted for, and a `TaskContribution` row per event a
windowed task counted. Now a player's open runs keep their progress in one `MissionProgress` document, written once
per micro-batch; a run row is written only when its state changes and keeps its final progress (`stored_progress`,
the same `progress` column). The open runs' progress and their windowed tasks' counted events are copied into the
documents, the contributions table is dropped and replaced by a view of the same name and columns over the
documents, so what read it (reports, the bench) keeps working.
"""

import django.db.models.deletion
from django.db import migrations, models

_COPY = """
INSERT INTO gamification_missionprogress (player_id, label_id, runs, updated_at)
SELECT o.player_id, min(o.label_id),
       jsonb_object_agg(o.mission_id || ':' || o.cycle,
                        jsonb_build_object('r', o.run, 'p', o.progress, 'w', coalesce(w.windows, '{}'::jsonb))),
       now()
FROM (SELECT DISTINCT ON (player_id, mission_id, cycle) id, label_id, player_id, mission_id, cycle, run, progress
      FROM gamification_playermission WHERE state IN ('available', 'in_progress')
      ORDER BY player_id, mission_id, cycle, run DESC) o
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(t.task_id::text, t.items) AS windows
    FROM (SELECT c.task_id, jsonb_agg(jsonb_build_array(extract(epoch FROM c.occurred_at)::float8, c.amount::text,
                                                        c.event_id) ORDER BY c.occurred_at, c.event_id) AS items
          FROM gamification_taskcontribution c WHERE c.player_mission_id = o.id GROUP BY c.task_id) t
) w ON true
GROUP BY o.player_id
"""

_COPY_BACK = """
UPDATE gamification_playermission pm SET progress = d.runs -> (pm.mission_id || ':' || pm.cycle) -> 'p'
FROM gamification_missionprogress d
WHERE d.player_id = pm.player_id AND pm.state IN ('available', 'in_progress')
  AND (d.runs -> (pm.mission_id || ':' || pm.cycle) ->> 'r')::int = pm.run
"""

_VIEW = """
CREATE VIEW gamification_taskcontribution AS
SELECT row_number() OVER (ORDER BY pm.id, t.key, e.ord)::bigint AS id,
       pm.id AS player_mission_id, t.key::bigint AS task_id, (e.item ->> 2)::bigint AS event_id,
       (e.item ->> 1)::numeric(20, 4) AS amount, to_timestamp((e.item ->> 0)::float8) AS occurred_at
FROM gamification_missionprogress d
CROSS JOIN LATERAL jsonb_each(d.runs) r
JOIN gamification_playermission pm
  ON pm.player_id = d.player_id AND pm.mission_id = split_part(r.key, ':', 1)::bigint
 AND pm.cycle = substr(r.key, strpos(r.key, ':') + 1) AND pm.run = (r.value ->> 'r')::int
 AND pm.state IN ('available', 'in_progress')
CROSS JOIN LATERAL jsonb_each(coalesce(r.value -> 'w', '{}'::jsonb)) t
CROSS JOIN LATERAL jsonb_array_elements(t.value) WITH ORDINALITY e(item, ord)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_label_base_currency_active_only"),
        ("crm", "0005_player_control_group"),
        ("gamification", "0009_run_table_lighter"),
    ]

    operations = [
        migrations.CreateModel(
            name="MissionProgress",
            fields=[
                (
                    "player",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="mission_progress",
                        serialize=False,
                        to="crm.player",
                    ),
                ),
                (
                    "runs",
                    models.JSONField(
                        default=dict, help_text="Progress of the player's open runs, by mission and cycle."
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "label",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="backoffice.label"
                    ),
                ),
            ],
            options={"verbose_name_plural": "mission progress"},
            bases=(models.Model,),
        ),
        # A document is rewritten in place: room on each page keeps its new version there (HOT, no index entry).
        migrations.RunSQL(
            "ALTER TABLE gamification_missionprogress SET (fillfactor = 70)",
            "ALTER TABLE gamification_missionprogress RESET (fillfactor)",
        ),
        migrations.RenameField(model_name="playermission", old_name="progress", new_name="stored_progress"),
        migrations.AlterField(
            model_name="playermission",
            name="stored_progress",
            field=models.JSONField(
                db_column="progress",
                default=dict,
                help_text="Task id -> counted value when the run finished (an open run's is in its player's "
                "MissionProgress).",
            ),
        ),
        migrations.RunSQL(_COPY, _COPY_BACK),
        migrations.DeleteModel(name="TaskContribution"),
        migrations.RunSQL(_VIEW, "DROP VIEW gamification_taskcontribution"),
        migrations.CreateModel(
            name="TaskContribution",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "amount",
                    models.DecimalField(
                        decimal_places=4, help_text="1 for a count, the field for a sum.", max_digits=20
                    ),
                ),
                ("occurred_at", models.DateTimeField()),
                (
                    "event",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="crm.event",
                    ),
                ),
                (
                    "player_mission",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="contributions",
                        to="gamification.playermission",
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="gamification.missiontask"
                    ),
                ),
            ],
            options={"managed": False, "db_table": "gamification_taskcontribution"},
        ),
    ]
