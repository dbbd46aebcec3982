"""The few shell commands the lab runs over SSM, on the network model.

``run_shell_script(topology, instance_id, script, rng)`` runs an
``AWS-RunShellScript`` body line by line and returns what the instance would
print (Amazon Linux 2023: iputils ping, nmap-ncat 7.93, curl 8, bash 5.2, coreutils
timeout) together with the flow drafts its packets leave. Supported:

    ping -c N [-W S] [-w S] [-q] ADDR
    nc -z [-v] [-w S] ADDR PORT
    [timeout S] bash -c '</dev/tcp/ADDR/PORT'
    curl [-s] [-S] [-m S] [--connect-timeout S] [-o /dev/null] [-I] http://ADDR[:PORT]/...
    echo ..., hostname [-I], true, false, sleep N

joined by newlines, ``;``, ``&&`` or ``||``, with ``2>&1`` or ``>/dev/null``
redirections. Anything else exits 127 with a message that lists what is
supported; ``find_unsupported(script)`` says so before running anything.
"""

from __future__ import annotations

import getopt
import math
import random
import re
import shlex
from dataclasses import dataclass, field

from labkit.netmodel import traffic
from labkit.netmodel.topology import Eni, Topology
from labkit.netmodel.traffic import FlowDraft

SUPPORTED = (
    "ping -c N [-W S] ADDR; nc -z [-v] [-w S] ADDR PORT; [timeout S] bash -c '</dev/tcp/ADDR/PORT'; "
    "curl [-s] [-m S] [--connect-timeout S] http://ADDR[:PORT]/; "
    "echo; hostname; true; false; sleep N"
)
_ELSEWHERE = "Run in live mode for anything else."
NCAT_VERSION = "Ncat: Version 7.93 ( https://nmap.org/ncat )"
NCAT_DEFAULT_TIMEOUT_S = 10.0
PING_LINGER_S = 10.0  # iputils waits this long for a reply after the last probe (no -W)
KERNEL_CONNECT_TIMEOUT_S = 127.0  # tcp_syn_retries=6: 1+2+4+8+16+32+64 s
TIMEOUT_EXIT_CODE = 124  # coreutils timeout(1): "124 if COMMAND times out"
# Bash opens a TCP connection for a redirection from /dev/tcp/HOST/PORT (bash(1), REDIRECTION);
# with no command after it, bash connects and closes at once: a port probe.
_DEV_TCP = re.compile(r"\s*<\s*/dev/tcp/([^/\s]+)/(\d+)\s*")


class UnsupportedCommand(Exception):
    """A command (or an option) the emulated instance cannot run."""

    def __init__(self, command: str, line: int, detail: str = ""):
        self.command, self.line = command, line
        detail = detail or f"`{command}` is not supported by the offline emulator"
        super().__init__(f"line {line}: {detail}. Supported here: {SUPPORTED}. {_ELSEWHERE}")


@dataclass
class ShellResult:
    stdout: str
    stderr: str
    exit_code: int
    drafts: list[FlowDraft] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass
class _Out:
    """One command's result."""

    stdout: str = ""
    stderr: str = ""
    code: int = 0
    duration_s: float = 0.0
    drafts: list[FlowDraft] = field(default_factory=list)


# ---- parsing --------------------------------------------------------------------------

_OPERATORS = {"&&", "||", ";"}


def _split(script: str | list[str]) -> list[tuple[int, str, list[str], str]]:
    """(line number, operator before it, argv, redirection) for each simple command."""
    lines = script if isinstance(script, list) else script.splitlines()
    commands = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        op, argv, redirect = ";", [], ""
        try:
            tokens = list(lexer)
        except ValueError as exc:  # unbalanced quotes
            raise UnsupportedCommand(text, number, f"cannot parse `{text}`: {exc}") from exc
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok in _OPERATORS:
                if argv:
                    commands.append((number, op, argv, redirect))
                op, argv, redirect = tok, [], ""
            elif tok in (">", ">&", "&>", ">>") or tok in ("|", "&", "<", "|&"):
                redirect, i = _redirect(tokens, i, argv, text, number), i + 1
            else:
                argv.append(tok)
            i += 1
        if argv:
            commands.append((number, op, argv, redirect))
    return commands


