"""Training text for the flag heads, composed from parts: complaint + threat, and near misses.

Why composed: a threat is an intention, an act and a place ("gonna" + "post" + "on tiktok"),
and people combine the parts freely. The phrase lists the rules once were could only say
the combinations someone wrote down; a head trained on many combinations of many parts,
with near misses that share the words but not the threat ("cancelled flight", "power of
attorney", "I reviewed my bill"), learns the concept. The parts were written for this
project (no evaluation text was read to write them) and are released with it. Deterministic
for a given seed, so `heatdesk train` is reproducible.
"""

from __future__ import annotations

import random
from typing import Any

FLAG_NAMES = ("escalation_threat", "churn_threat", "legal_threat", "safety_issue", "competitor_mention")

_HANDLES = ["@acme", "@AcmeHelp", "@AcmeAir", "@acmebank", "@AcmeMobile", "@acmefoods", "@AcmeEnergy", "@AcmeRide",
            "@acme_uk", "@AcmeStore", ""]
_COMPETITORS = ["Globex", "Initech", "Hooli", "Vandelay", "Umbrella", "Corvane", "Crestline", "Jetwell", "Trackwise",
                "Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Blue Yonder", "Litware", "Proseware",
                "Adatum", "Lucerne", "Margie", "Alpine Ski", "Coho", "Fourth Coffee", "Woodgrove Bank",
                "Humongous", "Wide World", "Relecloud", "Datum", "Nod", "Zava", "Tessera", "Brightline",
                "Kestrel", "Orbital", "Pinnacle", "Summit Credit Union", "Harbor Mobile", "Redwood Energy"]
# (department, complaint)
_COMPLAINTS = [
    ("billing", "charged me twice this month"), ("billing", "still no refund after 6 weeks"),
    ("billing", "my bill went up again with no warning"), ("billing", "you took money after I paid in full"),
    ("billing", "a fee nobody told me about"), ("billing", "the price doubled at renewal"),
    ("product", "the app has crashed all week"), ("product", "internet down for the third day"),
    ("product", "flight delayed 5 hours and then cancelled"), ("product", "my order arrived broken"),
    ("product", "the update wiped my settings"), ("product", "the signal drops every evening"),
    ("product", "lost my bag on the way back"), ("product", "the food was cold and wrong"),
    ("support", "on hold for 2 hours and then cut off"), ("support", "nobody answers my emails"),
    ("support", "your agent was rude and hung up"), ("support", "locked out of my account for a week"),
    ("support", "the parcel never came and nobody helps"), ("support", "promised a call back 4 times, nothing"),
]
_INTENT = ["i'll", "i will", "i'm going to", "im gonna", "gonna", "about to", "next step is to", "we're going to",
           "i'm seriously considering", "i may have to", "time to", "don't make me", "tomorrow i'll", "tonight i'm gonna"]
_ESCALATION_ACTS = [
    "post this on tiktok", "put this on my youtube channel", "share this with my followers", "tweet this every day",
    "write a 1 star review", "leave a review on trustpilot", "tell the local news", "take this to the press",
    "send this to a journalist", "make a video about this", "post screenshots of this chat everywhere",
    "write a blog post about how you treat customers", "talk about this on my podcast", "email your ceo",
    "post my bill on every platform", "keep this trending until you answer", "go to the consumer desk at channel 4",
    "start a thread on reddit about this", "put this on facebook so everyone knows", "tag every news outlet",
    "make sure all my friends know", "contact the media", "review you on google", "film the whole thing for instagram"]
_ESCALATION_DONE = [
    "screenshotting this for tiktok", "1 star review going up tonight", "posting this everywhere", "this is going viral",
    "my video about this already has 20k views", "the local paper is interested", "already wrote to your ceo",
    "#boycottacme", "everyone i know will hear about this", "the thread is up on reddit", "#cnn #nbc #media",
    "this is the start of a social media alert", "live tweeting this whole mess", "#spreadtheword",
    "posted it on my facebook page", "keep tweeting at everyone until you fix it"]
