"""What every ``praison-push`` command shares: one-line output and errors."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["UsageProblem", "encode_json", "fail", "out"]


class UsageProblem(Exception):
    """A mistake in the command line the parser could not see (exit 2)."""


def encode_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def out(line: str) -> None:
    # One write per line: callbacks print from another thread, and print()'s
    # separate newline write would let their lines run together.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> int:
    text = " ".join(message.split())
    print(f"praison-push: error: {text}", file=sys.stderr, flush=True)
    return code