def _redirect(tokens: list[str], i: int, argv: list[str], text: str, number: int) -> str:
    """``2>&1`` -> "merge"; ``>/dev/null`` -> "null-out"; ``2>/dev/null`` -> "null-err"."""
    tok, target = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
    fd = argv.pop() if argv and argv[-1] in ("1", "2") else "1"
    if tok == ">&" and fd == "2" and target == "1":
        return "merge"
    if tok in (">", "&>") and target == "/dev/null":
        return {"1": "null-out", "2": "null-err"}[fd] if tok == ">" else "null-all"
    raise UnsupportedCommand(text, number, f"`{text}`: only 2>&1 and >/dev/null are supported")


def find_unsupported(script: str | list[str]) -> UnsupportedCommand | None:
    """The first command the emulator cannot run, as an exception to raise, or None."""
    try:
        for number, _op, argv, _redirect in _split(script):
            _check(argv, number)
    except UnsupportedCommand as exc:
        return exc
    return None


def _check(argv: list[str], number: int) -> None:
    argv = argv[1:] if argv[0] == "sudo" and len(argv) > 1 else argv
    name = argv[0]
    if name not in _COMMANDS or any("$" in a or "`" in a for a in argv):
        raise UnsupportedCommand(" ".join(argv), number)
    parser = _PARSERS.get(name)
    if parser:
        try:
            parser(argv[1:])
        except (getopt.GetoptError, ValueError) as exc:
            raise UnsupportedCommand(" ".join(argv), number, f"`{' '.join(argv)}`: {exc}") from exc


def _seconds(text: str) -> float:
    text = text.strip().lower()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.rstrip("s"))


def _parse_ping(args: list[str]) -> dict:
    opts, rest = getopt.gnu_getopt(args, "c:W:w:qn4")
    o = dict(opts)
    if len(rest) != 1:
        raise ValueError("ping needs exactly one address")
    count = int(o["-c"]) if "-c" in o else None
    deadline = _seconds(o["-w"]) if "-w" in o else None
    if count is None and deadline is None:
        raise ValueError(
            "give ping a count (-c N): without one it never stops and the command times out"
        )
    if count is None:
        count = max(1, int(deadline or 1))
    wait = _seconds(o["-W"]) if "-W" in o else PING_LINGER_S
    return {"count": count, "wait": wait, "deadline": deadline, "quiet": "-q" in o, "dst": rest[0]}


def _parse_nc(args: list[str]) -> dict:
    opts, rest = getopt.gnu_getopt(args, "zvw:n4")
    o = dict(opts)
    if "-z" not in o:
        raise ValueError("only `nc -z` (a port probe) is supported")
    if len(rest) != 2:
        raise ValueError("nc -z needs an address and one port")
    timeout = _seconds(o["-w"]) if "-w" in o else NCAT_DEFAULT_TIMEOUT_S
    return {"verbose": "-v" in o, "timeout": timeout, "dst": rest[0], "port": int(rest[1])}


def _parse_curl(args: list[str]) -> dict:
    longs = ["silent", "show-error", "max-time=", "connect-timeout=", "output=", "head", "fail"]
    opts, rest = getopt.gnu_getopt(args, "sSm:o:IfL", longs + ["location"])
    o: dict[str, str] = {}
    for k, v in opts:
        o[{"--silent": "-s", "--show-error": "-S", "--max-time": "-m", "--output": "-o",
           "--head": "-I", "--fail": "-f", "--location": "-L"}.get(k, k)] = v  # fmt: skip
    if len(rest) != 1:
        raise ValueError("curl needs exactly one URL")
    if o.get("-o", "/dev/null") != "/dev/null":
        raise ValueError("curl -o FILE: only -o /dev/null is supported")
    m = re.fullmatch(r"(?:(https?)://)?([^/:]+)(?::(\d+))?(/.*)?", rest[0])
    if not m:
        raise ValueError(f"cannot read the URL {rest[0]!r}")
    scheme = m.group(1) or "http"
    port = int(m.group(3) or (443 if scheme == "https" else 80))
    limits = [_seconds(o[k]) for k in ("-m", "--connect-timeout") if k in o]
    return {
        "silent": "-s" in o and "-S" not in o,
        "host": m.group(2),
        "port": port,
        "path": m.group(4) or "/",
        "connect_timeout": min(limits) if limits else None,
        "discard": "-o" in o,
        "head": "-I" in o,
    }


