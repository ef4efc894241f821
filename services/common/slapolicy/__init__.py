"""SLA policies: targets, business-hours calendars, warnings and escalation chains (pure).

route stamps `first_response_due_at` with it and notify runs its clocks with it, so both
compute identical times. The API route needs:

    policies = load_policies(path_or_None)            # PolicySet; PolicyError if invalid
    policy = policies.resolve(case.sla_policy, priority, department, channel, tags)
    due = policy.due("first_response", created_at)    # event time, calendar-aware

`PolicyHolder(path, overrides)` adds reload-on-change (bad files refused) and the legacy
`HEATDESK_SLA_FIRST_RESPONSE_TARGETS` overrides.
"""

from services.common.slapolicy.calendar import TWENTY_FOUR_SEVEN, Calendar, CalendarError
from services.common.slapolicy.durations import format_duration, parse_duration
from services.common.slapolicy.holder import PolicyHolder, check_overrides
from services.common.slapolicy.loader import PolicyError, load_policies, parse_policies
from services.common.slapolicy.model import (
    KINDS,
    PRIORITIES,
    RESPONSE_KINDS,
    CaseFacts,
    Policy,
    PolicyDefinition,
    PolicySet,
    Step,
)
from services.common.slapolicy.timing import SlaClock

__all__ = [
    "KINDS", "PRIORITIES", "RESPONSE_KINDS", "TWENTY_FOUR_SEVEN", "Calendar", "CalendarError", "CaseFacts", "Policy",
    "PolicyDefinition", "PolicyError", "PolicyHolder", "PolicySet", "SlaClock", "Step", "check_overrides",
    "format_duration", "load_policies", "parse_duration", "parse_policies",
]
