"""The flow-log delivery role's two documents, in one place: the build step writes them, ``explain`` and
the fault checks propose them as the fix.

AWS's page "IAM role for publishing flow logs to CloudWatch Logs"
(https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html) gives both:

* the trust policy says WHO may assume the role: the flow-logs service, and (its recommended
  condition block against the confused deputy) only for this account's flow logs,
  ``aws:SourceAccount`` and ``aws:SourceArn`` ``arn:aws:ec2:<region>:<account>:vpc-flow-log/*``;
* the permissions policy says WHAT the role may do: the five ``logs:`` actions of AWS's example, which
  grants them on ``"*"``. The lab narrows them to its own log group: the group's ARN, and the same ARN
  ending in ``:*`` (the form DescribeLogGroups returns and AWS's scoped CloudWatch Logs examples use),
  which covers the group's log streams. DescribeLogGroups lists groups and takes no narrower resource.
"""

from __future__ import annotations

FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"
WRITE_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                 "logs:DescribeLogStreams"]


def trust_policy(account_id: str, region: str) -> dict:
    """Who may assume the role: the flow-logs service, for this account's flow logs only."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FlowLogsServiceOnlyForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": FLOW_LOGS_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account_id}:vpc-flow-log/*"},
            },
        }],
    }


def permissions_policy(account_id: str, region: str, log_group: str) -> dict:
    """What the role may do: write streams and events into ``log_group``, nothing else."""
    group_arn = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOneLogGroupOnly",
                "Effect": "Allow",
                "Action": WRITE_ACTIONS,
                "Resource": [group_arn, f"{group_arn}:*"],
            },
            {
                "Sid": "FindTheLogGroup",
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": "*",
            },
        ],
    }
