"""Cue lists of the first, rule-based classifier.

They are data, not code: the classifier issue replaces sentiment/intent/department with
trained models but keeps these as explainable rules for flags, and operators extend them
per brand (products, competitors) through configuration.
"""

from __future__ import annotations

NEGATIVE = (
    "angry", "annoyed", "charged me twice", "charged us twice", "crashing", "keeps crashing", "awful", "bad",
    "broken", "cancelled", "canceled", "charged twice", "crap", "delayed",
    "disappointed", "disappointing", "disgusting", "doesn't work", "does not work", "fail", "failed", "furious",
    "hate", "horrible", "joke", "lost", "never again", "not working", "overcharged", "pathetic", "problem",
    "ridiculous", "rude", "scam", "still waiting", "stuck", "terrible", "unacceptable", "useless", "worst",
    "wrong", "waste", "sucks", "never arrived", "never received", "still no", "fed up", "no one", "nobody",
    "ignored", "can't", "cannot", "won't",
)
POSITIVE = (
    "amazing", "appreciate", "awesome", "best", "excellent", "fantastic", "glad", "great", "happy", "helpful",
    "love", "lovely", "perfect", "thank you", "thanks", "wonderful", "brilliant", "kudos", "impressed",
)
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "billing": (
        "bill", "billed", "billing", "charge", "charged", "charges", "charged twice", "double charged",
        "fee", "fees", "invoice", "money back", "overcharged", "payment", "price", "pricing", "promo code",
        "refund", "refunded", "paid", "pay", "subscription", "renewal", "receipt", "credit card", "discount", "coupon",
    ),
    "product": (
        "app", "broken", "bug", "crash", "crashes", "crashed", "crashing", "defect", "defective", "doesn't work",
        "does not work", "error", "feature", "glitch", "not working", "outage", "quality", "slow", "update",
        "down", "battery", "screen", "wifi", "signal", "faulty",
    ),
    "pr": (
        "boycott", "disgrace", "ethics", "journalist", "media", "news", "outrage", "press", "reporter",
        "tone deaf", "tone-deaf", "ad", "advert", "campaign", "shame on", "racist", "sexist", "scandal",
    ),
    "support": (
        "account", "agent", "call", "customer service", "delivery", "delivered", "help", "hold", "how do i",
        "how can i", "login", "log in", "password", "package", "parcel", "reset", "staff", "support", "wait",
        "waiting", "rude", "manager", "representative", "order", "shipping",
    ),
}
FLAGS: dict[str, tuple[str, ...]] = {
    "escalation_threat": (
        "telling everyone", "tell everyone", "tell all my friends", "tweet about", "tweeting about", "going viral",
        "go viral", "going to the press", "go to the press", "contact the press", "post a review", "write a review",
        "blog about", "the media", "news station", "on tv", "everyone will know", "spread the word",
    ),
    "churn_threat": (
        "cancel my", "cancelling my", "canceling my", "close my account", "closing my account", "switch to",
        "switching to", "taking my business", "never using", "never use", "never fly", "leaving you",
        "done with you", "unsubscribe", "find another",
    ),
    "legal_threat": (
        "lawyer", "attorney", "sue", "suing", "lawsuit", "legal action", "small claims", "class action",
        "regulator", "ombudsman", "trading standards", "consumer protection", "bbb", "cfpb", "ftc", "court",
    ),
    "safety_issue": (
        "injury", "injured", "fire", "caught fire", "smoke", "food poisoning", "sick", "hospital", "burn",
        "burned", "data breach", "hacked", "leaked", "allergic reaction", "explode", "exploded", "unsafe",
    ),
}
QUESTION_OPENERS = ("how", "what", "when", "where", "why", "who", "which", "can", "could", "is", "are", "do",
                    "does", "will", "would", "should", "any")
SPAM = ("click here", "free followers", "crypto giveaway", "dm for promo", "earn money fast", "work from home")
