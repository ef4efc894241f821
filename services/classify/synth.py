"""Training text the project writes itself: slot-filled templates across care domains.

Why: the hand-labelled set (tests/data) is a few hundred posts, too few for a bag-of-words
model to meet the vocabulary of real traffic (airlines, telecoms, shops, banks, food
delivery, apps, energy). These templates, written for this project and released with it,
cover that vocabulary in complaint, question, praise, feedback, chit-chat and spam form.
They are training data only: every evaluation uses hand-written or external text.
Deterministic for a given seed, so `heatdesk train` is reproducible.
"""

from __future__ import annotations

import random
from typing import Any

# (department, template); {h}=handle, {n}=number, {m}=money, {p}=product, {o}=order, {w}=weekday, {c}=city
_D: dict[str, dict[str, list[tuple[str, str]]]] = {
    "airline": {
        "h": ["@AcmeAir", "@acmeair", "@FlyAcme"],
        "p": ["flight", "connection", "the 7am flight", "flight AC{n}", "my return flight"],
        "complaint": [
            ("product", "{h} my {p} has been delayed {n} hours"), ("product", "{h} delayed again. {n} hours on the tarmac"),
            ("product", "{h} you cancelled my {p} and rebooked me for {w}"), ("product", "{h} flight cancelled with no explanation"),
            ("product", "{h} stuck at the gate for {n} minutes with no information"),
            ("product", "{h} missed my connection because of your delay"),
            ("product", "{h} lost my luggage and nobody answers the phone"), ("product", "{h} my bag didn't make it to {c}. again"),
            ("support", "{h} on hold for {n} minutes trying to rebook"), ("support", "{h} the gate agent was so rude"),
            ("support", "{h} your customer service line hung up on me"), ("support", "{h} waited {n} hours at the desk in {c}"),
            ("product", "{h} seat was broken and the entertainment didn't work"),
            ("product", "{h} the plane was dirty and the wifi didn't work"),
            ("billing", "{h} charged me {m} to change my {p}"), ("billing", "{h} still no refund for my cancelled {p}"),
            ("billing", "{h} your website charged me twice for the same booking"), ("billing", "{h} {m} for a checked bag is a rip off"),
            ("support", "{h} been trying to reach you for {n} days about my booking {o}"), ("support", "{h} no one at the counter in {c}"),
            ("product", "{h} diverted, then delayed, then cancelled. worst trip ever"),
            ("product", "{h} my stroller was damaged and nobody cares"),
        ],
        "question": [
            ("billing", "{h} can I change my {p} online?"), ("support", "{h} what's the baggage allowance on flights to {c}?"),
            ("billing", "{h} is there a way to add my frequent flyer number to booking {o}?"),
            ("product", "{h} do you have wifi on flights to {c}?"),
            ("billing", "{h} how much does it cost to add a bag?"), ("support", "{h} when does check in open for {p}?"),
            ("product", "{h} is flight AC{n} on time today?"), ("billing", "{h} can I get a receipt for booking {o}?"),
            ("support", "{h} can I bring my dog in the cabin?"), ("support", "{h} do I need to print my boarding pass?"),
        ],
        "praise": [
            ("product", "{h} the crew on {p} were amazing, thank you"), ("product", "{h} smooth flight and early arrival, great job"),
            ("support", "{h} thanks for the quick rebooking in {c}"), ("product", "{h} love the new seats, so comfy"),
            ("billing", "{h} refund arrived fast, thanks"), ("support", "{h} your agent {name} was so helpful today"),
        ],
    },
    "telecom": {
        "h": ["@acme", "@AcmeHelp", "@AcmeMobile"],
        "p": ["broadband", "internet", "wifi", "phone signal", "router", "4G", "TV box"],
        "complaint": [
            ("product", "{h} my {p} has been down since {w}"), ("product", "{h} {p} keeps dropping every evening"),
            ("product", "{h} paying for 500mb and getting {n}mb"), ("product", "{h} no signal anywhere in {c} today"),
            ("support", "{h} engineer didn't show up again"), ("support", "{h} on hold for {n} minutes, nobody picks up"),
            ("billing", "{h} why did my bill go up by {m}?"), ("billing", "{h} charged me for a router I returned"),
            ("billing", "{h} you billed me after I cancelled"), ("support", "{h} your agent promised a callback that never came"),
            ("product", "{h} outage number {n} this month"), ("support", "{h} been passed around {n} departments"),
        ],
        "question": [
            ("product", "{h} is there an outage in {c}?"), ("support", "{h} how do I change my wifi password?"),
            ("billing", "{h} when is my bill due this month?"), ("support", "{h} can I move my {p} to a new address?"),
            ("billing", "{h} how much is it to upgrade my plan?"), ("product", "{h} does the router support 5GHz?"),
        ],
        "praise": [
            ("product", "{h} speeds are great since the upgrade"), ("support", "{h} thanks {name} for fixing my {p} so fast"),
            ("billing", "{h} thanks for sorting my bill out"), ("product", "{h} zero outages this year, well done"),
        ],
    },
    "retail": {
        "h": ["@AcmeStore", "@acme", "@AcmeShop"],
        "p": ["order", "parcel", "package", "delivery", "jacket", "shoes", "sofa", "headphones"],
        "complaint": [
            ("support", "{h} my {p} never arrived"), ("support", "{h} {p} marked delivered but it's not here"),
            ("support", "{h} order {o} is {n} days late"), ("support", "{h} courier left my {p} in the rain"),
            ("product", "{h} the {p} arrived broken"), ("product", "{h} the {p} fell apart after {n} days"),
            ("billing", "{h} still waiting for my refund for order {o}"), ("billing", "{h} charged me {m} for a return"),
            ("support", "{h} wrong item sent again"), ("support", "{h} nobody replies to emails about order {o}"),
            ("product", "{h} quality has gone downhill, the {p} is cheap rubbish"), ("billing", "{h} promo code doesn't work at checkout"),
        ],
        "question": [
            ("support", "{h} where is my order {o}?"),
            ("support", "{h} do you deliver to {c}?"), ("support", "{h} how do I return the {p}?"),
            ("billing", "{h} when will I get my refund?"), ("product", "{h} is the {p} available in blue?"),
            ("support", "{h} can I change my delivery address?"), ("billing", "{h} do you price match?"),
        ],
        "praise": [
            ("support", "{h} delivery came a day early, thank you"), ("product", "{h} love my new {p}"),
            ("billing", "{h} refund came through quickly, thanks"), ("product", "{h} great quality {p}, really happy"),
        ],
    },
    "bank": {
        "h": ["@AcmeBank", "@acmebank"],
        "p": ["card", "account", "app", "transfer", "payment"],
        "complaint": [
            ("product", "{h} my card keeps getting declined"), ("product", "{h} app down again, can't see my balance"),
            ("billing", "{h} charged a {m} fee for nothing"), ("billing", "{h} a payment I don't recognise for {m}"),
            ("support", "{h} my new card still hasn't arrived"), ("support", "{h} locked out of my account for {n} days"),
            ("product", "{h} transfer failed {n} times"), ("billing", "{h} you charged me twice for the same payment"),
        ],
        "question": [
            ("support", "{h} how do I freeze my card?"), ("billing", "{h} what's the fee for transfers abroad?"),
            ("product", "{h} does the app support apple pay?"), ("support", "{h} how long does a new card take to arrive?"),
            ("billing", "{h} why is my payment still pending?"), ("support", "{h} how do I update my address?"),
        ],
        "praise": [
            ("support", "{h} fraud team sorted it in minutes, thank you"), ("product", "{h} the new app is brilliant"),
        ],
    },
    "food": {
        "h": ["@AcmeFoods", "@AcmeEats"],
        "p": ["burger", "pizza", "order", "fries", "curry", "salad"],
        "complaint": [
            ("support", "{h} my order is {n} minutes late"), ("product", "{h} the {p} was cold"), ("product", "{h} {p} was raw inside"),
            ("support", "{h} got the wrong order again"), ("billing", "{h} charged me for a {p} that never came"),
            ("support", "{h} driver was rude and the food was everywhere"), ("product", "{h} the app keeps crashing at checkout"),
        ],
        "question": [
            ("support", "{h} what time do you close on {w}?"), ("billing", "{h} is there a delivery fee?"),
            ("product", "{h} is the {p} gluten free?"), ("support", "{h} do you deliver to {c}?"),
        ],
        "praise": [
            ("product", "{h} best {p} in {c}"), ("support", "{h} super fast delivery tonight, thanks"),
            ("product", "{h} the new {p} is delicious"),
        ],
    },
    "software": {
        "h": ["@acme", "@AcmeApp", "@AcmeSupport"],
        "p": ["app", "update", "login", "sync", "dashboard", "website"],
        "complaint": [
            ("product", "{h} the {p} keeps crashing"), ("product", "{h} since the update nothing works"),
            ("product", "{h} the {p} is so slow it's unusable"), ("support", "{h} can't log in and the reset email never arrives"),
            ("billing", "{h} subscription renewed without warning and charged me {m}"), ("product", "{h} error {n} every time I save"),
            ("product", "{h} lost all my data after the update"), ("support", "{h} support ticket {o} ignored for {n} days"),
        ],
        "question": [
            ("support", "{h} how do I export my data?"), ("product", "{h} is dark mode coming?"),
            ("billing", "{h} can I get a refund on the annual plan?"), ("support", "{h} how do I reset my password?"),
            ("product", "{h} is the {p} down right now?"),
        ],
        "praise": [
            ("product", "{h} the new {p} is so much faster"), ("support", "{h} support fixed my issue in minutes"),
            ("product", "{h} love the new design"),
        ],
    },
}
_PR = {
    "complaint": ["{h} that new ad is offensive, take it down", "{h} shame on you for the layoffs #boycott{b}",
                  "{h} your CEO's comments are disgusting", "{h} tone deaf tweet today, read the room",
                  "{h} greenwashing at its finest", "{h} boycotting you until you stop this", "{h} your campaign is sexist",
                  "{h} silence on the scandal speaks volumes", "{h} the statement is an insult to your customers"],
    "question": ["{h} I'm a journalist, who can I speak to about the outage?", "{h} is the recall story true?",
                 "{h} will you comment on the report about your suppliers?"],
    "praise": ["{h} proud of how you handled the recall", "{h} love the charity campaign this year",
               "{h} respect for paying staff a living wage"],
}
#: Threats that name no topic belong to PR, who own public and legal escalations.
_THREATS = ["{h} I will sue you", "{h} my lawyer will be in touch", "{h} see you in court", "{h} going to the press with this",
            "{h} I'm telling everyone about this", "{h} this is going to the media", "{h} expect to hear from my solicitor",
            "{h} I'll be contacting a journalist", "{h} reporting you to the regulator", "{h} you'll be hearing from my attorney",
            "{h} everyone will know how you treat people", "{h} taking legal action"]
