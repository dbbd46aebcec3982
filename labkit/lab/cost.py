"""What the lab costs on a real account, shown before live mode creates anything.

Prices are us-east-1 on-demand list prices as of 2026; other regions differ a
little. They are an estimate to decide with, not a bill: check
https://aws.amazon.com/pricing before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURLY_USD = {
    "t3.micro instance (x2)": 2 * 0.0104,
    "public IPv4 address (x2)": 2 * 0.005,
}
# Flow logs of two idle instances and the lab's pings: well under 10 MB an hour.
PER_GB_USD = {
    "flow logs into CloudWatch Logs (vended logs ingestion)": 0.50,
    "Logs Insights scanning": 0.005,
}
LAB_GB_PER_HOUR = 0.01


@dataclass
class CostEstimate:
    hourly_usd: float
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def estimate() -> CostEstimate:
    hourly = sum(HOURLY_USD.values()) + LAB_GB_PER_HOUR * sum(PER_GB_USD.values())
    lines = [f"  {name}: ${usd:.4f}/h" for name, usd in HOURLY_USD.items()]
    lines += [f"  {name}: ${usd}/GB (about {LAB_GB_PER_HOUR * 1000:.0f} MB/h here)"
              for name, usd in PER_GB_USD.items()]
    lines.append(f"  about ${hourly:.3f} per hour while the lab exists "
                 "(CloudWatch's free tier covers the first 5 GB a month); teardown stops it")
    return CostEstimate(hourly, lines)
