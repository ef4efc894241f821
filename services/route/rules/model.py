"""What a rules file says, as frozen data: conditions, actions, rules, the set.

Semantics (documented for operators in docs/routing.md):
- Rules are evaluated in file order. In `mode: accumulate` (the default) every matching
  rule applies its actions in turn, so later rules refine earlier ones, until a matching
  rule says `stop: true`. In `mode: first_match` evaluation ends at the first match.
- The owner department starts as the classifier's top department. `department` replaces
  the owner; `also` adds departments that get the case on their topic too; `escalate`
  does both and records an escalation event.
- `priority` sets the bucket; `priority_at_least` only ever raises it.
- `sla_policy` names the SLA policy (the last matching rule wins); `tags` accumulate.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PRIORITIES = ("low", "normal", "high", "critical")  # ascending


@dataclasses.dataclass(frozen=True)
class Condition:
    """A leaf test (`field`, `op`, `value`) or a combinator (`all`/`any`/`not` over `children`)."""

    kind: str  # "leaf", "all", "any", "not"
    field: str = ""
    op: str = ""
    value: Any = None
    children: tuple[Condition, ...] = ()

    def describe(self) -> str:
        if self.kind == "leaf":
            return f"{self.field} {self.op} {self.value!r}"
        if self.kind == "not":
            return f"not ({self.children[0].describe()})"
        return f" {self.kind} ".join(f"({c.describe()})" for c in self.children)


@dataclasses.dataclass(frozen=True)
class Actions:
    department: str | None = None
    also: tuple[str, ...] = ()
    priority: str | None = None
    priority_at_least: str | None = None
    sla_policy: str | None = None
    tags: tuple[str, ...] = ()
    escalate: bool = False
    stop: bool = False


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    then: Actions


@dataclasses.dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    mode: str = "accumulate"
    default_sla_policy: str = "default"
    departments: tuple[str, ...] = ("billing", "product", "pr", "support")
    source: str = "<built-in>"


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the rules decided for one classified mention, and why."""

    department: str
    departments: tuple[str, ...]
    priority: str
    sla_policy: str
    tags: tuple[str, ...]
    escalated_by: tuple[str, ...]
    matched: tuple[str, ...]
    added_by_rules: tuple[str, ...]  # departments the rules brought in (not the classifier's)
    trace: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
