"""Route 53 change propagation on top of moto (reference §7 and §10.3).

moto answers every change with ``INSYNC`` and one fixed change id, and ``GetChange`` says INSYNC
for any id. AWS instead returns a fresh ``/change/<id>`` with ``Status: PENDING`` and ``GetChange``
answers PENDING until the change has reached every authoritative server ("generally within 60
seconds"), then INSYNC; an unknown id is ``NoSuchChange`` (HTTP 404).

This overlay sits in front of moto's route53 handler:

- every successful response that carries a ``ChangeInfo`` (ChangeResourceRecordSets,
  CreateHostedZone, DeleteHostedZone, VPC associations) gets a new, unique change id, status
  PENDING and a ``SubmittedAt`` from the sandbox clock; the ChangeBatch comment is echoed;
- ``GetChange`` is answered here: PENDING until ``propagation_delay`` simulated seconds after
  submission (default 30 s; AWS documents "within 60 seconds", so any value up to 60 is AWS-like),
  then INSYNC;
- a ``Weight`` outside 0..255 is rejected with ``InvalidInput`` before moto stores it (moto does not
  range-check it). The message follows AWS's standard validation format (DERIVED: the exact Route 53
  text for this case is UNVERIFIED).

Not modelled: the transactional all-or-nothing batch (moto applies changes one by one), the
"weighted and plain records under one name" rule, and TTL unification within a weighted group.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from rollout.clock import Clock
from rollout.sandbox.wire import Reply, iso8601

API_PREFIX = "/2013-04-01/"
XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
DEFAULT_PROPAGATION_DELAY = 30.0

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_CHANGE_INFO = re.compile(rb"<ChangeInfo>.*?</ChangeInfo>", re.DOTALL)
_GET_CHANGE = re.compile(r"^/2013-04-01/change/(?P<id>[^/]+)/?$")
_CHANGE_RRSETS = re.compile(r"^/2013-04-01/hostedzone/(?P<zone>[^/]+)/rrset/?$")


@dataclass(frozen=True)
class Change:
    id: str
    submitted_at: float
    comment: str | None


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_reply(code: str, message: str, status: int) -> Reply:
    """A Route 53 (rest-xml) error document."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{XMLNS}"><Error>'
        f"<Type>Sender</Type><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return Reply(status, [("Content-Type", "text/xml")], body)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def weight_errors(body: bytes) -> list[str]:
    """AWS-style validation messages for every ``Weight`` outside 0..255 in a ChangeBatch."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - local clients only; expat expands no entities
    except ET.ParseError:
        return []  # malformed XML: let moto answer as it does
    problems: list[str] = []
    changes = [el for el in root.iter() if _local(el.tag) == "Change"]
    for index, change in enumerate(changes, start=1):
        for el in change.iter():
            if _local(el.tag) != "Weight" or el.text is None:
                continue
            try:
                weight = int(el.text.strip())
            except ValueError:
                problems.append(f"Invalid Weight value '{el.text.strip()}'")
                continue
            path = f"changeBatch.changes.{index}.member.resourceRecordSet.weight"
            if weight > 255:
                problems.append(
                    f"Value '{weight}' at '{path}' failed to satisfy constraint: "
                    "Member must have value less than or equal to 255"
                )
            elif weight < 0:
                problems.append(
                    f"Value '{weight}' at '{path}' failed to satisfy constraint: "
                    "Member must have value greater than or equal to 0"
                )
    return problems


def _comment(body: bytes) -> str | None:
    try:
        root = ET.fromstring(body)  # noqa: S314 - local clients only; expat expands no entities
    except ET.ParseError:
        return None
    for batch in root.iter():
        if _local(batch.tag) != "ChangeBatch":
            continue
        for el in batch:
            if _local(el.tag) == "Comment" and el.text:
                return el.text
    return None


class Route53Overlay:
    """Turns moto's always-INSYNC Route 53 changes into PENDING -> INSYNC on the sandbox clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        propagation_delay: float = DEFAULT_PROPAGATION_DELAY,
        seed: int = 0,
    ) -> None:
        if propagation_delay < 0:
            raise ValueError(f"propagation_delay must be >= 0, got {propagation_delay}")
        self.clock = clock
        self.propagation_delay = propagation_delay
        self._rng = random.Random(seed)
        self._changes: dict[str, Change] = {}
        self._lock = threading.Lock()

    # -- the model -------------------------------------------------------------------------
    def submit(self, comment: str | None = None) -> Change:
        """Register a new change submitted now and return it."""
        with self._lock:
            while True:
                cid = "C" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(13))
                if cid not in self._changes:
                    break
            change = Change(cid, self.clock.now(), comment)
            self._changes[cid] = change
        return change

    def status(self, change: Change) -> str:
        done = self.clock.now() >= change.submitted_at + self.propagation_delay
        return "INSYNC" if done else "PENDING"

    def get(self, change_id: str) -> Change | None:
        cid = change_id.rsplit("/", 1)[-1]
        with self._lock:
            return self._changes.get(cid)

    def _change_info(self, change: Change) -> bytes:
        comment = f"<Comment>{_xml_escape(change.comment)}</Comment>" if change.comment else ""
        return (
            f"<ChangeInfo><Id>/change/{change.id}</Id><Status>{self.status(change)}</Status>"
            f"<SubmittedAt>{iso8601(change.submitted_at)}</SubmittedAt>{comment}</ChangeInfo>"
        ).encode()

    # -- HTTP ------------------------------------------------------------------------------
    def before(self, method: str, path: str, body: bytes) -> Reply | None:
        """Answer a request here (GetChange, invalid weights), or None to pass it to moto."""
        m = _GET_CHANGE.match(path)
        if m and method == "GET":
            change = self.get(m.group("id"))
            if change is None:
                return error_reply(
                    "NoSuchChange",
                    "A change with the specified change ID does not exist.",
                    404,
                )
            doc = (
                (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="{XMLNS}">'
                ).encode()
                + self._change_info(change)
                + b"</GetChangeResponse>"
            )
            return Reply(200, [("Content-Type", "text/xml")], doc)
        if _CHANGE_RRSETS.match(path) and method == "POST":
            problems = weight_errors(body)
            if problems:
                count = len(problems)
                noun = "error" if count == 1 else "errors"
                return error_reply(
                    "InvalidInput",
                    f"{count} validation {noun} detected: " + "; ".join(problems),
                    400,
                )
        return None

    def after(self, method: str, path: str, body: bytes, reply: Reply) -> Reply:
        """Give a successful moto answer carrying ChangeInfo a fresh PENDING change."""
        if not path.startswith(API_PREFIX) or not 200 <= reply.status < 300:
            return reply
        if not _CHANGE_INFO.search(reply.body):
            return reply
        is_rrset_change = method == "POST" and _CHANGE_RRSETS.match(path) is not None
        change = self.submit(_comment(body) if is_rrset_change else None)
        new_body = _CHANGE_INFO.sub(lambda _m: self._change_info(change), reply.body, count=1)
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(new_body))))
        return Reply(reply.status, headers, new_body)
