"""The outcome of a run of named checks: the books check, a proof file's verification, the soak's checks."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Problem lines kept per check; the rest are counted in one more line.
PROBLEMS_PER_CHECK = 20


@dataclass
class CheckReport:
    """``checked`` names the checks that held; ``problems`` holds one ``name: problem`` line per
    failure (at most :data:`PROBLEMS_PER_CHECK` per check, then one line counting the rest)."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.problems

    def expect(self, name: str, failures: list[str]) -> None:
        """Record check ``name``: held when ``failures`` is empty, else its failures."""
        if failures:
            self.problems += [f"{name}: {f}" for f in failures[:PROBLEMS_PER_CHECK]]
            if len(failures) > PROBLEMS_PER_CHECK:
                self.problems.append(f"{name}: … and {len(failures) - PROBLEMS_PER_CHECK} more")
        else:
            self.checked.append(name)
