"""The redistributable training texts, read without spaCy.

`heatdesk train` (`services.classify.train`) and the word-vector distillation
(`services.classify.distill`, run in a venv that has a sentence encoder but no spaCy) must
read the same sources the same way: the hand-labelled train split, BANKING77 with its
intents mapped to our labels, the first words of CFPB narratives and, for sentiment only,
GoEmotions' Reddit comments. The evaluation-only files (airline tweets, TWCS, TweetEval) are
never read here.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BANKING_BILLING = {
    "card_payment_fee_charged", "cash_withdrawal_charge", "exchange_charge", "extra_charge_on_statement",
    "transfer_fee_charged", "top_up_by_card_charge", "top_up_by_bank_transfer_charge", "transaction_charged_twice",
    "request_refund", "Refund_not_showing_up", "card_payment_wrong_exchange_rate", "wrong_exchange_rate_for_cash_withdrawal",
    "card_payment_not_recognised", "cash_withdrawal_not_recognised", "direct_debit_payment_not_recognised",
    "wrong_amount_of_cash_received", "reverted_card_payment?", "exchange_rate"}
BANKING_PRODUCT = {
    "card_not_working", "contactless_not_working", "virtual_card_not_working", "declined_card_payment",
    "declined_cash_withdrawal", "declined_transfer", "failed_transfer", "top_up_failed", "top_up_reverted",
    "pending_cash_withdrawal", "pending_top_up", "pending_card_payment", "pending_transfer", "apple_pay_or_google_pay",
    "card_linking", "exchange_via_app", "balance_not_updated_after_cheque_or_cash_deposit",
    "balance_not_updated_after_bank_transfer", "transfer_not_received_by_recipient", "card_swallowed", "beneficiary_not_allowed"}
#: Intents that report a problem: a complaint in customer care even when phrased as a question.
BANKING_PROBLEMS = {
    "card_not_working", "contactless_not_working", "virtual_card_not_working", "declined_card_payment",
    "declined_cash_withdrawal", "declined_transfer", "failed_transfer", "top_up_failed", "top_up_reverted",
    "transaction_charged_twice", "extra_charge_on_statement", "card_payment_not_recognised", "cash_withdrawal_not_recognised",
    "direct_debit_payment_not_recognised", "wrong_amount_of_cash_received", "Refund_not_showing_up",
    "card_payment_wrong_exchange_rate", "wrong_exchange_rate_for_cash_withdrawal", "card_swallowed",
    "balance_not_updated_after_cheque_or_cash_deposit", "balance_not_updated_after_bank_transfer",
    "transfer_not_received_by_recipient", "pin_blocked", "unable_to_verify_identity", "compromised_card", "card_arrival"}

def load_labelled(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


#: CFPB issue words → department, checked in order (the labelling guide: report data is the
#: product, money owed or charged is billing, the account and the service are support).
CFPB_ISSUE_DEPARTMENT = (
    ("incorrect information", "product"), ("improper use of your report", "product"),
    ("investigation", "product"), ("credit monitoring", "product"), ("unable to get your credit report", "product"),
    ("fee", "billing"), ("interest", "billing"), ("charge", "billing"), ("billing", "billing"), ("payment", "billing"),
    ("debt", "billing"), ("collect", "billing"), ("statement", "billing"), ("struggling to pay", "billing"),
    ("loan", "billing"), ("mortgage", "billing"), ("refund", "billing"), ("overdraft", "billing"),
    ("managing an account", "support"), ("closing", "support"), ("opening", "support"), ("customer service", "support"),
    ("communication", "support"), ("fraud", "support"), ("identity", "support"), ("getting a credit card", "support"),
    ("transaction", "product"), ("money was not available", "product"), ("other features", "product"),
)
CFPB_PRODUCT_DEPARTMENT = (("credit report", "product"), ("debt collection", "billing"), ("mortgage", "billing"),
                           ("loan", "billing"), ("credit card", "billing"), ("checking", "support"),
                           ("money transfer", "product"), ("prepaid", "product"))


def cfpb_department(product: str, issue: str) -> str | None:
    """A weak department label from a complaint's own Product and Issue fields."""
    issue, product = issue.lower(), product.lower()
    for words, dept in CFPB_ISSUE_DEPARTMENT:
        if words in issue:
            return dept
    for words, dept in CFPB_PRODUCT_DEPARTMENT:
        if words in product:
            return dept
    return None


#: Columns of the public CFPB complaint database export (consumerfinance.gov/data-research/
#: consumer-complaints, "complaints.csv"), which copies of it on GitHub keep.
CFPB_EXPORT_COLUMNS = ("Consumer complaint narrative", "Product", "Issue", "Complaint ID")


def _prefix(text: str, words: int = 12) -> str:
    """A narrative's first words, lower-cased and without punctuation: twelve words opening two
    narratives alike are the same complaint filed, copied or cut twice."""
    return " ".join(re.findall(r"\w+", text.lower())[:words])


