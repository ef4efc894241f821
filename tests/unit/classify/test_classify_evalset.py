"""The real-customer evaluation set: its committed form, its split and its text join."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from services.classify import evalset
from services.classify.evaluate import FLAGS
from services.classify.pipeline.textcat import HEADS

ROWS = [json.loads(line) for line in evalset.LABELS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


ROUND2 = _rows(evalset.ROUND2_PATH)
ROUND3 = _rows(evalset.ROUND3_PATH)


def test_the_set_is_large_enough_and_labelled_in_every_field():
    assert len(ROWS) >= 800
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    assert sum(bool(r["flags"]) for r in ROWS) >= 150
    for r in ROWS:
        for head, labels in HEADS.items():
            assert r[head] in labels, (r["id"], head)
        assert set(r["flags"]) <= set(FLAGS), r["id"]
        assert r["stratum"] in ("random", "non_english", "enriched")


def test_split_is_fixed_by_the_id_and_roughly_half():
    assert all(r["split"] == evalset.split_of(r["id"]) for r in ROWS)
    counts = Counter(r["split"] for r in ROWS)
    assert set(counts) == {"dev", "test"} and abs(counts["dev"] - counts["test"]) < 0.1 * len(ROWS)


def test_non_commercial_tweets_are_committed_without_their_text():
    for r in ROWS:
        assert ("text" in r) == (r["source"] in evalset.STORED_TEXT_SOURCES), r["id"]
        assert len(r["sha1"]) == 40


def test_to_committed_keeps_public_domain_text_only():
    tweet = {"id": "twcs-1", "source": "twcs", "text": "hello"}
    narrative = {"id": "cfpb-1", "source": "cfpb", "text": "XXXX charged me"}
    assert evalset.to_committed(tweet) == {"id": "twcs-1", "source": "twcs", "sha1": evalset.sha1("hello")}
    assert evalset.to_committed(narrative)["text"] == "XXXX charged me"


def test_load_refuses_a_changed_source_text(tmp_path, monkeypatch):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"id": "twcs-9", "source": "twcs", "source_id": "9", "sha1": evalset.sha1("old words"),
                                  "split": "dev"}) + "\n", encoding="utf-8")
    monkeypatch.setattr(evalset, "source_texts", lambda root: {("twcs", "9"): {"text": "new words"}})
    with pytest.raises(ValueError, match="missing or changed"):
        evalset.load(labels, root=tmp_path)
    monkeypatch.setattr(evalset, "source_texts", lambda root: {("twcs", "9"): {"text": "old words"}})
    assert evalset.load(labels, root=tmp_path)[0]["text"] == "old words"


@pytest.mark.skipif(not (evalset.data_dir() / "twcs_subset.csv").exists(), reason="evaluation sources not beside the checkout")
def test_every_committed_row_meets_its_source_text():
    rows = evalset.load()
    assert len(rows) == len(ROWS) + len(ROUND2) + len(ROUND3) and all(r["text"] for r in rows)


@pytest.mark.parametrize(("rows", "round_no", "split", "earlier"), [
    (ROUND2, 2, "test2", ROWS), (ROUND3, 3, "dev2", ROWS + ROUND2)], ids=["round2", "round3"])
def test_each_later_draw_is_new_labelled_whole_in_its_half_and_stored_without_tweet_text(rows, round_no, split, earlier):
    if not rows:
        pytest.skip(f"draw {round_no} is not labelled yet")
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert not {r["id"] for r in rows} & {r["id"] for r in earlier}
    for r in rows:
        assert r["split"] == split and r["round"] == round_no and r["source"] in ("twcs", "airline"), r["id"]
        for head, labels in HEADS.items():
            assert r[head] in labels, (r["id"], head)
        assert set(r["flags"]) <= set(FLAGS) and "text" not in r and len(r["sha1"]) == 40, r["id"]


@pytest.mark.skipif(not ROUND2 or not (evalset.data_dir() / "twcs_subset.csv").exists(),
                    reason="the second draw is not labelled yet, or its sources are not beside the checkout")
def test_the_later_draws_are_what_their_seeded_sampler_draws():
    drawn = {r["id"]: r["stratum"] for r in evalset.candidates_round2(evalset.data_dir())}
    assert {r["id"]: r["stratum"] for r in ROUND2}.items() <= drawn.items()
    if ROUND3:
        drawn = {r["id"]: r["stratum"] for r in evalset.candidates_round3(evalset.data_dir())}
        assert {r["id"]: r["stratum"] for r in ROUND3}.items() == drawn.items()


def test_scoring_reads_the_second_draw_once_it_exists():
    from services.classify.scorecard import held_out_half

    assert held_out_half([{"split": "dev"}, {"split": "test"}]) == "test"
    assert held_out_half([{"split": "dev"}, {"split": "test"}, {"split": "test2"}]) == "test2"
