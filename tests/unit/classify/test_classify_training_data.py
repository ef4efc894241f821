"""Reading the public training sources of `heatdesk train`: copies of the CFPB complaint database
(`--cfpb-extra`) and GoEmotions' Reddit comments (`--goemotions`). Pure logic."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from services.classify.training_data import CFPB_EXPORT_COLUMNS, GOEMOTIONS_LABELS, cfpb_extra, goemotions, written


def write_export(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = CFPB_EXPORT_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def complaint(cid: str, text: str, product: str = "Debt collection", issue: str = "Attempts to collect debt not owed"):
    return {"Complaint ID": cid, "Consumer complaint narrative": text, "Product": product, "Issue": issue}


def test_narratives_become_weakly_labelled_complaints_without_evaluation_rows_or_copies(tmp_path):
    held_out = "The bureau keeps reporting a late payment I never made on my card ending XXXX"
    export = write_export(tmp_path / "complaints.csv", [
        complaint("1", "They call me every day about a debt that is not mine."),
        complaint("2", "no narrative shared", issue="Incorrect information on your report"),
        complaint("3", ""),  # consumers who did not consent to publish: no narrative
        complaint("4", "An evaluation complaint, by id."),
        complaint("5", held_out + " and refuse to fix it."),  # the evaluation text under another id
        complaint("6", "They call me every day about a debt that is not mine."),  # a second copy
    ])
    rows = cfpb_extra([export], exclude={"4"}, exclude_texts=[held_out + "."])
    assert [r["text"] for r in rows] == ["They call me every day about a debt that is not mine.", "no narrative shared"]
    assert [r["department"] for r in rows] == ["billing", "product"]
    assert {(r["sentiment"], r["intent"], r["source"]) for r in rows} == {("negative", "complaint", "cfpb_extra")}


def test_copies_without_issue_or_id_are_read_and_the_limit_holds_across_files(tmp_path):
    first = write_export(tmp_path / "a.csv", [complaint(str(i), f"complaint number {i} about my mortgage")
                                             for i in range(3)])
    bare = write_export(tmp_path / "b.csv", [{"Consumer complaint narrative": f"report {i} is wrong",
                                              "Product": "Credit reporting"} for i in range(3)],
                        columns=("Product", "Consumer complaint narrative"))
    rows = cfpb_extra([first, bare], exclude=set(), limit=5)
    assert len(rows) == 5
    assert rows[-1] == {"text": "report 1 is wrong", "sentiment": "negative", "intent": "complaint",
                        "department": "product", "source": "cfpb_extra"}


def test_a_file_that_is_not_a_cfpb_export_is_refused_by_name(tmp_path):
    other = write_export(tmp_path / "tweets.csv", [{"text": "hi"}], columns=("text",))
    with pytest.raises(ValueError, match=r"tweets.csv: not a CFPB complaint export"):
        cfpb_extra([other], exclude=set())


def emotion_ids(*names: str) -> str:
    return ",".join(str(GOEMOTIONS_LABELS.index(n)) for n in names)


def test_goemotions_comments_take_their_sentiment_group_and_mixed_ones_are_skipped(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("\n".join([
        f"Thanks [NAME], that fixed it!\t{emotion_ids('gratitude', 'joy')}\tc1",
        f"Worst update ever, it deleted my saves\t{emotion_ids('anger', 'disappointment')}\tc2",
        f"It ships on Tuesday\t{emotion_ids('neutral')}\tc3",
        f"Wait, what?\t{emotion_ids('surprise')}\tc4",  # ambiguous: no class of ours
        f"Love it but the price is a joke\t{emotion_ids('love', 'annoyance')}\tc5",  # mixed
        f"Thanks [NAME], that fixed it!\t{emotion_ids('gratitude')}\tc1",  # the same comment again
    ]) + "\n", encoding="utf-8")
    rows = goemotions([tsv])
    assert rows == [
        {"text": "Thanks Sam, that fixed it!", "sentiment": "positive", "source": "goemotions"},
        {"text": "Worst update ever, it deleted my saves", "sentiment": "negative", "source": "goemotions"},
        {"text": "It ships on Tuesday", "sentiment": "neutral", "source": "goemotions"},
    ]
    assert len(goemotions([tsv], limit=2)) == 2


@pytest.mark.parametrize(("line", "problem"), [
    ("just some text without columns", "not a GoEmotions TSV line"),
    ("text\t28\tc1", "emotion ids '28' are not GoEmotions label ids"),
    ("text\tjoy\tc1", "emotion ids 'joy' are not GoEmotions label ids"),
])
def test_a_file_that_is_not_goemotions_is_refused_with_its_line(tmp_path, line, problem):
    tsv = tmp_path / "tweets.tsv"
    tsv.write_text(f"fine\t27\tc0\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"tweets.tsv:2: {problem}"):
        goemotions([tsv])


def test_written_posts_need_every_label_and_a_complete_flag_list(tmp_path):
    from services.classify.pipeline.textcat import FLAG_NAMES, HEADS

    labels = {**HEADS, "flags": FLAG_NAMES}
    good = {"text": "@acme my order never came", "language": "en", "sentiment": "negative", "intent": "complaint",
            "department": "support", "flags": []}
    posts = tmp_path / "part-1.jsonl"
    posts.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "flags": ["churn_threat"]}) + "\n", encoding="utf-8")
    assert [r["flags"] for r in written([posts], labels)] == [[], ["churn_threat"]]
    assert {r["source"] for r in written([posts], labels)} == {"written"}
    for broken, problem in (({**good, "flags": "churn_threat"}, "flags"), ({k: v for k, v in good.items() if k != "flags"},
                            "flags"), ({**good, "intent": "rant"}, "intent"), ({**good, "text": " "}, "text")):
        posts.write_text(json.dumps(good) + "\n" + json.dumps(broken) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=rf"part-1.jsonl:2: missing or unknown {problem}"):
            written([posts], labels)
