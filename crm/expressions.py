"""A small, safe expression language for rule activities: "add `floor(event.bet_amount / 10)` points".

The text is tokenized and parsed by hand into a tree of the node classes below; nothing reaches Python's `eval`,
`compile` or `ast`, and the only lookups are `event.<name>` and `state.<name>` keys in the mappings the caller passes
(one level deeper for a value that is itself a mapping, e.g. `state.custom.tier`). See docs/expressions.md.

    expression = expression_compile("if(event.bet_amount >= 100, 50, 10)")   # ExpressionError(message, position)
    expression.evaluate(event={"bet_amount": 120}, state={})                 # Decimal("50")
    expression.references()                                                  # {"event.bet_amount"}

Everything is bounded: the text (MAX_LENGTH characters), the tree (MAX_NODES nodes, MAX_DEPTH levels), numbers
(`NUMBERS`: 28 significant digits, magnitude under 10**31), text values (MAX_TEXT characters). There are no loops,
no power operator and no string repetition, so evaluating a tree costs at most a few operations per node.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_LENGTH = 500
MAX_NODES = 200
MAX_DEPTH = 40
MAX_PATH = 3  # event.a, event.a.b, event.a.b.c
MAX_TEXT = 1000
MAX_ROUND_PLACES = 12
ROOTS = ("event", "state")
# 28 significant digits; a result of 10**31 or more overflows (an ExpressionError, never a huge number).
NUMBERS = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=30,
    Emin=-30,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
Value = Decimal | bool | str | None


class ExpressionError(ValueError):
    """The text is not a valid expression, or it cannot be evaluated on these values.

    `message` says what is wrong in plain words; `position` is the 0-based offset into the text where it is (None only
    for a value handed in by the caller that is not usable); `str()` adds the position as a 1-based character number.
    """

    def __init__(self, message: str, position: int | None) -> None:
        self.message = message
        self.position = position
        super().__init__(message if position is None else f"{message} (at character {position + 1})")


# --- tokens -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "number", "text", "name", "op", "end"
    text: str
    position: int
    value: Any = None


_SPACE = re.compile(r"[ \t\r\n]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?![A-Za-z0-9_])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("//", "==", "!=", "<=", ">=", "(", ")", ",", ".", "+", "-", "*", "/", "%", "<", ">")
_HINTS = {
    "**": "There is no power operator; multiply instead",
    "^": "There is no power operator; multiply instead",
    "&&": "Use 'and' instead of '&&'",
    "||": "Use 'or' instead of '||'",
    "!": "Use 'not' instead of '!'",
    "=": "Use '==' to compare",
    "[": "Fields are read as event.<name> or state.<name>, not with brackets",
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
MAX_NUMBER_DIGITS = 40


def _text_token(source: str, start: int) -> Token:
    quote, i = source[start], start + 1
    chars: list[str] = []
    while i < len(source):
        char = source[i]
        if char == quote:
            return Token("text", source[start : i + 1], start, "".join(chars))
        if char == "\\":
            if source[i + 1 : i + 2] not in _ESCAPES:
                raise ExpressionError("Unknown escape in text; use \\\\, \\', \\\", \\n or \\t", i)
            chars.append(_ESCAPES[source[i + 1]])
            i += 2
            continue
        chars.append(char)
        i += 1
    raise ExpressionError(f"Text not closed: add the missing {quote}", start)


def _op_token(source: str, i: int) -> Token:
    for hint, message in _HINTS.items():
        if source.startswith(hint, i) and not source.startswith("!=", i) and not source.startswith("==", i):
            raise ExpressionError(message, i)
    for op in _OPS:
        if source.startswith(op, i):
            return Token("op", op, i)
    char = source[i]
    shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
    raise ExpressionError(f"Unexpected character {shown}", i)


def tokenize(source: str) -> list[Token]:
    """The tokens of `source`, ending with an "end" token; raises ExpressionError at the first bad character."""
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        if space := _SPACE.match(source, i):
            i = space.end()
        elif source[i] in "'\"":
            tokens.append(_text_token(source, i))
            i += len(tokens[-1].text)
        elif number := _NUMBER.match(source, i):
            if len(number.group()) > MAX_NUMBER_DIGITS:
                raise ExpressionError(f"Number longer than {MAX_NUMBER_DIGITS} characters", i)
            tokens.append(Token("number", number.group(), i, _number(Decimal(number.group()), i)))
            i = number.end()
        elif source[i] in "0123456789":
            raise ExpressionError("Not a number: write digits, optionally with a decimal point (12.5)", i)
        elif name := _NAME.match(source, i):
            tokens.append(Token("name", name.group(), i))
            i = name.end()
        else:
            tokens.append(_op_token(source, i))
            i += len(tokens[-1].text)
    tokens.append(Token("end", "", len(source)))
    return tokens


# --- values -----------------------------------------------------------------------------------------------------------
def _number(value: Decimal, position: int | None) -> Decimal:
    try:
        return NUMBERS.plus(value)
    except decimal.DecimalException:
        raise ExpressionError("Number too large (the limit is 10^31)", position) from None


def _kind(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number" if isinstance(value, Decimal) else "text"


def value_of(raw: Any, name: str, position: int | None) -> Value:
    """A value from the caller's mappings as the language sees it: numbers become Decimal, bounded like literals."""
    if raw is None or isinstance(raw, bool | str):
        return raw
    if isinstance(raw, int):
        if raw.bit_length() > 110:  # past 10**31, and before str() of a huge int is attempted
            raise ExpressionError(f"{name} is too large a number", position)
        return _number(Decimal(raw), position)
    if isinstance(raw, float | Decimal):
        if not (math.isfinite(raw) if isinstance(raw, float) else raw.is_finite()):
            raise ExpressionError(f"{name} is not a finite number", position)
        return _number(Decimal(repr(raw)) if isinstance(raw, float) else raw, position)
    kind = "an object" if isinstance(raw, Mapping) else "a list" if isinstance(raw, list | tuple) else "another kind"
    raise ExpressionError(f"{name} is {kind}, not a number, text, true/false or null", position)


