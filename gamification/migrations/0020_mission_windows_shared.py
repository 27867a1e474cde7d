"""Windowed tasks share their windows (issue 10, item 5).

Each windowed task of each run kept its own copy of the events within its window (`w` in the run's entry), so five
missions on "bet 15 times in 30 minutes" held, added to and wrote five copies of the same events. The events are now
kept once per player, task kind, span and cycle (`MissionProgress.windows`, keyed by `window_key`), and a run keeps
only the ids of the events in that window it does not count (`k` in its entry). Entries written before keep their
`w` until their run's next batch moves it into the shared window; the `TaskContribution` view reads both.
"""

import importlib

from django.db import migrations, models

_ITEM = """pm.id AS player_mission_id, t.key::bigint AS task_id, (e.item ->> 2)::bigint AS event_id,
         (e.item ->> 1)::numeric(20, 4) AS amount, to_timestamp((e.item ->> 0)::float8) AS occurred_at"""
_RUN = """FROM gamification_missionprogress d
  CROSS JOIN LATERAL jsonb_each(d.runs) r
  JOIN gamification_playermission pm
    ON pm.player_id = d.player_id AND pm.mission_id = split_part(r.key, ':', 1)::bigint
   AND pm.cycle = substr(r.key, strpos(r.key, ':') + 1) AND pm.run = (r.value ->> 'r')::int
   AND pm.state IN ('available', 'in_progress')"""

_VIEW = f"""
DROP VIEW gamification_taskcontribution;
CREATE VIEW gamification_taskcontribution AS
SELECT row_number() OVER (ORDER BY c.player_mission_id, c.task_id, c.occurred_at, c.event_id)::bigint AS id,
       c.player_mission_id, c.task_id, c.event_id, c.amount, c.occurred_at
FROM (
  SELECT {_ITEM}
  {_RUN}
  CROSS JOIN LATERAL jsonb_each(coalesce(r.value -> 'k', '{{}}'::jsonb)) t
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(d.windows -> (t.value ->> 0), '[]'::jsonb)) e(item)
  WHERE NOT coalesce(t.value -> 1, '[]'::jsonb) @> jsonb_build_array(e.item -> 2)
  UNION ALL
  SELECT {_ITEM}
  {_RUN}
  CROSS JOIN LATERAL jsonb_each(coalesce(r.value -> 'w', '{{}}'::jsonb)) t
  CROSS JOIN LATERAL jsonb_array_elements(t.value) e(item)
) c
"""


def _old_view() -> str:
    before = importlib.import_module("gamification.migrations.0010_mission_progress_per_player")
    return "DROP VIEW gamification_taskcontribution;" + before._VIEW


class Migration(migrations.Migration):
    dependencies = [
        ("gamification", "0019_mission_runs_without_rows"),
    ]

    operations = [
        migrations.AddField(
            model_name="missionprogress",
            name="windows",
            field=models.JSONField(
                default=dict,
                help_text="The events windowed tasks count, by task kind, span and cycle (`window_key`).",
            ),
        ),
        migrations.AlterField(
            model_name="missionprogress",
            name="born",
            field=models.JSONField(
                default=dict, help_text="When each counter or window was first written (epoch seconds), by its key."
            ),
        ),
        migrations.RunSQL(_VIEW, _old_view()),
    ]
