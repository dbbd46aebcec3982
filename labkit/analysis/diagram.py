"""The lab's topology as it really is, read back through describe calls, drawn with mermaid.

JupyterLab renders the ``text/markdown`` output's mermaid block as a diagram; the
plain-text form is a one-line summary (what nbval and terminals see).
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.lab.tags import lab_filter, tag_value


@dataclass
class Diagram:
    mermaid: str
    summary: str

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.mermaid}\n```"

    def __repr__(self) -> str:
        return self.summary


def _node(resource_id: str) -> str:
    # Mermaid node names: the resource id without its hyphen ("vpc-0ab1" -> "vpc0ab1").
    return resource_id.replace("-", "", 1)


def topology_diagram(lab) -> Diagram:
    ec2 = lab.client("ec2")
    mine = lab_filter(lab.name)
    vpcs = ec2.describe_vpcs(Filters=mine)["Vpcs"]
    subnets = ec2.describe_subnets(Filters=mine)["Subnets"]
    instances = [i for r in ec2.describe_instances(Filters=mine)["Reservations"]
                 for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    igws = ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]
    peerings = [p for p in ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"]
                if p["Status"]["Code"] in ("active", "pending-acceptance")]
    tables = ec2.describe_route_tables(Filters=mine)["RouteTables"]

    lines = ["flowchart LR", '  internet(("Internet"))']
    for vpc in sorted(vpcs, key=lambda v: tag_value(v.get("Tags"), "Name") or ""):
        # One-line titles: mermaid lets a nested subgraph cover a two-line title.
        label = f"{tag_value(vpc.get('Tags'), 'Name') or vpc['VpcId']} · {vpc['CidrBlock']}"
        lines.append(f'  subgraph {_node(vpc["VpcId"])}["{label}"]')
        for subnet in (s for s in subnets if s["VpcId"] == vpc["VpcId"]):
            lines.append(f'    subgraph {_node(subnet["SubnetId"])}["subnet {subnet["CidrBlock"]}"]')
            for inst in (i for i in instances if i.get("SubnetId") == subnet["SubnetId"]):
                public = inst.get("PublicIpAddress", "no public IP")
                lines.append(f'      {_node(inst["InstanceId"])}["{inst["InstanceId"]}<br/>'
                             f'{inst.get("PrivateIpAddress")}<br/>{public}"]')
            lines.append("    end")
        lines.append("  end")
    for igw in igws:
        for attachment in igw.get("Attachments", []):
            lines.append(f'  {_node(igw["InternetGatewayId"])}{{{{"{igw["InternetGatewayId"]}"}}}}')
            lines.append(f'  {_node(attachment["VpcId"])} --- {_node(igw["InternetGatewayId"])}'
                         f" --- internet")
    for pcx in peerings:
        a, b = pcx["RequesterVpcInfo"]["VpcId"], pcx["AccepterVpcInfo"]["VpcId"]
        lines.append(f'  {_node(a)} <== "{pcx["VpcPeeringConnectionId"]} '
                     f'{pcx["Status"]["Code"]}" ==> {_node(b)}')
    routes = sum(len(t["Routes"]) for t in tables)
    summary = (f"Topology of {lab.name!r}: {len(vpcs)} VPCs, {len(subnets)} subnets, "
               f"{len(instances)} instances, {len(igws)} internet gateways, "
               f"{len(peerings)} peering connection{'' if len(peerings) == 1 else 's'}, {routes} routes")
    return Diagram("\n".join(lines), summary)