# --- the tree ---------------------------------------------------------------------------------------------------------
class Node:
    """One node of a parsed expression; `evaluate(env)` returns a Value or raises ExpressionError."""

    __slots__ = ("depth", "position")
    position: int
    depth: int

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        raise NotImplementedError

    def children(self) -> tuple[Node, ...]:
        return ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Value, position: int) -> None:
        self.value, self.position = value, position

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        return self.value


class Field(Node):
    """`event.a` or `state.a.b`: key lookups into the caller's mappings, nothing else."""

    __slots__ = ("path",)

    def __init__(self, path: tuple[str, ...], position: int) -> None:
        self.path, self.position = path, position

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        current: Any = env[ROOTS.index(self.path[0])]
        for key in self.path[1:]:
            if not isinstance(current, Mapping):
                return None
            current = current.get(key)
        return value_of(current, self.name, self.position)


def _type_error(op: str, values: tuple[Value, ...], position: int) -> ExpressionError:
    kinds = " and ".join(_kind(v) for v in values)
    return ExpressionError(f"'{op}' cannot be applied to {kinds}", position)


def _floor_div(a: Decimal, b: Decimal) -> tuple[Decimal, Decimal]:
    quotient = NUMBERS.divide_int(a, b)  # truncated; floor it as Python's // does
    remainder = NUMBERS.subtract(a, NUMBERS.multiply(quotient, b))
    if remainder and (remainder < 0) != (b < 0):
        quotient, remainder = NUMBERS.subtract(quotient, 1), NUMBERS.add(remainder, b)
    return quotient, remainder


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": NUMBERS.add,
    "-": NUMBERS.subtract,
    "*": NUMBERS.multiply,
    "/": NUMBERS.divide,
    "//": lambda a, b: _floor_div(a, b)[0],
    "%": lambda a, b: _floor_div(a, b)[1],
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _out_of_range(position: int) -> ExpressionError:
    return ExpressionError("The result is out of range (28 significant digits, under 10^31)", position)


