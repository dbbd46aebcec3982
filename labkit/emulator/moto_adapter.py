"""The only door to moto: its WSGI application and the state our layer reads or amends.

Everything else in the emulator speaks AWS (boto3-shaped requests and answers) or
calls the small functions below, which take and return plain values and frozen
dataclasses. moto's models, their private attributes and its quirks stay here, so
an upgrade of moto is checked in one file.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

ACCOUNT_ID = DEFAULT_ACCOUNT_ID
"""The one account moto serves (any credentials map to it)."""

# A peering connection in these states still holds its VPCs (DeleteVpc is refused).
_LIVE_PEERING_STATES = frozenset({"active", "pending-acceptance", "provisioning", "initiating-request"})
_WARM_SERVICES = ("ec2", "logs", "ssm")

_app = None


# ---- the application ----------------------------------------------------------------------


def wsgi_app():
    """moto's WSGI application: one per process, served by our layer and asked in-process."""
    global _app
    if _app is None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        _app = DomainDispatcherApplication(create_backend_app)
    return _app


def request_handler():
    """The werkzeug request handler moto's own server uses (it accepts AWS's chunked uploads)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def warm_up(regions) -> None:
    """Build the backends a lab uses now: moto builds each on first use (about a second for EC2)."""
    for region in regions:
        for service in _WARM_SERVICES:
            _backend(service, region)
    _iam()
    _s3()


def seed_public_ips(draw: Callable[[], str]) -> None:
    """Make moto take every auto-assigned public IPv4 address from ``draw``.

    A monkeypatch, the only way: moto draws the address inside RunInstances from a
    module-level function, with no request parameter or state to steer it.
    """
    from moto.ec2.models import elastic_network_interfaces

    elastic_network_interfaces.random_public_ip = draw


def implements(service: str, operation: str) -> bool:
    """Whether moto has a handler for ``operation`` (else it raises NotImplementedError)."""
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(operation) in _handler_names(service)


@functools.cache
def _handler_names(service: str) -> frozenset:
    from moto.core.utils import method_names_from_class

    try:
        urls = importlib.import_module(f"moto.{service}.urls")
    except ImportError:
        return frozenset()
    names = set()
    for view in urls.url_paths.values():
        owner = getattr(view, "__self__", None)
        if isinstance(owner, type):
            names.update(method_names_from_class(owner))
    return frozenset(names)


def _backend(service: str, region: str):
    return get_backend(service)[ACCOUNT_ID][region]


def _ec2(region: str):
    return _backend("ec2", region)


def _logs(region: str):
    return _backend("logs", region)


def _iam():
    # IAM is global: moto keeps it under the partition name.
    return get_backend("iam")[ACCOUNT_ID]["global"]


def _s3():
    backends = get_backend("s3")[ACCOUNT_ID]
    return backends["aws"] if "aws" in backends else backends["global"]


# ---- flow logs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowLogConfig:
    """A flow log as CreateFlowLogs stored it (plus the DestinationOptions moto drops)."""

    id: str
    resource_id: str
    traffic_type: str
    max_aggregation_interval: int
    log_format: str | None
    destination_type: str  # "cloud-watch-logs" | "s3"
    log_group_name: str | None
    log_destination: str | None
    destination_options: Mapping = field(default_factory=dict)
    deliver_logs_permission_arn: str | None = None


def _config(flow_log) -> FlowLogConfig:
    return FlowLogConfig(
        id=flow_log.id,
        resource_id=flow_log.resource_id,
        traffic_type=(flow_log.traffic_type or "ALL").upper(),
        max_aggregation_interval=int(flow_log.max_aggregation_interval or 600),
        log_format=flow_log.log_format,
        destination_type=flow_log.log_destination_type,
        log_group_name=flow_log.log_group_name,
        log_destination=flow_log.log_destination,
        destination_options=dict(getattr(flow_log, "destination_options", None) or {}),
        deliver_logs_permission_arn=flow_log.deliver_logs_permission_arn,
    )


def flow_logs(region: str) -> list[FlowLogConfig]:
    """Every flow log of the region, in creation order."""
    return [_config(f) for f in _ec2(region).flow_logs.values()]


def flow_log(region: str, flow_log_id: str) -> FlowLogConfig | None:
    found = _ec2(region).flow_logs.get(flow_log_id)
    return None if found is None else _config(found)


def set_delivery_status(region: str, flow_log_id: str, ok: bool, message: str | None = None) -> None:
    """What DescribeFlowLogs shows as DeliverLogsStatus (and DeliverLogsErrorMessage on failure)."""
    found = _ec2(region).flow_logs.get(flow_log_id)
    if found is not None:
        found.deliver_logs_status = "SUCCESS" if ok else "FAILED"
        found.deliver_logs_error_message = None if ok else message


def keep_destination(region: str, flow_log_id: str, *, log_destination: str | None = None,
                     destination_options: Mapping | None = None) -> None:
    """Store what moto drops: an S3 destination's prefix, its DestinationOptions."""
    found = _ec2(region).flow_logs.get(flow_log_id)
    if found is None:
        return
    if log_destination is not None:
        found.log_destination = log_destination
    if destination_options is not None:
        found.destination_options = dict(destination_options)  # DescribeFlowLogs renders it


