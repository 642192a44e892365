"""CoVe tasks: explicit constraints sampled from a world, fuzzy descriptions, user instructions."""

from cove_async.tasks._model import Call, Constraint, Difficulty, FuzzyRef, Intent, Ref, Task, UserInstruction

__all__ = ("Call", "Constraint", "Difficulty", "FuzzyRef", "Intent", "Ref", "Task", "UserInstruction")
