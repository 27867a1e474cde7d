"""What the condition builder knows about a label, as JSON: `GET /admin/crm/builder/catalogue/?label=<id>`.

- `event_types`: every type the label's events may have (core, system, custom), each field with its kind, its
  choices, a human label, the operators an event condition may use on it, and whether it is money.
- `fields`: the user-state fields a condition tree can test (`crm.conditions.field_registry`: profile, activity,
  markers, gamification, custom properties), with their operators; `ops`: every operator in words.
- `levels`, `markers` (those the label's newest players carry, as suggestions) and `segments` (for segment leaves).
- `missions`, `badges` and `bonus_templates`: what a rule's activities may give (crm/admin/builder activities editor).

Staff only: a label the user has no role in answers 404, exactly as a missing one; a user with no label at all 403.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pycountry
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from backoffice.api.exceptions import error_body
from backoffice.models import Label, Perm
from backoffice.scoping import actor_for_request
from crm.catalogue import CORE_TYPES, MONEY_FIELDS, PROFILE_UPDATE, SYSTEM_TYPES
from crm.selectors import event_catalogue

# The operators of an event-condition list (gamification/conditions.py), by the field's kind.
EVENT_OPS = {
    "string": ("eq", "ne", "in", "not_in", "contains"),
    "choice": ("eq", "ne", "in", "not_in"),
    "integer": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"),
    "boolean": ("eq", "ne"),
}
# What the operator menus say; `{n}` stands for the number typed after it.
OP_WORDS = {
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "not_contains": "does not contain", "starts_with": "starts with", "is_set": "is set", "not_set": "is not set",
    "gt": "more than", "gte": "at least", "lt": "less than", "lte": "at most", "between": "between",
    "is_true": "is yes", "is_false": "is no", "before": "before", "after": "after",
    "within_last_days": "within the last … days", "more_than_days_ago": "more than … days ago",
    "birthday_in_days": "birthday in … days", "has": "has marker", "has_not": "does not have marker",
}  # fmt: skip
# Where a kind reads an operator differently.
KIND_OP_WORDS = {"markers": {"is_set": "has any marker", "not_set": "has no marker"}}
BEHAVIOUR_MEASURES = (("count", "Number of"), ("sum", "Total of"), ("min", "Smallest"), ("max", "Largest"))
BEHAVIOUR_OPS = ("gte", "gt", "eq", "ne", "lt", "lte", "between")
BEHAVIOUR_MAX_DAYS = 365
MARKER_SCAN_PLAYERS = 50_000
MARKER_LIMIT = 200
MARKER_CACHE_SECONDS = 300
# Event field names whose words are not just the name with spaces.
FIELD_WORDS = {"game_id": "Game id", "bet_id": "Bet id", "odds": "Odds", "is_live": "Live bet"}


def words(name: str) -> str:
    """A snake_case name in words: casino_bet -> Casino bet."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# Player columns the condition table does not name (it tests them under another key, or not at all).
PLAYER_LABELS = {
    "user_ext_id": "Player id (operator)",
    "dt_update": "Profile changed (operator)",
    "custom": "Custom properties",
    "markers": "Markers",
}


def _user_field_labels() -> dict[str, str]:
    from crm.conditions.fields import FIELDS  # the engine's table: one label per field, shared with the player page

    labels = {key: fdef.label for key, fdef in FIELDS.items()}
    labels["ach_gamification_in_control_group"] = FIELDS["gamification.control_group"].label
    return labels


def player_field_labels() -> dict[str, str]:
    """Human labels of the player's columns ("In gamification control group", not "Ach gamification in control
    group"): the words the condition builder uses for the same fields, so a manager reads one name everywhere."""
    from crm.models import Player

    columns = {f.name for f in Player._meta.get_fields()}
    return {key: label for key, label in {**_user_field_labels(), **PLAYER_LABELS}.items() if key in columns}


def _event_field(type_name: str, name: str, info, profile_labels: dict[str, str]) -> dict[str, Any] | None:
    kind = "choice" if info.kind == "string" and info.choices else info.kind
    if kind not in EVENT_OPS:
        return None  # timestamps, objects and lists: an event condition cannot test them
    label = profile_labels.get(name) if type_name == PROFILE_UPDATE else None
    return {
        "name": name,
        "label": label or FIELD_WORDS.get(name) or words(name),
        "kind": kind,
        "ops": list(EVENT_OPS[kind]),
        "choices": [[choice, words(choice)] for choice in info.choices],
        "money": (type_name, name) in MONEY_FIELDS,
    }


def event_types(*, label_id: int) -> list[dict[str, Any]]:
    """The label's event types with the fields an event condition can test, core types first."""
    catalogue = event_catalogue(label_id=label_id)
    descriptions = dict(
        apps.get_model("crm", "EventType").objects.filter(label_id=label_id).values_list("name", "description")
    )
    profile_labels = _user_field_labels()
    core = [*(n for n in CORE_TYPES if n not in SYSTEM_TYPES), PROFILE_UPDATE]
    ordered = [*core, *sorted(SYSTEM_TYPES), *sorted(catalogue.active)]
    found = []
    for name in ordered:
        fields = catalogue.fields(name) or {}
        described = (_event_field(name, f, info, profile_labels) for f, info in sorted(fields.items()))
        origin = "custom" if name in catalogue.active else "system" if name in SYSTEM_TYPES else "core"
        found.append({
            "name": name,
            "label": words(name),
            "origin": origin,
            "description": descriptions.get(name, ""),
            "fields": [f for f in described if f is not None],
        })  # fmt: skip
    return found


