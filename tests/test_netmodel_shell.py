"""Shell commands over the model: AL2023 output, exit codes, and the flow drafts they leave."""

from __future__ import annotations

import copy
import random

import pytest

from labkit.netmodel import Topology, aggregate, find_unsupported, run_shell_script
from tests.netmodel_fixtures import IP1, IP2, lab_describe


@pytest.fixture(scope="module")
def lab():
    fx = lab_describe()
    return fx, Topology.from_describe(fx.responses)


def _allow_tcp(fx, port, listening=None):
    """The lab with sg2 allowing tcp/port from VPC 1, and optional listeners."""
    r = copy.deepcopy(fx.responses)
    for g in r["DescribeSecurityGroups"]["SecurityGroups"]:
        if g["GroupId"] == fx.ids["sg2"]:
            g["IpPermissions"].append(
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
            )  # fmt: skip
    return Topology.from_describe(r, listening_ports=listening)


def _run(topo, fx, script, seed=7):
    return run_shell_script(topo, fx.ids["i1"], script, random.Random(seed))


def test_ping_across_the_peering(lab):
    """Amazon Linux 2023 replies to ping with TTL 64, the Linux default (127/128 are Windows values)."""
    fx, topo = lab
    res = _run(topo, fx, "ping -c 4 192.168.1.20")
    lines = res.stdout.splitlines()
    assert lines[0] == "PING 192.168.1.20 (192.168.1.20) 56(84) bytes of data."
    assert all(
        line.startswith(f"64 bytes from {IP2}: icmp_seq={n} ttl=64 time=0.")
        and line.endswith(" ms")
        for n, line in enumerate(lines[1:5], start=1)
    )
    assert lines[5:7] == ["", "--- 192.168.1.20 ping statistics ---"]
    assert lines[7].startswith("4 packets transmitted, 4 received, 0% packet loss, time 30")
    assert lines[8].startswith("rtt min/avg/max/mdev = 0.")
    assert (res.exit_code, res.stderr) == (0, "")
    assert 3.0 <= res.duration_s < 3.1
    records = aggregate(res.drafts)
    assert [(d.eni_id, d.flow_direction, d.srcaddr, d.dstaddr) for d in records] == [
        (fx.ids["eni1"], "egress", IP1, IP2),
        (fx.ids["eni2"], "ingress", IP1, IP2),
        (fx.ids["eni2"], "egress", IP2, IP1),
        (fx.ids["eni1"], "ingress", IP2, IP1),
    ]
    assert {(d.packets, d.bytes, d.action, d.protocol, d.srcport, d.dstport) for d in records} == {
        (4, 336, "ACCEPT", 1, 0, 0)
    }
    assert [d.traffic_path for d in records] == [4, None, 4, None]
    assert records[0].vpc_id == fx.ids["vpc1"] and records[0].instance_id == fx.ids["i1"]


def test_ping_with_total_loss():
    fx = lab_describe(accept_peering=False)
    topo = Topology.from_describe(fx.responses)
    res = run_shell_script(topo, fx.ids["i1"], "ping -c 3 -W 2 192.168.1.20", random.Random(1))
    lines = res.stdout.splitlines()
    assert lines[:3] == [
        "PING 192.168.1.20 (192.168.1.20) 56(84) bytes of data.",
        "",
        "--- 192.168.1.20 ping statistics ---",
    ]
    assert lines[3].startswith("3 packets transmitted, 0 received, 100% packet loss, time 20")
    assert len(lines) == 4 and res.exit_code == 1
    assert res.duration_s == 4.0  # two intervals, then -W 2 waiting for a reply
    assert {(d.flow_direction, d.action) for d in res.drafts} == {("egress", "ACCEPT")}


def test_nc_to_a_port_the_security_group_drops_times_out(lab):
    fx, topo = lab
    res = _run(topo, fx, "nc -zv -w 5 192.168.1.20 56121")
    assert res.stderr == "Ncat: Version 7.93 ( https://nmap.org/ncat )\nNcat: TIMEOUT.\n"
    assert (res.exit_code, res.duration_s) == (1, 5.0)
    (egress, ingress) = aggregate(res.drafts)
    assert (egress.action, ingress.action, ingress.eni_id) == ("ACCEPT", "REJECT", fx.ids["eni2"])
    assert ingress.dstport == 56121 and ingress.tcp_flags == 2
    assert ingress.packets == 3  # SYN at 0 s, retried at 1 s and 3 s