def _parse_bash(args: list[str]) -> dict:
    if len(args) != 2 or args[0] != "-c":
        raise ValueError("only bash -c '</dev/tcp/ADDR/PORT' (a TCP port probe) is supported")
    probe = _DEV_TCP.fullmatch(args[1])
    if not probe:
        raise ValueError("the only bash -c script supported is '</dev/tcp/ADDR/PORT' (a TCP port probe)")
    return {"dst": probe.group(1), "port": int(probe.group(2))}


def _parse_timeout(args: list[str]) -> dict:
    if len(args) < 2 or args[0].startswith("-"):
        raise ValueError("only `timeout S bash -c '</dev/tcp/ADDR/PORT'` is supported (no options)")
    if args[1] != "bash":
        raise ValueError("timeout runs only bash -c '</dev/tcp/ADDR/PORT' here")
    return {"limit": _seconds(args[0]), **_parse_bash(args[2:])}


_PARSERS = {"ping": _parse_ping, "nc": _parse_nc, "ncat": _parse_nc, "curl": _parse_curl,
            "bash": _parse_bash, "timeout": _parse_timeout}
_COMMANDS = {"ping", "nc", "ncat", "curl", "bash", "timeout", "echo", "hostname", "true", "false", "sleep"}


# ---- running --------------------------------------------------------------------------


def run_shell_script(
    topology: Topology, instance_id: str, script: str | list[str], rng: random.Random
) -> ShellResult:
    """Run the script on ``instance_id``'s primary ENI. Deterministic for a given rng."""
    eni = topology.primary_eni(instance_id)
    result = ShellResult("", "", 0)
    try:
        commands = _split(script)
    except UnsupportedCommand as exc:
        return ShellResult("", f"{_script_path(instance_id)}: {exc}\n", 2)
    last = 0
    for number, op, argv, redirect in commands:
        if (op == "&&" and last != 0) or (op == "||" and last == 0):
            continue
        out = _run_one(topology, eni, argv, number, rng, result.duration_s, instance_id)
        if redirect in ("null-out", "null-all"):
            out.stdout = ""
        if redirect in ("null-err", "null-all"):
            out.stderr = ""
        if redirect == "merge":
            out.stdout, out.stderr = out.stdout + out.stderr, ""
        result.stdout += out.stdout
        result.stderr += out.stderr
        result.drafts += out.drafts
        result.duration_s += out.duration_s
        last = out.code
    result.exit_code = last
    result.duration_s = round(result.duration_s, 3)
    return result


def _script_path(instance_id: str) -> str:
    return (
        f"/var/lib/amazon/ssm/{instance_id}/document/orchestration/"
        "awsrunShellScript/0.awsrunShellScript/_script.sh"
    )


def _run_one(
    topology: Topology,
    eni: Eni,
    argv: list[str],
    number: int,
    rng: random.Random,
    start_s: float,
    instance_id: str,
) -> _Out:
    if argv[0] == "sudo" and len(argv) > 1:
        argv = argv[1:]
    try:
        _check(argv, number)
    except UnsupportedCommand as exc:
        name = argv[0]
        if name not in _COMMANDS:
            where = f"{_script_path(instance_id)}: line {number}: {name}: command not found"
            return _Out(stderr=f"{where}\nlabkit emulator: {exc}\n", code=127)
        return _Out(stderr=f"labkit emulator: {exc}\n", code=2)
    name, args = argv[0], argv[1:]
    if name == "echo":
        newline = "\n"
        if args[:1] == ["-n"]:
            args, newline = args[1:], ""
        return _Out(stdout=" ".join(args) + newline)
    if name == "hostname":
        return _Out(
            stdout=(f"{eni.private_ip} " if "-I" in args else topology.hostname(eni)) + "\n"
        )
    if name in ("true", "false"):
        return _Out(code=0 if name == "true" else 1)
    if name == "sleep":
        return _Out(duration_s=sum(_seconds(a) for a in args))
    ctx = (topology, eni, rng, start_s)
    if name == "ping":
        return _ping(*ctx, **_parse_ping(args))
    if name in ("nc", "ncat"):
        return _nc(*ctx, **_parse_nc(args))
    if name == "bash":
        return _dev_tcp(*ctx, limit=None, **_parse_bash(args))
    if name == "timeout":
        return _dev_tcp(*ctx, **_parse_timeout(args))
    return _curl(*ctx, **_parse_curl(args))


