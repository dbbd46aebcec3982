"""Small exercises at the end of each notebook, with an immediate check ("target practice").

A check never raises: a wrong or missing answer prints a hint, so a learner can
run the whole notebook first and come back to the exercise.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["check"]

_EXERCISES: dict[str, tuple[Callable[[object, object], bool], str]] = {}


def exercise(name: str, hint: str):
    """Register the decorated function as the check of exercise ``name``, with its hint."""
    def register(fn):
        _EXERCISES[name] = (fn, hint)
        return fn

    return register


def check(name: str, answer, lab=None) -> None:
    """Say whether ``answer`` is right for exercise ``name`` ("Correct!" or a hint); never raises."""
    is_right, hint = _EXERCISES[name]
    if answer is None or answer is ...:
        print(f"Not answered yet. Hint: {hint}")
    elif is_right(answer, lab):
        print("Correct!")
    else:
        print(f"Not quite: {answer!r}. Hint: {hint}")


@exercise("01-overlap", "two CIDRs overlap when one contains the other's first address")
def _overlap(answer, lab):
    return answer is True


@exercise("02-default-route", "look at the route whose destination is 0.0.0.0/0")
def _default_route(answer, lab):
    return isinstance(answer, str) and answer.startswith("igw-")


@exercise("03-icmp-source", "the source CIDR in security group 1's ICMP rule")
def _icmp_source(answer, lab):
    return answer == "192.168.0.0/16"


@exercise("04-peer-route", "the route in VPC 1's table that sends 192.168.0.0/16 somewhere")
def _peer_route(answer, lab):
    return isinstance(answer, str) and answer.startswith("pcx-")


@exercise("99-left", "what does lab.inventory() hold after teardown?")
def _left(answer, lab):
    return answer == 0


@exercise("00-mode", "lab.mode holds it")
def _mode(answer, lab):
    return lab is not None and answer == lab.mode


@exercise("05-which-policy", "the trust policy says who may assume the role; which one says what it may do?")
def _which_policy(answer, lab):
    return answer == "permissions"


@exercise("06-direction-field", "look for 'direction' in the format")
def _direction_field(answer, lab):
    return answer == "flow-direction"


@exercise("07-probe-port", "the seed guide's example port; nc tried it")
def _probe_port(answer, lab):
    return answer == 56121


@exercise("08-scans", "filter action == 'REJECT', then keep srcaddr that is not private")
def _scans(answer, lab):
    import ipaddress

    df = lab.flow_logs(progress=False)
    rejected = df[df["action"] == "REJECT"]["srcaddr"].dropna()
    return answer == int(sum(not ipaddress.ip_address(a).is_private for a in rejected))


@exercise("09-probe-query", 'filter action = "REJECT" and srcAddr = "10.0.1.10" | stats count(*) by dstPort')
def _probe_query(answer, lab):
    if not isinstance(answer, str):
        return False
    result = lab.insights(answer, progress=False)
    return "dstPort" in result.columns and 56121 in set(result["dstPort"])