def test_nc_to_a_closed_port_is_refused(lab):
    fx, _ = lab
    topo = _allow_tcp(fx, 8080)
    res = _run(topo, fx, "nc -z -v 192.168.1.20 8080")
    assert res.stderr.endswith("Ncat: Connection refused.\n") and res.exit_code == 1
    rst = [d for d in aggregate(res.drafts) if d.srcaddr == IP2]
    assert {(d.flow_direction, d.tcp_flags, d.action) for d in rst} == {
        ("egress", 4, "ACCEPT"),
        ("ingress", 4, "ACCEPT"),
    }


def test_nc_connects_to_a_listener_with_realistic_flags(lab):
    fx, _ = lab
    res = _run(_allow_tcp(fx, 22), fx, "nc -zv 192.168.1.20 22")
    assert "Ncat: Connected to 192.168.1.20:22.\n" in res.stderr and res.exit_code == 0
    flags = {(d.eni_id, d.flow_direction): d.tcp_flags for d in aggregate(res.drafts)}
    assert flags[(fx.ids["eni1"], "egress")] == 3  # SYN + FIN
    assert flags[(fx.ids["eni2"], "egress")] == 19  # SYN-ACK + FIN


def test_dev_tcp_probe_the_security_group_drops_times_out(lab):
    """The lab's probe: `timeout 3 bash -c '</dev/tcp/ADDR/PORT'` (bash(1) REDIRECTION: bash opens a TCP
    connection for /dev/tcp/host/port). Dropped SYNs: timeout(1) kills bash and exits 124, silently."""
    fx, topo = lab
    res = _run(topo, fx, "timeout 3 bash -c '</dev/tcp/192.168.1.20/56121'")
    assert (res.stdout, res.stderr, res.exit_code, res.duration_s) == ("", "", 124, 3.0)
    (egress, ingress) = aggregate(res.drafts)
    assert (egress.action, ingress.action, ingress.eni_id) == ("ACCEPT", "REJECT", fx.ids["eni2"])
    assert ingress.dstport == 56121 and ingress.tcp_flags == 2
    assert ingress.packets == 2  # SYN at 0 s, retried at 1 s; the next retry (3 s) is too late


def test_dev_tcp_probe_to_a_closed_port_is_refused(lab):
    """A closed port answers RST: bash 5.2 says "Connection refused" (connect, then the redirection)."""
    fx, _ = lab
    res = _run(_allow_tcp(fx, 8080), fx, "timeout 3 bash -c '</dev/tcp/192.168.1.20/8080'")
    assert res.stderr == ("bash: connect: Connection refused\n"
                          "bash: /dev/tcp/192.168.1.20/8080: Connection refused\n")
    assert res.exit_code == 1 and res.duration_s < 0.1
    rst = [d for d in aggregate(res.drafts) if d.srcaddr == IP2]
    assert {(d.flow_direction, d.tcp_flags, d.action) for d in rst} == {
        ("egress", 4, "ACCEPT"),
        ("ingress", 4, "ACCEPT"),
    }


def test_dev_tcp_probe_connects_or_waits_for_the_kernel(lab):
    fx, topo = lab
    res = _run(_allow_tcp(fx, 22), fx, "timeout 3 bash -c '</dev/tcp/192.168.1.20/22' && echo open")
    assert (res.stdout, res.stderr, res.exit_code) == ("open\n", "", 0)
    res = _run(topo, fx, "bash -c '< /dev/tcp/192.168.1.20/56121'")  # no timeout: the kernel's SYN retries
    assert res.stderr.endswith("bash: /dev/tcp/192.168.1.20/56121: Connection timed out\n")
    assert (res.exit_code, res.duration_s) == (1, 127.0)
    res = _run(topo, fx, "timeout 3 bash -c '</dev/tcp/nohost/80'")
    assert res.stderr == ("bash: nohost: Name or service not known\n"
                          "bash: /dev/tcp/nohost/80: Invalid argument\n")