def _resolve(topology: Topology, name: str) -> str | None:
    """IP literals, ``localhost`` and the EC2 names ip-10-0-1-10.* / ec2-54-1-2-3.*."""
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return name
    if name == "localhost":
        return "127.0.0.1"
    m = re.match(r"(?:ip|ec2)-(\d+)-(\d+)-(\d+)-(\d+)\.", name)
    return ".".join(m.groups()) if m else None


def _ping(topology, eni, rng, start_s, *, count, wait, deadline, quiet, dst) -> _Out:
    ip = _resolve(topology, dst)
    if ip is None:
        return _Out(stderr=f"ping: {dst}: Name or service not known\n", code=2)
    if ip.startswith("127."):
        outcome = traffic.PingOutcome(ip, count, count, [0.03] * count, 64)
        drafts = []
    else:
        outcome, drafts = traffic.ping(topology, eni, ip, count, rng=rng, start_s=start_s)
    lines = [f"PING {dst} ({ip}) 56(84) bytes of data."]
    if not quiet:
        lines += [
            f"64 bytes from {ip}: icmp_seq={seq} ttl={outcome.ttl} time={_ms(rtt)} ms"
            for seq, rtt in enumerate(outcome.rtts_ms, start=1)
        ]
    sent_ms = (count - 1) * 1000 + rng.randint(1, 60)
    loss = round(100 * (count - outcome.received) / count)
    lines += [
        "",
        f"--- {dst} ping statistics ---",
        f"{count} packets transmitted, {outcome.received} received, {loss}% packet loss, "
        + f"time {sent_ms}ms",
    ]
    if outcome.received:
        r = outcome.rtts_ms
        avg = sum(r) / len(r)
        mdev = math.sqrt(max(0.0, sum(x * x for x in r) / len(r) - avg * avg))
        lines.append(f"rtt min/avg/max/mdev = {min(r):.3f}/{avg:.3f}/{max(r):.3f}/{mdev:.3f} ms")
        duration = (count - 1) + r[-1] / 1000
    else:
        duration = (count - 1) + wait
    if deadline is not None:
        duration = min(duration, deadline)
    lines.append("")
    return _Out("\n".join(lines), "", 0 if outcome.received else 1, duration, drafts)


def _ms(rtt: float) -> str:
    """iputils prints fewer decimals as the time grows: 0.512, 1.23, 12.3, 123."""
    if rtt < 1:
        return f"{rtt:.3f}"
    if rtt < 10:
        return f"{rtt:.2f}"
    if rtt < 100:
        return f"{rtt:.1f}"
    return f"{rtt:.0f}"


def _nc(topology, eni, rng, start_s, *, verbose, timeout, dst, port) -> _Out:
    ip = _resolve(topology, dst)
    head = f"{NCAT_VERSION}\n" if verbose else ""
    if ip is None:
        msg = f'Ncat: Could not resolve hostname "{dst}": Name or service not known. QUITTING.\n'
        return _Out(stderr=head + msg, code=2)
    outcome, drafts = traffic.tcp_connect(
        topology, eni, ip, port, timeout, rng=rng, start_s=start_s
    )
    if outcome.status == "connected":
        text = ""
        if verbose:
            text = (
                f"Ncat: Connected to {ip}:{port}.\n"
                f"Ncat: 0 bytes sent, 0 bytes received in {outcome.elapsed_s + 0.01:.2f} seconds.\n"
            )
        return _Out("", head + text, 0, outcome.elapsed_s, drafts)
    if outcome.status == "refused":
        return _Out("", head + "Ncat: Connection refused.\n", 1, outcome.elapsed_s, drafts)
    return _Out("", head + "Ncat: TIMEOUT.\n", 1, timeout, drafts)


