"""What the lab costs on a real account, shown before live mode creates anything.

Prices are us-east-1 on-demand list prices as of 2026, copied from AWS's pricing pages; other
regions differ a little and prices change. The table is an estimate to decide with, not a bill:
check the pages below (or the AWS Pricing Calculator) before relying on it.

* EC2 On-Demand: https://aws.amazon.com/ec2/pricing/on-demand/ (t3.micro, Linux)
* Public IPv4 addresses: https://aws.amazon.com/vpc/pricing/ ($0.005 per address-hour)
* EBS: https://aws.amazon.com/ebs/pricing/ (gp3 storage per GB-month, billed per second)
* CloudWatch: https://aws.amazon.com/cloudwatch/pricing/ (vended logs ingestion, Logs Insights)
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730  # AWS's pricing pages turn monthly prices into hourly ones with 730 h
# Each instance's root volume: the AL2023 AMI the lab launches (al2023-ami-kernel-default-x86_64) maps
# an 8 GiB gp3 volume (DescribeImages, BlockDeviceMappings), deleted with the instance.
ROOT_VOLUME_GIB = 8
GP3_USD_PER_GB_MONTH = 0.08

HOURLY_USD = {
    "t3.micro instance (x2)": 2 * 0.0104,
    "public IPv4 address (x2)": 2 * 0.005,
    f"EBS gp3 root volume, {ROOT_VOLUME_GIB} GiB (x2)":
        2 * ROOT_VOLUME_GIB * GP3_USD_PER_GB_MONTH / HOURS_PER_MONTH,
}
# Flow logs of two idle instances and the lab's pings: well under 10 MB an hour.
PER_GB_USD = {
    "flow logs into CloudWatch Logs (vended logs ingestion)": 0.50,
    "Logs Insights scanning": 0.005,
}
LAB_GB_PER_HOUR = 0.01


@dataclass
class CostEstimate:
    """The hourly total and the lines that explain it."""

    hourly_usd: float
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def estimate() -> CostEstimate:
    """What the lab costs per hour while it exists (us-east-1 list prices: an estimate, not a bill)."""
    hourly = sum(HOURLY_USD.values()) + LAB_GB_PER_HOUR * sum(PER_GB_USD.values())
    lines = [f"  {name}: ${usd:.4f}/h" for name, usd in HOURLY_USD.items()]
    lines += [f"  {name}: ${usd}/GB (about {LAB_GB_PER_HOUR * 1000:.0f} MB/h here)"
              for name, usd in PER_GB_USD.items()]
    lines.append(f"  about ${hourly:.3f} per hour while the lab exists "
                 "(CloudWatch's free tier covers the first 5 GB a month); teardown stops it")
    lines.append("  (an estimate from us-east-1 list prices of 2026; your region and today's prices may "
                 "differ: see aws.amazon.com/pricing)")
    return CostEstimate(hourly, lines)
