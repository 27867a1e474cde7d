"""The one condition builder of the admin: segments, rule conditions, mission tasks and tournament scoring.

- `catalogue`: the JSON view the builder reads (the label's event types with their fields, the user-state fields of
  `crm.conditions.field_registry` with their operators in words, levels, markers and segments).
- `widgets`: `EventConditionsWidget` (an event-condition list, gamification/conditions.py) and `ConditionTreeWidget`
  (a condition tree, docs/conditions.md), and the form fields that place server errors next to the right row;
  `ActivitiesWidget`, a rule's activities row by row (static/crm/builder/activities.js).
- `durations`: durations typed and shown in words ("7 days", "2 hours").

The browser side is static/crm/builder/builder.js (vanilla, no build step). See docs/builder.md.
"""

from crm.admin.builder.durations import DurationWordsField, DurationWordsWidget, duration_parse, duration_words
from crm.admin.builder.widgets import (
    ActivitiesField,
    ActivitiesWidget,
    ConditionTreeField,
    ConditionTreeWidget,
    EventConditionsField,
    EventConditionsWidget,
    builder_label,
    errors_by_row,
)
from crm.admin.builder.words import conditions_words, events_words, name_words, type_words

__all__ = [
    "ActivitiesField",
    "ActivitiesWidget",
    "ConditionTreeField",
    "ConditionTreeWidget",
    "DurationWordsField",
    "DurationWordsWidget",
    "EventConditionsField",
    "EventConditionsWidget",
    "builder_label",
    "conditions_words",
    "duration_parse",
    "duration_words",
    "errors_by_row",
    "events_words",
    "name_words",
    "type_words",
]
