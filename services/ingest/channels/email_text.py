"""Reply text without the quoted history and the signature: what the customer wrote now.

Classifying the whole thread would re-read the brand's own earlier answer and every older
message; the original stays in the raw payload. The markers are the ones mail clients
write: `>` quoting, "On … wrote:" (two lines in some clients), Outlook's
"-----Original Message-----" and From:/Sent: header blocks, and RFC 3676's "-- "
signature separator plus the common mobile footers.
"""

from __future__ import annotations

import re

_ON_WROTE = re.compile(r"^\s*(On\s.{0,200}?wrote:|Le\s.{0,200}?a écrit\s?:|Am\s.{0,200}?schrieb.{0,80}:|"
                       r"El\s.{0,200}?escribió:)\s*$", re.IGNORECASE)
_ON_START = re.compile(r"^\s*(On|Le|Am|El)\s.+", re.IGNORECASE)
_WROTE_END = re.compile(r".*(wrote|a écrit|schrieb|escribió)\s?:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|Ursprüngliche Nachricht)\s*-{2,}\s*$",
                       re.IGNORECASE)
_HEADER_BLOCK = re.compile(r"^\s*(From|De|Von):\s.+", re.IGNORECASE)
_HEADER_FOLLOW = re.compile(r"^\s*(Sent|Date|To|Subject|Envoyé|Gesendet|Enviado):\s", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(-- ?|__+|Sent from my .+|Get Outlook for .+|Envoyé de mon .+|Von meinem .+ gesendet)\s*$",
                        re.IGNORECASE)


def strip_reply(text: str) -> str:
    """The new part of an email body; the whole body when nothing new would be left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _ON_WROTE.match(line) or (_ON_START.match(line) and _WROTE_END.match(nxt)):
            break
        if _ORIGINAL.match(line) or (_HEADER_BLOCK.match(line) and _HEADER_FOLLOW.match(nxt)):
            break
        if _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    stripped = "\n".join(kept).strip()
    return stripped or text.strip()