def create_s3_flow_logs(region: str, *, resource_type: str, resource_ids: list[str], traffic_type: str,
                        bucket_arn: str, log_format: str | None, max_aggregation_interval: int | None,
                        tags: Mapping[str, str]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """CreateFlowLogs to an S3 bucket: (flow-log ids, [(resource id, error code, message)])."""
    created, errors = _ec2(region).create_flow_logs(
        resource_type=resource_type, resource_ids=resource_ids, traffic_type=traffic_type,
        deliver_logs_permission_arn=None, log_destination_type="s3", log_destination=bucket_arn,
        log_group_name=None, log_format=log_format, max_aggregation_interval=max_aggregation_interval,
    )  # fmt: skip
    for flow_log in created:
        flow_log.add_tags(dict(tags))
    return [f.id for f in created], [tuple(e) for e in errors]


# ---- EC2 dependencies (what AWS refuses to delete) ----------------------------------------


def _live_enis(ec2):
    # A terminated instance's interfaces are gone on AWS; moto keeps them.
    for eni in ec2.enis.values():
        instance = eni.instance
        if instance is None or instance.state != "terminated":
            yield eni


def vpc_exists(region: str, vpc_id: str) -> bool:
    return vpc_id in _ec2(region).vpcs


def vpc_dependents(region: str, vpc_id: str) -> list[str]:
    """Ids of what keeps a VPC from being deleted: subnets, attached gateways, custom security
    groups, route tables and network ACLs, live interfaces, live peering connections."""
    ec2 = _ec2(region)
    found = [s.id for zone in ec2.subnets.values() for s in zone.values() if s.vpc_id == vpc_id]
    found += [g.id for g in ec2.internet_gateways.values() if g.vpc is not None and g.vpc.id == vpc_id]
    found += [g.id for g in ec2.groups.get(vpc_id, {}).values() if g.name != "default"]
    found += [t.id for t in ec2.route_tables.values() if t.vpc_id == vpc_id and t.main_association_id is None]
    found += [a.id for a in ec2.network_acls.values() if a.vpc_id == vpc_id and not a.default]
    found += [e.id for e in _live_enis(ec2) if e.subnet.vpc_id == vpc_id]
    found += [p.id for p in ec2.vpc_pcxs.values()
              if p._status.code in _LIVE_PEERING_STATES and vpc_id in (p.vpc.id, p.peer_vpc.id)]
    return found


def subnet_dependents(region: str, subnet_id: str) -> list[str]:
    """Ids of the live interfaces and instances in a subnet."""
    ec2 = _ec2(region)
    found = [e.id for e in _live_enis(ec2) if e.subnet.id == subnet_id]
    found += [i.id for i in ec2.all_instances()
              if i.subnet_id == subnet_id and i.state not in ("terminated", "shutting-down")]
    return found


def security_group_dependents(region: str, group_id: str) -> list[str]:
    """Ids of the live interfaces using a security group and of the other groups whose rules name it."""
    ec2 = _ec2(region)
    found = [e.id for e in _live_enis(ec2) if group_id in {g.id for g in e.group_set}]
    found += [group.id for groups in ec2.groups.values() for group in groups.values()
              if group.id != group_id
              and any(group_id == (rule.source_group or {}).get("GroupId")
                      for rule in [*group.ingress_rules, *group.egress_rules])]
    return found


def internet_gateway_vpc(region: str, igw_id: str) -> str | None:
    """The VPC an internet gateway is attached to, if any."""
    igw = _ec2(region).internet_gateways.get(igw_id)
    return None if igw is None or igw.vpc is None else igw.vpc.id


def peering_cidrs(region: str, pcx_id: str) -> tuple[list[str], list[str]] | None:
    """(requester VPC's IPv4 CIDRs, accepter VPC's) of a peering connection, None if unknown."""
    pcx = _ec2(region).vpc_pcxs.get(pcx_id)
    if pcx is None:
        return None

    def cidrs(vpc):
        return [c["cidr_block"] for c in vpc.cidr_block_association_set if "cidr_block" in c]

    return cidrs(pcx.vpc), cidrs(pcx.peer_vpc)


def fail_peering(region: str, pcx_id: str, message: str) -> None:
    """Put a peering connection in the 'failed' state AWS gives it."""
    pcx = _ec2(region).vpc_pcxs[pcx_id]
    pcx._status.code = "failed"
    pcx._status.message = message


def delete_interfaces_of(region: str, instance_ids: set[str]) -> None:
    """Forget the interfaces of these instances once they are terminated (moto keeps them)."""
    ec2 = _ec2(region)
    for eni_id, eni in list(ec2.enis.items()):
        instance = eni.instance
        if instance is not None and instance.id in instance_ids and instance.state == "terminated":
            del ec2.enis[eni_id]


def instance_states(region: str) -> dict[str, str]:
    """Instance id -> state name (running, stopped, terminated, ...)."""
    return {i.id: i.state for i in _ec2(region).all_instances()}


# ---- IAM ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleDocuments:
    """A role's trust policy and its permission policies (inline, then attached managed ones)."""

    trust: object  # JSON text or a dict, as moto kept it
    permissions: tuple = ()


def role_documents(arn: str) -> RoleDocuments | None:
    """The policy documents of the role with this ARN, None when there is no such role."""
    try:
        role = _iam().get_role_by_arn(arn)
    except Exception:  # noqa: BLE001 - moto raises its own NotFound for any unknown ARN
        return None
    docs = list(role.policies.values())
    for policy in role.managed_policies.values():
        version = next((v for v in policy.versions if v.is_default_version), None)
        if version is not None:
            docs.append(version.document)
    return RoleDocuments(role.assume_role_policy_document, tuple(docs))


def instance_profile_tags(name: str) -> list[dict[str, str]] | None:
    """An instance profile's tags ({"Key", "Value"} dicts), None when there is no such profile."""
    found = next((p for p in _iam().instance_profiles.values() if p.name == name), None)
    return None if found is None else [dict(tag) for tag in found.tags]


# ---- CloudWatch Logs ----------------------------------------------------------------------


def log_group_exists(region: str, name: str) -> bool:
    return name in _logs(region).groups


def log_group_retention_days(region: str, name: str) -> int | None:
    """The group's retention (PutRetentionPolicy), None when unset or no such group."""
    found = _logs(region).groups.get(name)
    return getattr(found, "retention_in_days", None) if found is not None else None


def create_log_group(region: str, name: str) -> None:
    _logs(region).create_log_group(name, tags={})


def log_stream_exists(region: str, group: str, stream: str) -> bool:
    found = _logs(region).groups.get(group)
    return found is not None and stream in found.streams


def ensure_log_stream(region: str, group: str, stream: str) -> None:
    """Create the stream in an existing group unless it is there (DescribeLogStreams lists it)."""
    found = _logs(region).groups[group]
    if stream not in found.streams:
        found.create_log_stream(stream)


def take_put_events(region: str, group: str, stream: str) -> tuple[list[int], list[str], int] | None:
    """The events PutLogEvents just gave moto, taken out of moto's stream: (timestamps ms,
    messages, ingestion ms). Our store keeps events; moto keeps only the stream."""
    found = _logs(region).groups.get(group)
    target = found.streams.get(stream) if found is not None else None
    if target is None or not target.events:
        return None
    events, target.events = target.events, []
    return [int(e.timestamp) for e in events], [e.message for e in events], int(events[-1].ingestion_time)


# ---- S3 -----------------------------------------------------------------------------------


def put_s3_object(bucket: str, key: str, body: bytes) -> bool:
    """Store an object; False when the bucket does not exist."""
    try:
        _s3().put_object(bucket, key, body)
    except Exception:  # noqa: BLE001 - moto raises MissingBucket (and only that, for a plain put)
        return False
    return True
