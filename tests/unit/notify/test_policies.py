"""SLA policies: selection, due times, steps, YAML validation with precise errors, reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.slapolicy import PolicyError, PolicyHolder, load_policies
from services.common.slapolicy.durations import format_duration, parse_duration, parse_multiple, parse_share

DATA = Path(__file__).resolve().parents[2] / "data" / "sla"
T0 = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)  # Friday 16:00 in London (GMT)


@pytest.fixture(scope="module")
def shipped():
    return load_policies()


@pytest.fixture(scope="module")
def office():
    return load_policies(DATA / "office.yaml")


def test_shipped_policies_select_default_and_legal_by_tag(shipped):
    assert shipped.names() == ["legal", "default"]
    assert shipped.select("high", "billing", "x", []).name == "default"
    assert shipped.select("high", "billing", "x", ["legal-threat"]).name == "legal"
    assert shipped.resolve("legal", "normal", "billing", "x").name == "legal"
    assert shipped.resolve("no-such-policy", "normal", "billing", "x").name == "default"
    assert shipped.resolve(None, "normal", "billing", "x").name == "default"


def test_shipped_default_targets_match_the_legacy_table(shipped):
    from services.common.sla import DEFAULT_FIRST_RESPONSE_TARGETS, first_response_due

    for priority, seconds in DEFAULT_FIRST_RESPONSE_TARGETS.items():
        policy = shipped.select(priority, "support", "x")
        assert policy.due("first_response", T0) == first_response_due(T0, priority, DEFAULT_FIRST_RESPONSE_TARGETS)
        assert policy.target("first_response") == seconds


def test_due_is_calendar_aware_and_honours_pauses(office):
    policy = office.select("high", "billing", "email")
    assert policy.name == "office"
    assert policy.due("first_response", T0) == datetime(2026, 2, 2, 10, 0, tzinfo=UTC)  # 1 h Fri + 1 h Mon
    paused = policy.due("first_response", T0, [(T0 + timedelta(minutes=30), datetime(2026, 2, 2, 9, 0, tzinfo=UTC))])
    assert paused == datetime(2026, 2, 2, 10, 30, tzinfo=UTC)
    assert policy.due("first_response", T0, [(T0 + timedelta(minutes=30), None)]) is None
    other = office.select("high", "product", "x")
    assert other.name == "default" and other.due("first_response", T0) == T0 + timedelta(hours=4)
    assert other.target("next_response") is None and other.due("next_response", T0) is None


def test_a_pause_after_the_breach_does_not_move_the_breach(shipped):
    """60-minute target from 12:00 on 24/7, paused 13:30-14:00: the breach was 13:00."""
    policy = shipped.select("high", "support", "x")
    noon = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    assert policy.target("first_response") == 3600
    late_pause = [(noon + timedelta(minutes=90), noon + timedelta(hours=2))]
    assert policy.due("first_response", noon, late_pause) == noon + timedelta(hours=1)
    assert policy.due("first_response", noon, [(noon + timedelta(minutes=90), None)]) == noon + timedelta(hours=1)
    # A pause before the breach still moves it by the time paused, and one exactly at the breach moves nothing.
    early = [(noon + timedelta(minutes=30), noon + timedelta(minutes=45))]
    assert policy.due("first_response", noon, early) == noon + timedelta(minutes=75)
    at_breach = [(noon + timedelta(hours=1), noon + timedelta(hours=3))]
    assert policy.due("first_response", noon, at_breach) == noon + timedelta(hours=1)
    # Two pauses: the second starts after the (moved) breach at 13:15.
    both = early + late_pause
    assert policy.due("first_response", noon, both) == noon + timedelta(minutes=75)


def test_steps_follow_the_chain_and_the_case(office):
    critical_public = office.select("critical", "billing", "x")
    steps = [(s.name, s.offset_s, s.level, s.notify, s.action) for s in critical_public.steps("first_response")]
    assert steps == [
        ("warn_50", 1800.0, "warning", (), None),
        ("reassign_idle", 1800.0, "rule", ("team_lead",), "reassign"),
        ("remind_15m", 2700.0, "warning", ("agents",), None),
        ("breach", 3600.0, "breach", ("team_lead", "pr"), None),
        ("head_of_department", 7200.0, "escalation", ("head_of_department",), "escalate"),
    ]
    normal_private = office.select("normal", "support", "email")
    assert [(s.name, s.notify) for s in normal_private.steps("first_response")] == [
        ("warn_50", ()), ("remind_15m", ("agents",)), ("breach", ("team_lead",)),
        ("head_of_department", ("head_of_department",))]
    assert "reassign_idle" not in [s.name for s in normal_private.steps("resolution")]
    step, calendar = normal_private.autoclose()
    assert (step.name, step.offset_s, step.action, calendar.always_open) == ("autoclose", 3 * 86400, "autoclose", True)


def test_warnings_too_close_to_the_breach_are_skipped(shipped):
    policy = shipped.select("critical", "billing", "x")
    assert [s.name for s in policy.steps("first_response", 2.0)] == ["breach", "head_of_department"]
    assert [s.name for s in policy.steps("first_response", 900.0)][:2] == ["warn_50", "warn_80"]


def test_recipients_resolve_per_department(office):
    assert office.targets_for("head_of_department", "billing") == ("email:billing-head@example.com",)
    assert office.targets_for("head_of_department", "support") == ("email:head@example.com",)
    assert office.targets_for("team_lead", "support") == ("webhook", "email:lead@example.com")
    assert office.targets_for("nobody", "support") == ()


def test_first_response_override_changes_only_the_default_policy(shipped):
    overridden = shipped.with_first_response_targets({"critical": 2.0, "low": 60.0})
    assert overridden.select("critical", "billing", "x").target("first_response") == 2.0
    assert overridden.select("high", "billing", "x").target("first_response") == 3600.0
    assert overridden.select("critical", "billing", "x", ["legal-threat"]).target("first_response") == 7200.0
    assert shipped.select("critical", "billing", "x").target("first_response") == 900.0  # the original is untouched


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    return [p.replace(str(path), "p.yaml") for p in caught.value.problems]


def test_every_problem_names_file_policy_and_field(tmp_path):
    problems = _problems(tmp_path, """
