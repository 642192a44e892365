"""Per-request sampling seeds that do not depend on scheduling order or on the process."""

from __future__ import annotations

import hashlib

import msgspec

__all__ = ("derive_seed",)

_SEED_BITS = 63
_ENCODE = msgspec.json.encode


def derive_seed(*, run_seed: int, task_id: str, sample_index: int, turn: int, role: str) -> int:
    """A 63-bit sampling seed for one LLM request, the same on every run and machine.

    The tuple is JSON-encoded (so ``("a1", ...)`` and ``("a", "1"...)`` cannot collide) and
    hashed with BLAKE2b; Python's ``hash()`` is salted per process and would not reproduce.
    63 bits fit every server's signed 64-bit seed field.

    Args:
        run_seed: the run's seed.
        task_id: the task being played.
        sample_index: which sample of that task (0-based).
        turn: the turn index within the episode.
        role: who is speaking (``agent`` or ``user``); both sides get different seeds.

    Returns:
        An integer in ``[0, 2**63)``.
    """
    material = _ENCODE((run_seed, task_id, sample_index, turn, role))
    digest = hashlib.blake2b(material, digest_size=8, person=b"cove-seed").digest()
    return int.from_bytes(digest, "big") >> (64 - _SEED_BITS)