def _comparable(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value  # text compares ignoring case, as conditions do


def _equal(a: Value, b: Value) -> bool:
    # Kinds first: in Python True == 1 and Decimal(1) == True.
    return _kind(a) == _kind(b) and _comparable(a) == _comparable(b)


class Binary(Node):
    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Node, right: Node, position: int) -> None:
        self.op, self.left, self.right, self.position = op, left, right, position

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        a, b = self.left.evaluate(env), self.right.evaluate(env)
        if self.op in ("==", "!="):
            return _equal(a, b) == (self.op == "==")
        if self.op in _ORDER:
            return self._order(a, b)
        if a is None or b is None:
            return None
        if self.op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_TEXT:
                raise ExpressionError(f"Text longer than {MAX_TEXT} characters", self.position)
            return a + b
        if not (isinstance(a, Decimal) and isinstance(b, Decimal)):
            raise _type_error(self.op, (a, b), self.position)
        if not b and self.op in ("/", "//", "%"):
            raise ExpressionError("Division by zero", self.position)
        try:
            return _ARITHMETIC[self.op](a, b)
        except decimal.DecimalException:
            raise _out_of_range(self.position) from None

    def _order(self, a: Value, b: Value) -> bool:
        if a is None or b is None:
            return False  # as the condition tree: every comparison with an unset value is false
        if (isinstance(a, Decimal) and isinstance(b, Decimal)) or (isinstance(a, str) and isinstance(b, str)):
            return _ORDER[self.op](_comparable(a), _comparable(b))
        raise _type_error(self.op, (a, b), self.position)


def truth(value: Value, position: int, what: str) -> bool:
    """A value in a true/false position: null counts as false; a number or a text is an error, not a guess."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ExpressionError(f"{what} needs true/false, not {_kind(value)}", position)


class Logic(Node):
    """`and` / `or`, short-circuit: the right side is evaluated only when it decides the result."""

    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Node, right: Node, position: int) -> None:
        self.op, self.left, self.right, self.position = op, left, right, position

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        left = truth(self.left.evaluate(env), self.left.position, f"'{self.op}'")
        if left == (self.op == "or"):
            return left
        return truth(self.right.evaluate(env), self.right.position, f"'{self.op}'")


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: Node, position: int) -> None:
        self.op, self.operand, self.position = op, operand, position

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        value = self.operand.evaluate(env)
        if self.op == "not":
            return not truth(value, self.operand.position, "'not'")
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise _type_error(self.op, (value,), self.position)
        return NUMBERS.minus(value) if self.op == "-" else NUMBERS.plus(value)


class Call(Node):
    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[Node, ...], position: int) -> None:
        self.name, self.args, self.position = name, args, position

    def children(self) -> tuple[Node, ...]:
        return self.args

    def evaluate(self, env: tuple[Mapping, Mapping]) -> Value:
        if self.name == "if":  # lazy: only the chosen branch is evaluated
            condition = truth(self.args[0].evaluate(env), self.args[0].position, "if()'s condition")
            return self.args[1 if condition else 2].evaluate(env)
        if self.name == "coalesce":  # lazy too: stops at the first value that is not null
            for arg in self.args:
                if (value := arg.evaluate(env)) is not None:
                    return value
            return None
        values = [arg.evaluate(env) for arg in self.args]
        try:
            return FUNCTIONS[self.name].apply(self, values)
        except decimal.DecimalException:
            raise _out_of_range(self.position) from None


# --- functions --------------------------------------------------------------------------------------------------------
def _numbers(call: Call, values: list[Value]) -> list[Decimal] | None:
    """The arguments as numbers; None when one is null (the result is then null); an error for other kinds."""
    for value, arg in zip(values, call.args, strict=True):
        if value is not None and not isinstance(value, Decimal):
            raise ExpressionError(f"{call.name}() needs numbers, not {_kind(value)}", arg.position)
    return None if None in values else values  # type: ignore[return-value]


def _extreme(pick: Callable[..., Decimal]) -> Callable[[Call, list[Value]], Value]:
    def apply(call: Call, values: list[Value]) -> Value:
        for value, arg in zip(values, call.args, strict=True):
            if value is not None and not isinstance(value, Decimal):
                raise ExpressionError(f"{call.name}() needs numbers, not {_kind(value)}", arg.position)
        present = [v for v in values if v is not None]
        return pick(present) if present else None  # nulls are skipped, as PostgreSQL's least() / greatest()

    return apply


def _round(call: Call, values: list[Value]) -> Value:
    numbers = _numbers(call, values)
    if numbers is None:
        return None
    places = numbers[1] if len(numbers) > 1 else Decimal(0)
    if places != places.to_integral_value() or not 0 <= places <= MAX_ROUND_PLACES:
        message = f"round()'s places must be a whole number from 0 to {MAX_ROUND_PLACES}"
        raise ExpressionError(message, call.args[1].position)
    return numbers[0].quantize(Decimal(1).scaleb(-int(places)), rounding=decimal.ROUND_HALF_UP, context=NUMBERS)


def _integral(rounding: str) -> Callable[[Call, list[Value]], Value]:
    def apply(call: Call, values: list[Value]) -> Value:
        numbers = _numbers(call, values)
        return None if numbers is None else numbers[0].to_integral_value(rounding=rounding, context=NUMBERS)

    return apply


def _abs(call: Call, values: list[Value]) -> Value:
    numbers = _numbers(call, values)
    return None if numbers is None else NUMBERS.abs(numbers[0])


@dataclass(frozen=True)
class Function:
    """A function's arity and what it does (`apply` gets the evaluated arguments; `if` and `coalesce` are lazy)."""

    min_args: int
    max_args: int | None
    apply: Callable[[Call, list[Value]], Value]
    signature: str


