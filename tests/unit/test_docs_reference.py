"""The manual's reference pages (docs/reference/*.md) are what the code generates now.

A setting, metric, topic, event type or alert added, changed or removed without
regenerating the pages fails here with the command that fixes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services import docs_reference
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"


@pytest.mark.parametrize("name", sorted(docs_reference.render_all()))
def test_the_committed_reference_page_is_what_the_code_generates(name: str):
    path = REFERENCE / name
    assert path.is_file(), f"docs/reference/{name} is missing: run `make docs-reference`"
    committed, generated = path.read_text(), docs_reference.render_all()[name]
    if committed != generated:
        new = sorted(set(generated.splitlines()) - set(committed.splitlines()))
        gone = sorted(set(committed.splitlines()) - set(generated.splitlines()))
        pytest.fail(f"docs/reference/{name} is stale: run `make docs-reference`\n"
                    f"  not in the page yet: {new[:5]}\n  no longer in the code: {gone[:5]}", pytrace=False)


def test_every_setting_metric_topic_and_alert_is_on_its_page():
    from services.common.topics import all_topics

    pages = docs_reference.render_all()
    for row in docs_reference.settings_rows():
        assert f"| `{row['variable']}` |" in pages["settings.md"]
    for row in docs_reference.metric_rows():
        assert f"| `{row['name']}` |" in pages["metrics.md"]
    assert "heatdesk_mentions_ingested_total" in pages["metrics.md"]
    for spec in all_topics():
        assert f"| `{spec.name}` |" in pages["topics.md"]
    alerts = docs_reference.alert_rows()
    assert len(alerts) >= 10
    for alert in alerts:
        assert f"| `{alert['alert']}` |" in pages["alerts.md"]


def test_every_alert_links_to_its_runbook_section_in_the_manual():
    runbooks = (ROOT / "docs" / "operations" / "runbooks.md").read_text()
    for alert in docs_reference.alert_rows():
        assert alert["runbook_url"].endswith(f"docs/operations/runbooks.md#{alert['alert'].lower()}"), alert
        assert f"\n## {alert['alert']}\n" in runbooks, f"docs/operations/runbooks.md has no `## {alert['alert']}`"


def test_heatdesk_config_prints_the_same_settings_as_the_page(capsys):
    assert main(["config"]) == 0
    printed = capsys.readouterr().out
    for row in docs_reference.settings_rows():
        assert f"| `{row['variable']}` |" in printed


def test_docs_reference_check_names_the_stale_page(tmp_path: Path, capsys):
    assert main(["docs-reference", "--write", str(tmp_path)]) == 0
    assert main(["docs-reference", "--check", str(tmp_path)]) == 0
    (tmp_path / "metrics.md").write_text("old\n")
    assert main(["docs-reference", "--check", str(tmp_path)]) == 1
    assert "metrics.md is stale: run `make docs-reference`" in capsys.readouterr().err
