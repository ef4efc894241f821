"""Instagram `mentions` webhooks: the post is fetched from the Graph API, or dead-lettered.

Meta sends only ids when a customer @-mentions the brand's Instagram account in a comment or a
caption (`field: mentions`, value `{media_id, comment_id?}`); the words must be fetched with
the brand's token (`mentioned_comment` / `mentioned_media` of the brand's IG user). Three
outcomes, each one an operator can act on:

- fetched: an ordinary mention, published like any other;
- the Graph API is down or slow (5xx, 429, timeout): the webhook is answered 503, so Meta
  delivers it again (nothing of it was accepted; ids make the retry idempotent);
- no token is configured, or the Graph API refuses (4xx: bad token, missing permission, the
  comment was deleted): a dead letter on `deadletter.v1` with the reason and the payload,
  counted in `heatdesk_deadletter_total{stage="ingest"}`. Nothing is silently dropped.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import aiohttp

from services.common.errors import DependencyUnavailable, HeatdeskError, InvalidInput
from services.ingest.normalise import author as make_author
from services.ingest.normalise import build_mention

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
_COMMENT_FIELDS = "id,text,timestamp,username,from,media{id,permalink}"
_MEDIA_FIELDS = "id,caption,timestamp,username,permalink"


@dataclasses.dataclass(frozen=True)
class MentionReference:
    """An Instagram mention known only by ids: `comment_id` for a comment, else the caption of `media_id`."""

    ig_user_id: str
    media_id: str
    comment_id: str | None
    raw: dict[str, Any]

    @property
    def external_id(self) -> str:
        return self.comment_id or self.media_id


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """Something a webhook carried that cannot become a mention: written to `deadletter.v1`."""

    reason: str
    detail: str
    source: str
    key: str
    value: dict[str, Any]


class GraphUnavailable(DependencyUnavailable):
    """The Graph API did not answer, answered 5xx or rate-limited us.

    Ingest answers the webhook 503 so Meta delivers it again; if it persists, check
    `HEATDESK_INGEST_GRAPH_URL`, egress to graph.facebook.com and the app's rate limits.
    """


class GraphRefused(HeatdeskError):
    """The Graph API refused the request (4xx): a wrong or expired token, a missing
    `instagram_manage_comments` permission, or a comment deleted since the webhook.

    The mention is dead-lettered with the Graph API's message; renew the token
    (`HEATDESK_INGEST_GRAPH_TOKEN`) and ask Meta to resend, or read the post in Instagram.
    """


class GraphClient:
    """Reads mentioned comments and captions with the brand's Instagram token."""

    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}  # never in the URL, so never in a log
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, ref: MentionReference) -> dict[str, Any]:
        """The mentioned comment or media object, as the Graph API returns it."""
        if ref.comment_id:
            edge, fields = "mentioned_comment", f"mentioned_comment.comment_id({ref.comment_id}){{{_COMMENT_FIELDS}}}"
        else:
            edge, fields = "mentioned_media", f"mentioned_media.media_id({ref.media_id}){{{_MEDIA_FIELDS}}}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        try:
            async with self._session.get(f"{self.base_url}/{ref.ig_user_id}", params={"fields": fields}) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise GraphUnavailable(f"Graph API unreachable: {type(exc).__name__}: {exc}"[:300]) from exc
        if status >= 500 or status == 429:
            raise GraphUnavailable(f"Graph API answered {status}")
        message = ((body or {}).get("error") or {}).get("message") if isinstance(body, dict) else None
        if status >= 400 or not isinstance(body, dict) or not isinstance(body.get(edge), dict):
            raise GraphRefused(f"Graph API answered {status}: {message or 'no ' + edge + ' in the answer'}"[:500])
        return body[edge]


def mention_from_graph(ref: MentionReference, found: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    """The canonical mention of a fetched comment or caption (raw: the webhook and the Graph answer)."""
    sender = found.get("from") if isinstance(found.get("from"), dict) else {}
    username = found.get("username") or sender.get("username")
    author_id = str(sender.get("id") or username or "unknown")
    media = found.get("media") if isinstance(found.get("media"), dict) else {}
    stamp = found.get("timestamp")
    try:
        created_at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z") if isinstance(stamp, str) else received_at
    except ValueError:
        created_at = received_at
    return build_mention(
        channel="instagram", external_id=ref.external_id, author=make_author(author_id, username),
        text=(found.get("text") if ref.comment_id else found.get("caption")) or "",
        created_at=created_at, received_at=received_at, raw={"webhook": ref.raw, "graph": found},
        conversation_id=ref.media_id, url=found.get("permalink") or media.get("permalink"),
        kind="comment" if ref.comment_id else "post")


async def resolve(refs: list[MentionReference], client: GraphClient | None, received_at: datetime
                  ) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """Fetched mentions and dead letters for `refs`; raises GraphUnavailable (answer 503)."""
    mentions: list[dict[str, Any]] = []
    letters: list[DeadLetter] = []
    for ref in refs:
        if client is None:
            letters.append(letter(ref, "unfetched_mention", "Instagram mentions webhooks carry only ids: set "
                                  "HEATDESK_INGEST_GRAPH_TOKEN (a token with instagram_manage_comments) so ingest "
                                  "fetches the post; this one is in Instagram under the media and comment ids"))
            continue
        try:
            mentions.append(mention_from_graph(ref, await client.fetch(ref), received_at))
        except GraphRefused as exc:
            letters.append(letter(ref, "unfetched_mention", str(exc)))
        except InvalidInput as exc:  # an empty caption, say: nothing a case could hold
            letters.append(letter(ref, "unfetched_mention", f"the fetched post is not a mention: {exc.errors}"[:500]))
    return mentions, letters


def letter(ref: MentionReference, reason: str, detail: str) -> DeadLetter:
    return DeadLetter(reason=reason, detail=detail, source="webhook:meta", key=f"instagram:{ref.external_id}",
                      value={"ig_user_id": ref.ig_user_id, "media_id": ref.media_id, "comment_id": ref.comment_id,
                             "webhook": ref.raw})