@lru_cache(maxsize=1)
def _code_suggestions() -> dict[str, list[list[str]]]:
    """ISO codes with their names, offered (not imposed) where the profile holds a code."""
    return {
        "user_country": [[c.alpha_2, c.name] for c in pycountry.countries],
        "core_user_language": [
            [lang.alpha_2.upper(), lang.name] for lang in pycountry.languages if hasattr(lang, "alpha_2")
        ],
        "core_wallet_currency": [[c.alpha_3, c.name] for c in pycountry.currencies],
    }


def user_fields(*, label_id: int) -> list[dict[str, Any]]:
    """The user-state fields of a condition tree, in the builder's sections, with their operators; `suggestions`
    (code, name) for texts that hold ISO codes."""
    from crm.conditions import field_registry

    suggestions = _code_suggestions()
    return [
        {
            "key": fdef.key,
            "label": fdef.label,
            "kind": fdef.kind,
            "ops": list(fdef.ops),
            "choices": [[value, label] for value, label in fdef.choices],
            "suggestions": suggestions.get(fdef.key, []),
            "group": fdef.group,
            "help": fdef.help,
        }
        for fdef in field_registry(label_id=label_id).values()
    ]


def label_markers(*, label_id: int) -> list[str]:
    """The markers the label's newest players carry (suggestions: a condition may name any marker)."""
    cache_key = f"crm.builder.markers:{label_id}"
    found = cache.get(cache_key)
    if found is None:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT DISTINCT m FROM (SELECT markers FROM crm_player WHERE label_id = %s
                                             ORDER BY id DESC LIMIT %s) p, unnest(p.markers) m
                    ORDER BY m LIMIT %s""",
                [label_id, MARKER_SCAN_PLAYERS, MARKER_LIMIT],
            )
            found = [row[0] for row in cursor.fetchall()]
        cache.set(cache_key, found, MARKER_CACHE_SECONDS)
    return found


def label_segments(*, label_id: int) -> list[list[Any]]:
    """The label's segments as [id, name] (none while the segments app is not installed)."""
    try:
        segment = apps.get_model("crm", "Segment")
    except LookupError:
        return []
    return [list(row) for row in segment.objects.filter(label_id=label_id).order_by("name").values_list("id", "name")]


def label_choices(*, label_id: int) -> dict[str, list[list[Any]]]:
    """What a rule's activities may name, as [id, name]: the label's missions (not archived), badges and bonus
    templates (active ones; a template's name carries its operator code)."""
    mission = apps.get_model("gamification", "Mission")
    badge = apps.get_model("gamification", "Badge")
    template = apps.get_model("crm", "BonusTemplate")
    missions = mission.objects.filter(label_id=label_id).exclude(status="archived").order_by("name", "id")
    templates = template.objects.filter(label_id=label_id, is_active=True).order_by("name", "id")
    return {
        "missions": [list(row) for row in missions.values_list("id", "name")],
        "badges": [
            list(row)
            for row in badge.objects.filter(label_id=label_id).order_by("name", "id").values_list("id", "name")
        ],
        "bonus_templates": [
            [pk, f"{name} ({code})"] for pk, name, code in templates.values_list("id", "name", "operator_code")
        ],
    }


def builder_catalogue_data(*, label_id: int) -> dict[str, Any]:
    """Everything the builder offers for conditions (and a rule's activities) of this label."""
    label = Label.objects.values("id", "name", "base_currency", "time_zone").get(pk=label_id)
    fields = user_fields(label_id=label_id)
    levels = next((f["choices"] for f in fields if f["key"] == "gamification.level"), [])
    return {
        "label": label,
        "event_types": event_types(label_id=label_id),
        "event_ops": {kind: list(ops) for kind, ops in EVENT_OPS.items()},
        "fields": fields,
        "ops": OP_WORDS,
        "kind_ops": KIND_OP_WORDS,
        "levels": levels,
        "markers": label_markers(label_id=label_id),
        "segments": label_segments(label_id=label_id),
        "behaviour": {
            "measures": [list(m) for m in BEHAVIOUR_MEASURES],
            "ops": list(BEHAVIOUR_OPS),
            "max_days": BEHAVIOUR_MAX_DAYS,
            "previous": [["day", "day"], ["week", "week"], ["month", "month"]],
        },
        **label_choices(label_id=label_id),
    }


@require_GET
def builder_catalogue(request):
    """The catalogue of `?label=<id>` (the only label in view when omitted) for a staff user of that label."""
    actor = actor_for_request(request)
    in_view = actor.labels_with(Perm.VIEW)
    if not in_view:
        return JsonResponse(error_body("forbidden", "You have no role in any label."), status=403)
    raw = request.GET.get("label", "")
    if not raw and len(in_view) == 1:
        raw = str(next(iter(in_view)))
    if not raw.isdigit() or len(raw) > 18:
        message = "Say which label: ?label=<id>."
        return JsonResponse(error_body("invalid", message, {"label": [message]}), status=400)
    if int(raw) not in in_view:
        return JsonResponse(error_body("not_found", "No label with this id."), status=404)
    return JsonResponse(builder_catalogue_data(label_id=int(raw)))
