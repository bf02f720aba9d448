"""Channel permissions: who may subscribe, publish, query presence, read history.

Checked in the command layer (:class:`~.commands.Commands`), so every
transport and dialect gets the same answer. A decision, in order:

1. The token's own ``channels`` claim (:attr:`Principal.channels`): a name
   matching none of its patterns is forbidden.
2. Your ``authorize(principal, action, channel)`` hook: ``True`` or ``False``
   decides; ``None`` leaves it to the rules.
3. The first :class:`~praison_push.config.ChannelRule` whose pattern matches:
   ``AuthConfig.channel_rules``, then :data:`BUILTIN_RULES`.
4. No rule: allowed (ordinary channel names are open, as they always were).

Names are the ones clients use (``notifications``, not the org-scoped
``notifications#acme``); organisation scoping (:mod:`.scopes`) applies on top.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Sequence

from ..config import ChannelRule
from ..protocol import ErrorCode, FrameError
from .principal import Principal

__all__ = ["ACTIONS", "BUILTIN_RULES", "AuthorizeHook", "ChannelPolicy"]

logger = logging.getLogger("praison_push.hub")

#: What a rule governs.
ACTIONS = ("subscribe", "publish", "presence", "history")

AuthorizeHook = Callable[[Principal, str, str], "bool | None"]
"""``authorize(principal, action, channel) -> bool | None``: your own rule, asked
before the configured ones (``None``: let the rules decide). Runs on the event
loop for every subscribe/publish: keep it quick."""

#: The built-in rules, after the configured ones (the first match decides).
BUILTIN_RULES: tuple[ChannelRule, ...] = (
    ChannelRule(
        pattern="user:{user_id}:*",
        subscribe="owner",
        publish="owner",
        presence="owner",
        history="owner",
    ),
    ChannelRule(
        pattern="org:{org_id}:*",
        subscribe="owner",
        publish="owner",
        presence="owner",
        history="owner",
    ),
    ChannelRule(pattern="public:*"),
    ChannelRule(
        pattern="$dead-letter",
        subscribe="operator",
        publish="nobody",
        presence="operator",
        history="operator",
        permission="dead_letter",
    ),
    ChannelRule(
        pattern="$*", subscribe="nobody", publish="nobody", presence="nobody", history="nobody"
    ),
)

_PLACEHOLDER = re.compile(r"\{(user_id|org_id)\}")


def _compile(pattern: str) -> re.Pattern[str]:
    """A regex for a rule pattern: globs, and placeholders as named one-segment groups."""
    out: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        out.append(fnmatch.translate(pattern[position : match.start()])[4:-3])
        out.append(f"(?P<{match.group(1)}>[^:]+)")
        position = match.end()
    out.append(fnmatch.translate(pattern[position:])[4:-3])
    return re.compile("".join(out), re.DOTALL)


class ChannelPolicy:
    """The channel permissions of one gateway.

    Args:
        rules: The configured rules (``AuthConfig.channel_rules``).
        hook: Your own ``authorize`` function.
    """

    def __init__(self, rules: Sequence[ChannelRule], hook: AuthorizeHook | None = None) -> None:
        self._rules = [(rule, _compile(rule.pattern)) for rule in (*rules, *BUILTIN_RULES)]
        self._hook = hook

    def allowed(self, principal: Principal, action: str, channel: str) -> bool:
        """Whether ``principal`` may ``action`` (one of :data:`ACTIONS`) on ``channel``."""
        limits = principal.channels
        if limits is not None and not any(fnmatch.fnmatchcase(channel, p) for p in limits):
            return False
        if self._hook is not None:
            try:
                decided = self._hook(principal, action, channel)
            except Exception:
                # A bug in the hook denies (never allows); it is the operator's to see.
                logger.exception("the authorize hook failed for %s on %r", action, channel)
                return False
            if decided is not None:
                return bool(decided)
        for rule, regex in self._rules:
            match = regex.fullmatch(channel)
            if match is None:
                continue
            access = getattr(rule, action)
            if access == "nobody":
                return False
            if principal.operator or access == "all":
                return True
            if rule.permission is not None and rule.permission in principal.permissions:
                return True
            if access == "owner":
                wanted = match.groupdict()
                return all(
                    getattr(principal, key) is not None and getattr(principal, key) == value
                    for key, value in wanted.items()
                )
            return False  # operator only
        return True

    def check(self, principal: Principal, action: str, channel: str) -> None:
        """Raise ``forbidden`` (naming the action and the channel) unless allowed."""
        if not self.allowed(principal, action, channel):
            raise FrameError(
                ErrorCode.FORBIDDEN,
                f"{action} on channel {channel!r} is not allowed",
                field="channel",
                details={"action": action, "channel": channel},
            )