def test_bash_and_timeout_run_only_the_dev_tcp_probe(lab):
    fx, topo = lab
    assert find_unsupported("timeout 3 bash -c '</dev/tcp/10.0.1.10/22'") is None
    for script in ("bash -c 'cat /etc/os-release'", "bash script.sh", "timeout 3 ping -c 1 10.0.1.10",
                   "timeout -s KILL 3 bash -c '</dev/tcp/10.0.1.10/22'", "bash -c '</dev/udp/10.0.1.10/53'"):
        exc = find_unsupported(script)
        assert exc is not None and "/dev/tcp/ADDR/PORT" in str(exc), script
        res = _run(topo, fx, script)
        assert res.exit_code == 2 and "labkit emulator:" in res.stderr and not res.drafts


def test_curl_to_a_web_server_and_timeouts(lab):
    fx, topo = lab
    web = _allow_tcp(fx, 80, listening={fx.ids["i2"]: {22, 80}})
    res = _run(web, fx, "curl -s http://192.168.1.20/")
    assert res.exit_code == 0 and "Hello from ip-192-168-1-20.ec2.internal" in res.stdout
    res = _run(topo, fx, "curl --connect-timeout 2 http://192.168.1.20/")
    assert res.exit_code == 28
    assert res.stderr.startswith("curl: (28) Failed to connect to 192.168.1.20 port 80 after 20")
    assert res.stderr.endswith(" ms: Timeout was reached\n")
    assert _run(topo, fx, "curl -s -m 2 192.168.1.20").stderr == ""  # -s is silent
    res = _run(_allow_tcp(fx, 80), fx, "curl -sS 192.168.1.20:80")
    assert res.exit_code == 7 and res.stderr.endswith(": Connection refused\n")


def test_operators_redirections_and_builtins(lab):
    fx, topo = lab
    res = _run(topo, fx, "false && echo no; echo yes\nhostname\ntrue || echo never")
    assert (res.stdout, res.exit_code) == ("yes\nip-10-0-1-10.ec2.internal\n", 0)
    res = _run(topo, fx, ["nc -z -w 1 192.168.1.20 56121 2>&1", "echo done"])
    assert res.stdout == "Ncat: TIMEOUT.\ndone\n" and res.stderr == ""
    assert _run(topo, fx, "ping -c 1 192.168.1.20 >/dev/null && echo up").stdout == "up\n"


def test_unsupported_commands(lab):
    fx, topo = lab
    res = _run(topo, fx, "echo before\ntraceroute 192.168.1.20")
    assert res.exit_code == 127 and res.stdout == "before\n"
    assert "line 2: traceroute: command not found" in res.stderr
    assert "Supported here: ping -c N" in res.stderr
    assert find_unsupported("ping -c 2 10.0.1.10\nnc -zv 10.0.1.10 22") is None
    exc = find_unsupported(["ping -c 1 10.0.1.10", "ssh ec2-user@10.0.1.10"])
    assert exc is not None and exc.line == 2 and "ssh" in str(exc)
    assert find_unsupported("ping 10.0.1.10") is not None  # never ends without -c
    assert find_unsupported("ping -c 1 x | grep ttl") is not None
    assert _run(topo, fx, "ping 192.168.1.20").exit_code == 2


def test_deterministic_for_a_seed(lab):
    fx, topo = lab
    script = "ping -c 3 192.168.1.20; nc -zv -w 2 192.168.1.20 56121; curl -m 1 8.8.8.8"
    a, b = _run(topo, fx, script, seed=3), _run(topo, fx, script, seed=3)
    assert (a.stdout, a.stderr, a.drafts, a.duration_s) == (
        b.stdout,
        b.stderr,
        b.drafts,
        b.duration_s,
    )
    offsets = [d.offset_s for d in a.drafts]
    assert min(offsets) == 0 and max(offsets) > 3  # later commands start later


def test_internet_scan_is_rejected_by_the_lab_security_group(lab):
    from labkit.netmodel import internet_scan

    fx, topo = lab
    drafts = internet_scan(topo, fx.ids["eni1"], random.Random(5), 40)
    assert len(drafts) == 40
    assert {(d.flow_direction, d.action, d.protocol, d.dstaddr) for d in drafts} == {
        ("ingress", "REJECT", 6, IP1)
    }
    assert drafts == internet_scan(topo, fx.ids["eni1"], random.Random(5), 40)
