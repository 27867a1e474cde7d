"""The condition tree compiled to one SQL boolean over `p` (crm_player), `a` (crm_playeraggregate), `w`
(gamification_wallet) and `b` (backoffice_brand), and to the full SELECT of the players it matches.

Values are always parameters, never spliced in. Every leaf's SQL is TRUE or FALSE, never NULL, so `not` means what it
says; the ops that hold on an unset value are written as `NOT (<positive op>)`. Texts compare through `lower()`;
dates against instants computed once in crm/conditions/ops.py, which the Python evaluator uses as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from crm.conditions.evaluate import label_settings
from crm.conditions.fields import COLUMNS, FIELDS, NEGATIONS, custom_name
from crm.conditions.ops import birthday_target, capitals, date_span, number
from crm.conditions.tree import LEAF_KINDS, leaf_kind_of, root

JOINS = {
    "a": "LEFT JOIN crm_playeraggregate a ON a.player_id = p.id",
    "w": "LEFT JOIN gamification_wallet w ON w.player_id = p.id",
    "b": "JOIN backoffice_brand b ON b.id = p.brand_id",
}
CMP = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
Sql = tuple[str, list]


class _Compiler:
    def __init__(self, label_id: int, now: dt.datetime, player_ids: list[int] | None = None):
        self.label_id = label_id
        self.now = now
        self.player_ids = player_ids  # a query narrowed to these players: leaves may read them by primary key
        self.joined: dict[int, str] = {}  # id() of a leaf answered by a join of players_query -> its condition
        self.joined_params: dict[int, list] = {}
        self.aliases: set[str] = set()
        self._settings: tuple | None = None

    @property
    def settings(self) -> tuple:
        """The label's time zone and default level, read once and only if a condition needs them."""
        if self._settings is None:
            self._settings = label_settings(self.label_id)
        return self._settings

    def node(self, node: dict) -> Sql:
        if "all" in node or "any" in node:
            name = "all" if "all" in node else "any"
            parts = [self.node(child) for child in node[name]]
            if not parts:
                return ("TRUE" if name == "all" else "FALSE"), []
            if len(parts) == 1:
                return parts[0]
            joiner = " AND " if name == "all" else " OR "
            return "(" + joiner.join(s for s, _ in parts) + ")", [p for _, ps in parts for p in ps]
        if "not" in node:
            sql, params = self.node(node["not"])
            return f"(NOT {sql})", params
        if "field" in node:
            return self.field(node["field"], node["op"], node.get("value"))
        kind = leaf_kind_of(node)
        assert kind is not None, node
        if id(node) in self.joined:
            return self.joined[id(node)], self.joined_params[id(node)]
        if self.player_ids is None:
            sql, params = LEAF_KINDS[kind].sql(node, self.label_id, self.now)
        else:
            sql, params = LEAF_KINDS[kind].sql(node, self.label_id, self.now, player_ids=self.player_ids)
        return f"COALESCE(({sql}), FALSE)", list(params)

    def field(self, key: str, op: str, value: Any) -> Sql:
        if op in NEGATIONS:
            sql, params = self.field(key, NEGATIONS[op], value)
            return f"(NOT {sql})", params
        name = custom_name(key)
        if name is not None:
            return _custom(name, op, value)
        kind, column = FIELDS[key].kind, COLUMNS[key]
        self.aliases.add(column.alias)
        expr = column.expr
        bare = column.joined
        if kind in ("text", "choice"):
            if bare:  # every positive text op is false on '', so false without the row: see _number
                sql, params = _text(bare, op, value)
                return f"({bare} IS NOT NULL AND {sql})", params
            return _capitals(expr, op, value) if column.capitals else _text(expr, op, value)
        if kind in ("integer", "number"):
            cast = int if kind == "integer" else number
            if bare and not _holds_at_zero(op, value):
                # False without the row, so said as "the row's value ...": a strict condition, under which
                # PostgreSQL turns the LEFT JOIN into an inner join (as a person would write it).
                return _number(bare, op, value, cast, nullable=True)
            return _number(expr, op, value, cast, nullable=column.nullable)
        if kind == "boolean":
            return (expr if op == "is_true" else f"(NOT {expr})"), []
        if kind in ("date", "datetime"):
            return self.date(expr, kind, op, value)
        if kind == "markers":
            if op == "is_set":
                return f"(cardinality({expr}) > 0)", []
            # Most players have no marker: the cheap test first. The array lowered through its text form (quoting
            # survives lower()) needs no subquery, which would keep PostgreSQL from scanning in parallel.
            return f"(cardinality({expr}) > 0 AND lower(%s::text) = ANY(lower({expr}::text)::text[]))", [value]
        if kind == "level":
            default = self.settings[1]
            level, params = (f"COALESCE({expr}, %s)", [default]) if default else (expr, [])
            ids = [value] if op == "eq" else list(value)
            return f"({level} IS NOT NULL AND {level} = ANY(%s::bigint[]))", [*params, *params, ids]
        raise ValueError(kind)

    def date(self, expr: str, kind: str, op: str, value: Any) -> Sql:
        if op == "is_set":
            return f"({expr} IS NOT NULL)", []
        if op == "birthday_in_days":
            month, day, feb29 = birthday_target(days=value, label_tz=self.settings[0], now=self.now)
            utc = f"({expr} AT TIME ZONE 'UTC')"
            pairs = "(%s, %s), (2, 29)" if feb29 else "(%s, %s)"
            sql = f"({expr} IS NOT NULL AND (EXTRACT(MONTH FROM {utc}), EXTRACT(DAY FROM {utc})) IN ({pairs}))"
            return sql, [month, day]
        span = date_span(kind=kind, op=op, value=value, label_tz=self.settings[0], now=self.now)
        parts, params = [f"{expr} IS NOT NULL"], []
        if span.lo is not None:
            parts.append(f"{expr} >= %s")
            params.append(span.lo)
        if span.hi is not None:
            parts.append(f"{expr} {'<=' if span.hi_inclusive else '<'} %s")
            params.append(span.hi)
        return "(" + " AND ".join(parts) + ")", params


