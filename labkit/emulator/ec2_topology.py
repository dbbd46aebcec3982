"""moto's current EC2 state as the netmodel's :class:`Topology`.

The network model reads boto3-shaped ``Describe*`` responses. Rather than
re-implement moto's rendering, we ask moto itself: each Describe call is sent to
the emulator's one moto WSGI app in-process (no socket, no lock of ours: the caller
already holds it) and its XML answer is parsed with botocore's own parser, so the dicts are
exactly what boto3 would return.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from urllib.parse import urlencode

from labkit.emulator import moto_adapter
from labkit.netmodel import Topology

_OPERATIONS = (
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeRouteTables",
    "DescribeInternetGateways",
    "DescribeVpcPeeringConnections",
    "DescribeSecurityGroups",
    "DescribeNetworkAcls",
    "DescribeNetworkInterfaces",
    "DescribeInstances",
)

_model = None
_parser = None


def describe(region: str, operation: str, params: dict[str, str] | None = None) -> dict:
    """One EC2 Describe call answered by moto in-process, parsed as boto3 would.

    ``params`` are query parameters on the wire (``{"Filter.1.Name": "tag:Name", ...}``).
    """
    global _model, _parser
    import botocore.parsers
    import botocore.session

    if _model is None:
        _model = botocore.session.get_session().get_service_model("ec2")
        _parser = botocore.parsers.create_parser("ec2")
    body = urlencode({"Action": operation, "Version": "2016-11-15", **(params or {})}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": f"ec2.{region}.amazonaws.com",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": (
            "AWS4-HMAC-SHA256 Credential=testing/20260101/"
            f"{region}/ec2/aws4_request, SignedHeaders=host, Signature=0"
        ),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    captured: dict = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        return lambda data: None

    raw = b"".join(moto_adapter.wsgi_app()(environ, start_response))
    if not captured.get("status", "").startswith("2"):
        raise RuntimeError(f"moto refused {operation}: {raw[:300]!r}")
    shape = _model.operation_model(operation).output_shape
    return _parser.parse({"body": raw, "headers": {}, "status_code": 200}, shape)


@dataclass
class Network:
    """The topology plus what flow-log records need and the model does not keep."""

    topology: Topology
    az_ids: dict[str, str] = field(default_factory=dict)  # subnet id -> az id (use1-az1)


def build(region: str) -> Network:
    responses = {op: describe(region, op) for op in _OPERATIONS}
    topology = Topology.from_describe(responses)
    az_ids = {s["SubnetId"]: s["AvailabilityZoneId"] for s in responses["DescribeSubnets"]["Subnets"]
              if s.get("AvailabilityZoneId")}
    return Network(topology, az_ids)
