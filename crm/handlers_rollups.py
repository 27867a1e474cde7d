"""The behavioural roll-ups handler of the `crm` group, and the counting it shares with the backfill.

For each batch: the roll-up specs of the batch's labels (one query, never cached: a spec created a moment ago must be
seen by the next page, which is what makes the backfill boundary exact, docs/rollups.md), then each event of a
spec's type that matches its conditions adds to (spec, player, day in the spec's time zone), and every roll-up the
batch touched is upserted in ONE statement. The pipeline runs the handler in the group's transaction, with the
group's position: each event is added once.

Money is seen as missions see it (gamification/handlers/missions.py): a money field of a core type
(crm.catalogue.MONEY_FIELDS) is converted into the spec's base currency at the rate of the event's day
(backoffice.fx), from the event's own `currency` field, else the player's wallet currency (the base currency while it
is unknown); a field with no rate is left out, so no condition on it is met and it is not summed: the event does not
count for a spec measuring it. A custom type's event that names its `currency` has its measured field converted
the same way.
"""

from __future__ import annotations

import itertools
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from backoffice.fx import RateBook, rate_book
from crm.catalogue import CORE_TYPES, MONEY_FIELDS
from crm.models import Player
from crm.pipeline import EventRow, handler
from gamification.conditions import Predicate, conditions_compile

MONEY_BY_TYPE: dict[str, frozenset[str]] = {
    type_name: frozenset(name for t, name in MONEY_FIELDS if t == type_name) for type_name, _ in MONEY_FIELDS
}