_CHURN_ACTS = [
    "cancel my account", "close my account", "switch to {c}", "move to {c}", "take my business elsewhere",
    "leave when my contract ends", "cancel my subscription", "find another provider", "port my number out",
    "never fly with you again", "never order from you again", "stop using you", "move my mortgage to {c}",
    "go back to {c}", "cancel everything", "not renew", "switch banks", "look for another airline"]
_CHURN_DONE = [
    "just cancelled my membership", "already switched to {c}", "subscription cancelled", "never again",
    "that was my last order", "done with you", "flying {c} next month", "you just lost a customer",
    "moving everything over to {c} on monday", "former customer now", "goodbye forever", "i'm done with this company",
    "{c} never did this to us, we're moving back", "signed up with {c} today", "closing my account tomorrow",
    "you officially lost me as a customer", "I would rather just fly another airline", "no more acme for me",
    "{c} here I come", "I will now take my business to {c}", "booked with another airline", "#byeacme"]
_LEGAL_ACTS = [
    "talk to my lawyer", "take you to small claims court", "file a complaint with the attorney general",
    "report you to the BBB", "file with the FCC", "sue", "get my solicitor involved", "join the class action",
    "file a complaint with the CFPB", "report this to the ombudsman", "take legal action", "report you to trading standards",
    "file a complaint with the DOT", "see you in court"]
_LEGAL_DONE = [
    "my attorney will be in touch", "a complaint has been filed with the FTC", "this violates the Fair Credit Reporting Act",
    "under the FCRA you have 30 days to remove this", "this is illegal and I have documented everything",
    "my lawyer has the paperwork", "I have reported this to the state attorney general", "we've started arbitration",
    "this is a breach of consumer law", "the ombudsman has my case now"]
_SAFETY = [
    "the charger caught fire on my desk", "my son got burned by the kettle", "found glass in my salad",
    "whole family has food poisoning after your meal", "the driver was drunk and speeding", "the battery swelled and started smoking",
    "the brakes failed on the rental", "there was mould in the sandwich", "your site showed me someone else's account details",
    "the heater sparked and melted the plug", "the driver grabbed me and wouldn't let me out",
    "my daughter had an allergic reaction, the label said nut free",
    "the floor was soaking and my mum slipped and broke her wrist", "the pilot said a warning light was on and we took off anyway",
    "your data breach leaked my card number", "the ride share car had no seatbelts and the door flew open"]
_COMPARISON = [
    "{c} would never treat me like this", "{c} is cheaper and actually answers", "even {c} is better than this",
    "{c} refunded me in a day", "should have booked with {c}", "unlike {c} you can't even answer a phone",
    "{c} does this for free", "compared to {c} this is a joke", "my friends at {c} get twice the speed",
    "this is why I fly {c}", "flying {c} instead", "{c} would have handled this", "your fare was cheaper than {c}",
    "{c} gets it right every time, why can't you", "{c} will stay my airline of choice", "you could learn a lot from {c}",
    "had to fly {c} to get home", "calling {c} to rebook instead"]
# Near misses: the words of a flag without its meaning (label: no flag)
_NEAR_MISSES = [
    ("product", "my flight was cancelled and I need to rebook"), ("billing", "how do I cancel my order from yesterday?"),
    ("billing", "can I switch to the cheaper plan?"), ("support", "my power of attorney needs access to the account"),
    ("billing", "I reviewed my bill and it looks right now, thanks"), ("pr", "saw the news about the new store, nice"),
    ("product", "the fire stick app keeps buffering"), ("support", "I'm moving to a new house, how do I transfer service?"),
    ("product", "this new flavour is sick, love it"), ("support", "my lawyer friend says hi, anyway how do I reset my pin"),
    ("billing", "the attorney-in-fact form is attached"), ("product", "burned through my data in a week, is there a bigger plan?"),
    ("support", "I'll post the form back tomorrow"), ("support", "I'll tell my wife the parcel is on its way, thanks"),
    ("product", "is the safety demo on the app?"), ("billing", "cancelled the duplicate payment myself, all sorted"),
    ("support", "tweeting you because the phone line is busy"), ("product", "the new update is fire"),
    ("billing", "we are switching rooms at the hotel, can you update the booking"), ("billing", "do you price match Globex?"),
    ("support", "I will review the terms and get back to you"), ("product", "my kids love the new game, they are obsessed"),
    ("support", "reporting a bug: the login button does nothing"), ("billing", "the court fee on my statement, what is it?"),
    ("product", "the charger gets a bit warm, is that normal?"), ("support", "leaving for the airport now, is check in open?")]


