"""Python functions as model tools: their JSON schema, and running a call safely.

A tool is any function (sync or async) with type hints; its name, the first
paragraph of its docstring and its parameters (with the Google-style
``Args:`` lines as descriptions) become the JSON schema a model is offered.
Arguments the model sends are parsed and validated with pydantic before the
function runs; whatever goes wrong — bad JSON, a wrong type, the function
raising — becomes an error text the model sees, never an exception that ends
the run. Mark a tool :func:`requires_approval` to have a person allow each call.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

__all__ = ["Tool", "ToolOutcome", "requires_approval"]

F = TypeVar("F", bound=Callable[..., Any])

_APPROVAL_FLAG = "__praison_push_requires_approval__"
#: Longest tool result text handed back to the model (longer ones are cut, saying so).
MAX_RESULT_CHARS = 16_000


def requires_approval(fn: F) -> F:
    """Mark a tool function: each call waits for a person's approval (PROTOCOL.md §4)."""
    setattr(fn, _APPROVAL_FLAG, True)
    return fn


def _arg_docs(doc: str) -> dict[str, str]:
    """``name: description`` lines of a Google-style ``Args:`` section."""
    found: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped or (stripped.endswith(":") and " " not in stripped):
                in_args = False  # the section ended
                continue
            match = re.match(r"(\w+)(?:\s*\([^)]*\))?:\s*(.+)", stripped)
            if match:
                found[match.group(1)] = match.group(2)
    return found


@dataclass(frozen=True)
class ToolOutcome:
    """What running one call gave: text for the model, and what watchers are shown."""

    content: str
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True)
class Tool:
    """A function offered to a model as a tool.

    Attributes:
        name: The function's name (what the model calls).
        description: The first paragraph of its docstring.
        fn: The function (sync functions run on a worker thread).
        parameters: The JSON schema of its arguments.
        approval: Whether each call waits for a person's approval.
    """

    name: str
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any]
    approval: bool = False
    _model: type[BaseModel] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, fn: Callable[..., Any], *, approval: bool = False) -> Tool:
        """The tool for ``fn`` (a function with type hints)."""
        if not callable(fn) or inspect.isclass(fn):
            raise TypeError(f"a tool must be a function, got {fn!r}")
        name = getattr(fn, "__name__", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ValueError(f"tool name must be 1-64 letters, digits, '_' or '-': {name!r}")
        doc = inspect.getdoc(fn) or ""
        described = _arg_docs(doc)
        fields: dict[str, Any] = {}
        for parameter in inspect.signature(fn).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
            default = ... if parameter.default is parameter.empty else parameter.default
            fields[parameter.name] = (annotation, default)
        config = ConfigDict(extra="forbid")
        model = create_model(f"{name}_arguments", __config__=config, **fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        for key, prop in schema.get("properties", {}).items():
            prop.pop("title", None)
            if key in described:
                prop.setdefault("description", described[key])
        return cls(
            name=name,
            description=doc.split("\n\n", 1)[0].strip(),
            fn=fn,
            parameters=schema,
            approval=approval or bool(getattr(fn, _APPROVAL_FLAG, False)),
            _model=model,
        )

    def spec(self) -> dict[str, Any]:
        """The tool as the chat-completions API offers it."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def parse(self, arguments_text: str) -> dict[str, Any]:
        """The arguments the model sent, as a dict.

        Raises:
            ValueError: Not a JSON object (the message says so for the model).
        """
        try:
            arguments = json.loads(arguments_text or "{}")
        except ValueError as exc:
            raise ValueError(f"arguments are not valid JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise ValueError("arguments must be a JSON object")
        return arguments

    async def run(self, arguments: dict[str, Any]) -> ToolOutcome:
        """Validate ``arguments`` and call the function; never raises for the tool's faults."""
        started = time.perf_counter()
        try:
            assert self._model is not None
            values = dict(self._model.model_validate(arguments))
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(**values)
            else:
                result = await asyncio.to_thread(self.fn, **values)
                if inspect.isawaitable(result):
                    result = await result
        except asyncio.CancelledError:
            raise
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}"
                for error in exc.errors()
            )
            return self._failed(f"invalid arguments: {problems}", started)
        except Exception as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", started)
        elapsed = (time.perf_counter() - started) * 1000
        text = _as_text(result)
        return ToolOutcome(text, result=_shown(result, text), duration_ms=elapsed)

    def _failed(self, error: str, started: float) -> ToolOutcome:
        elapsed = (time.perf_counter() - started) * 1000
        return ToolOutcome(f"Error: {error}", error=error, duration_ms=elapsed)


def _as_text(result: Any) -> str:
    """What the model reads of a result (JSON unless it is text), at most MAX_RESULT_CHARS."""
    if isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, default=str, ensure_ascii=False)
        except ValueError:
            text = str(result)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"… [cut at {MAX_RESULT_CHARS} characters]"
    return text


def _shown(result: Any, text: str) -> Any:
    """The result as watchers get it: JSON values as they are, anything else as its text."""
    if isinstance(result, str) or len(text) >= MAX_RESULT_CHARS:
        return text
    try:
        return json.loads(json.dumps(result))
    except (TypeError, ValueError):
        return text