_UPSERT = """
INSERT INTO crm_rollup AS r (spec_id, player_id, day, count, sum, min, max)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::int[], %s::numeric[], %s::numeric[], %s::numeric[])
ON CONFLICT (spec_id, player_id, day) DO UPDATE SET
    count = r.count + EXCLUDED.count,
    sum = r.sum + EXCLUDED.sum,
    min = LEAST(r.min, EXCLUDED.min),
    max = GREATEST(r.max, EXCLUDED.max)
"""
# The running totals (crm_rollupseries) of the (spec, player) pairs a batch touched: the batch's own days with its
# running totals (a new row as is), else merged into the stored row: every day of either, each with the stored total
# up to it plus the batch's total up to it (`width_bucket`: the number of days of a series on or before a day, by
# binary search; index 0 reads NULL, i.e. 0). Running totals add up, so the merge is exact for days in any order
# (a late event for an old day included), and the ON CONFLICT's row lock makes concurrent writers (the live handler
# and a backfill) add up like the daily upsert's `count = r.count + EXCLUDED.count`. The usual batches take a short
# cut with the same result: one day after the row's last (append its total), or the row's last day again (add to it).
_SERIES_UPSERT = """
INSERT INTO crm_rollupseries AS t (spec_id, player_id, days, counts, sums)
SELECT k.spec_id, k.player_id, k.days::date[], k.counts::bigint[], k.sums::numeric[]
  FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[])
       AS k(spec_id, player_id, days, counts, sums)
ON CONFLICT (spec_id, player_id) DO UPDATE SET
    days = CASE
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] > t.days[cardinality(t.days)]
            THEN t.days || EXCLUDED.days[1]
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] = t.days[cardinality(t.days)] THEN t.days
        ELSE (SELECT array_agg(u ORDER BY u) FROM (SELECT unnest(t.days) UNION SELECT unnest(EXCLUDED.days)) AS d(u))
    END,
    counts = CASE
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] > t.days[cardinality(t.days)]
            THEN t.counts || (t.counts[cardinality(t.counts)] + EXCLUDED.counts[1])
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] = t.days[cardinality(t.days)]
            THEN t.counts[1:cardinality(t.counts) - 1] || (t.counts[cardinality(t.counts)] + EXCLUDED.counts[1])
        ELSE (SELECT array_agg(coalesce(t.counts[width_bucket(u, t.days)], 0)
                               + coalesce(EXCLUDED.counts[width_bucket(u, EXCLUDED.days)], 0) ORDER BY u)
                FROM (SELECT unnest(t.days) UNION SELECT unnest(EXCLUDED.days)) AS d(u))
    END,
    sums = CASE
        WHEN t.sums IS NULL AND EXCLUDED.sums IS NULL THEN NULL
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] > t.days[cardinality(t.days)]
            THEN t.sums || (t.sums[cardinality(t.sums)] + EXCLUDED.sums[1])
        WHEN cardinality(EXCLUDED.days) = 1 AND EXCLUDED.days[1] = t.days[cardinality(t.days)]
            THEN t.sums[1:cardinality(t.sums) - 1] || (t.sums[cardinality(t.sums)] + EXCLUDED.sums[1])
        ELSE (SELECT array_agg(coalesce(t.sums[width_bucket(u, t.days)], 0)
                               + coalesce(EXCLUDED.sums[width_bucket(u, EXCLUDED.days)], 0) ORDER BY u)
                FROM (SELECT unnest(t.days) UNION SELECT unnest(EXCLUDED.days)) AS d(u))
    END
"""
# The running totals rebuilt from the daily rows (a pure function of them): the migration's backfill of existing
# roll-ups, and a repair. `{where}` narrows the daily rows (e.g. to some specs).
SERIES_REBUILD = """
INSERT INTO crm_rollupseries (spec_id, player_id, days, counts, sums)
SELECT r.spec_id, r.player_id, array_agg(r.day ORDER BY r.day), array_agg(r.c ORDER BY r.day),
       CASE WHEN bool_and(r.counted) THEN NULL ELSE array_agg(r.s ORDER BY r.day) END
  FROM (SELECT r.spec_id, r.player_id, r.day, s.field = '' AS counted,
               sum(r.count) OVER w AS c, sum(r.sum) OVER w AS s
          FROM crm_rollup r JOIN crm_rollupspec s ON s.id = r.spec_id
         WHERE {where}
        WINDOW w AS (PARTITION BY r.spec_id, r.player_id ORDER BY r.day)) r
 GROUP BY r.spec_id, r.player_id
"""
_SPECS = """
SELECT id, label_id, event_type, "where", field, time_zone, base_currency FROM crm_rollupspec
 WHERE label_id = ANY(%s) AND event_type = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class SpecRow:
    """What counting needs of a spec (immutable once created)."""

    id: int
    label_id: int
    event_type: str
    where: list
    field: str
    time_zone: str
    base_currency: str


_predicates: dict[int, Predicate] = {}  # spec id -> compiled `where` (a spec's conditions never change)


def _predicate(spec: SpecRow) -> Predicate:
    found = _predicates.get(spec.id)
    if found is None:
        found = _predicates[spec.id] = conditions_compile(spec.where)
    return found


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value))


class _Totals:
    __slots__ = ("count", "max", "min", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = Decimal(0)
        self.min: Decimal | None = None
        self.max: Decimal | None = None

    def add(self, value: Decimal | None) -> None:
        self.count += 1
        if value is not None:
            self.sum += value
            self.min = value if self.min is None or value < self.min else self.min
            self.max = value if self.max is None or value > self.max else self.max


class RollupCounter:
    """Adds events to the roll-ups of `specs`, in memory; `save()` upserts them in one statement."""

    def __init__(self, specs: Iterable[SpecRow]) -> None:
        self.by_label_type: dict[tuple[int, str], list[SpecRow]] = {}
        self.fields: dict[int, str] = {}  # spec id -> its measured field ("" to only count: no running sums)
        for spec in specs:
            self.fields[spec.id] = spec.field
            self.by_label_type.setdefault((spec.label_id, spec.event_type), []).append(spec)
        self.totals: dict[tuple[int, int, Any], _Totals] = {}
        self.events = 0  # events that counted for at least one spec
        self._zones: dict[str, zoneinfo.ZoneInfo] = {}
        self._books: dict[int, RateBook] = {}
        self._wallets: dict[int, str] = {}

    def add(self, events: Sequence[EventRow]) -> None:
        relevant = [e for e in events if (e.label_id, e.type) in self.by_label_type]
        if not relevant:
            return
        self._wallets_load(relevant)
        for event in relevant:
            counted = False
            for spec in self.by_label_type[(event.label_id, event.type)]:
                counted |= self._add_one(spec, event)
            self.events += counted

    def _add_one(self, spec: SpecRow, event: EventRow) -> bool:
        payload, converted = self.seen(spec, event)
        if not _predicate(spec)(payload):
            return False
        value: Decimal | None = None
        if spec.field:
            if spec.field in converted:  # a money field of a core type, in the base currency
                value = converted[spec.field]
            elif spec.field in MONEY_BY_TYPE.get(event.type, ()):
                return False  # money with no rate: it does not count
            else:
                value = _number(payload.get(spec.field))
                own = event.payload.get("currency")
                if value is not None and event.type not in CORE_TYPES and isinstance(own, str) and own:
                    value = self._to_base(spec, value, own.upper(), event)  # a custom type naming its currency
            if value is None:
                return False
        zone = self._zones.get(spec.time_zone)
        if zone is None:
            zone = self._zones[spec.time_zone] = zoneinfo.ZoneInfo(spec.time_zone)
        key = (spec.id, event.player_id, event.occurred_at.astimezone(zone).date())
        totals = self.totals.get(key)
        if totals is None:
            totals = self.totals[key] = _Totals()
        totals.add(value)
        return True

    def seen(self, spec: SpecRow, event: EventRow) -> tuple[dict[str, Any], dict[str, Decimal]]:
        """The payload as the spec's conditions see it (money fields in its base currency, those with no rate left
        out), and the converted money fields."""
        fields = MONEY_BY_TYPE.get(event.type)
        if not fields or not fields.intersection(event.payload):
            return event.payload, {}
        currency = self._currency(spec, event)
        payload, converted = dict(event.payload), {}
        for name in fields.intersection(event.payload):
            value = _number(payload.pop(name))
            if value is None:
                continue
            amount = value if currency == spec.base_currency else self._to_base(spec, value, currency, event)
            if amount is not None:
                payload[name], converted[name] = float(amount), amount
        return payload, converted

    def _currency(self, spec: SpecRow, event: EventRow) -> str:
        own = event.payload.get("currency")
        if isinstance(own, str) and own:
            return own.upper()
        return self._wallets.get(event.player_id) or spec.base_currency

    def _to_base(self, spec: SpecRow, value: Decimal, currency: str, event: EventRow) -> Decimal | None:
        if currency == spec.base_currency:
            return value
        book = self._books.get(spec.label_id)
        if book is None:
            book = self._books[spec.label_id] = rate_book(label_id=spec.label_id)
        if book.base != spec.base_currency:
            return None  # the label changed its base currency: this spec's rates are gone (a new spec takes over)
        return book.to_base(value, currency, event.occurred_at)

    def _wallets_load(self, events: Sequence[EventRow]) -> None:
        """The wallet currencies of the players whose money is converted, in one query."""
        wanted = {
            e.player_id
            for e in events
            if e.player_id not in self._wallets and MONEY_BY_TYPE.get(e.type) and not e.payload.get("currency")
        }
        if wanted:
            rows = Player.objects.filter(pk__in=wanted).values_list("pk", "core_wallet_currency")
            self._wallets.update({pk: currency or "" for pk, currency in rows})

    def save(self) -> int:
        """Upsert the roll-ups touched, in one statement (in key order: one lock order for every writer), then their
        players' running totals, in another. Returns the daily rows written."""
        if not self.totals:
            return 0
        keys = sorted(self.totals)
        rows = [(*key, t.count, t.sum, t.min, t.max) for key in keys for t in (self.totals[key],)]
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT, [list(column) for column in zip(*rows, strict=True)])
            cursor.execute(_SERIES_UPSERT, self._series(keys))
        self.totals = {}
        return len(rows)

    def _series(self, keys: list[tuple[int, int, Any]]) -> list[list]:
        """The batch's running totals per (spec, player), as array literals (keys sorted: days ascend per pair)."""
        spec_ids, player_ids, days, counts, sums = [], [], [], [], []
        for (spec_id, player_id), group in itertools.groupby(keys, key=lambda k: (k[0], k[1])):
            count, total, d, c, s = 0, Decimal(0), [], [], []
            for key in group:
                totals = self.totals[key]
                count, total = count + totals.count, total + totals.sum
                d.append(key[2].isoformat())
                c.append(str(count))
                s.append(str(total))
            spec_ids.append(spec_id)
            player_ids.append(player_id)
            days.append("{" + ",".join(d) + "}")
            counts.append("{" + ",".join(c) + "}")
            sums.append("{" + ",".join(s) + "}" if self.fields.get(spec_id) else None)
        return [spec_ids, player_ids, days, counts, sums]


def specs_for(*, label_ids: Iterable[int], event_types: Iterable[str]) -> list[SpecRow]:
    """The roll-up specs of these labels counting these event types (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(_SPECS, [sorted(set(label_ids)), sorted(set(event_types))])
        return [SpecRow(r[0], r[1], r[2], _json(r[3]), r[4], r[5], r[6]) for r in cursor.fetchall()]


def _json(value: Any) -> Any:
    import orjson

    return orjson.loads(value) if isinstance(value, str | bytes) else value


@handler("rollups", group="crm", order=30)
def update_rollups(events: list[EventRow]) -> None:
    """Add the batch's events to the behavioural roll-ups of their labels' specs, in one upsert."""
    if not events:
        return
    specs = specs_for(label_ids={e.label_id for e in events}, event_types={e.type for e in events})
    if not specs:
        return
    counter = RollupCounter(specs)
    counter.add(events)
    counter.save()