#: Threat tails on topical complaints: the topic, not the threat, picks the department.
_THREAT_TAILS = [" or I'm going to the press", ". my lawyer will hear about this", ". telling everyone I know",
                 ". reporting you to the regulator", ". posting this everywhere", ". see you in small claims court",
                 ". going to the local news with this", ". I'll be leaving a review on every site", ". cancelling my account"]
#: Leaving is a billing matter when it is about the plan itself (subscriptions, contracts).
_CHURN = ["{h} cancel my subscription", "{h} I'm cancelling my subscription", "{h} how do I cancel my contract?",
          "{h} please close my account and stop charging me", "{h} I want to end my contract early",
          "{h} cancelling my plan, it's too expensive", "{h} not renewing my subscription at this price",
          "{h} cancel my membership today"]
#: Praise written with complaint words, and bare demands: negation and imperatives.
_NEGATED_PRAISE = ["{h} can't fault the service", "{h} no complaints at all", "{h} never had a problem with you",
                   "{h} nothing to complain about", "{h} not bad at all, really impressed", "{h} couldn't be happier",
                   "{h} not a single issue in {n} years", "{h} can't complain, great {p}", "{h} no problems whatsoever",
                   "{h} I can't fault the {p}", "{h} couldn't fault the staff", "{h} honestly can't fault you",
                   "{h} never had an issue with the {p}", "{h} no issues at all with my {p}", "{h} not one problem since I joined",
                   "{h} I have no complaints about the {p}", "{h} the {p} never lets me down", "{h} can't say a bad word about you",
                   "{h} didn't expect it to be this good", "{h} not disappointed at all"]