def _competitor(rng: random.Random) -> str:
    """A competitor as people write it: a name, a handle, or a handle with a suffix."""
    name = rng.choice(_COMPETITORS)
    form = rng.random()
    if form < 0.45:
        return name
    handle = name.replace(" ", "")
    return f"@{handle}" if form < 0.8 else f"@{handle}{rng.choice(['Air', 'Help', 'Care', 'Support', 'UK'])}"


def _handle(rng: random.Random) -> str:
    h = rng.choice(_HANDLES)
    return f"{h} " if h else ""


def generate_threats(n: int = 4000, seed: int = 11) -> list[dict[str, Any]]:
    """`n` labelled texts with complete flags: about 70 % carry one or two flags, the rest are
    plain complaints and near misses."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for _ in range(n):
        dept, complaint = rng.choice(_COMPLAINTS)
        c = _competitor(rng)
        kind = rng.random()
        flags: set[str] = set()
        if kind < 0.14:
            part = f"{rng.choice(_INTENT)} {rng.choice(_ESCALATION_ACTS)}" if rng.random() < 0.6 else rng.choice(_ESCALATION_DONE)
            flags.add("escalation_threat")
        elif kind < 0.30:
            part = (f"{rng.choice(_INTENT)} {rng.choice(_CHURN_ACTS)}" if rng.random() < 0.5 else rng.choice(_CHURN_DONE)).format(c=c)
            flags.add("churn_threat")
            if c in part:
                flags.add("competitor_mention")
            if "another airline" in part or "no more acme" in part:
                flags.discard("competitor_mention")
        elif kind < 0.42:
            part = f"{rng.choice(_INTENT)} {rng.choice(_LEGAL_ACTS)}" if rng.random() < 0.5 else rng.choice(_LEGAL_DONE)
            flags.add("legal_threat")
        elif kind < 0.54:
            part, dept = rng.choice(_SAFETY), "pr"
            flags.add("safety_issue")
            complaint = ""
        elif kind < 0.66:
            part = rng.choice(_COMPARISON).format(c=c)
            flags.add("competitor_mention")
        elif kind < 0.72:  # two threats at once
            part = f"{rng.choice(_INTENT)} {rng.choice(_LEGAL_ACTS)} and {rng.choice(_ESCALATION_ACTS)}"
            flags |= {"legal_threat", "escalation_threat"}
        elif kind < 0.86:
            dept, part = rng.choice(_NEAR_MISSES)
            complaint = ""
        else:
            part = ""
        pieces = [p for p in (complaint, part) if p]
        if len(pieces) == 2 and rng.random() < 0.4:
            pieces.reverse()
        sep = rng.choice([". ", ", ", " - ", "! ", ". honestly ", " and "])
        text = _handle(rng) + sep.join(pieces)
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.15 else text.capitalize()
        if rng.random() < 0.25:
            text += rng.choice(["!!", " 😡", " smh", "...", " #fail", "?!"])
        near_miss = not flags and not complaint
        out.append({"text": text, "flags": sorted(flags), "department": dept,
                    "sentiment": None if near_miss else "negative", "intent": None if near_miss else "complaint",
                    "source": "threats"})
    return out
