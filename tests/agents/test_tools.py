"""Python functions as model tools: schema, argument checks, results and errors."""

from __future__ import annotations

import datetime

import pytest

from praison_push.agents import Tool, requires_approval
from praison_push.agents.tools import MAX_RESULT_CHARS


async def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Longer text the model is not shown.

    Args:
        a: The first.
        b (int): The second.

    Returns:
        The sum.
    """
    return a + b


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    tool = Tool.of(add)
    assert tool.spec() == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "description": "The first."},
                    "b": {"type": "integer", "default": 2, "description": "The second."},
                },
                "required": ["a"],
                "additionalProperties": False,
            },
        },
    }
    assert tool.approval is False
    assert Tool.of(requires_approval(lambda_free)).approval is True


def lambda_free(x: str) -> str:
    return x


async def test_running_checks_arguments_and_reports_failures_as_text() -> None:
    tool = Tool.of(add)
    done = await tool.run({"a": 1, "b": "3"})
    assert (done.content, done.result, done.error) == ("4", 4, None)
    wrong = await tool.run({"a": "x", "c": 1})
    assert wrong.error is not None and wrong.content.startswith("Error: invalid arguments")
    assert "a:" in wrong.error and "c:" in wrong.error

    def broken() -> None:
        raise KeyError("gone")

    failed = await Tool.of(broken).run({})
    assert failed.error == "KeyError: 'gone'"
    with pytest.raises(ValueError, match="not valid JSON"):
        tool.parse("{")
    with pytest.raises(ValueError, match="JSON object"):
        tool.parse("[1]")
    assert tool.parse("") == {}


async def test_results_the_model_and_the_watchers_get() -> None:
    def when() -> datetime.date:
        return datetime.date(2026, 1, 12)

    def huge() -> str:
        return "x" * (MAX_RESULT_CHARS + 10)

    dated = await Tool.of(when).run({})
    assert (dated.content, dated.result) == ('"2026-01-12"', '"2026-01-12"')
    cut = await Tool.of(huge).run({})
    assert cut.content.endswith(f"[cut at {MAX_RESULT_CHARS} characters]")
    assert len(cut.content) < MAX_RESULT_CHARS + 40


def test_bad_tools_are_refused() -> None:
    with pytest.raises(TypeError):
        Tool.of(int)
    bad = lambda x: x  # noqa: E731
    with pytest.raises(ValueError, match="tool name"):
        Tool.of(bad)
