"""Training text the project writes itself, part two: how people actually post to care accounts.

Why a second template set: `synth` covers the *topics* of care traffic, but almost every
complaint there says what is wrong in plain words ("delayed", "broken", "charged twice"),
every question is neutral and every neutral post is a question. Real posts are less tidy:
many complaints are mild or implicit ("still waiting", "2 hours on hold", "where is my
bag?", "why would you…"), some praise words are sarcastic ("great, another delay"),
plenty of posts are neutral replies or news ("DM sent", "boarding now"), and thanks comes
with emoji, typos and elongations. A model that has never seen these reads a mild complaint
as neutral and a neutral reply as a complaint.

Every template here was written for this project, spread across industries (telecom,
banking, retail, parcel delivery, travel — airlines, trains, hotels, car hire —, software,
food, utilities, streaming, insurance). Rows carry sentiment and intent only: the department
head is masked for them (`department: None`), so they cannot move routing.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from typing import Any

#: Slot vocabulary per industry: thing (the service), item (what you wait for), staff, place,
#: event (what goes wrong), task (what you try to do), case (what you chase).
_SLOTS: dict[str, dict[str, list[str]]] = {
    "telecom": {"h": ["@AcmeMobile", "@acmebroadband", "@AcmeHelp"], "thing": ["internet", "broadband", "signal", "wifi"],
                "item": ["router", "new sim", "engineer visit", "replacement phone"], "staff": ["engineer", "agent"],
                "place": ["store", "shop"], "event": ["outage", "dropped connection", "price rise"],
                "task": ["change my plan", "move my line", "speak to a human", "get a callback"], "case": ["ticket", "complaint"]},
    "bank": {"h": ["@AcmeBank", "@acmecard"], "thing": ["app", "online banking", "card"],
             "item": ["new card", "refund", "statement", "replacement card"], "staff": ["advisor", "branch staff"],
             "place": ["branch"], "event": ["app outage", "declined payment", "frozen account"],
             "task": ["unlock my account", "dispute a payment", "update my address"], "case": ["claim", "dispute"]},
    "retail": {"h": ["@AcmeShop", "@acmestore"], "thing": ["website", "checkout", "click and collect"],
               "item": ["order", "parcel", "refund", "exchange"], "staff": ["store manager", "cashier"],
               "place": ["store", "till"], "event": ["late delivery", "missing item", "cancelled order"],
               "task": ["return an item", "change my order", "use a gift card"], "case": ["return", "order"]},
    "delivery": {"h": ["@AcmeParcels", "@acmecourier"], "thing": ["tracking", "delivery slot"],
                 "item": ["parcel", "package", "delivery"], "staff": ["driver", "courier"], "place": ["depot"],
                 "event": ["missed delivery", "failed delivery", "delivery to the wrong house"],
                 "task": ["rearrange a delivery", "find my parcel", "change the address"], "case": ["claim", "tracking request"]},
    "airline": {"h": ["@AcmeAir", "@flyacme"], "thing": ["flight", "app", "check in"],
                "item": ["bag", "suitcase", "refund", "voucher", "rebooking"], "staff": ["gate agent", "crew", "pilot"],
                "place": ["gate", "check in desk", "airport"], "event": ["delay", "cancellation", "diversion", "missed connection"],
                "task": ["rebook", "change my seat", "get through to someone", "claim for my bag"], "case": ["claim", "booking"]},
    "rail": {"h": ["@AcmeRail", "@acmetrains"], "thing": ["train", "service", "app"],
             "item": ["refund", "delay repay", "season ticket"], "staff": ["conductor", "guard", "station staff"],
             "place": ["station", "ticket office", "platform"], "event": ["delay", "cancellation", "signal failure"],
             "task": ["get a refund", "find out what's happening", "book assisted travel"], "case": ["claim", "refund"]},
    "hotel": {"h": ["@AcmeHotels", "@acmestays"], "thing": ["room", "stay", "booking"],
              "item": ["deposit", "refund", "room key", "confirmation"], "staff": ["receptionist", "front desk", "manager"],
              "place": ["front desk", "lobby", "hotel"], "event": ["overbooking", "noisy room", "broken shower"],
              "task": ["change my dates", "get my deposit back", "talk to the manager"], "case": ["booking", "complaint"]},
    "car": {"h": ["@AcmeRentals", "@acmecars"], "thing": ["rental", "car"], "item": ["deposit", "car", "refund"],
            "staff": ["desk agent", "manager"], "place": ["counter", "pick up desk"], "event": ["hidden fee", "wrong car"],
            "task": ["extend my rental", "get my deposit back"], "case": ["reservation", "claim"]},
    "software": {"h": ["@AcmeApp", "@acmesupport"], "thing": ["app", "login", "sync", "update"],
                 "item": ["reset email", "refund", "fix", "reply"], "staff": ["support team", "developers"],
                 "place": ["help centre"], "event": ["crash", "outage", "bug", "forced update"],
                 "task": ["log in", "export my files", "cancel my trial", "reach support"], "case": ["ticket", "bug report"]},
    "food": {"h": ["@AcmeEats", "@acmepizza"], "thing": ["delivery", "app", "food"], "item": ["order", "food", "refund"],
             "staff": ["driver", "restaurant"], "place": ["restaurant", "drive thru"],
             "event": ["late order", "missing order", "cold food"], "task": ["track my order", "get a refund"],
             "case": ["order", "complaint"]},
    "utility": {"h": ["@AcmeEnergy", "@acmewater"], "thing": ["supply", "smart meter", "account"],
                "item": ["engineer", "refund", "new meter", "bill"], "staff": ["engineer", "call centre"],
                "place": ["call centre"], "event": ["power cut", "estimated bill", "water outage"],
                "task": ["submit a meter reading", "change my tariff", "set up a payment plan"], "case": ["complaint", "account"]},
    "streaming": {"h": ["@AcmeTV", "@acmeplay"], "thing": ["stream", "app", "subscription"],
                  "item": ["refund", "fix", "reply"], "staff": ["support team"], "place": ["help page"],
                  "event": ["buffering", "price rise", "outage"], "task": ["cancel my subscription", "log in on my tv"],
                  "case": ["ticket", "account"]},
    "insurance": {"h": ["@AcmeInsure", "@acmecover"], "thing": ["policy", "claim", "renewal"],
                  "item": ["payout", "claim decision", "documents", "callback"], "staff": ["claims handler", "advisor"],
                  "place": ["claims line"], "event": ["renewal price rise", "rejected claim"],
                  "task": ["make a claim", "update my policy", "speak to my handler"], "case": ["claim", "policy"]},
}
_WEIGHTS = {"telecom": 3, "bank": 2, "retail": 3, "delivery": 2, "airline": 2, "rail": 1, "hotel": 1, "car": 1,
            "software": 2, "food": 2, "utility": 2, "streaming": 1, "insurance": 1}

_MILD = [
    "{h} still waiting on my {item}", "{h} still no {item}. it's been {n} days", "{h} {n} hours on hold and counting",
    "{h} been on hold for {n} minutes now", "{h} where is my {item}? it's been {n} days",
    "{h} any update on my {case}? it's been {n} days", "{h} why would you do that to customers?",
    "{h} why is it so hard to {task}?", "{h} how hard is it to {task}", "{h} how is it that nobody can tell me anything?",
    "{h} third time asking. can someone help me {task}?", "{h} you said {n} days. it's been {n2}",
    "{h} was told someone would call me back. nothing", "{h} the {staff} had no idea what was going on",
    "{h} nobody at the {place} could help", "{h} I've explained this {n} times now",
    "{h} so I'm just supposed to wait?", "{h} is anyone actually going to reply?",
    "{h} why does it take {n} weeks to sort out a {case}", "{h} another {event}?", "{h} not what I paid for",
    "{h} not happy with the {thing} at all", "{h} no help whatsoever", "{h} this isn't ok",
    "{h} disappointed with how my {case} was handled", "{h} can't get through on the phone or the chat",
    "{h} the chat closed on me after {n} minutes in the queue", "{h} my {case} number is {o} and still nothing",
    "{h} I shouldn't have to chase you for my {item}", "{h} expected better from you",
    "{h} really? {event} again", "{h} can someone explain why my {item} hasn't come",
    "{h} first the {event}, now this", "{h} {n} days and no reply to my email",
    "{h} what's the point of a helpline if no one answers", "{h} waited at the {place} for {n} minutes for nothing",
    "{h} the {thing} has been like this all week", "{h} when will the {event} be fixed? been {n} hours",
    "{h} I'd like an explanation", "{h} can't even {task}", "{h} still can't {task}",
    "{h} why can't I {task}?", "{h} why do I have to pay for this?", "{h} your {staff} just hung up on me",
    "{h} sent {n} messages, zero replies", "{h} been trying to {task} since {w}", "{h} we were promised a {item} by {w}",
    "{h} the {staff} was rude and didn't care", "{h} left waiting with no information",
    "{h} your app says one thing and the {staff} says another", "{h} is this how you treat loyal customers?",
    "{h} how many times do I need to call?", "{h} my {item} still hasn't turned up", "{h} not the first time either",
    "{h} I want my {item}", "{h} lost my {item} and nobody knows where it is", "{h} paying for nothing at this point",
    "{h} that's {n} hours of my life I won't get back", "{h} never had this much trouble with anyone",
    "{h} missed a meeting because of the {event}", "{h} why no updates?", "{h} zero communication",
    "{h} I'm losing patience", "{h} please just {task} for me, it's been {n} days", "{h} this is taking forever",
    "{h} my {item} arrived damaged", "{h} the {item} came but it's the wrong one", "{h} charged twice?? why",
    "{h} hello?? anyone there", "{h} seriously??", "{h} ok so now what", "{h} so what happens now?",
    "{h} can you please answer my DM", "{h} still nothing", "{h} why hasn't anyone replied to my DM",
    "{h} no response to my DM from {w}", "{h} you've had my {case} for {n} weeks",
    "{h} the {staff} was friendly but my {item} still hasn't come", "{h} nice {thing} when it works, which isn't often",
    "{h} love the {thing} but the {event} ruined it", "{h} polite {staff}, shame nobody could {task}",
    "{h} the app looks nice but I still can't {task}", "{h} told to wait another {n} days. again",
]
_SARCASM = [
    "{h} great, another {event}", "{h} love spending my {w} on hold", "{h} thanks for the {n} hour {event}",
    "{h} nice job losing my {item}", "{h} awesome, {event} again", "{h} wonderful service as usual",
    "{h} so glad I paid extra for this", "{h} oh good, another {event}. just what I needed",
    "{h} well that's just perfect", "{h} brilliant. {n} hours and still no {item}",
    "{h} fantastic, the {thing} is down again", "{h} love how nobody answers", "{h} cheers for the {event}",
    "{h} can always count on you for a {event}", "{h} best part of my day is waiting for my {item}",
]
_QUESTION = [
    "{h} what's the best way to {task}?", "{h} is it possible to {task} online?", "{h} quick question about my {case}",
    "{h} can you DM me about my {case}?", "{h} I need to {task}, who should I contact?",
    "{h} what time does the {place} open on {w}?", "{h} is there a number I can call to {task}?",
    "{h} how long does a {case} usually take?", "{h} will my {item} arrive before {w}?",
    "{h} hi, can I {task} in the app?", "{h} just sent a DM, can you take a look when you get a chance",
    "{h} hey, what's the policy on {item}s?", "{h} do I need an account to {task}?",
    "{h} can I {task} over the phone?", "{h} hello, how do I {task}?", "{h} what do I need to {task}?",
    "{h} is the {thing} included?", "{h} is there an app for that?", "{h} which option should I pick to {task}?",
    "{h} could you tell me how to {task}", "{h} wondering if I can {task} before {w}", "{h} new logo?",
    "{h} are you hiring in {c}?", "{h} is this the right account for {case}s?",
]
_INFO = [
    "{h} DM sent", "{h} done, sent you my details", "{h} my reference is {o}", "{h} ok, I'll try that",
    "{h} ok will do", "{h} just did", "{h} sent you a message", "{h} yes that's the one",
    "{h} it's the {item} from {w}", "{h} the {case} number is {o}", "{h} I'm in {c}",
    "just booked with {h} for {w}", "heading to {c} {w}", "{h} on the way to {c} now",
    "first time using {h} for a {case}", "{h} the {thing} is changing next month {u}",
    "{h} new {thing} options from {w} {u}", "reading about the new {h} {thing} {u}", "{h} see you in {c}",
    "{h} following you now", "at the {place} in {c}", "{h} it was the {thing} on {w}",
    "{h} I'll check and get back to you", "{h} noted", "{h} the email is the one on my account",
    "{h} posted {w}: {thing} update {u}", "{h} I'll DM you the details", "{h} booked for {w}",
    "{h} good morning", "{h} saw your ad on tv", "{h} just noticed the new {thing}",
    "{h} my friend works at your {place} in {c}", "{h} reading your {thing} terms now",
]
_POSITIVE = [
    "{h} thank you!", "{h} thanks {name}, all sorted", "{h} that worked, thanks!", "{h} appreciate the quick reply",
    "{h} you made my day", "{h} shoutout to {name} at the {place} in {c}", "{h} great service as always",
    "{h} thank you so much for sorting my {item}", "{h} love you guys", "{h} best {thing} I've had in ages",
    "{h} kudos to the team", "{h} thanks for the help with my {case}", "{h} so happy with my {item}",
    "{h} the {staff} was fantastic today", "{h} the {staff} went above and beyond", "{h} always a pleasure",
    "{h} can't wait for {w}!", "{h} you guys are the best", "{h} perfect, thanks for letting me know",
    "{h} thank you for the help today", "{h} much appreciated", "{h} impressed with how fast you sorted that",
    "{h} nice one, thanks", "{h} the {item} came early, brilliant", "{h} {name} was so kind and helpful",
    "{h} thanks for looking after us in {c}", "{h} lovely {staff} today", "{h} that's great news, thanks",
    "{h} top service from the {staff}", "{h} honestly the easiest {case} I've ever had", "{h} well done everyone",
    "{h} brilliant, thanks for the update", "{h} so smooth, love it", "{h} happy customer here",
    "{h} {name} at the {place} is an absolute star", "{h} worth every penny", "{h} 10/10 would recommend",
    "{h} you lot are legends", "{h} smashed it again", "{h} honestly can't recommend you enough",
    "{h} exactly what I needed, thank you", "{h} have a lovely evening and thanks again", "{h} this new {thing} is unreal",
    "{h} my {item} arrived and it's perfect", "{h} hats off to the {staff}", "{h} thanks for the follow!",
    "{h} quick and painless, love it", "{h} a+ service", "{h} you've won me over", "{h} glad I switched to you",
    "{h} excellent, that's sorted then", "{h} wow that was quick, thank you",
    "{h} bit of a {event} but the {staff} sorted it quickly, thanks", "{h} rough start but great {thing} in the end",
    "{h} had a {event} but you made it right, thank you",
]
_EMOJI_POS = ["", "", " 😊", " 🙏", " ❤️", " 👍", " 😍", " 🙌", " 🎉", " :)", " <3", " 💙"]
_EMOJI_NEG = ["", "", "", " 😡", " 😤", " 🙄", " 😩", " 😒", " :(", " 😭", " 🤦"]
_TAILS_NEG = ["", "", "", " #fail", " #customerservice", " smh", "!!", " ...", "?!", " please", " help"]
_NAMES = ["Sam", "Priya", "Tom", "Ana", "Leo", "Jess", "Omar", "Kate", "Marco", "Aisha", "Dan", "Mei"]
_CITIES = ["Leeds", "Boston", "Denver", "Chicago", "London", "Dallas", "Newark", "Miami", "Bristol", "Austin", "Toronto",
           "Glasgow", "Phoenix", "Seattle"]
_WHEN = ["Monday", "Tuesday", "Friday", "the weekend", "tomorrow", "next week", "yesterday", "today"]
#: (kind, share, sentiment, intent); replies and news ("DM sent", "booked for Friday") teach sentiment only:
#: as "other" intent their short length and topic nouns ("order") pulled plain complaints to "other".
_KINDS = [("mild", 33, "negative", "complaint"), ("sarcasm", 6, "negative", "complaint"),
          ("question", 20, "neutral", "question"), ("info", 16, "neutral", None), ("positive", 25, "positive", "praise")]


def _noise(text: str, rng: random.Random) -> str:
    """Surface variation of real posts: lower case, a dropped letter, an elongation."""
    if rng.random() < 0.3:
        text = text.lower()
    if rng.random() < 0.1:
        words = text.split()
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 4 and w.isalpha():
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1:] if rng.random() < 0.5 else w[:j] + w[j] * 3 + w[j + 1:]
            text = " ".join(words)
    return text


def generate_social(n: int = 4000, seed: int = 11) -> list[dict[str, Any]]:
    """`n` texts: {"text", "sentiment", "intent", "department": None, "source": "synthetic"}."""
    rng = random.Random(seed)
    industries = [k for k, w in _WEIGHTS.items() for _ in range(w)]
    kinds = [k for k in _KINDS for _ in range(k[1])]
    pools = {"mild": _MILD, "sarcasm": _SARCASM, "question": _QUESTION, "info": _INFO, "positive": _POSITIVE}
    out: list[dict[str, Any]] = []
    while len(out) < n:
        slots = _SLOTS[rng.choice(industries)]
        kind, _, sentiment, intent = rng.choice(kinds)
        handle = rng.choice(slots["h"]) if rng.random() > 0.1 else ""
        n1 = rng.randint(2, 9)
        text = rng.choice(pools[kind]).format(
            h=handle, n=n1, n2=n1 + rng.randint(2, 10), o=f"{rng.choice(['#', '', 'REF'])}{rng.randint(10000, 9999999)}",
            w=rng.choice(_WHEN), c=rng.choice(_CITIES), name=rng.choice(_NAMES), u=f"https://t.co/x{rng.randint(100, 999)}",
            **{k: rng.choice(v) for k, v in slots.items() if k != "h"}).strip()
        if kind == "positive":
            text += rng.choice(_EMOJI_POS)
        elif kind in ("mild", "sarcasm"):
            text += rng.choice(_TAILS_NEG) + rng.choice(_EMOJI_NEG)
        out.append({"text": " ".join(_noise(text, rng).split()), "sentiment": sentiment, "intent": intent,
                    "department": None, "source": "synthetic"})
    return out
