"""The scripted players' source of randomness: cheap to seed, fixed by (seed, position)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

__all__ = ("Dice",)

_T = TypeVar("_T")
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Dice(random.Random):
    """A ``random.Random`` whose draws depend only on (seed, position in the conversation).

    A player must say the same thing whether it is fed the conversation turn by turn or all at
    once (the simulated server builds a fresh player per request), so its draws may depend on
    where in the conversation it speaks, never on how often it was asked. Seeding the standard
    Mersenne Twister costs about 4 us, more than a whole scripted turn may spend; this SplitMix64
    generator starts in well under a microsecond and serves the usual methods (``choice``,
    ``random``, ``randrange``, ...) through :meth:`getrandbits` and :meth:`random`.

    Args:
        seed: the player's seed.
        position: where in the conversation the player is deciding.
    """

    def __init__(self, seed: int, position: int) -> None:
        self._seed = seed
        self.gauss_next = None  # what random.Random.__init__ would set besides calling seed()
        self.at(position)

    def at(self, position: int) -> Dice:
        """Restart the draws at ``position`` (a player may keep one generator: making one costs more)."""
        self._state = (self._seed * _GOLDEN + position * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK
        self._pool = 0
        return self

    def seed(self, a: Any = None, version: int = 2) -> None:
        """Ignored: the state comes from the constructor."""

    def getstate(self) -> tuple[Any, ...]:
        """The generator's state."""
        return (self._state, self._pool)

    def setstate(self, state: tuple[Any, ...]) -> None:
        """Restore a state from :meth:`getstate`."""
        self._state, self._pool = int(state[0]), int(state[1])

    def _next(self) -> int:
        self._state = z = (self._state + _GOLDEN) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def getrandbits(self, k: int) -> int:
        """``k`` random bits."""
        if k <= 64:
            return self._next() >> (64 - k)
        out, bits = 0, 0
        while bits < k:
            out, bits = (out << 64) | self._next(), bits + 64
        return out >> (bits - k)

    def random(self) -> float:
        """A float in [0, 1)."""
        return (self._next() >> 11) * (1.0 / 9007199254740992.0)

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        """One element of a non-empty sequence (one 64-bit draw: the modulo bias is below 2**-58)."""
        return seq[self._next() % len(seq)]

    def pick(self, options: Sequence[_T]) -> _T:
        """One of ``options``: several picks share one 64-bit draw, peeled off digit by digit."""
        count = len(options)
        if self._pool < count << 16:
            self._pool = self._next()
        self._pool, index = divmod(self._pool, count)
        return options[index]