version: 1
calendars:
  office: {timezone: Mars/Base, hours: {mon-fri: "09:00-17:00", funday: "10:00-11:00"}, holidays: [2026-13-01]}
recipients:
  lead: [webhook, "sms:+44123", "email:nobody"]
policies:
  - name: billing
    calendar: offcie
    applies_to: {priority: urgent, channel: [x, fax], colour: red}
    targets:
      first_response: {critical: 15x, high: 1h, normal: 4h, low: 1d, someday: 2d}
      reply: 1h
    warnings: ["120%", {before: soon}]
    breach: {notify: [lead, boss]}
    escalation:
      - {name: up, at: 0.5x}
      - {name: twice, at: 2x, after_breach: 1h}
    rules:
      - {name: close, action: delete, after: 1d}
    colour: red
  - name: billing
    applies_to: {department: billing}
    targets: {first_response: 1h}
""")
    assert problems == [
        "p.yaml: calendar 'office': hours.funday: 'funday' is not a weekday, range or list of them (mon-fri, sat,sun, daily)",
        "p.yaml: calendar 'office': holidays[0]: '2026-13-01' is not a date like 2026-12-25",
        "p.yaml: calendar 'office': unknown time zone 'Mars/Base'",
        "p.yaml: recipients.lead: 'sms:+44123' is not a target; use webhook, webhook:https://…, email:someone@example.com",
        "p.yaml: recipients.lead: 'email:nobody' is not an e-mail address",
        "p.yaml: policy 'billing': colour: unknown field; one of applies_to, breach, calendar, description, escalation, "
        "name, rules, targets, warning_min_lead, warnings",
        "p.yaml: policy 'billing': calendar: unknown calendar 'offcie'; one of 24/7, office",
        "p.yaml: policy 'billing': applies_to.colour: unknown field; one of channel, department, priority, public, tags",
        "p.yaml: policy 'billing': applies_to.priority: unknown 'urgent'; one of critical, high, normal, low",
        "p.yaml: policy 'billing': applies_to.channel: unknown 'fax'; one of x, facebook, instagram, email, review, blog, "
        "forum, call_center, chat, other",
        "p.yaml: policy 'billing': targets.first_response.someday: unknown priority; one of critical, high, normal, low",
        "p.yaml: policy 'billing': targets.first_response.critical: '15x' is not a duration (like 90s, 15m, 4h, 2d)",
        "p.yaml: policy 'billing': targets.reply: unknown clock; one of first_response, next_response, resolution",
        "p.yaml: policy 'billing': targets.first_response: needs every priority; missing critical",
        "p.yaml: policy 'billing': warnings[0].at: '120%' must lie strictly between 0% and 100% of the target",
        "p.yaml: policy 'billing': warnings[1].before: 'soon' is not a duration (like 90s, 15m, 4h, 2d)",
        "p.yaml: policy 'billing': breach.notify[1]: unknown role 'boss'; declare it under recipients (lead)",
        "p.yaml: policy 'billing': escalation[up].at: '0.5x' must be at least the target itself (1x, 100%)",
        "p.yaml: policy 'billing': escalation[twice]: give either at (2x, 200%) or after_breach (1h)",
        "p.yaml: policy 'billing': rules[close].action: 'delete' is not one of notify, escalate, reassign, autoclose",
        "p.yaml: policy 'billing': is defined more than once",
        "p.yaml: policies: no policy applies to every case; end the list with one without applies_to",
    ]


def test_invalid_yaml_points_at_the_line(tmp_path):
    assert _problems(tmp_path, "version: 1\npolicies: [\n  - name: x\n") == [
        "p.yaml: line 3, column 3: not valid YAML: expected the node content, but found '-'"]


def test_structural_problems(tmp_path):
    assert _problems(tmp_path, "- just a list") == [
        "p.yaml: expects a mapping with version, calendars, recipients, policies"]
    assert _problems(tmp_path, "version: 2\npolicies: []\n") == [
        "p.yaml: version: 2 is not a supported version (1)", "p.yaml: policies: expects a non-empty list of policies"]
    assert _problems(tmp_path, "version: 1\npolicies:\n  - name: a\n    targets: {resolution: 1h}\n"
                               "    warnings: [{at: 50%, before: 1h}]\n    rules: [{name: a, action: autoclose, "
                               "after: 1d, timers: [first_response]}]\n") == [
        "p.yaml: policy 'a': targets.first_response: is required (route stamps it on every case)",
        "p.yaml: policy 'a': warnings[0]: give either at (80%) or before (15m)",
        "p.yaml: policy 'a': rules[a].timers: autoclose counts the time a case waits on the customer; it has no timers"]


def test_duplicate_step_names_are_refused(tmp_path):
    assert _problems(tmp_path, "version: 1\npolicies:\n  - name: a\n    targets: {first_response: 1h}\n"
                               "    escalation: [{name: breach, at: 2x}]\n") == [
        "p.yaml: policy 'a': steps: step names must be unique within a policy; repeated: breach"]


def test_unreadable_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policies(tmp_path / "missing.yaml")


def test_holder_reloads_a_good_file_and_refuses_a_bad_one(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text((DATA / "office.yaml").read_text())
    outcomes: list[str] = []
    holder = PolicyHolder(path, {"critical": 30.0}, on_reload=outcomes.append)
    assert holder.current().select("critical", "product", "x").target("first_response") == 30.0  # override on default
    assert holder.check() is False  # unchanged
    path.write_text((DATA / "office.yaml").read_text().replace("first_response: 4h", "first_response: 2h"))
    assert holder.check() is True and outcomes == ["applied"]
    assert holder.current().select("high", "product", "x").target("first_response") == 7200.0
    assert holder.current().select("critical", "product", "x").target("first_response") == 30.0  # re-applied
    path.write_text("version: 1\npolicies: [{name: broken}]\n")
    assert holder.check() is False and outcomes == ["applied", "refused"]
    assert "policy 'broken': targets: expects" in holder.last_error
    assert holder.current().select("high", "product", "x").target("first_response") == 7200.0  # last good stays


def test_holder_refuses_to_start_on_a_bad_file_or_override(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\n")
    with pytest.raises(PolicyError):
        PolicyHolder(path)
    with pytest.raises(ConfigError, match="unknown priorities"):
        PolicyHolder(None, {"urgent": 5.0})
    with pytest.raises(ConfigError, match="positive"):
        PolicyHolder(None, {"high": 0.0})


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("4h", 14400), ("1h30m", 5400), ("2d", 172800),
                                          ("1w", 604800), (45, 45), (1.5, 1.5), ("1.5h", 5400), (" 2 h ", 7200)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "15", "15x", "-1h", 0, -5, True, None, "h", "1h-"])
def test_parse_duration_refuses(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_shares_multiples_and_names():
    assert parse_share("80%") == 0.8 and parse_share(0.5) == 0.5
    assert parse_multiple("2x") == 2.0 and parse_multiple("150%") == 1.5 and parse_multiple(3) == 3.0
    assert [format_duration(s) for s in (900, 5400, 86400, 90061, 1.5)] == ["15m", "1h30m", "1d", "1d1h1m1s", "1.5s"]
    for bad in ("0%", "100%", 1.2, "x"):
        with pytest.raises(ValueError):
            parse_share(bad)