_DEMANDS = [("billing", "{h} refund me now"), ("product", "{h} fix it"), ("billing", "{h} give me my money back"),
            ("support", "{h} sort this out"), ("support", "{h} answer me"), ("product", "{h} just fix the {p}"),
            ("billing", "{h} refund me"), ("support", "{h} call me back"), ("billing", "{h} cancel it and refund me")]
_NAMES = ["Sam", "Priya", "Tom", "Ana", "Leo", "Jess", "Omar", "Kate"]
_CITIES = ["Leeds", "Boston", "Denver", "Chicago", "London", "Dallas", "Newark", "Miami", "Bristol", "Austin"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend", "tomorrow", "next week"]
_NEG_TAIL = ["", "", "", " ridiculous", " not impressed", " #fail", " 😡", " please help", " any update?", " this is a joke",
             " unacceptable", " so frustrating", " what is going on", " sort it out", " absolutely useless", " smh", " 😤",
             " fed up", " terrible service", " seriously?", " worst experience", " thanks for nothing", "!!", " again",
             ". switching provider", ". never again", ". done with you", ". cancelling my account"]
_NEG_HEAD = ["", "", "", "ugh ", "seriously ", "wow. ", "so ", "again?! ", "unbelievable. ", "hey ", "come on "]
_Q_TAIL = ["", "", " thanks", " thx", " please", " cheers", " thank you"]
_P_TAIL = ["", " 👍", " thank you!", " great job", " ❤️", " you guys rock", " 😊", "!", " cheers"]
_OTHER = ["just landed in {c}", "on my way to {c} with {h}", "at the {h} store with my mum", "RT {h}: news from our team",
          "{h} good morning", "watching the game", "{h} happy friday", "first time trying {h}", "{h} 👀", "new week new me",
          "{h} DMed you", "{h} sent you the details", "packing for {c}", "{h} just followed you", "heading to {c} on {w}"]
_SPAM = ["free followers click here {u}", "earn {m} a day from home dm me", "crypto giveaway send 1 get 2 {u}",
         "win a free iphone link in bio", "follow4follow 💯", "cheap watches visit our website {u}", "hot deals {u} limited time"]
_FEEDBACK = ["{h} it would be great if the app showed {x}", "{h} please add {x}", "{h} suggestion: {x}",
             "{h} would love to see {x}", "{h} small thing, {x} would help", "{h} any plans to add {x}?"]
_FEATURES = [("product", "dark mode"), ("product", "an export button"), ("billing", "the next bill amount"),
             ("support", "live chat at weekends"), ("support", "delivery tracking by text"), ("billing", "apple pay at checkout"),
             ("product", "offline mode"), ("support", "the queue position")]
_MIXED = ["{h} love the {p} but {c2}", "{h} great staff, shame about {c2}", "{h} the {p} is good but {c2}"]


def _fill(template: str, rng: random.Random, dom: dict[str, Any], handle: str) -> str:
    order = f"{rng.choice(['#', '', 'AC', ''])}{rng.randint(1000, 999999)}"
    money = rng.choice(["${}", "£{}", "{} dollars", "${}.99"]).format(rng.randint(5, 400))
    return template.format(h=handle, n=rng.randint(2, 12), m=money, p=rng.choice(dom.get("p", ["service"])), o=order,
                           w=rng.choice(_WEEKDAYS), c=rng.choice(_CITIES), name=rng.choice(_NAMES),
                           b=rng.choice(["acme", "Acme"]), u="bit.ly/x" + str(rng.randint(10, 99)), x="")


def generate(n: int = 6000, seed: int = 7) -> list[dict[str, Any]]:
    """`n` labelled texts: {"text", "sentiment", "intent", "department", "source": "synthetic"}."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    domains = list(_D)
    kinds = ["complaint"] * 45 + ["question"] * 20 + ["praise"] * 14 + ["feedback"] * 6 + ["other"] * 6 + \
        ["spam"] * 3 + ["pr"] * 3 + ["mixed"] * 3 + ["threat"] * 3 + ["churn"] * 2 + ["negpraise"] * 4 + ["demand"] * 2 + \
        ["threatened"] * 4
    while len(out) < n:
        dom = _D[rng.choice(domains)]
        handle = rng.choice(dom["h"]) if rng.random() > 0.1 else ""
        kind = rng.choice(kinds)
        if kind in ("complaint", "question", "praise"):
            dept, tpl = rng.choice(dom[kind])
            text = _fill(tpl, rng, dom, handle).strip()
            sentiment, intent = {"complaint": ("negative", "complaint"), "question": ("neutral", "question"),
                                 "praise": ("positive", "praise")}[kind]
            if kind == "complaint":
                text = rng.choice(_NEG_HEAD) + text + rng.choice(_NEG_TAIL)
            elif kind == "question":
                text += rng.choice(_Q_TAIL)
                if rng.random() < 0.3:
                    text = text.replace("?", "")
            else:
                text += rng.choice(_P_TAIL)
        elif kind == "mixed":
            dept, problem = rng.choice(dom["complaint"])
            c2 = _fill(problem, rng, dom, "").strip()
            text = _fill(rng.choice(_MIXED).replace("{c2}", c2), rng, dom, handle)
            sentiment, intent = "negative", "complaint"
        elif kind == "feedback":
            dept, feature = rng.choice(_FEATURES)
            text = rng.choice(_FEEDBACK).format(h=handle, x=feature)
            sentiment, intent = "neutral", "feedback"
        elif kind == "threatened":
            dept, tpl = rng.choice(dom["complaint"])
            text = _fill(tpl, rng, dom, handle).strip() + rng.choice(_THREAT_TAILS)
            sentiment, intent = "negative", "complaint"
        elif kind == "negpraise":
            text = _fill(rng.choice(_NEGATED_PRAISE), rng, dom, handle) + rng.choice(_P_TAIL)
            dept, sentiment, intent = rng.choice(dom["praise"])[0], "positive", "praise"
        elif kind == "demand":
            dept, tpl = rng.choice(_DEMANDS)
            text = _fill(tpl, rng, dom, handle) + rng.choice(_NEG_TAIL)
            sentiment, intent = "negative", "complaint"
        elif kind == "churn":
            text = _fill(rng.choice(_CHURN), rng, dom, handle)
            question = text.endswith("?")
            dept, sentiment, intent = "billing", "neutral" if question else "negative", "question" if question else "complaint"
        elif kind == "threat":
            text = _fill(rng.choice(_THREATS), rng, dom, handle) + rng.choice(_NEG_TAIL)
            dept, sentiment, intent = "pr", "negative", "complaint"
        elif kind == "pr":
            sub = rng.choice(["complaint", "question", "praise"])
            text = _fill(rng.choice(_PR[sub]), rng, dom, handle)
            sentiment = {"complaint": "negative", "question": "neutral", "praise": "positive"}[sub]
            dept, intent = "pr", sub
        elif kind == "other":
            text = _fill(rng.choice(_OTHER), rng, dom, handle or "@acme")
            dept, sentiment, intent = "support", "neutral", "other"
        else:
            text = _fill(rng.choice(_SPAM), rng, dom, handle)
            dept, sentiment, intent = "support", "neutral", "spam"
        if rng.random() < 0.15:
            text = text.lower()
        out.append({"text": " ".join(text.split()), "sentiment": sentiment, "intent": intent, "department": dept,
                    "source": "synthetic"})
    return out
