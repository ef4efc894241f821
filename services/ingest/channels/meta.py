"""Facebook and Instagram: Graph API webhooks (`object` page or instagram).

- `entry[].changes[]`: Page feed (`field: feed`, items post/status/comment, verb add) and
  Instagram comments (`field: comments`). Edits and removals are skipped: the case keeps
  what the customer said first.
- `entry[].messaging[]`: Messenger and Instagram direct messages; `message.is_echo`
  marks the page's own reply, which is a response.
- The page (entry id) or a configured brand account commenting in reply to a customer is
  a response.
- Instagram `mentions` (the brand @-mentioned in a comment or caption) carry only ids: they
  become references, fetched from the Graph API before publishing (or dead-lettered).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.errors import InvalidInput
from services.ingest.channels.common import BrandAccounts, Parsed, build_response, from_unix, shape_errors_are_invalid_input
from services.ingest.graph import MentionReference
from services.ingest.normalise import author as make_author
from services.ingest.normalise import build_mention


def _feed_change(channel: str, page_id: str, value: dict[str, Any], entry_time: float, received_at: datetime,
                 brands: BrandAccounts, out: Parsed, pointer: str) -> None:
    item, verb = value.get("item"), value.get("verb", "add")
    if verb != "add" or item not in ("comment", "post", "status", "photo", "video", "share"):
        out.ignored.append(f"feed_{item}_{verb}")
        return
    sender = value.get("from") or {}
    external_id = value.get("comment_id") if item == "comment" else value.get("post_id")
    if not sender.get("id") or not external_id:
        raise InvalidInput("Not a feed change", [{"pointer": pointer, "detail": "needs from.id and comment_id/post_id"}])
    created_at = from_unix(value.get("created_time") or entry_time)
    author = make_author(sender["id"], None, sender.get("name"))
    post_id = value.get("post_id")
    parent = value.get("parent_id") if item == "comment" else None
    if str(sender["id"]) == page_id or brands.is_brand(channel, sender["id"]):
        if parent:
            out.responses.append(build_response(
                channel=channel, external_id=str(external_id), author=author, created_at=created_at,
                received_at=received_at, raw=value, text=value.get("message"), in_reply_to=str(parent),
                conversation_id=post_id))
        else:
            out.ignored.append("brand_broadcast")
        return
    out.mentions.append(build_mention(
        channel=channel, external_id=str(external_id), author=author, text=value.get("message", ""),
        created_at=created_at, received_at=received_at, raw=value, conversation_id=post_id,
        in_reply_to=str(parent) if parent and parent != post_id else None,
        url=f"https://www.facebook.com/{external_id}", kind="comment" if item == "comment" else "post"))


def _instagram_comment(page_id: str, value: dict[str, Any], entry_time: float, received_at: datetime,
                       brands: BrandAccounts, out: Parsed, pointer: str) -> None:
    sender = value.get("from") or {}
    if not value.get("id") or not sender.get("id"):
        raise InvalidInput("Not an Instagram comment", [{"pointer": pointer, "detail": "needs id and from.id"}])
    media_id = (value.get("media") or {}).get("id")
    author = make_author(sender["id"], sender.get("username"))
    created_at = from_unix(entry_time)
    if str(sender["id"]) == page_id or brands.is_brand("instagram", sender["id"], sender.get("username")):
        if value.get("parent_id"):
            out.responses.append(build_response(
                channel="instagram", external_id=str(value["id"]), author=author, created_at=created_at,
                received_at=received_at, raw=value, text=value.get("text"), in_reply_to=str(value["parent_id"]),
                conversation_id=media_id))
        else:
            out.ignored.append("brand_broadcast")
        return
    out.mentions.append(build_mention(
        channel="instagram", external_id=str(value["id"]), author=author, text=value.get("text", ""),
        created_at=created_at, received_at=received_at, raw=value, conversation_id=media_id,
        in_reply_to=value.get("parent_id"), kind="comment"))


def _instagram_mention(ig_user_id: str, value: dict[str, Any], out: Parsed, pointer: str) -> None:
    """A customer @-mentioned the brand in a comment or caption: only ids come; ingest fetches
    the words (`services/ingest/graph.py`) or dead-letters the reference."""
    media_id, comment_id = value.get("media_id"), value.get("comment_id")
    if not media_id or not ig_user_id:
        raise InvalidInput("Not an Instagram mention", [{"pointer": pointer, "detail": "needs entry id and media_id"}])
    out.references.append(MentionReference(ig_user_id=ig_user_id, media_id=str(media_id),
                                           comment_id=str(comment_id) if comment_id else None, raw=value))


def _message(channel: str, page_id: str, event: dict[str, Any], received_at: datetime, brands: BrandAccounts,
             out: Parsed, pointer: str) -> None:
    message = event.get("message")
    if not isinstance(message, dict):
        out.ignored.append("messaging_other")  # reads, deliveries, postbacks
        return
    sender = str((event.get("sender") or {}).get("id", ""))
    recipient = str((event.get("recipient") or {}).get("id", ""))
    if not message.get("mid") or not sender:
        raise InvalidInput("Not a messaging event", [{"pointer": pointer, "detail": "needs sender.id and message.mid"}])
    created_at = from_unix(event.get("timestamp", 0) / 1000) if event.get("timestamp") else received_at
    text = message.get("text") or ""
    if message.get("is_echo") or sender == page_id or brands.is_brand(channel, sender):
        out.responses.append(build_response(
            channel=channel, external_id=str(message["mid"]), author=make_author(sender), created_at=created_at,
            received_at=received_at, raw=event, text=text, conversation_id=f"dm:{recipient}",
            customer_id=recipient, public=False, automated=bool(message.get("app_id"))))
        return
    if not text:
        out.ignored.append("message_without_text")  # stickers, attachments only
        return
    out.mentions.append(build_mention(
        channel=channel, external_id=str(message["mid"]), author=make_author(sender), text=text,
        created_at=created_at, received_at=received_at, raw=event, conversation_id=f"dm:{sender}",
        kind="direct_message"))


@shape_errors_are_invalid_input("Graph API")
def parse_meta(payload: Any, received_at: datetime, brands: BrandAccounts) -> Parsed:
    if not isinstance(payload, dict) or payload.get("object") not in ("page", "instagram"):
        raise InvalidInput("Not a Graph API webhook", [{"pointer": "/object", "detail": "must be page or instagram"}])
    channel = "facebook" if payload["object"] == "page" else "instagram"
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise InvalidInput("Not a Graph API webhook", [{"pointer": "/entry", "detail": "must be a list"}])
    out = Parsed()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidInput("Bad entry", [{"pointer": f"/entry/{i}", "detail": "must be an object"}])
        page_id = str(entry.get("id", ""))
        entry_time = entry.get("time") or received_at.timestamp()
        if entry_time > 1e11:  # some deliveries give milliseconds
            entry_time /= 1000
        for j, change in enumerate(entry.get("changes") or []):
            pointer = f"/entry/{i}/changes/{j}"
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise InvalidInput("Bad change", [{"pointer": pointer, "detail": "needs field and value"}])
            if change.get("field") == "feed":
                _feed_change(channel, page_id, value, entry_time, received_at, brands, out, pointer)
            elif change.get("field") == "comments" and channel == "instagram":
                _instagram_comment(page_id, value, entry_time, received_at, brands, out, pointer)
            elif change.get("field") == "mentions" and channel == "instagram":
                _instagram_mention(page_id, value, out, pointer)
            else:
                out.ignored.append(f"field_{change.get('field')}")
        for j, event in enumerate(entry.get("messaging") or []):
            if not isinstance(event, dict):
                raise InvalidInput("Bad messaging event", [{"pointer": f"/entry/{i}/messaging/{j}",
                                                            "detail": "must be an object"}])
            _message(channel, page_id, event, received_at, brands, out, f"/entry/{i}/messaging/{j}")
    return out