def _lazy(call: Call, values: list[Value]) -> Value:  # pragma: no cover - Call.evaluate handles these
    raise AssertionError(call.name)


FUNCTIONS: dict[str, Function] = {
    "min": Function(1, None, _extreme(min), "min(a, b, ...)"),
    "max": Function(1, None, _extreme(max), "max(a, b, ...)"),
    "abs": Function(1, 1, _abs, "abs(x)"),
    "round": Function(1, 2, _round, "round(x) or round(x, places)"),
    "floor": Function(1, 1, _integral(decimal.ROUND_FLOOR), "floor(x)"),
    "ceil": Function(1, 1, _integral(decimal.ROUND_CEILING), "ceil(x)"),
    "coalesce": Function(1, None, _lazy, "coalesce(a, b, ...)"),
    "if": Function(3, 3, _lazy, "if(condition, then, else)"),
}


# --- the parser (Pratt) -----------------------------------------------------------------------------------------------
_BINARY = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}  # fmt: skip
_NOT, _COMPARE, _SIGN = 3, 4, 7
_CONSTANTS: dict[str, Value] = {"true": True, "false": False, "null": None}
_KEYWORDS = {"and", "or", "not", *_CONSTANTS}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.nodes = 0
        self.nesting = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def operator(self) -> str | None:
        token = self.token
        word = token.text.lower() if token.kind == "name" else token.text
        return word if token.kind in ("op", "name") and word in _BINARY else None

    def expect(self, op: str, message: str) -> Token:
        if self.token.kind != "op" or self.token.text != op:
            raise ExpressionError(message, self.token.position)
        return self.advance()

    def node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"Expression too long: at most {MAX_NODES} values and operators", node.position)
        node.depth = 1 + max((child.depth for child in node.children()), default=0)
        if node.depth > MAX_DEPTH:
            raise ExpressionError(f"Expression nested too deeply: at most {MAX_DEPTH} levels", node.position)
        return node

    def expression(self, power: int = 0) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError(f"Expression nested too deeply: at most {MAX_DEPTH} levels", self.token.position)
        left = self.prefix()
        while (op := self.operator()) is not None and _BINARY[op] > power:
            token = self.advance()
            right = self.expression(_BINARY[op])
            kind = Logic if op in ("and", "or") else Binary
            left = self.node(kind(op, left, right, token.position))
            if _BINARY[op] == _COMPARE and _BINARY.get(self.operator() or "") == _COMPARE:
                raise ExpressionError("Comparisons cannot be chained: write a < b and b < c", self.token.position)
        self.nesting -= 1
        return left

    def prefix(self) -> Node:
        token = self.token
        if token.kind == "op" and token.text in ("-", "+"):
            self.advance()
            return self.node(Unary(token.text, self.expression(_SIGN), token.position))
        if token.kind == "name" and token.text.lower() == "not":
            self.advance()
            return self.node(Unary("not", self.expression(_NOT), token.position))
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in ("number", "text"):
            return self.node(Literal(token.value, token.position))
        if token.kind == "op" and token.text == "(":
            inner = self.expression()
            self.expect(")", "Missing ')'" if self.token.kind == "end" else "Expected ')' or an operator")
            return inner
        if token.kind == "name":
            return self.name(token)
        what = "the end of the expression" if token.kind == "end" else f"'{token.text}'"
        raise ExpressionError(f"Expected a value, found {what}", token.position)

    def name(self, token: Token) -> Node:
        word = token.text.lower()
        if word in _CONSTANTS:
            return self.node(Literal(_CONSTANTS[word], token.position))
        if token.text in ROOTS:
            return self.field(token)
        if self.token.kind == "op" and self.token.text == "(":
            return self.call(token)
        if word in _KEYWORDS:
            raise ExpressionError(f"Expected a value, found '{token.text}'", token.position)
        message = f"Unknown name '{token.text}': fields are read as event.<name> or state.<name>"
        raise ExpressionError(message, token.position)

    def field(self, root: Token) -> Node:
        path = [root.text]
        self.expect(
            ".", f"Write {root.text}.<name>, e.g. {root.text}.{'bet_amount' if path[0] == 'event' else 'points'}"
        )
        while True:
            name = self.advance()
            if name.kind != "name":
                raise ExpressionError(f"Expected a field name after '{'.'.join(path)}.'", name.position)
            if name.text.startswith("__"):
                raise ExpressionError(f"Field names cannot start with '__' ({name.text})", name.position)
            path.append(name.text)
            if not (self.token.kind == "op" and self.token.text == "."):
                return self.node(Field(tuple(path), root.position))
            if len(path) > MAX_PATH:
                raise ExpressionError(f"At most {MAX_PATH} names after {root.text}", self.token.position)
            self.advance()

    def call(self, name: Token) -> Node:
        function = FUNCTIONS.get(name.text.lower())
        if function is None:
            known = ", ".join(FUNCTIONS)
            raise ExpressionError(f"Unknown function '{name.text}'; the functions are {known}", name.position)
        self.advance()
        args: list[Node] = []
        while not (self.token.kind == "op" and self.token.text == ")"):
            if args:
                self.expect(",", "Expected ',' or ')' after an argument")
            args.append(self.expression())
        self.advance()
        count = len(args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            raise ExpressionError(f"Wrong number of arguments: write {function.signature}", name.position)
        return self.node(Call(name.text.lower(), tuple(args), name.position))


# --- the API ----------------------------------------------------------------------------------------------------------
class Expression:
    """A compiled expression: `evaluate(event=..., state=...)` any number of times, `references()` for validation."""

    __slots__ = ("_references", "root", "text")

    def __init__(self, text: str, root: Node) -> None:
        self.text = text
        self.root = root
        self._references = frozenset(n.name for n in _walk(root) if isinstance(n, Field))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def references(self) -> set[str]:
        """The fields the expression reads, e.g. {"event.bet_amount", "state.points"}."""
        return set(self._references)

    def evaluate(self, *, event: Mapping | None, state: Mapping | None) -> Value:
        """The value on this event and state: a Decimal, a bool, a text or None (null).

        Raises ExpressionError (with the position of the part that failed) for a division by zero, a number past the
        bounds, an operator on values of the wrong kind, or an unusable value in the mappings; never anything else.
        """
        return self.root.evaluate((event or {}, state or {}))


def _walk(node: Node) -> list[Node]:
    nodes, stack = [], [node]
    while stack:
        nodes.append(current := stack.pop())
        stack.extend(current.children())
    return nodes


def expression_compile(text: str) -> Expression:
    """Parse `text` into an Expression; raises ExpressionError(message, position) naming the first problem."""
    if not isinstance(text, str):
        raise ExpressionError("An expression is text", 0)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"Expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip():
        raise ExpressionError("The expression is empty", 0)
    parser = _Parser(text)
    root = parser.expression()
    if parser.token.kind != "end":
        token = parser.token
        raise ExpressionError(f"Expected an operator or the end, found '{token.text}'", token.position)
    return Expression(text, root)


def expression_check(
    expression: Expression, *, event_fields: Mapping[str, Any] | None, state_fields: set[str]
) -> list[str]:
    """Problems with the fields an expression reads, one sentence each (empty when all are known).

    `event_fields`: the trigger type's payload fields (crm.catalogue FieldInfo by name), or None when there is no
    trigger event (a scheduled rule); `state_fields`: the names `state.<name>` may use.
    """
    problems = []
    for reference in sorted(expression.references()):
        root, name, *_ = reference.split(".")
        if root == "state":
            if name not in state_fields:
                known = ", ".join(sorted(state_fields)) or "none"
                problems.append(f"{reference}: unknown player value '{name}' (known: {known}).")
        elif event_fields is None:
            problems.append(f"{reference}: there is no trigger event here, so event fields cannot be used.")
        elif name not in event_fields:
            known = ", ".join(sorted(event_fields)) or "none"
            problems.append(f"{reference}: the event type has no field '{name}' (its fields: {known}).")
    return problems
