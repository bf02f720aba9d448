"""Jittered exponential backoff, as a pure function of the attempt number.

No clock and no random source inside: the caller passes a uniform random
number, so the schedule is testable and the client decides where randomness
comes from. "Equal jitter" keeps at least half the delay, so a storm of
clients reconnecting after a gateway restart spreads out without any of them
retrying instantly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delay schedule ``initial × factor^attempt``, capped at ``maximum``, jittered.

    Attributes:
        initial: Delay before the first retry, in seconds.
        maximum: Upper bound of any delay.
        factor: Growth per attempt.
        jitter: Fraction of the delay that is randomised (0 = none, 1 = full jitter).
    """

    initial: float = 0.25
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial:
            raise ValueError("need 0 <= initial <= maximum")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def delay(self, attempt: int, rnd: float) -> float:
        """The delay before retry number ``attempt`` (0-based).

        Args:
            attempt: How many retries came before this one.
            rnd: A uniform random number in ``[0, 1)``.
        """
        # Cap the exponent so huge attempt counts cannot overflow a float.
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter) + base * self.jitter * rnd
