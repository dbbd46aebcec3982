"""VPC Flow Logs records -> pandas, from every place AWS puts them.

    >>> from labkit import flowlogs
    >>> df = flowlogs.read("data/sample_flowlogs/cloudwatch_export.json")

``read(source, format=None, on_error="raise")`` takes CloudWatch Logs events (or a
JSON export of them), S3 text objects (``.log``/``.log.gz``, header line first),
Parquet objects, directories of these, bytes or an iterable of lines. See
:func:`labkit.flowlogs.read` for the details and the export shape.

Columns are the snake_case field names (``account_id``, ``log_status``,
``pkt_srcaddr`` ...), in the order of the format or header line. Each column has the same
dtype whatever the source (text, gzip, Parquet, CloudWatch), so ``pd.concat`` of two
reads keeps every type:

=================================================  ======================================
column                                             dtype
=================================================  ======================================
version, srcport, dstport, protocol, tcp_flags,    ``int32[pyarrow]`` (nullable)
traffic_path, encryption_status
packets, bytes, packets_lost_*                     ``int64[pyarrow]`` (nullable)
start, end                                         ``timestamp[s, tz=UTC][pyarrow]``
action, log_status, type, flow_direction           ``category``: the documented values
                                                   (``CATEGORIES``) always, plus any other
                                                   value seen; categories sorted
protocol_name                                      ``string[pyarrow]`` (ICMP, TCP, UDP, "47")
tcp_flags_names                                    ``string[pyarrow]`` ("SYN", "SYN-ACK|FIN")
traffic_path_name                                  ``string[pyarrow]`` ("intra-region VPC peering")
account_id, interface_id, srcaddr, dstaddr,        ``string[pyarrow]`` (leading zeros kept)
vpc_id, subnet_id, instance_id, every other field
and every unknown field
log_stream (CloudWatch sources only)               ``string[pyarrow]``
event_timestamp (CloudWatch sources only)          ``timestamp[ms, tz=UTC][pyarrow]``
=================================================  ======================================

``write(df, destination)`` is the inverse: ``.log`` / ``.log.gz`` text, ``.parquet`` or
CloudWatch Logs events (``destination=None``); ``read(write(df, path))`` equals ``df``.
``record_lines``, ``text_object`` and ``parquet_object`` are its vectorised building
blocks (what the emulator's delivery calls).

``-`` (and ``None`` inside Parquet) is missing in every field: ``<NA>`` / ``NaN``
in categoricals. ``df.attrs["bad_lines"]`` lists the lines that could not be parsed
(always empty unless ``on_error="collect"``).

This package imports no AWS SDK: it parses what boto3 (or the emulator) returned.
"""

from labkit.flowlogs.fields import (
    BY_COLUMN,
    BY_INSIGHTS,
    DEFAULT_FIELDS,
    DEFAULT_INSIGHTS_FIELDS,
    FIELDS,
    LAB_FIELDS,
    PROTOCOL_NAMES,
    Field,
    column_name,
    format_version,
    protocol_name,
    tcp_flags_name,
    traffic_path_name,
)
from labkit.flowlogs.formats import (
    DEFAULT_FORMAT,
    LAB_FORMAT,
    format_record,
    parse_format,
)
from labkit.flowlogs.parser import FlowLogParseError
from labkit.flowlogs.reader import FlowLogVersionWarning, read
from labkit.flowlogs.writer import fields_of_frame, parquet_object, record_lines, text_object, write

__all__ = [
    "BY_COLUMN",
    "BY_INSIGHTS",
    "DEFAULT_FIELDS",
    "DEFAULT_INSIGHTS_FIELDS",
    "DEFAULT_FORMAT",
    "FIELDS",
    "Field",
    "FlowLogParseError",
    "FlowLogVersionWarning",
    "LAB_FIELDS",
    "LAB_FORMAT",
    "PROTOCOL_NAMES",
    "column_name",
    "fields_of_frame",
    "format_record",
    "format_version",
    "parse_format",
    "parquet_object",
    "protocol_name",
    "read",
    "record_lines",
    "tcp_flags_name",
    "text_object",
    "traffic_path_name",
    "write",
]
