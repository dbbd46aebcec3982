"""PutLogEvents batch rules, as the CloudWatch Logs API reference states them.

From "PutLogEvents - Amazon CloudWatch Logs" (API Reference):
at most 10,000 events and 1,048,576 bytes per batch, counting each message's UTF-8
bytes plus 26; events more than 14 days old, older than the group's retention, or
more than 2 hours ahead are rejected while the others are stored, and reported in
``rejectedLogEventsInfo`` (``tooOldLogEventEndIndex`` exclusive, ``expiredLogEventEndIndex``,
``tooNewLogEventStartIndex`` inclusive); the valid events may span at most 24 hours.

The 10,000 events are botocore's model constraint on ``logEvents``, so
:mod:`input_errors` refuses a longer batch before this step sees it, as AWS's front door does
(InvalidParameterException, "... Member must have length less than or equal to 10000").
moto 5.2.5 checks neither the bytes nor the span, ignores retention, and reports the
indices off by one (the last too-old event, the last too-new one). A before-hook can
refuse a call but cannot change which events moto stores or what it answers, so
this one rule is a WSGI step just outside our layer: it refuses bad batches, hands
moto the valid events only, and puts AWS's ``rejectedLogEventsInfo`` in the answer.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

from labkit.emulator import moto_adapter
from labkit.emulator.awsproto import AwsError, error_body, parse_call

MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_SPAN_MS = 24 * 3600 * 1000
MAX_AGE_MS = 14 * 24 * 3600 * 1000
MAX_AHEAD_MS = 2 * 3600 * 1000
_DAY_MS = 24 * 3600 * 1000


@dataclass
class Verdict:
    """Which events of a batch are stored (``keep``) and what AWS reports about the others."""

    keep: slice
    rejected: dict


def batch_bytes(events: list[dict]) -> int:
    """The size AWS counts: each message in UTF-8 plus 26 bytes."""
    return sum(len(str(e.get("message", "")).encode("utf-8")) + EVENT_OVERHEAD_BYTES for e in events)


def judge(events: list[dict], now_ms: int, retention_days: int | None = None) -> Verdict:
    """Refuse a batch AWS refuses (AwsError), else say which events are stored.

    Events come in chronological order (moto refuses others, as AWS does), so the
    rejected ones are a prefix (too old, expired) and a suffix (too new).
    """
    size = batch_bytes(events)
    if size > MAX_BATCH_BYTES:
        raise AwsError("InvalidParameterException",
                       f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
    stamps = [int(e.get("timestamp", 0)) for e in events]
    too_old = sum(1 for t in stamps if t < now_ms - MAX_AGE_MS)
    expired = too_old
    if retention_days:
        expired = max(too_old, sum(1 for t in stamps if t < now_ms - retention_days * _DAY_MS))
    too_new_from = next((i for i, t in enumerate(stamps) if t > now_ms + MAX_AHEAD_MS), len(stamps))
    too_new_from = max(too_new_from, expired)
    valid = stamps[expired:too_new_from]
    if valid and max(valid) - min(valid) > MAX_SPAN_MS:
        raise AwsError("InvalidParameterException",
                       "The batch of log events in a single PutLogEvents request cannot span "
                       "more than 24 hours.")
    rejected = {}
    if too_old:
        rejected["tooOldLogEventEndIndex"] = too_old
    if expired > too_old:
        rejected["expiredLogEventEndIndex"] = expired
    if too_new_from < len(stamps):
        rejected["tooNewLogEventStartIndex"] = too_new_from
    return Verdict(slice(expired, too_new_from), rejected)


class PutLogEventsLimits:
    """WSGI step around our layer: PutLogEvents keeps AWS's batch rules (see the module docstring)."""

    def __init__(self, app, retention_days=None):
        self.app = app
        # Looked up per call (the group's retention may change); injectable for tests.
        self.retention_days = retention_days or moto_adapter.log_group_retention_days

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").endswith(".PutLogEvents"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        call = parse_call(environ, body)
        params = call.params if call else {}
        events = params.get("logEvents")
        if call is None or not isinstance(events, list):
            return self._forward(environ, start_response, body)
        try:
            retention = self.retention_days(call.region, params.get("logGroupName", ""))
            verdict = judge(events, int(time.time() * 1000), retention)
        except AwsError as error:
            status, headers, payload = error_body(call, error)
            start_response(status, headers)
            return [payload]
        if not verdict.rejected:
            return self._forward(environ, start_response, body)
        kept = dict(params, logEvents=events[verdict.keep])
        return self._with_rejections(environ, start_response, json.dumps(kept).encode(), verdict.rejected)

    def _forward(self, environ, start_response, body: bytes):
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _with_rejections(self, environ, start_response, body: bytes, rejected: dict):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        answer = b"".join(self._forward(environ, capture, body))
        if captured["status"].startswith("200"):
            payload = json.loads(answer or b"{}")
            payload["rejectedLogEventsInfo"] = rejected
            answer = json.dumps(payload).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(answer)))])
        return [answer]