def _dev_tcp(topology, eni, rng, start_s, *, limit, dst, port) -> _Out:
    """``[timeout LIMIT] bash -c '</dev/tcp/DST/PORT'``, as bash 5.2 and coreutils report it.

    Connected: exit 0, silent. A TCP RST (the port is closed): bash prints ``Connection refused``
    twice (the connect, then the redirection) and exits 1. No answer (a security group or network
    ACL dropped the SYN): ``timeout`` kills bash after LIMIT seconds and exits 124, silent; without
    ``timeout``, the kernel gives up after its SYN retries and bash says ``Connection timed out``.
    """
    device = f"/dev/tcp/{dst}/{port}"
    ip = _resolve(topology, dst)
    if ip is None:
        return _Out(stderr=f"bash: {dst}: Name or service not known\nbash: {device}: Invalid argument\n",
                    code=1)
    wait_s = min(limit, KERNEL_CONNECT_TIMEOUT_S) if limit else KERNEL_CONNECT_TIMEOUT_S
    outcome, drafts = traffic.tcp_connect(topology, eni, ip, port, wait_s, rng=rng, start_s=start_s)
    if outcome.status == "connected":
        return _Out("", "", 0, outcome.elapsed_s, drafts)
    if outcome.status == "refused":
        err = f"bash: connect: Connection refused\nbash: {device}: Connection refused\n"
        return _Out("", err, 1, outcome.elapsed_s, drafts)
    if limit and limit <= KERNEL_CONNECT_TIMEOUT_S:
        return _Out("", "", TIMEOUT_EXIT_CODE, limit, drafts)
    err = f"bash: connect: Connection timed out\nbash: {device}: Connection timed out\n"
    return _Out("", err, 1, KERNEL_CONNECT_TIMEOUT_S, drafts)


def _curl(
    topology, eni, rng, start_s, *, silent, host, port, path, connect_timeout, discard, head
) -> _Out:
    ip = _resolve(topology, host)
    if ip is None:
        err = "" if silent else f"curl: (6) Could not resolve host: {host}\n"
        return _Out(stderr=err, code=6)
    body = _http_body(topology, ip, port)
    request_bytes = 60 + len(host) + len(path)
    timeout = connect_timeout or KERNEL_CONNECT_TIMEOUT_S
    outcome, drafts = traffic.tcp_connect(
        topology, eni, ip, port, timeout, rng=rng, start_s=start_s,
        request_bytes=request_bytes, response_bytes=len(body) + 160,
    )  # fmt: skip
    elapsed_ms = int(outcome.elapsed_s * 1000) + rng.randint(0, 6)
    if outcome.status == "connected":
        if port == 22:  # sshd answers with its banner, not HTTP
            err = "" if silent else "curl: (1) Received HTTP/0.9 when not allowed\n"
            return _Out("", err, 1, outcome.elapsed_s, drafts)
        out = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" if head else body
        return _Out("" if discard else out, "", 0, outcome.elapsed_s, drafts)
    where = f"Failed to connect to {host} port {port} after {elapsed_ms} ms"
    if outcome.status == "refused":
        err = "" if silent else f"curl: (7) {where}: Connection refused\n"
        return _Out("", err, 7, outcome.elapsed_s, drafts)
    why = "Timeout was reached" if connect_timeout else "Connection timed out"
    err = "" if silent else f"curl: (28) {where}: {why}\n"
    return _Out("", err, 28, timeout, drafts)


def _http_body(topology: Topology, ip: str, port: int) -> str:
    """What a listening web server returns: a one-line page naming the host."""
    eni = topology.eni_by_private_ip(ip) or topology.eni_by_public_ip(ip)
    name = topology.hostname(eni) if eni else ip
    return f"<html><body><h1>Hello from {name}</h1></body></html>\n"
