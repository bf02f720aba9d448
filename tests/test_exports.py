"""Public names: every module declares ``__all__`` and every listed name exists;
``import praison_push`` stays light."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "praison_push"
MODULES = sorted(
    ".".join(("praison_push", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for p in PACKAGE.rglob("*.py")
    if p.name != "__main__.py"
)


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_all_and_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    for name in mod.__all__:
        assert getattr(mod, name, None) is not None or name in dir(mod), f"{module}.{name}"


def test_all_is_sorted_in_package_root() -> None:
    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = ast.literal_eval(node.value)
            assert names == sorted(names)


def test_seed_names_importable() -> None:
    import praison_push
    from praison_push.sync import PushClient as SyncPushClient

    assert praison_push.PushClient is praison_push.AsyncPushClient
    assert SyncPushClient is not praison_push.PushClient
    seed_names = [
        "GatewayConfig", "PushConfig", "RedisConfig", "PresenceConfig", "DeliveryConfig",
        "PollingConfig", "ChannelMessage", "PushTransportProtocol",
    ]  # fmt: skip
    for name in seed_names:
        assert getattr(praison_push, name)


def test_import_is_light() -> None:
    heavy = ["uvicorn", "starlette", "redis", "ipywidgets", "anywidget", "websockets", "httpx"]
    heavy.append("httpx_sse")
    code = f"import sys, praison_push; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_the_client_imports_httpx_sse_only_when_an_sse_stream_opens() -> None:
    code = "import sys, praison_push.client; print('httpx_sse' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_unknown_attribute_raises() -> None:
    import praison_push

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = praison_push.no_such_name  # type: ignore[attr-defined]