def cfpb_extra(paths: Sequence[Path], exclude: set[str], exclude_texts: Sequence[str] = (), limit: int = 12000,
               words: int = 150) -> list[dict[str, Any]]:
    """CFPB narratives from copies of the public complaint database (US-government public data):
    the official `complaints.csv` export or any CSV with its columns (`CFPB_EXPORT_COLUMNS`;
    the narrative and Product are required, some copies drop Issue and Complaint ID), read in
    the order given. Complaints whose id is in `exclude` or whose opening words are those of a
    text in `exclude_texts` (the evaluation set) are dropped, and so is a second copy of a
    complaint. All negative complaints; department weakly labelled from
    Product/Issue (`cfpb_department`); flags not labelled.

    Why CSV and not a prepared file: the training data must be rebuildable by anyone from the
    public source, not from a file only one machine had."""
    narrative, product, issue, cid = CFPB_EXPORT_COLUMNS
    banned = {_prefix(t) for t in exclude_texts}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in (narrative, product) if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path}: not a CFPB complaint export (missing columns {missing})")
            for row in reader:
                text = " ".join((row.get(narrative) or "").split())
                key, complaint = _prefix(text), row.get(cid) or ""
                if not text or complaint in exclude or key in banned or key in seen or (complaint and complaint in seen):
                    continue
                seen.update((key, complaint))
                out.append({"text": " ".join(text.split()[:words]), "sentiment": "negative", "intent": "complaint",
                            "department": cfpb_department(row.get(product, ""), row.get(issue, "")),
                            "source": "cfpb_extra"})
                if len(out) >= limit:
                    return out
    return out


def banking77(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "banking77" / "train.csv"
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            cat = row["category"]
            dept = "billing" if cat in BANKING_BILLING else "product" if cat in BANKING_PRODUCT else "support"
            problem = cat in BANKING_PROBLEMS
            out.append({"text": row["text"], "department": dept, "sentiment": "negative" if problem else "neutral",
                        "intent": "complaint" if problem else "question", "source": "banking77",
                        # single-sentence banking queries: the only flag they carry is leaving
                        "flags": ["churn_threat"] if cat == "terminate_account" else []})
    return out


def cfpb(data_dir: Path, words: int = 60, exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The CFPB samples beside the evaluation data, minus `exclude` (the complaint ids the
    real-customer evaluation set holds: never trained on)."""
    out = []
    for name, column, pid in (("cfpb_sample.csv", "Consumer complaint narrative", "Complaint ID"),
                              ("cfpb_sample_apr2023.csv", "Consumer_complaint_narrative", "Complaint_ID")):
        with (data_dir / name).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row.get(pid, "") in exclude:
                    continue
                text = " ".join((row.get(column) or "").split()[:words])
                if text:
                    out.append({"text": text, "sentiment": "negative", "intent": "complaint", "department": None,
                                "source": "cfpb"})
    return out


#: GoEmotions' 28 labels in the order of its `emotions.txt` (the ids its TSV files use), and the
#: sentiment group of each from the dataset's own `sentiment_mapping.json`; "ambiguous"
#: (surprise, curiosity, confusion, realization) has no place in our three classes.
GOEMOTIONS_LABELS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral")
GOEMOTIONS_SENTIMENT = {
    **dict.fromkeys(("amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride", "admiration",
                     "gratitude", "relief", "approval"), "positive"),
    **dict.fromkeys(("fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness", "grief",
                     "disgust", "anger", "annoyance", "disapproval"), "negative"),
    **dict.fromkeys(("realization", "surprise", "curiosity", "confusion"), "ambiguous"),
    "neutral": "neutral",
}
#: GoEmotions masks names and religions; a plain word keeps the sentence readable to the tokenizer.
_GOEMOTIONS_MASKS = {"[NAME]": "Sam", "[RELIGION]": "religion"}


def goemotions(paths: Sequence[Path], limit: int = 60000) -> list[dict[str, Any]]:
    """Reddit comments of GoEmotions (Demszky et al. 2020, Apache-2.0), sentiment only: the
    `train.tsv`/`dev.tsv`/`test.tsv` files of google-research/goemotions/data (text, comma-
    separated emotion ids, comment id). A comment whose emotions fall in one sentiment group
    is labelled with it; mixed or only "ambiguous" comments are skipped.

    Why: every other training text is a complaint, a banking query or a template. These are
    short posts written by strangers on a social network, labelled by people, the closest
    redistributable thing to the mentions the classifier meets."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8", newline="") as f:
            for number, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3:
                    raise ValueError(f"{path}:{number}: not a GoEmotions TSV line (text, emotion ids, comment id)")
                text, ids, comment = parts[0], parts[1], parts[2]
                try:
                    groups = {GOEMOTIONS_SENTIMENT[GOEMOTIONS_LABELS[int(i)]] for i in ids.split(",")}
                except (ValueError, IndexError):
                    raise ValueError(f"{path}:{number}: emotion ids {ids!r} are not GoEmotions label ids") from None
                if len(groups) != 1 or "ambiguous" in groups or comment in seen:
                    continue
                seen.add(comment)
                for mask, word in _GOEMOTIONS_MASKS.items():
                    text = text.replace(mask, word)
                out.append({"text": text, "sentiment": groups.pop(), "source": "goemotions"})
                if len(out) >= limit:
                    return out
    return out


def written(paths: Sequence[Path], labels: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Posts written for training by writers who worked from the labelling guide alone
    (`tests/data/written/`, see its README): JSONL rows with `text`, `language` and one label
    per head in `labels` (head → allowed values; `flags` → allowed flag names), flags complete.

    Why a separate source: the hand-labelled set was written together with the rules, and the
    templates repeat a few hundred sentences; these are thousands of posts in many voices,
    industries and languages, by people who never saw the rules or the evaluation set."""
    out: list[dict[str, Any]] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
            wrong = [head for head, allowed in labels.items()
                     if not (isinstance(row.get(head), list) and set(row[head]) <= set(allowed) if head == "flags"
                             else row.get(head) in allowed)]
            if wrong or not str(row.get("text") or "").strip():
                raise ValueError(f"{path}:{number}: missing or unknown {', '.join(wrong) or 'text'}")
            out.append({"text": row["text"], "language": row.get("language", "en"), "flags": list(row["flags"]),
                        **{head: row[head] for head in labels if head != "flags"}, "source": "written"})
    return out
