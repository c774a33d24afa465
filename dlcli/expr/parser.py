"""A safe parser for arithmetic expressions: own tokenizer and an iterative operator-precedence parser.

Nothing is ever passed to `eval`: the grammar knows numbers, names, `+ - * / **`, unary signs,
parentheses and calls of known functions (with numeric keyword parameters), and everything else
is an `ExprError` that points at the offending column. Parsing uses explicit stacks, so an
expression nested 10,000 levels deep parses without touching Python's recursion limit.
`parse(text, formula=True)` is the grammar of activations written as formulas (tree.py). The functions a call may
name beyond the built-ins are passed in (`functions`): the activation library passes its own.

    >>> tree = parse("(x+y)*z")
    >>> tree.kind, [child.kind for child in tree.children]
    ('mul', ['add', 'name'])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from dlcli.errors import InputError, unknown_name
from dlcli.expr.functions import NO_FUNCTIONS, Function, Functions

# Functions the parser knows besides those passed in, with their number of arguments
# (None: two or more).
BUILTINS: dict[str, int | None] = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "sin": 1, "cos": 1, "max": None, "min": None,
}
# The formula grammar (activations written as formulas) adds these functions, comparisons, and `A'(u)`, the
# derivative of a registered activation A.
FORMULA_BUILTINS: dict[str, int | None] = {
    **BUILTINS, "log1p": 1, "expm1": 1, "erf": 1, "sign": 1, "where": 3,
}
BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
PRECEDENCE = {"lt": 0, "le": 0, "gt": 0, "ge": 0, "eq": 0, "ne": 0,
              "add": 1, "sub": 1, "mul": 2, "div": 2, "sign": 3, "pow": 4}
RIGHT_ASSOCIATIVE = {"pow"}
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "neg": "-",
           **{kind: text for text, kind in COMPARISONS.items()}}

_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/(),=])"
)
_FORMULA_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*'?)"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/(),=<>])"
)
_BLANKS = str.maketrans("\t\r\n", "   ")
_HINTS = {
    "^": "use ** for powers",
    ".": "attribute access is not part of the grammar",
    "'": "strings are not part of the grammar",
    '"': "strings are not part of the grammar",
    "[": "indexing is not part of the grammar",
    ":": "lambdas and slices are not part of the grammar",
}


class ExprError(InputError):
    """A bad expression, with the column (0-based) and span of the offending part for a caret."""

    def __init__(self, message: str, source: str, column: int, end: int | None = None):
        super().__init__(f"{message} (column {column + 1})")
        self.reason = message
        self.source = source
        self.column = column
        self.end = max(column + 1, end if end is not None else column + 1)

    def caret_lines(self, width: int = 72) -> tuple[str, str]:
        """The expression (a window of it when long) and a line with ^~~ under the offending part."""
        start = max(0, min(self.column - width // 2, len(self.source) - width))
        shown = self.source[start:start + width].translate(_BLANKS)  # one line, columns kept
        prefix = "…" if start > 0 else ""
        suffix = "…" if start + width < len(self.source) else ""
        column = self.column - start + len(prefix)
        tildes = max(0, min(self.end, start + width) - self.column - 1)
        return prefix + shown + suffix, " " * column + "^" + "~" * tildes


@dataclass(eq=False, repr=False)
class Expr:
    """One node of the syntax tree; `start:end` is its text in the source, `at` the column to blame."""

    kind: str  # num, name, neg, add, sub, mul, div, pow, call
    start: int
    end: int
    at: int
    children: tuple[Expr, ...] = ()
    value: float = 0.0  # for num
    name: str = ""  # variable name (name) or canonical function name (call)
    params: tuple[tuple[str, float], ...] = field(default=())  # keyword parameters of a call
    function: Function | None = None  # what a call of a passed-in function calls (None: a built-in)

    def __repr__(self) -> str:  # shallow: a deep tree must not recurse
        detail = self.name or (repr(self.value) if self.kind == "num" else "")
        return f"Expr({self.kind} {detail} [{self.start}:{self.end}] children={len(self.children)})"


class Token(NamedTuple):
    kind: str  # num, name, op, end
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + max(1, len(self.text))


def function_names(functions: Functions = NO_FUNCTIONS) -> list[str]:
    """Every name that can be called: the built-ins, then the functions passed in (activations and aliases)."""
    return [*BUILTINS, *functions.names()]


def tokenize(source: str, formula: bool = False) -> list[Token]:
    """The tokens of `source`, then an `end` token; an ExprError at the first character that fits none."""
    tokens: list[Token] = []
    position = 0
    pattern = _FORMULA_TOKEN if formula else _TOKEN
    while position < len(source):
        match = pattern.match(source, position)
        if match is None:
            char = source[position]
            hint = _HINTS.get(char)
            message = f"unexpected character {char!r}" + (f": {hint}" if hint else "")
            raise ExprError(message, source, position)
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup or "", match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


@dataclass
class _Frame:
    """An open parenthesis on the operator stack: a plain group, or the argument list of a call."""

    token: Token  # the '(' (for a call, the function name)
    base: int  # height of the operand stack when it opened
    function: str | None = None  # canonical function name for a call
    callee: Function | None = None  # the passed-in function it calls (None: a built-in)
    args: list[Expr] = field(default_factory=list)
    params: dict[str, tuple[float, int]] = field(default_factory=dict)  # name -> (value, column)
    keyword: Token | None = None  # the name of the keyword argument being parsed


@dataclass(frozen=True)
class _Operator:
    kind: str  # add, sub, mul, div, pow, or "neg"/"pos" for a sign
    token: Token

    @property
    def precedence(self) -> int:
        return PRECEDENCE["sign" if self.kind in ("neg", "pos") else self.kind]


def parse(source: str, formula: bool = False, functions: Functions = NO_FUNCTIONS) -> Expr:
    """The syntax tree of `source`; an ExprError (an InputError) pointing at the first problem.

    `formula`: the richer grammar of activations written as formulas (FORMULA_BUILTINS, comparisons, A'(u));
    `functions`: what a call may name beyond the built-ins.
    """
    return _Parser(source, formula, functions).run()


class _Parser:
    """Shunting-yard with a stack of operators and open parentheses and a stack of finished operands."""

    def __init__(self, source: str, formula: bool = False, functions: Functions = NO_FUNCTIONS):
        self.source = source
        self.formula = formula
        self.functions = functions
        self.builtins = FORMULA_BUILTINS if formula else BUILTINS
        self.tokens = tokenize(source, formula)
        self.operands: list[Expr] = []
        self.stack: list[_Operator | _Frame] = []

    def fail(self, message: str, token: Token) -> ExprError:
        return ExprError(message, self.source, token.start, token.end)

    def run(self) -> Expr:
        if self.tokens[0].kind == "end":
            raise ExprError("the expression is empty", self.source, 0)
        expect_operand = True
        i = 0
        while True:
            token = self.tokens[i]
            following = self.tokens[i + 1] if token.kind != "end" else token
            if expect_operand:
                i, expect_operand = self.operand(token, following, i)
            elif token.kind == "end":
                break
            else:
                expect_operand = self.after_operand(token)
                i += 1
        self.reduce_until_frame()
        if self.stack:
            frame = self.stack[-1]
            assert isinstance(frame, _Frame)
            raise self.fail(f"this '{frame.function or ''}(' is never closed", frame.token)
        return self.operands[0]

    def operand(self, token: Token, following: Token, i: int) -> tuple[int, bool]:
        """Handle a token where an operand must start; the next token index and whether one still must."""
        if token.kind == "num":
            value = float(token.text)
            if not math.isfinite(value):
                raise self.fail(f"the number {token.text} is too large for float64", token)
            self.operands.append(Expr("num", token.start, token.end, token.start, value=value))
            return i + 1, False
        if token.kind == "name" and following.text == "=" and self.at_argument_start():
            frame = self.stack[-1]
            assert isinstance(frame, _Frame)
            frame.keyword = token
            return i + 2, True
        if token.kind == "name" and following.text == "(":
            self.stack.append(_Frame(token, len(self.operands), *self.function(token)))
            return i + 2, True
        if token.kind == "name":
            self.operands.append(Expr("name", token.start, token.end, token.start, name=token.text))
            return i + 1, False
        if token.text in ("-", "+"):
            self.stack.append(_Operator("neg" if token.text == "-" else "pos", token))
            return i + 1, True
        if token.text == "(":
            self.stack.append(_Frame(token, len(self.operands)))
            return i + 1, True
        if token.kind == "end":
            raise self.fail("the expression ends where a number, name or '(' should follow", token)
        top = self.stack[-1] if self.stack else None
        if token.text == ")" and isinstance(top, _Frame) and top.function and not top.args and not top.params:
            raise self.fail(f"{top.function}() needs an argument", token)
        raise self.fail(f"expected a number, a name or '(' but found {token.text!r}", token)

    def after_operand(self, token: Token) -> bool:
        """Handle a token that follows a complete operand; whether an operand must come next."""
        if token.text in BINARY_OPS or (self.formula and token.text in COMPARISONS):
            operator = _Operator(BINARY_OPS.get(token.text) or COMPARISONS[token.text], token)
            self.reduce_while(operator)
            self.stack.append(operator)
            return True
        if token.text == ")":
            frame = self.close_frame(token)
            if frame.function is None:  # a group: its text now includes the parentheses
                inner = self.operands[-1]
                inner.start, inner.end = frame.token.start, token.end
                return False
            self.finish_argument(frame)
            self.operands.append(self.build_call(frame, token))
            return False
        if token.text == ",":
            frame = self.close_frame(token)
            if frame.function is None:
                raise self.fail("',' outside a function call", token)
            self.finish_argument(frame)
            self.stack.append(frame)
            return True
        if token.text == "=":
            raise self.fail("'=' only names a function parameter, as in leaky_relu(x, alpha=0.1)", token)
        hint = " (write 2*x, not 2x)" if token.kind == "name" else ""
        raise self.fail(f"expected an operator or ')' but found {token.text!r}{hint}", token)

    def at_argument_start(self) -> bool:
        """Whether the parser stands right after '(' or ',' of a call: only there can `name=` appear."""
        top = self.stack[-1] if self.stack else None
        return isinstance(top, _Frame) and top.function is not None and len(self.operands) == top.base

    def function(self, token: Token) -> tuple[str, Function | None]:
        """The canonical name of the function `token` calls, and the passed-in function (None: a built-in)."""
        if token.text in self.builtins:
            return token.text, None
        text, prime = (token.text[:-1], "'") if token.text.endswith("'") else (token.text, "")
        found = self.functions.find(text)
        if found is not None:
            return found.name + prime, found
        what = "a formula" if self.formula else "graph"
        if self.functions.maps_vector(text):
            raise self.fail(f"{text} maps a whole vector; {what} takes element-wise functions", token)
        error = unknown_name("function", text, [*self.builtins, *self.functions.names()])
        raise self.fail(str(error), token)

    def reduce_while(self, incoming: _Operator) -> None:
        while self.stack and isinstance(top := self.stack[-1], _Operator):
            left_first = top.precedence > incoming.precedence or (
                top.precedence == incoming.precedence and incoming.kind not in RIGHT_ASSOCIATIVE
            )
            if not left_first:
                return
            self.reduce_one()

    def reduce_until_frame(self) -> None:
        while self.stack and isinstance(self.stack[-1], _Operator):
            self.reduce_one()

    def reduce_one(self) -> None:
        operator = self.stack.pop()
        assert isinstance(operator, _Operator)
        start = operator.token.start
        if operator.kind in ("neg", "pos"):
            operand = self.operands.pop()
            if operator.kind == "pos":
                self.operands.append(operand)
            elif operand.kind == "num":  # a negative literal is a number, not a gate
                self.operands.append(Expr("num", start, operand.end, start, value=-operand.value))
            else:
                self.operands.append(Expr("neg", start, operand.end, start, (operand,)))
            return
        right = self.operands.pop()
        left = self.operands.pop()
        self.operands.append(Expr(operator.kind, left.start, right.end, start, (left, right)))

    def close_frame(self, token: Token) -> _Frame:
        self.reduce_until_frame()
        if not self.stack:
            message = "this ')' has no matching '('" if token.text == ")" else "',' outside a function call"
            raise self.fail(message, token)
        frame = self.stack.pop()
        assert isinstance(frame, _Frame)
        return frame

    def finish_argument(self, frame: _Frame) -> None:
        argument = self.operands.pop()
        if frame.keyword is None:
            if frame.params:
                raise ExprError("a positional argument follows a keyword argument", self.source,
                                argument.start, argument.end)
            frame.args.append(argument)
            return
        name = frame.keyword.text
        if argument.kind != "num":
            raise ExprError(f"parameter {name} takes a number, as in {name}=0.1", self.source,
                            argument.start, argument.end)
        if name in frame.params:
            raise self.fail(f"parameter {name} is given twice", frame.keyword)
        frame.params[name] = (argument.value, frame.keyword.start)
        frame.keyword = None

    def build_call(self, frame: _Frame, closing: Token) -> Expr:
        name = frame.function or ""
        call_start = frame.token.start
        builtins = self.builtins
        arity = builtins[name] if name in builtins else 1
        given = len(frame.args)
        if arity is None and given < 2:
            raise ExprError(f"{name}() takes two or more arguments", self.source, call_start, closing.end)
        if arity is not None and given != arity:
            count = {1: "exactly one argument", 3: "three arguments: where(condition, then, else)"}[arity]
            raise ExprError(f"{name}() takes {count} (got {given})"
                            + ("; give parameters by name, as in leaky_relu(x, alpha=0.1)" if given > 1
                               and name not in builtins else ""),
                            self.source, call_start, closing.end)
        params: tuple[tuple[str, float], ...] = ()
        callee = frame.callee
        if frame.params:
            if callee is None:
                column = min(col for _, col in frame.params.values())
                raise ExprError(f"{name}() takes no parameters", self.source, column)
            try:
                resolved = callee.resolve({k: v for k, (v, _) in frame.params.items()})
            except InputError as error:
                column = min(col for _, col in frame.params.values())
                raise ExprError(str(error), self.source, column) from None
            params = tuple(resolved.items())
        elif callee is not None:
            try:
                params = tuple(callee.resolve({}).items())
            except InputError as error:  # a user activation whose parameter has no value
                raise ExprError(str(error), self.source, call_start, closing.end) from None
        return Expr("call", call_start, closing.end, call_start, tuple(frame.args), name=name, params=params,
                    function=callee)
