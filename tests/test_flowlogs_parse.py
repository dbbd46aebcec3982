"""Parsing flow-log text: the AWS documentation examples, untidy input, bad lines."""

import gzip

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import flowlogs as fl

# The examples of "Flow log record examples" in the Amazon VPC User Guide, verbatim.
ACCEPT_REJECT = """\
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
"""  # noqa: E501
NODATA_SKIPDATA = """\
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA
"""
SG_NACL = """\
2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK
"""  # noqa: E501
IPV6 = (
    "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 "
    "2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK\n"
)
TCP_FORMAT = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport "
    "dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status"
)
TCP_FLAGS = """\
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43638 5001 52.213.180.42 10.0.0.62 6 1260 17 1566933133 1566933193 ACCEPT 3 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK
"""  # noqa: E501  (the double space in the last line is in the AWS page)
NAT_FORMAT = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"
NAT_COMMENTS = """\
i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5 #Traffic from the source instance to host on the internet
i-01234567890123456 eni-1111aaaa2222bbbb3 203.0.113.5 10.0.1.5 203.0.113.5 10.0.1.5 #Response traffic from host on the internet to the source instance
"""  # noqa: E501
V5_FORMAT = (
    "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id "
    "vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id "
    "action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service "
    "traffic-path flow-direction log-status"
)
V5_RECORDS = """\
5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK
5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK
"""  # noqa: E501


def test_accepted_and_rejected_traffic():
    df = fl.read(ACCEPT_REJECT.encode())
    assert list(df.action) == ["ACCEPT", "REJECT"]
    assert list(df.dstport) == [22, 3389]
    assert list(df.protocol_name) == ["TCP", "TCP"]
    assert df.start[0] == pd.Timestamp("2014-12-14 04:06:50", tz="UTC")
    assert str(df.start.dtype) == "timestamp[s, tz=UTC][pyarrow]"
    assert df.account_id[0] == "123456789010"


def test_no_data_and_skipped_records():
    df = fl.read(NODATA_SKIPDATA.encode())
    assert list(df.log_status) == ["NODATA", "SKIPDATA"]
    assert df.srcaddr.isna().all() and df.packets.isna().all() and df.action.isna().all()
    assert str(df.packets.dtype) == "int64[pyarrow]"


def test_security_group_and_network_acl_pair():
    df = fl.read(SG_NACL.splitlines())
    assert list(df.action) == ["ACCEPT", "REJECT"]
    assert list(df.protocol_name) == ["ICMP", "ICMP"]
    assert list(df.srcport) == [0, 0] and list(df.bytes) == [336, 336]


def test_ipv6():
    df = fl.read(IPV6.encode())
    assert df.srcaddr[0] == "2001:db8:1234:a100:8d6e:3477:df66:f105"


def test_tcp_flag_sequence_custom_order_and_double_space():
    df = fl.read(TCP_FLAGS.encode(), format=TCP_FORMAT)
    assert len(df) == 4 and df.attrs["bad_lines"] == []
    assert list(df.tcp_flags) == [2, 18, 3, 19]
    assert list(df.tcp_flags_names) == ["SYN", "SYN-ACK", "SYN|FIN", "SYN-ACK|FIN"]
    assert list(df.bytes) == [568, 376, 1260, 967]  # bytes before packets in this format
    assert list(df.packets) == [8, 7, 17, 14]


def test_comments_after_records():
    df = fl.read(NAT_COMMENTS.encode(), format=NAT_FORMAT)
    assert list(df.columns) == ["instance_id", "interface_id", "srcaddr", "dstaddr",
                                "pkt_srcaddr", "pkt_dstaddr"]
    assert list(df.pkt_dstaddr) == ["203.0.113.5", "10.0.1.5"]


def test_service_name_traffic_path_flow_direction():
    df = fl.read(V5_RECORDS.encode(), format=V5_FORMAT)
    assert list(df.flow_direction) == ["ingress", "egress"]
    assert df.traffic_path.isna()[0] and df.traffic_path[1] == 8
    assert df.traffic_path_name[1] == "internet gateway (Nitro)"
    assert df.pkt_src_aws_service[0] == "S3" and pd.isna(df.pkt_src_aws_service[1])
    assert df.sublocation_id.isna().all()


def test_header_line_alphabetical_order_and_version_disagreeing():
    fields = sorted(fl.DEFAULT_FIELDS)
    rec = dict(zip(fl.DEFAULT_FIELDS, ACCEPT_REJECT.splitlines()[0].split(), strict=True))
    rec["version"] = "5"  # disagrees with the v2 fields present: parse by the header
    text = " ".join(fields) + "\n" + " ".join(rec[f] for f in fields) + "\n"
    with pytest.warns(fl.FlowLogVersionWarning, match=r"line 2: the record says version 5"):
        df = fl.read(text.encode())
    assert df.srcaddr[0] == "172.31.16.139" and df.dstport[0] == 22 and df.version[0] == 5
    assert list(df.columns[:3]) == ["account_id", "action", "bytes"]


