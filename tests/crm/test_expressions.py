"""The rule-activity expression language (crm.expressions): grammar, precedence and semantics; errors that name the
position; validation against the event catalogue; and fuzzing of random text and random well-formed trees: nothing but
ExpressionError escapes, nothing outside `event` / `state` keys is reachable, and sizes stay bounded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import crm.expressions as module
from crm.catalogue import CORE_TYPES, spec_fields
from crm.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    MAX_TEXT,
    Expression,
    ExpressionError,
    expression_check,
    expression_compile,
)

D = Decimal
EVENT = {"bet_amount": 125, "odds": 1.5, "game_name": "Book of Ra", "is_live": True, "bonus": None, "zero": 0}
STATE = {"points": 40, "level": "gold", "custom": {"tier": 3, "deep": {"x": 1}}}


def run(text: str, event: Mapping | None = None, state: Mapping | None = None):
    return expression_compile(text).evaluate(event=EVENT if event is None else event, state=state or STATE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numbers are exact decimals; precedence as in arithmetic
        ("1 + 2 * 3", D(7)),
        ("(1 + 2) * 3", D(9)),
        ("10 - 4 - 3", D(3)),  # left-associative
        ("100 / 10 / 5", D(2)),
        ("0.1 + 0.2", D("0.3")),
        ("7 / 2", D("3.5")),
        ("1 / 3", D("0.3333333333333333333333333333")),
        ("7 // 2", D(3)),
        ("-7 // 2", D(-4)),  # floor, as Python's //
        ("-7 % 3", D(2)),  # the remainder has the divisor's sign
        ("7 % -3", D(-2)),
        ("7.5 % 2", D("1.5")),
        ("-2 * 3", D(-6)),
        ("- -2", D(2)),
        ("+5", D(5)),
        ("2 * -3", D(-6)),
        ("-event.bet_amount", D(-125)),
        # fields
        ("event.bet_amount", D(125)),
        ("event.odds * 2", D("3.0")),
        ("event.game_name", "Book of Ra"),
        ("event.missing", None),
        ("state.points + 10", D(50)),
        ("state.custom.tier", D(3)),
        ("state.custom.deep.x", D(1)),
        ("state.custom.nope", None),
        ("state.points.nope", None),  # a path through a value that is not an object is null
        ("event.bet_amount.x", None),
        # null propagates through arithmetic
        ("event.bonus + 1", None),
        ("-event.bonus", None),
        ("event.missing * 0", None),
        # comparisons; text compares ignoring case, as the condition builder does
        ("event.bet_amount >= 100", True),
        ("event.bet_amount < 100", False),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("'Gold' == state.level", True),
        ("'a' < 'B'", True),
        ("1 == true", False),  # kinds differ: never equal
        ("0 == false", False),
        ("'1' == 1", False),
        ("null == null", True),
        ("event.bonus == null", True),
        ("event.bonus != 5", True),
        ("event.bonus > 5", False),  # every order comparison with null is false
        ("event.bonus < 5", False),
        ("event.bonus <= event.bonus", False),
        # logic
        ("true and false", False),
        ("true or false", True),
        ("not true", False),
        ("not event.bonus", True),  # null counts as false
        ("not event.bet_amount > 200", True),  # not binds looser than comparisons
        ("not true and false", False),  # ... and tighter than and
        ("true or true and false", True),  # and before or
        ("false and 1 / 0 == 1", False),  # short-circuit: the right side is not evaluated
        ("true or 1 / 0 == 1", True),
        ("TRUE AND Not False", True),  # keywords in any case
        # functions
        ("min(3, 1, 2)", D(1)),
        ("max(3, 1, 2)", D(3)),
        ("max(event.bonus, 2)", D(2)),  # nulls are skipped
        ("min(null, null)", None),
        ("abs(-2.5)", D("2.5")),
        ("round(2.345, 2)", D("2.35")),  # half up, as money is rounded
        ("round(2.5)", D(3)),
        ("round(-2.5)", D(-3)),
        ("floor(-2.5)", D(-3)),
        ("ceil(2.1)", D(3)),
        ("floor(event.bet_amount / 10)", D(12)),
        ("coalesce(event.bonus, event.missing, 7)", D(7)),
        ("coalesce(event.bonus)", None),
        ("coalesce(1, 1 / 0)", D(1)),  # lazy
        ("if(event.bet_amount > 100, 50, 10)", D(50)),
        ("if(event.bonus, 1 / 0, 'safe')", "safe"),  # only the chosen branch runs
        ("IF(false, 1, 2)", D(2)),
        ("ROUND(1.25, 1)", D("1.3")),
        ("round(event.bonus, 2)", None),
        # text
        ("'a' + \"b\"", "ab"),
        ('\'it\\\'s\' + "\\"q\\"\\n"', 'it\'s"q"\n'),
        ("event.game_name + '!'", "Book of Ra!"),
        ("  1\n+\t2  ", D(3)),
    ],
)
def test_semantics(text, expected):
    result = run(text)
    assert result == expected
    assert type(result) is type(expected)


def test_numbers_from_the_mappings_are_decimal_and_bools_stay_bools():
    expression = expression_compile("event.x")
    assert expression.evaluate(event={"x": 0.1}, state={}) == D("0.1")  # from repr, not the binary expansion
    assert expression.evaluate(event={"x": D("2.50")}, state={}) == D("2.50")
    assert expression.evaluate(event={"x": True}, state={}) is True
    assert expression.evaluate(event={"x": 10**30}, state={}) == D(10**30)
    assert expression_compile("state.x").evaluate(event=None, state=None) is None  # no event: fields are null


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "The expression is empty", 0),
        ("   ", "The expression is empty", 0),
        ("1 +", "Expected a value, found the end of the expression", 3),
        ("1 + * 2", "Expected a value, found '*'", 4),
        ("(1 + 2", "Missing ')'", 6),
        ("(1 2)", "Expected ')' or an operator", 3),
        ("1 2", "Expected an operator or the end, found '2'", 2),
        ("1 = 2", "Use '==' to compare", 2),
        ("2 ** 3", "There is no power operator", 2),
        ("2 ^ 3", "There is no power operator", 2),
        ("true && false", "Use 'and' instead of '&&'", 5),
        ("true || false", "Use 'or' instead of '||'", 5),
        ("!true", "Use 'not' instead of '!'", 0),
        ("event['x']", "not with brackets", 5),
        ("1 < 2 < 3", "Comparisons cannot be chained", 6),
        ("1 == 1 != 0", "Comparisons cannot be chained", 7),
        ("bet_amount * 2", "Unknown name 'bet_amount': fields are read as event.<name> or state.<name>", 0),
        ("event", "Write event.<name>, e.g. event.bet_amount", 5),
        ("state + 1", "Write state.<name>, e.g. state.points", 6),
        ("event.", "Expected a field name after 'event.'", 6),
        ("event.1", "Expected a field name after 'event.'", 6),
        ("event.a.b.c.d", "At most 3 names after event", 11),
        ("event.__class__", "Field names cannot start with '__' (__class__)", 6),
        ("state.custom.__dict__", "Field names cannot start with '__'", 13),
        ("pow(2, 3)", "Unknown function 'pow'; the functions are min, max, abs, round, floor, ceil, coalesce, if", 0),
        ("round(1, 2, 3)", "Wrong number of arguments: write round(x) or round(x, places)", 0),
        ("if(true, 1)", "Wrong number of arguments: write if(condition, then, else)", 0),
        ("min()", "Wrong number of arguments: write min(a, b, ...)", 0),
        ("max(1 2)", "Expected ',' or ')' after an argument", 6),
        ("'abc", "Text not closed: add the missing '", 0),
        ("'a\\x'", "Unknown escape in text", 2),
        ("1e5", "Not a number", 0),
        ("1_000", "Not a number", 0),
        ("12abc", "Not a number", 0),
        ("1" * 41, "Number longer than 40 characters", 0),
        ("9" * 32, "Number too large", 0),
        ("1 # comment", "Unexpected character '#'", 2),
        ("1 + \u00a0", "Unexpected character U+00A0", 4),
        ("and", "Expected a value, found 'and'", 0),
        ("null(1)", "Expected an operator or the end, found '('", 4),
        ("x" * (MAX_LENGTH + 1), f"Expression longer than {MAX_LENGTH} characters", MAX_LENGTH),
    ],
)
def test_compile_errors_name_the_position(text, message, position):
    with pytest.raises(ExpressionError) as caught:
        expression_compile(text)
    assert message in caught.value.message
    assert caught.value.position == position
    assert str(caught.value) == f"{caught.value.message} (at character {position + 1})"


@pytest.mark.parametrize(
    ("text", "event", "message", "position"),
    [
        ("1 / event.zero", EVENT, "Division by zero", 2),
        ("1 // 0", EVENT, "Division by zero", 2),
        ("5 % 0.0", EVENT, "Division by zero", 2),
        ("1 + 'a'", EVENT, "'+' cannot be applied to a number and text", 2),
        ("event.game_name * 2", EVENT, "'*' cannot be applied to text and a number", 16),
        ("-event.game_name", EVENT, "'-' cannot be applied to text", 0),
        ("true + 1", EVENT, "'+' cannot be applied to true/false and a number", 5),
        ("1 < 'a'", EVENT, "'<' cannot be applied to a number and text", 2),
        ("true < false", EVENT, "'<' cannot be applied to true/false and true/false", 5),
        ("1 and true", EVENT, "'and' needs true/false, not a number", 0),
        ("true and 'x'", EVENT, "'and' needs true/false, not text", 9),
        ("not 0", EVENT, "'not' needs true/false, not a number", 4),
        ("if(1, 2, 3)", EVENT, "if()'s condition needs true/false, not a number", 3),
        ("abs('x')", EVENT, "abs() needs numbers, not text", 4),
        ("max(1, true)", EVENT, "max() needs numbers, not true/false", 7),
        ("round(1, 13)", EVENT, "round()'s places must be a whole number from 0 to 12", 9),
        ("round(1, 1.5)", EVENT, "round()'s places must be a whole number", 9),
        ("round(1, -1)", EVENT, "round()'s places must be a whole number", 9),
        ("1000000000000000000000 * 1000000000000000000000", EVENT, "The result is out of range", 23),
        ("round(1000000000000000000000000, 12)", EVENT, "The result is out of range", 0),
        ("event.x", {"x": float("nan")}, "event.x is not a finite number", 0),
        ("event.x", {"x": D("Infinity")}, "event.x is not a finite number", 0),
        ("event.x", {"x": 10**400}, "event.x is too large a number", 0),
        ("event.x", {"x": 1e300}, "Number too large", 0),
        ("event.x", {"x": [1, 2]}, "event.x is a list, not a number, text, true/false or null", 0),
        ("event.x", {"x": {"a": 1}}, "event.x is an object", 0),
        ("event.x + 1", {"x": object()}, "event.x is another kind, not a number, text, true/false or null", 0),
    ],
)
def test_evaluation_errors_name_the_position(text, event, message, position):
    with pytest.raises(ExpressionError) as caught:
        expression_compile(text).evaluate(event=event, state={})
    assert message in caught.value.message
    assert caught.value.position == position


def test_text_results_are_bounded():
    half = "x" * (MAX_TEXT // 2)
    expression = expression_compile("event.a + event.a")
    assert expression.evaluate(event={"a": half}, state={}) == half * 2
    with pytest.raises(ExpressionError, match=f"Text longer than {MAX_TEXT} characters"):
        expression.evaluate(event={"a": half + "x"}, state={})


def test_references_and_check_against_the_catalogue():
    expression = expression_compile(
        "floor(event.bet_amount / 10) + state.points + state.custom.tier + event.bet_amount"
    )
    assert expression.references() == {"event.bet_amount", "state.points", "state.custom.tier"}
    casino_bet = spec_fields(CORE_TYPES["casino_bet"])
    assert expression_check(expression, event_fields=casino_bet, state_fields={"points", "custom"}) == []
    bad = expression_compile("event.deposit_amount * state.gems + state.points")
    problems = expression_check(bad, event_fields=casino_bet, state_fields={"points"})
    assert problems == [
        "event.deposit_amount: the event type has no field 'deposit_amount' (its fields: bet_amount, bet_amount_bonus, "
        "bet_amount_real, game_category, game_category_id, game_id, game_name, game_provider, game_provider_id).",
        "state.gems: unknown player value 'gems' (known: points).",
    ]
    scheduled = expression_check(bad, event_fields=None, state_fields={"points", "gems"})
    assert scheduled == ["event.deposit_amount: there is no trigger event here, so event fields cannot be used."]
    assert expression_compile("1 + 2").references() == set()


# --- no way out of `event` / `state` ----------------------------------------------------------------------------------
class Sneaky(dict):
    """A mapping whose attributes are not its keys: only the keys may be read."""

    secret = "attribute"

    def method(self):  # pragma: no cover - must never be called
        raise AssertionError("called")


@pytest.mark.parametrize(
    "text",
    [
        "().__class__",
        "''.__class__",
        "'a'.upper()",
        "(event).secret",
        "event.__class__",
        "state.__dict__",
        "event.__class__.__mro__",
        "__import__('os')",
        "open('/etc/passwd')",
        "getattr(event, 'secret')",
        "eval('1')",
        "lambda: 1",
        "[x for x in event]",
        "event['secret']",
        "event.secret()",
        "event.method()",
        "{}.keys()",
        "1 .real",
        "state.custom.tier.__class__",
    ],
)
def test_nothing_but_keys_is_reachable(text):
    with pytest.raises(ExpressionError):
        expression_compile(text)


@pytest.mark.parametrize("name", ["secret", "method", "get", "keys", "items", "copy", "_private"])
def test_a_field_is_a_key_never_an_attribute(name):
    event = Sneaky(real=1)
    assert expression_compile(f"event.{name}").evaluate(event=event, state=event) is None
    assert expression_compile(f"state.{name}").evaluate(event=event, state=event) is None
    event[name] = 5
    assert expression_compile(f"event.{name}").evaluate(event=event, state={}) == D(5)


def test_the_module_never_evaluates_python():
    source = Path(module.__file__).read_text()
    for forbidden in (
        r"\beval\(",
        r"\bexec\(",
        r"(?<![\w.])compile\(",
        r"\bimport ast\b",
        r"\bgetattr\(",
        "__import__",
    ):
        assert not re.search(forbidden, source), forbidden


# --- bounds -----------------------------------------------------------------------------------------------------------
def test_size_and_depth_are_bounded():
    assert expression_compile("1" + " + 1" * (MAX_DEPTH - 1)).evaluate(event={}, state={}) == D(MAX_DEPTH)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expression_compile("1" + " + 1" * MAX_DEPTH)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expression_compile("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        expression_compile("-" * (MAX_DEPTH + 1) + "1")
    wide = "max(" + ",".join(["1"] * MAX_NODES) + ")"
    assert len(wide) <= MAX_LENGTH
    with pytest.raises(ExpressionError, match=f"Expression too long: at most {MAX_NODES} values and operators"):
        expression_compile(wide)
    assert expression_compile("max(" + ",".join(["1"] * (MAX_NODES - 1)) + ")").evaluate(event={}, state={}) == 1


def test_growth_is_impossible():
    # The largest product that fits in the text is refused, not computed.
    big = "*".join(["999999999999999999999999999"] * 17)
    assert len(big) <= MAX_LENGTH
    with pytest.raises(ExpressionError, match="out of range"):
        expression_compile(big).evaluate(event={}, state={})
    tiny = expression_compile("0.0000000000000000000000000001 * 0.0000000000000000000000000001").evaluate(
        event={}, state={}
    )
    assert 0 < tiny < D("1e-55")  # underflows towards zero (precision is lost below 10^-30), no unbounded exponent


# --- fuzzing ----------------------------------------------------------------------------------------------------------
ODD = ["\x00", "\ud800", "\u202e", "\u200b", "\ufeff", "\xa0", "\u0661", "\xe9"]
TOKENS = [
    "event", "state", ".", "bet_amount", "x", "__class__", "(", ")", ",", "+", "-", "*", "/", "//", "%", "==", "!=",
    "<", "<=", ">", ">=", "=", "**", "and", "or", "not", "true", "false", "null", "if", "min", "max", "abs", "round",
    "floor", "ceil", "coalesce", "0", "1", "2.5", "99999999999999999999999999999", "'t'", '"u"', "'", "\\", "[", "]",
    "{", "}", "lambda", "__import__", "#", ";", "@", "!", "&&", "1e9",
]  # fmt: skip
random_text = st.text(st.characters() | st.sampled_from(ODD), max_size=60) | st.lists(
    st.sampled_from(TOKENS), max_size=40
).map(" ".join)
keys = st.sampled_from(["x", "bet_amount", "a", "secret", "__class__"]) | st.text(max_size=5)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, 2**63, -(10**30)])
    | st.floats()
    | st.decimals()
    | st.text(max_size=20)
)
values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3), max_leaves=8
)
mappings = st.dictionaries(keys, values, max_size=5)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_value(value):
    assert value is None or isinstance(value, bool | str | Decimal)
    if isinstance(value, Decimal):
        assert value.is_finite()
        assert abs(value) < D(10) ** 31
    if isinstance(value, str):
        assert len(value) <= MAX_TEXT


@FUZZ
@given(text=random_text, event=mappings, state=mappings)
def test_random_text_raises_only_expression_errors(text, event, state):
    expression, error = attempt(expression_compile, text)
    if error is not None:
        assert 0 <= error.position <= len(text)
        return
    assert isinstance(expression, Expression)
    assert all(ref.split(".")[0] in ("event", "state") for ref in expression.references())
    result, error = attempt(expression.evaluate, event=event, state=state)
    check_value(result)
    assert error is None or 0 <= error.position < len(text)


# Well-formed trees, typed so most of them evaluate; `oracle` computes the same with Python integers and booleans
# (an independent implementation of the documented semantics), None standing for "raises ExpressionError".
INT_FIELDS = {"a": 7, "b": -3, "z": 0}
BOOL_FIELDS = {"t": True, "f": False}
LIMIT = 10**27


class Raises(Exception):
    pass


def num_leaf():
    literal = st.integers(0, 10**6).map(lambda n: (str(n), n))
    field = st.sampled_from(sorted(INT_FIELDS)).map(lambda k: (f"event.{k}", INT_FIELDS[k]))
    state = st.just(("state.points", 40))
    return literal | field | state


def floor_div(a, b):
    if b == 0:
        raise Raises
    return a // b


def floor_mod(a, b):
    if b == 0:
        raise Raises
    return a % b


ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "//": floor_div, "%": floor_mod}
COMPARE = {"==": int.__eq__, "!=": int.__ne__, "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}


def arith(nums):
    return st.tuples(st.sampled_from(sorted(ARITH)), nums, nums).map(
        lambda t: (f"({t[1][0]} {t[0]} {t[2][0]})", ("arith", t[0], t[1][1], t[2][1]))
    )


def extreme(nums):
    return st.tuples(st.sampled_from(["min", "max"]), st.lists(nums, min_size=1, max_size=3)).map(
        lambda t: (f"{t[0]}({', '.join(c[0] for c in t[1])})", (t[0], [c[1] for c in t[1]]))
    )


def choose(bools, nums):
    return st.tuples(bools, nums, nums).map(
        lambda t: (f"if({t[0][0]}, {t[1][0]}, {t[2][0]})", ("if", t[0][1], t[1][1], t[2][1]))
    )


def nums(depth: int):
    """(text, oracle node) of a number-valued tree; minimal parentheses are not attempted: every binary one has its own."""
    leaf = num_leaf().map(lambda leaf: (leaf[0], ("lit", leaf[1])))
    if depth == 0:
        return leaf
    smaller = nums(depth - 1)
    return st.one_of(
        leaf,
        arith(smaller),
        smaller.map(lambda n: (f"-{n[0]}", ("neg", n[1]))),
        extreme(smaller),
        smaller.map(lambda n: (f"abs({n[0]})", ("abs", n[1]))),
        choose(bools(depth - 1), smaller),
    )


def bools(depth: int):
    leaf = st.booleans().map(lambda b: (str(b).lower(), ("lit", b))) | st.sampled_from(sorted(BOOL_FIELDS)).map(
        lambda k: (f"event.{k}", ("lit", BOOL_FIELDS[k]))
    )
    if depth == 0:
        return leaf
    smaller, numbers = bools(depth - 1), nums(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(sorted(COMPARE)), numbers, numbers).map(
            lambda t: (f"({t[1][0]} {t[0]} {t[2][0]})", ("cmp", t[0], t[1][1], t[2][1]))
        ),
        st.tuples(st.sampled_from(["and", "or"]), smaller, smaller).map(
            lambda t: (f"({t[1][0]} {t[0]} {t[2][0]})", (t[0], t[1][1], t[2][1]))
        ),
        smaller.map(lambda b: (f"not {b[0]}", ("not", b[1]))),
    )


def trees():
    return nums(4) | bools(4)


def attempt(func, *args, **kwargs):
    """(result, None) or (None, the ExpressionError): anything else propagates and fails the test."""
    try:
        return func(*args, **kwargs), None
    except ExpressionError as exc:
        return None, exc


def oracle(node):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "arith":
        result = ARITH[node[1]](oracle(node[2]), oracle(node[3]))
        if abs(result) >= LIMIT:
            raise OverflowError  # past what 28 exact digits hold: not compared
        return result
    if kind == "neg":
        return -oracle(node[1])
    if kind in ("min", "max"):
        return (min if kind == "min" else max)(oracle(c) for c in node[1])
    if kind == "abs":
        return abs(oracle(node[1]))
    if kind == "if":
        return oracle(node[2]) if oracle(node[1]) else oracle(node[3])
    if kind == "cmp":
        return COMPARE[node[1]](oracle(node[2]), oracle(node[3]))
    if kind == "and":
        return oracle(node[1]) and oracle(node[2])
    if kind == "or":
        return oracle(node[1]) or oracle(node[2])
    assert kind == "not"
    return not oracle(node[1])


EVENT_FIELDS = {**INT_FIELDS, **BOOL_FIELDS}


@FUZZ
@given(tree=trees())
def test_random_trees_match_the_reference_semantics(tree):
    text, node = tree
    expression, error = attempt(expression_compile, text)
    if error is not None:  # a well-formed tree is refused only for its size
        assert re.match(r"Expression (longer|too long|nested too deeply)", error.message), error.message
        return
    try:
        expected = oracle(node)
    except OverflowError:
        assume(False)
    except Raises:
        with pytest.raises(ExpressionError, match="Division by zero"):
            expression.evaluate(event=EVENT_FIELDS, state={"points": 40})
        return
    result = expression.evaluate(event=EVENT_FIELDS, state={"points": 40})
    assert result == expected
    assert isinstance(result, bool) == isinstance(expected, bool)
    # rendering the tree again with every parenthesis is the same expression
    assert expression_compile(f"({text})").evaluate(event=EVENT_FIELDS, state={"points": 40}) == result


@FUZZ
@given(tree=trees(), event=mappings, state=mappings)
def test_random_trees_on_random_values_raise_only_expression_errors(tree, event, state):
    expression, _ = attempt(expression_compile, tree[0])
    if expression is not None:
        result, error = attempt(expression.evaluate, event=event, state=state)
        check_value(result)
        assert error is None or 0 <= error.position < len(tree[0])


@settings(max_examples=200, deadline=None)
@given(text=random_text)
def test_trees_stay_within_their_bounds(text):
    try:
        expression = expression_compile(text)
    except ExpressionError:
        return
    nodes = module._walk(expression.root)
    assert len(nodes) <= MAX_NODES
    assert expression.root.depth <= MAX_DEPTH