def _text(expr: str, op: str, value: Any) -> Sql:
    if op == "is_set":
        return f"({expr} <> '')", []
    if op == "eq":
        return f"(lower({expr}) = lower(%s::text))", [value]
    if op == "in":
        marks = ", ".join(["lower(%s::text)"] * len(value))
        return f"(lower({expr}) IN ({marks}))", list(value)
    if op == "contains":
        return f"(strpos(lower({expr}), lower(%s::text)) > 0)", [value]
    if op == "starts_with":
        return f"starts_with(lower({expr}), lower(%s::text))", [value]
    raise ValueError(op)


def _capitals(expr: str, op: str, value: Any) -> Sql:
    """A code stored in capitals, against the operand in capitals (computed here, in Python, for both sides)."""
    if op == "is_set":
        return f"({expr} <> '')", []
    if op == "eq":
        return f"({expr} = %s)", [capitals(value)]
    if op == "in":
        return f"({expr} IN ({', '.join(['%s'] * len(value))}))", [capitals(v) for v in value]
    if op == "contains":
        return f"(strpos({expr}, %s::text) > 0)", [capitals(value)]
    if op == "starts_with":
        return f"starts_with({expr}, %s::text)", [capitals(value)]
    raise ValueError(op)


def _holds_at_zero(op: str, value: Any) -> bool:
    zero = Decimal(0)
    if op == "between":
        return Decimal(str(value[0])) <= zero <= Decimal(str(value[1]))
    bound = Decimal(str(value))
    return {"eq": zero == bound, "gt": zero > bound, "gte": zero >= bound, "lt": zero < bound, "lte": zero <= bound}[op]


def _number(expr: str, op: str, value: Any, cast, *, nullable: bool) -> Sql:
    if op == "is_set":
        return f"({expr} IS NOT NULL)", []
    if op == "between":
        sql, params = f"{expr} BETWEEN %s AND %s", [cast(value[0]), cast(value[1])]
    else:
        sql, params = f"{expr} {CMP[op]} %s", [cast(value)]
    return (f"({expr} IS NOT NULL AND {sql})" if nullable else f"({sql})"), params


def _custom_text(name: str, op: str, value: Any) -> Sql:
    """A text op on `custom.name`, holding only on a JSON string. The text comparison comes first: it settles most
    rows, and the type is read only for those it lets through."""
    text = "lower(p.custom ->> %s::text)"
    if op == "in":
        sql = f"{text} IN ({', '.join(['lower(%s::text)'] * len(value))})"
        params = [name, *value]
    elif op == "contains":
        sql, params = f"strpos({text}, lower(%s::text)) > 0", [name, value]
    else:  # starts_with
        sql, params = f"starts_with({text}, lower(%s::text))", [name, value]
    return f"COALESCE({sql} AND jsonb_typeof(p.custom -> %s::text) = 'string', FALSE)", [*params, name]


def _custom_number(name: str) -> Sql:
    return (
        "(CASE WHEN jsonb_typeof(p.custom -> %s::text) = 'number' THEN (p.custom ->> %s::text)::numeric END)",
        [name, name],
    )


