"""services.classify.cli: `heatdesk classify --input/--output`, `evaluate`, and the parser wiring."""

from __future__ import annotations

import argparse
import json

import pytest

from services.classify import cli
from services.classify.evaluate import flag_scores, prf
from tests.support import validate_payload


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heatdesk")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("classify", help="run the classifier")  # as services/cli.py has it
    cli.register(sub)
    return p


def run(argv: list[str]) -> int:
    return cli.run(parser().parse_args(argv))


def test_register_extends_the_existing_classify_parser():
    args = parser().parse_args(["classify"])
    assert args.input is None and args.handler is cli.cmd_classify  # no --input: runs the service
    assert parser().parse_args(["train", "--no-external"]).handler is cli.cmd_train
    assert parser().parse_args(["evaluate", "--split", "all"]).handler is cli.cmd_evaluate


def test_register_creates_classify_when_missing():
    p = argparse.ArgumentParser(prog="heatdesk")
    cli.register(p.add_subparsers(dest="command", required=True))
    assert p.parse_args(["classify", "--input", "x.jsonl"]).input == "x.jsonl"


def test_classify_file_writes_good_lines_and_reports_bad_ones(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "a", "text": "@acme you charged me twice, refund me or I'm telling everyone",
                    "channel": "x", "author": {"followers": 5000, "verified": True}}),
        "{not json",
        json.dumps({"id": 7, "text": "How do I reset my password?"}),
        json.dumps({"id": "b"}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"id": "c", "text": "ma commande n'est jamais arrivée, je veux être remboursé"}),
        json.dumps({"id": "d", "text": "hi", "author": {"followers": "many"}}),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(src), "--output", str(out), "--batch-size", "2"]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2: invalid JSON" in err
    assert f"{src}:4: 'text' must be a string" in err
    assert f"{src}:5: expected a JSON object" in err
    assert f"{src}:8: 'author.followers' must be an integer" in err
    assert "4 bad line(s)" in err
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in lines] == ["a", 7, "c"]
    first = lines[0]
    assert set(first) == set(cli.OUTPUT_FIELDS)
    assert first["department"] == "billing" and first["flags"] == ["escalation_threat"]
    assert set(first["priority"]) == {"score", "bucket"}
    assert "flag:escalation_threat: telling everyone" in first["cues"]
    assert all(isinstance(c, str) for c in first["cues"])
    assert lines[1]["intent"] == "question"
    # French is not read by the English model; its cue list still hears "jamais" (never arrived)
    assert lines[2]["language"] == "fr" and lines[2]["sentiment"]["label"] == "negative"
    assert "sentiment:negative: jamais" in lines[2]["cues"]


def test_classify_file_all_good_exits_zero(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "love the new app"}) + "\n", encoding="utf-8")
    assert run(["classify", "--input", str(src), "--output", str(tmp_path / "o.jsonl")]) == 0


def test_output_record_keeps_the_schema_before_flattening():
    from services.classify.pipeline.classifier import Classifier

    (result,) = Classifier().classify([{"text": "my lawyer will hear about this", "author": {}}])
    validate_payload("Classification", result)
    record = cli.output_record({"id": "x"}, result)
    assert record["id"] == "x" and "components" not in record["priority"]


def test_evaluate_writes_json(tmp_path, capsys):
    labelled = tmp_path / "gold.jsonl"
    rows = [{"text": "refund my double charge now", "sentiment": "negative", "intent": "complaint",
             "department": "billing", "flags": [], "split": "test"},
            {"text": "thanks, the app is brilliant", "sentiment": "positive", "intent": "praise",
             "department": "product", "flags": [], "split": "test"}]
    labelled.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report_path = tmp_path / "report.json"
    assert run(["evaluate", "--input", str(labelled), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["n"] == 2 and report["department"]["accuracy"] == 1.0
    assert "confusion" in report["department"] and "flags" in report
    assert "macro-F1" in capsys.readouterr().out


def test_prf_on_a_known_case():
    r = prf(["a", "a", "b", "b"], ["a", "b", "b", "b"], ("a", "b"))
    assert r["labels"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2, "predicted": 1}
    assert r["labels"]["b"]["precision"] == pytest.approx(0.6667, abs=1e-4)
    assert r["macro_f1"] == pytest.approx((0.6667 + 0.8) / 2, abs=1e-3)
    assert r["confusion"] == {"a": {"a": 1, "b": 1}, "b": {"a": 0, "b": 2}}


def test_flag_scores():
    s = flag_scores([["legal_threat"], [], ["legal_threat", "churn_threat"]], [["legal_threat"], ["legal_threat"], []])
    assert s["legal_threat"]["precision"] == 0.5 and s["legal_threat"]["recall"] == 0.5
    assert s["churn_threat"]["recall"] == 0.0 and s["safety_issue"]["support"] == 0


def test_train_without_the_word_vectors_file_is_a_usage_error(tmp_path, capsys):
    missing = tmp_path / "none.npz"
    assert run(["train", "--no-external", "--embeddings", str(missing), "--out", str(tmp_path / "m")]) == 2
    assert "--no-embeddings" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()  # nothing trained or written
    args = parser().parse_args(["train", "--no-embeddings"])
    assert args.no_embeddings and args.embeddings is None


@pytest.mark.parametrize(("option", "name", "content", "error"), [
    ("--cfpb-extra", "tweets.csv", "text\nhello\n", "tweets.csv: not a CFPB complaint export"),
    ("--goemotions", "tweets.tsv", "hello there\tpositive\t1\n",
     "tweets.tsv:1: emotion ids 'positive' are not GoEmotions label ids"),
])
def test_train_refuses_source_files_that_are_missing_or_in_another_format(tmp_path, capsys, option, name, content,
                                                                         error):
    out = tmp_path / "m"
    assert run(["train", "--no-external", "--no-embeddings", "--out", str(out), option, str(tmp_path / "gone")]) == 2
    assert "gone not found" in capsys.readouterr().err
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    assert run(["train", "--no-external", "--no-embeddings", "--out", str(out), option, str(source)]) == 2
    assert error in capsys.readouterr().err
    assert not out.exists()  # every source is read before anything is written


def test_train_refuses_a_written_post_with_an_unknown_label(tmp_path, capsys):
    written = tmp_path / "written"
    written.mkdir()
    (written / "part-1.jsonl").write_text(
        '{"text": "my card got charged twice", "language": "en", "sentiment": "negative", "intent": "complaint", '
        '"department": "finance", "flags": []}\n', encoding="utf-8")
    assert run(["train", "--no-external", "--no-embeddings", "--out", str(tmp_path / "m"),
                "--written", str(written)]) == 2
    assert "part-1.jsonl:1: missing or unknown department" in capsys.readouterr().err
    # a mistyped folder is refused, not read as "no written posts"
    assert run(["train", "--no-external", "--no-embeddings", "--out", str(tmp_path / "m"),
                "--written", str(tmp_path / "writen")]) == 2
    assert "writen not found" in capsys.readouterr().err
