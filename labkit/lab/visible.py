"""The boto3 call a notebook shows, made once: ``lab.create_once("vpc1", lambda: ec2.create_vpc(...))``.

The build notebooks (01-07) let the learner read the call that creates what each one teaches, with
its parameters, as they would write it themselves. Run twice, a notebook must not make a second
copy, so the call is wrapped: ``create_once`` looks for the lab's resource that carries the role's
tag (``labkit:role``, beside the ownership tags ``Project`` and ``ManagedBy`` that teardown needs)
and makes the call only when there is none. The step's ``lab.ensure_*()`` then finds the same
resource by the same tag, finishes the step (waiters, attributes) and checks it.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import ClientError

from labkit.errors import LabError
from labkit.lab.inventory import Owned, candidates
from labkit.lab.locking import lab_lock
from labkit.lab.retry import with_retries
from labkit.lab.tags import ROLE_KEY, is_managed, tag_value
from labkit.lab.wait import Pace, Pending, wait_until

# Right after CreateRole, EC2 may not see the role or its instance profile for some seconds
# (IAM is eventually consistent); on live AWS the call is retried this long. Offline there is
# no delay to wait for, so a refusal there is real and is shown at once.
IAM_PROPAGATION_S = 120
# Describe calls are eventually consistent too: a resource just created may take a moment to show.
VISIBLE_PACE = Pace(timeout_s=10, interval_s=0.05, live_timeout_s=60, live_interval_s=2)


class VisibleCalls:
    """``lab.create_once``: the notebooks' own boto3 calls, made at most once per lab."""

    def create_once(self, role: str, make: Callable[[], dict], kind: str | None = None,
                    quiet: bool = False) -> str:
        """Find the lab's resource tagged ``labkit:role=<role>``, or call ``make()`` to create it; its id.

        ``make`` is the boto3 call (a lambda, or a function making the call and what must follow
        it, such as attaching a new gateway). It must tag what it creates with ``lab.tags(role)``:
        that is how it is found again, and teardown deletes only what carries the lab's tags.
        ``kind`` (``"iam-role"``, ``"instance-profile"``, ...) tells apart two resources that share
        a role tag. Prints ``created <id>`` or ``found <id>`` (and then ``make`` is not called).
        """
        return create_once(self, role, make, kind=kind, quiet=quiet)


def create_once(lab, role: str, make: Callable[[], dict], kind: str | None = None,
                quiet: bool = False) -> str:
    """See :meth:`VisibleCalls.create_once`."""
    with lab_lock(lab.name):  # another kernel making the same resource waits, then finds this one
        found = owned_with_role(lab, role, kind)
        if found:
            if not quiet:
                print(f"found   {found.id:<24} ({role}): already there, so the call was not made")
            return found.id
        lab.require_write(f"creating {role}")
        retry_s = IAM_PROPAGATION_S if lab.mode == "live" else 0
        with_retries(lambda: _refuse_unsuccessful(role, make()), retry_on=_iam_not_ready, timeout_s=retry_s)
        made = wait_until(lambda: owned_with_role(lab, role, kind) or Pending("not visible yet"),
                          mode=lab.mode, pace=VISIBLE_PACE, progress=False, what=f"the new {role}",
                          advice=f"the call must tag what it creates with lab.tags({role!r}): the lab "
                                 "finds its resources, and teardown deletes them, by these tags")
    if not quiet:
        print(f"created {made.id:<24} ({role})")
    return made.id


def owned_with_role(lab, role: str, kind: str | None = None) -> Owned | None:
    """The lab's resource whose ``labkit:role`` tag is ``role`` (of ``kind``, if given), or None."""
    found = [Owned(k, rid, name) for k, rid, name, tags in candidates(lab)
             if is_managed(tags, lab.name) and _role_of(tags) == role and kind in (None, k)]
    if len(found) > 1:
        listed = ", ".join(f"{o.kind} {o.id}" for o in found)
        if len({o.kind for o in found}) > 1:
            raise LabError(f"{role}: several kinds carry this role ({listed}): pass kind=...")
        raise LabError(f"{role}: found {len(found)} tagged copies ({listed}); run teardown first")
    return found[0] if found else None


def _role_of(tags) -> str | None:
    if isinstance(tags, dict):  # CloudWatch Logs answers tags as a map
        return tags.get(ROLE_KEY)
    return tag_value(tags, ROLE_KEY)


def _refuse_unsuccessful(role: str, answer) -> None:
    """CreateFlowLogs answers 200 with an ``Unsuccessful`` list: raised here like any refusal."""
    failed = (answer or {}).get("Unsuccessful") if isinstance(answer, dict) else None
    if failed:
        error = failed[0]["Error"]
        raise ClientError({"Error": {"Code": error["Code"], "Message": f"{role}: {error['Message']}"}},
                          "CreateFlowLogs")


def _iam_not_ready(error: ClientError) -> bool:
    # RunInstances: "Value (...) for parameter iamInstanceProfile.name is invalid. Invalid IAM
    # Instance Profile name"; CreateFlowLogs: "Unable to assume given IAM role".
    message = error.response["Error"].get("Message", "").lower()
    return "instance profile" in message or "assume" in message