def _custom_equals(name: str, values: list) -> Sql:
    """`custom.name` equals one of `values` (texts case-insensitively, numbers numerically, booleans exactly)."""
    texts = [v for v in values if isinstance(v, str)]
    numbers = [number(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    flags = sorted({v for v in values if isinstance(v, bool)})
    parts: list[str] = []
    params: list = []
    if texts:
        sql, more = _custom_text(name, "in", texts)
        parts.append(sql)
        params += more
    if numbers:
        expr, ps = _custom_number(name)
        parts.append(f"COALESCE({expr} IN ({', '.join(['%s'] * len(numbers))}), FALSE)")
        params += ps + numbers
    for flag in flags:
        parts.append("(p.custom @> jsonb_build_object(%s::text, %s::boolean))")
        params += [name, flag]
    return "(" + " OR ".join(parts) + ")", params


def _custom(name: str, op: str, value: Any) -> Sql:
    if op == "is_set":
        return "(COALESCE(p.custom ->> %s::text, '') <> '')", [name]
    if op in ("is_true", "is_false"):
        return "(p.custom @> jsonb_build_object(%s::text, %s::boolean))", [name, op == "is_true"]
    if op in ("eq", "in"):
        return _custom_equals(name, [value] if op == "eq" else list(value))
    if op in ("contains", "starts_with"):
        return _custom_text(name, op, value)
    expr, params = _custom_number(name)
    sql, more = _number(expr, op, value, number, nullable=False)
    return f"COALESCE({sql}, FALSE)", params + more


def tree_where(tree: Any, *, label_id: int, now: dt.datetime) -> tuple[str, list]:
    """The (valid) tree as one SQL boolean over p, a, w, b, with its parameters."""
    sql, params = _Compiler(label_id, now).node(root(tree))
    return sql, params


def players_query(
    tree: Any,
    *,
    label_id: int,
    now: dt.datetime,
    player_ids: Iterable[int] | None = None,
    count: bool = False,
) -> tuple[str, list]:
    """One SELECT of the ids of the label's players matching the (valid) tree (`count`: their number), with only
    the joins the tree needs; `player_ids` narrows it to those players (a primary-key lookup, passed to the leaves
    too, so a behaviour leaf reads those players' rows only). A count of a tree that is one leaf whose kind has
    `count_sql` (behaviour) is asked of the leaf: it counts from its own rows, with no scan of the players."""
    ids = None if player_ids is None else [int(i) for i in player_ids]
    if count and ids is None:
        single = _single_leaf(root(tree))
        kind = leaf_kind_of(single) if single is not None and "field" not in single else None
        counter = getattr(LEAF_KINDS[kind], "count_sql", None) if kind else None
        if counter is not None:
            sql, params = counter(single, label_id, now)
            return sql, list(params)
    compiler = _Compiler(label_id, now, ids)
    leaf_joins, join_params = _leaf_joins(compiler, root(tree)) if ids is None else ("", [])
    where, where_params = compiler.node(root(tree))
    joins = leaf_joins + "".join(f"\n{JOINS[alias]}" for alias in ("a", "w", "b") if alias in compiler.aliases)
    params: list = [*join_params, label_id]
    narrow = ""
    if ids is not None:
        narrow = " AND p.id = ANY(%s::bigint[])"
        params.append(ids)
    select = "count(*)" if count else "p.id"
    sql = f"SELECT {select} FROM crm_player p{joins}\nWHERE p.label_id = %s{narrow} AND {where}"  # noqa: S608 - compiled: values are parameters
    return sql, params + where_params


def _single_leaf(node: Any) -> dict | None:
    """The leaf a tree amounts to ({"all": [leaf]}, {"any": [{"all": [leaf]}]}...), or None."""
    while isinstance(node, dict) and ("all" in node or "any" in node):
        children = node.get("all", node.get("any"))
        if not isinstance(children, list) or len(children) != 1:
            return None
        node = children[0]
    if isinstance(node, dict) and "not" not in node:
        return node
    return None


def _leaf_joins(compiler: _Compiler, tree: Any) -> tuple[str, list]:
    """Joins for the plug-in leaves that must hold for every player selected (the root, or directly under the root's
    `all`) and whose kind offers `join_sql` (behaviour: an inner join of the players' running totals): PostgreSQL
    joins them rather than hashing a set of ids. Each such leaf then compiles to its condition on the joined row."""
    leaves = [tree] if "field" not in tree and leaf_kind_of(tree) else []
    if "all" in tree:
        leaves = [c for c in tree["all"] if isinstance(c, dict) and "field" not in c and leaf_kind_of(c)]
    sql, params = "", []
    for leaf in leaves:
        kind = LEAF_KINDS[leaf_kind_of(leaf) or ""]
        join_sql = getattr(kind, "join_sql", None)
        found = join_sql(leaf, compiler.label_id, compiler.now, f"j{len(compiler.joined)}") if join_sql else None
        if found is None:
            continue
        join, more, condition, condition_params = found
        sql += f"\n{join}"
        params += more
        compiler.joined[id(leaf)] = condition
        compiler.joined_params[id(leaf)] = list(condition_params)
    return sql, params