def test_untidy_spacing_blank_lines_no_final_newline_crlf():
    messy = "\r\n\n  " + ACCEPT_REJECT.replace(" ", " \t ", 3).replace("\n", " \r\n\n")
    df = fl.read(messy.rstrip().encode())
    tidy = fl.read(ACCEPT_REJECT.encode())
    pd.testing.assert_frame_equal(df, tidy)


def test_concatenated_objects_repeat_their_header(tmp_path):
    header = " ".join(fl.DEFAULT_FIELDS) + "\n"
    data = (header + ACCEPT_REJECT + header + SG_NACL).encode()
    p = tmp_path / "two.log.gz"
    p.write_bytes(gzip.compress(data))
    df = fl.read(p)
    assert len(df) == 4 and df.attrs["bad_lines"] == []
    assert list(df.action) == ["ACCEPT", "REJECT", "ACCEPT", "REJECT"]


def test_unknown_field_kept_as_text():
    df = fl.read(["2 eni-1 hello"], format="${version} ${interface-id} ${brand-new}")
    assert df.brand_new[0] == "hello"


def test_account_id_leading_zero():
    line = ACCEPT_REJECT.splitlines()[0].replace("123456789010", "012345678901")
    df = fl.read(line.encode())
    assert df.account_id[0] == "012345678901"
    assert str(df.account_id.dtype) == "string[pyarrow]"


BAD = ACCEPT_REJECT + "2 123456789010 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1418530010 1418530070 ACCEPT\n" \
    + "\n" + ACCEPT_REJECT.splitlines()[0].replace(" 20641 ", " abc ") + "\n"


def test_malformed_line_raises_with_line_number(tmp_path):
    p = tmp_path / "bad.log"
    p.write_text(BAD)
    with pytest.raises(fl.FlowLogParseError) as err:
        fl.read(p)
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert str(p) in msg and "line 3" in msg and "expected 14 fields, found 13" in msg
    assert "1.2.3.4" in msg
    assert err.value.line == 3 and len(err.value.bad_lines) == 2


def test_malformed_lines_collected(tmp_path):
    p = tmp_path / "bad.log"
    p.write_text(BAD)
    df = fl.read(p, on_error="collect")
    assert len(df) == 2
    bad = df.attrs["bad_lines"]
    assert [(b["line"], b["source"]) for b in bad] == [(3, str(p)), (5, str(p))]
    assert "srcport" in bad[1]["reason"] and "abc" in bad[1]["text"]
    assert set(bad[0]) == {"source", "line", "reason", "text"}


def test_bad_value_not_coerced_silently():
    with pytest.raises(fl.FlowLogParseError, match="packets"):
        fl.read(ACCEPT_REJECT.replace(" 20 4249 ", " 2.5 4249 ", 1).encode())
    with pytest.raises(fl.FlowLogParseError, match="dstport"):
        fl.read(ACCEPT_REJECT.replace(" 22 6 ", " 99999999999 6 ", 1).encode())


def test_on_error_must_be_known():
    with pytest.raises(ValueError):
        fl.read(ACCEPT_REJECT.encode(), on_error="ignore")


# ----------------------------------------------------------------- property test

_value = st.from_regex(r"[a-z0-9.:]{1,8}", fullmatch=True)
_sep = st.text(alphabet=" \t", min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.permutations(fl.DEFAULT_FIELDS),
    rows=st.lists(
        st.tuples(
            st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([1, 6, 17, 58]),
            st.one_of(st.none(), st.integers(0, 10**9)), _value,
            st.sampled_from(["ACCEPT", "REJECT"]),
        ),
        min_size=1, max_size=5,
    ),
    seps=st.lists(_sep, min_size=14, max_size=14),
    header=st.booleans(),
)
def test_any_field_order_and_spacing_give_the_same_frame(order, rows, seps, header):
    records = []
    for sp, dp, proto, packets, addr, action in rows:
        records.append({
            "version": 2, "account-id": "012345678901", "interface-id": "eni-0abc",
            "srcaddr": addr, "dstaddr": "10.0.0.1", "srcport": sp, "dstport": dp,
            "protocol": proto, "packets": packets, "bytes": 100, "start": 1418530010,
            "end": 1418530070, "action": action, "log-status": "OK",
        })
    reference = fl.read([fl.format_record(fl.DEFAULT_FIELDS, r) for r in records])
    lines = []
    for r in records:
        values = fl.format_record(order, r).split(" ")
        lines.append("".join(v + s for v, s in zip(values, seps, strict=True)))
    text = ("\t".join(order) + "\n" if header else "") + "\n".join(lines)
    df = fl.read(text.encode(), format=None if header else list(order))
    df = df[reference.columns]
    pd.testing.assert_frame_equal(df, reference, check_categorical=False)
