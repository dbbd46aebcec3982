"""Reading an AWS request off the wire, and answering with AWS-shaped errors.

EC2 and IAM speak the query protocol (``Action=DeleteVpc`` in a form body);
CloudWatch Logs and SSM speak JSON (``X-Amz-Target: Logs_20140328.StartQuery``).
The service and region come from the SigV4 credential scope.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

# Services whose errors AWS returns as XML (query protocol) rather than JSON.
_QUERY_SERVICES = {"ec2", "iam", "sts", "sns", "sqs", "cloudformation"}


@dataclass
class Call:
    """One AWS API call as our layer sees it, before moto does."""

    service: str
    region: str
    operation: str
    params: dict = field(default_factory=dict)

    @property
    def is_query(self) -> bool:
        return self.service in _QUERY_SERVICES


class AwsError(Exception):
    """An error AWS would return: its code, its message, its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def parse_call(environ: dict, body: bytes) -> Call | None:
    """Which service, region and operation a request is for; None when it is not a signed API call."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    region, service = match.group(1), match.group(2)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return Call(service, region, target.rsplit(".", 1)[-1], params)
    if environ.get("REQUEST_METHOD") == "POST" and body and b"Action=" in body:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        return Call(service, region, params.pop("Action", ""), params)
    return Call(service, region, "", {})


def error_body(call: Call, error: AwsError) -> tuple[str, list[tuple[str, str]], bytes]:
    """The HTTP status line, headers and body with which AWS reports ``error``."""
    request_id = str(uuid.uuid4())
    status = f"{error.status} {'Bad Request' if error.status == 400 else 'Error'}"
    if call.is_query or call.service == "s3":
        code, message = _xml(error.code), _xml(error.message)
        if call.service == "s3":  # REST-XML: a bare <Error>
            xml = (f"<Error><Code>{code}</Code><Message>{message}</Message>"
                   f"<RequestId>{request_id}</RequestId></Error>")
        elif call.service == "ec2":
            xml = (
                "<?xml version='1.0' encoding='UTF-8'?>"
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            )
        else:  # the awsQuery protocol (IAM, STS)
            xml = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = xml.encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def json_body(payload: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    """A successful JSON-protocol answer (CloudWatch Logs, SSM)."""
    body = json.dumps(payload, default=str).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("Content-Length", str(len(body))),
    ]
    return "200 OK", headers, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
