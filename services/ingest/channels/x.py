"""X (Twitter): API v2 tweet payloads and Account Activity webhook events.

- Filtered stream and lookups deliver v2 objects: `data` (one tweet or a list) with
  `includes.users` carrying the authors (`username`, `verified`, `public_metrics`),
  `referenced_tweets` (replied_to / quoted / retweeted) and `conversation_id`.
- Account Activity webhooks deliver `tweet_create_events` (v1.1 tweet objects with the
  `user` inline) and `direct_message_events` (`message_create`), with `for_user_id` the
  subscribed brand account. A brand account replying to a customer is a response.
- Retweets carry no words of the customer and are skipped.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from services.common.errors import InvalidInput
from services.common.timeutil import parse_rfc3339
from services.ingest.channels.common import BrandAccounts, Parsed, build_response, from_unix, shape_errors_are_invalid_input
from services.ingest.normalise import author as make_author
from services.ingest.normalise import build_mention

CHANNEL = "x"


def _v2_user(users: dict[str, dict[str, Any]], user_id: str) -> dict[str, Any]:
    user = users.get(user_id, {})
    metrics = user.get("public_metrics") or {}
    return make_author(user_id, user.get("username"), user.get("name"), metrics.get("followers_count"),
                       bool(user.get("verified")))


def _expand_links(text: str, *entity_sets: Any) -> str:
    """X shortens every link in a post's text to `https://t.co/…`; the payload's own entities
    say where each leads (`unwound_url`, else `expanded_url`). An agent needs the real link
    (a booking page, a product), and rules and the classifier read words, not t.co codes.
    What a link carries in its query (a booking code, a surname) is masked downstream like any
    personal data (`services/common/pii.py`, kind `link`)."""
    for entities in entity_sets:
        links = entities.get("urls") if isinstance(entities, dict) else None
        for link in links if isinstance(links, list) else []:
            if not isinstance(link, dict):
                continue
            short, full = link.get("url"), link.get("unwound_url") or link.get("expanded_url")
            if isinstance(short, str) and isinstance(full, str) and short and short in text:
                text = text.replace(short, full)
    return text


def _entity_tags(*entity_sets: Any) -> tuple[list[str] | None, list[str] | None]:
    """Hashtags and mentioned handles as the payload's entities list them (v2 `tag`/`username`,
    v1.1 `text`/`screen_name`); None when the payload has no entities (then they are read from
    the text)."""
    hashtags: list[str] | None = None
    handles: list[str] | None = None
    for entities in entity_sets:
        if not isinstance(entities, dict):
            continue
        tags = entities.get("hashtags")
        if isinstance(tags, list):
            hashtags = (hashtags or []) + [str(t.get("tag") or t.get("text") or "") for t in tags if isinstance(t, dict)]
        users = entities.get("mentions") if "mentions" in entities else entities.get("user_mentions")
        if isinstance(users, list):
            handles = (handles or []) + [str(u.get("username") or u.get("screen_name") or "")
                                         for u in users if isinstance(u, dict)]
    return hashtags, handles


def _stream_tags(payload: dict[str, Any]) -> list[str]:
    """The filtered stream's `matching_rules`: which of the operator's rules caught the post."""
    rules = payload.get("matching_rules")
    return [str(r.get("tag") or r.get("id") or "") for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def _tweet_url(handle: str | None, tweet_id: str) -> str:
    return f"https://x.com/{handle or 'i/web'}/status/{tweet_id}"


def _parse_v2(payload: dict[str, Any], received_at: datetime, brands: BrandAccounts, out: Parsed) -> None:
    data = payload["data"]
    tweets = data if isinstance(data, list) else [data]
    users = {u["id"]: u for u in (payload.get("includes") or {}).get("users", []) if isinstance(u, dict) and "id" in u}
    for i, tweet in enumerate(tweets):
        if not isinstance(tweet, dict) or not tweet.get("id") or not tweet.get("author_id"):
            raise InvalidInput("Not an X API v2 tweet", [{"pointer": f"/data/{i}", "detail": "needs id and author_id"}])
        refs = {r.get("type"): r.get("id") for r in tweet.get("referenced_tweets") or [] if isinstance(r, dict)}
        if "retweeted" in refs:
            out.ignored.append("retweet")
            continue
        author = _v2_user(users, str(tweet["author_id"]))
        try:
            created_at = parse_rfc3339(tweet["created_at"]) if tweet.get("created_at") else received_at
        except ValueError as exc:
            raise InvalidInput("Bad tweet created_at", [{"pointer": f"/data/{i}/created_at", "detail": str(exc)}]) from exc
        in_reply_to = refs.get("replied_to")
        conversation_id = tweet.get("conversation_id")
        if brands.is_brand(CHANNEL, author["id"], author["handle"]):
            if in_reply_to:
                out.responses.append(build_response(
                    channel=CHANNEL, external_id=str(tweet["id"]), author=author, created_at=created_at,
                    received_at=received_at, raw=tweet, text=_expand_links(tweet.get("text") or "",
                                                                           tweet.get("entities")) or None,
                    in_reply_to=str(in_reply_to),
                    conversation_id=conversation_id, customer_id=tweet.get("in_reply_to_user_id")))
            else:
                out.ignored.append("brand_broadcast")
            continue
        metrics = tweet.get("public_metrics") or {}
        note = tweet.get("note_tweet") if isinstance(tweet.get("note_tweet"), dict) else {}
        text = _expand_links(note.get("text") or tweet.get("text", ""), note.get("entities"), tweet.get("entities"))
        hashtags, handles = _entity_tags(note.get("entities") if note else tweet.get("entities"))
        out.mentions.append(build_mention(
            channel=CHANNEL, external_id=str(tweet["id"]), author=author, text=text,
            created_at=created_at, received_at=received_at, raw={"data": tweet, "includes": {"users": [
                users[author["id"]]] if author["id"] in users else []}},
            conversation_id=conversation_id, in_reply_to=in_reply_to, url=_tweet_url(author["handle"], tweet["id"]),
            language=tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx", "qme") else None,
            kind="reply" if in_reply_to else "post", hashtags=hashtags, mentioned_accounts=handles,
            stream_tags=_stream_tags(payload),
            metrics={"reposts": metrics.get("retweet_count", 0), "likes": metrics.get("like_count", 0),
                     "replies": metrics.get("reply_count", 0), "quotes": metrics.get("quote_count", 0)}))


def _v1_author(user: dict[str, Any]) -> dict[str, Any]:
    return make_author(user.get("id_str") or str(user.get("id", "")), user.get("screen_name"), user.get("name"),
                       user.get("followers_count"), bool(user.get("verified")))


def _v1_entities(tweet: dict[str, Any]) -> Any:
    extended = tweet.get("extended_tweet") or {}
    return extended.get("entities") if extended else tweet.get("entities")


def _v1_text(tweet: dict[str, Any]) -> str:
    extended = tweet.get("extended_tweet") or {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""
    return _expand_links(text, extended.get("entities"), tweet.get("entities"))


def _parse_activity(payload: dict[str, Any], received_at: datetime, brands: BrandAccounts, out: Parsed) -> None:
    for_user = str(payload.get("for_user_id", ""))
    for i, tweet in enumerate(payload.get("tweet_create_events") or []):
        user = tweet.get("user") or {}
        tweet_id = tweet.get("id_str") or str(tweet.get("id", ""))
        if not tweet_id or not user:
            raise InvalidInput("Not a tweet_create_event",
                               [{"pointer": f"/tweet_create_events/{i}", "detail": "needs id_str and user"}])
        if "retweeted_status" in tweet:
            out.ignored.append("retweet")
            continue
        author = _v1_author(user)
        try:
            created_at = parsedate_to_datetime(tweet["created_at"]) if tweet.get("created_at") else received_at
        except (TypeError, ValueError) as exc:
            raise InvalidInput("Bad tweet created_at", [{"pointer": f"/tweet_create_events/{i}/created_at",
                                                         "detail": str(exc)}]) from exc
        in_reply_to = tweet.get("in_reply_to_status_id_str")
        if author["id"] == for_user or brands.is_brand(CHANNEL, author["id"], author["handle"]):
            if in_reply_to:
                out.responses.append(build_response(
                    channel=CHANNEL, external_id=tweet_id, author=author, created_at=created_at,
                    received_at=received_at, raw=tweet, text=_v1_text(tweet), in_reply_to=in_reply_to,
                    customer_id=tweet.get("in_reply_to_user_id_str")))
            else:
                out.ignored.append("brand_broadcast")
            continue
        hashtags, handles = _entity_tags(_v1_entities(tweet))
        out.mentions.append(build_mention(
            channel=CHANNEL, external_id=tweet_id, author=author, text=_v1_text(tweet), created_at=created_at,
            received_at=received_at, raw=tweet, in_reply_to=in_reply_to, url=_tweet_url(author["handle"], tweet_id),
            language=tweet.get("lang") if tweet.get("lang") not in (None, "und") else None,
            kind="reply" if in_reply_to else "post", hashtags=hashtags, mentioned_accounts=handles,
            metrics={"reposts": tweet.get("retweet_count", 0), "likes": tweet.get("favorite_count", 0),
                     "replies": tweet.get("reply_count", 0), "quotes": tweet.get("quote_count", 0)}))
    users = payload.get("users") or {}
    for i, event in enumerate(payload.get("direct_message_events") or []):
        if event.get("type") != "message_create":
            out.ignored.append("dm_other")
            continue
        create = event.get("message_create") or {}
        sender = str(create.get("sender_id", ""))
        recipient = str((create.get("target") or {}).get("recipient_id", ""))
        text = (create.get("message_data") or {}).get("text", "")
        if not event.get("id") or not sender:
            raise InvalidInput("Not a direct_message_event",
                               [{"pointer": f"/direct_message_events/{i}", "detail": "needs id and sender_id"}])
        created_at = from_unix(int(event.get("created_timestamp", 0)) / 1000) if event.get("created_timestamp") \
            else received_at
        sender_user = users.get(sender) or {"id": sender}
        author = make_author(sender, sender_user.get("screen_name"), sender_user.get("name"),
                             sender_user.get("followers_count"), bool(sender_user.get("verified")))
        if sender == for_user or brands.is_brand(CHANNEL, sender, author["handle"]):
            out.responses.append(build_response(
                channel=CHANNEL, external_id=f"dm-{event['id']}", author=author, created_at=created_at,
                received_at=received_at, raw=event, text=text, conversation_id=f"dm:{recipient}",
                customer_id=recipient, public=False))
            continue
        out.mentions.append(build_mention(
            channel=CHANNEL, external_id=f"dm-{event['id']}", author=author, text=text, created_at=created_at,
            received_at=received_at, raw=event, conversation_id=f"dm:{sender}", kind="direct_message"))


@shape_errors_are_invalid_input("X")
def parse_x(payload: Any, received_at: datetime, brands: BrandAccounts) -> Parsed:
    """Parse a v2 tweet payload or an Account Activity event into mentions and responses."""
    if not isinstance(payload, dict):
        raise InvalidInput("Body must be a JSON object", [{"pointer": "", "detail": "expected an object"}])
    out = Parsed()
    if "data" in payload:
        _parse_v2(payload, received_at, brands, out)
    elif "for_user_id" in payload:
        _parse_activity(payload, received_at, brands, out)
        if not (payload.get("tweet_create_events") or payload.get("direct_message_events")):
            out.ignored.append("activity_event")  # favorites, follows, deletes…: nothing to answer
    else:
        raise InvalidInput("Not an X payload", [{"pointer": "", "detail": "expected `data` (API v2) or "
                                                 "`for_user_id` (Account Activity)"}])
    return out
