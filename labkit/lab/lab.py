"""open_lab(): the one call at the top of every notebook.

It picks the mode (offline emulator by default, live AWS only when asked,
replay of the sample data), builds the boto3 session, and brings the lab to the
state the notebook expects by running the earlier steps' ensure functions:
each finds its resources by tag or creates them, so nothing is duplicated.
"""

from __future__ import annotations

import functools
import numbers

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from labkit.emulator import process as emulator_process
from labkit.errors import LabError
from labkit.lab import config, names
from labkit.lab.build import BuildSteps
from labkit.lab.locking import lab_lock
from labkit.lab.offline_guard import watch_offline_endpoint
from labkit.lab.tags import lab_tags
from labkit.lab.visible import VisibleCalls

OFFLINE_CREDENTIALS = {"aws_access_key_id": "offline", "aws_secret_access_key": "offline"}
_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5)


class Lab(BuildSteps, VisibleCalls):
    """One lab: its mode, its boto3 session, its tagged resources.

    The build verbs (``ensure_vpcs`` ... ``wait_for_records``) come from
    :class:`~labkit.lab.build.BuildSteps`; the methods here open, read, show and tear down.
    """

    def __init__(self, *, mode: str, name: str, region: str, session: boto3.Session,
                 endpoint_url: str | None = None, account_id: str = "",
                 confirmed: bool = True):
        self.mode = mode
        self.name = name
        self.region = region
        self.session = session
        self.endpoint_url = endpoint_url
        self.account_id = account_id
        self.confirmed = confirmed
        self.step = 0

    def __repr__(self) -> str:
        where = self.endpoint_url or f"account {self.account_id}"
        return f"<Lab {self.name!r} {self.mode} {self.region} {where} step {self.step}>"

    @functools.cache  # noqa: B019 - one client per service for the lab's lifetime
    def client(self, service: str):
        """A boto3 client bound to the lab's session, region and (offline) endpoint."""
        made = self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                   config=_RETRIES)
        if self.mode == "offline":
            watch_offline_endpoint(made, self.endpoint_url)  # a dead emulator: one LabError, no retries
        return made

    def tags(self, role: str | None = None) -> list[dict]:
        """The tags every resource of this lab carries (plus its role and Name, given a role)."""
        return lab_tags(self.name, role)

    def require_write(self, what: str) -> None:
        """Live mode creates and deletes nothing until the learner has confirmed the account."""
        if not self.confirmed:
            raise LabError(
                f"live mode: not confirmed, so nothing was done ({what}). Pass "
                f"open_lab(mode='live', confirm_account='{self.account_id}') or set "
                f"LABKIT_CONFIRM_ACCOUNT={self.account_id}"
            )

    def bring_to(self, step: int) -> Lab:
        """Run the ensure functions of steps 1..step (each finds or creates)."""
        from labkit.lab.steps import STEPS, build_to

        step = checked_step(step)
        if step:
            self.require_write(f"bringing the lab to step {step}")
        with lab_lock(self.name):  # another kernel building this lab waits, then finds, never duplicates
            build_to(self, step, STEPS)
        self.step = max(self.step, step)
        return self

    def teardown(self, progress: bool = True, dry_run: bool = False):
        """Delete what this lab created (both tags Project and ManagedBy), in dependency order.

        ``dry_run=True`` lists what would go, and what is left alone, and deletes nothing.
        """
        from labkit.lab.teardown import teardown

        report = teardown(self, progress=progress, dry_run=dry_run)
        if not dry_run and not report.left:
            self.step = 0  # nothing is built any more: a later open_lab(step=N) builds again
        return report

    def inventory(self):
        """What the lab owns right now, as a DataFrame (kind, id, name)."""
        from labkit.lab.inventory import inventory

        return inventory(self)

    def flow_logs(self, since=None, until=None, progress: bool = True):
        """The lab's flow-log records (all streams of its log group) as a DataFrame."""
        from labkit.analysis.records import lab_flow_logs

        return lab_flow_logs(self, since=since, until=until, progress=progress)

    def raw_records(self, filter_pattern: str = "", limit: int = 10) -> list[str]:
        """Records as delivered, before parsing, that match a filter pattern ("56121 REJECT")."""
        from labkit.analysis.records import lab_raw_records

        return lab_raw_records(self, filter_pattern, limit)

    def insights(self, query: str, since=None, until=None, limit: int | None = None,
                 progress: bool = True):
        """Run a Logs Insights query on the lab's log group; the answer as a typed DataFrame."""
        from labkit.analysis.insights import run_insights

        return run_insights(self, query, since=since, until=until, limit=limit, progress=progress)

    def ensure_s3_flow_logs(self, quiet: bool = False):
        """The flow-log bucket (AWS's delivery policy) and a Parquet flow log to it on each VPC."""
        from labkit.lab.steps.s3_flow_logs import ensure_s3_flow_logs

        return ensure_s3_flow_logs(self, quiet=quiet)

    def athena(self, sql: str, progress: bool = True):
        """Run SQL over ``vpc_flow_logs`` (the flow logs in S3, Parquet): Athena live, DuckDB offline.

        The answer is a DataFrame; ``df.attrs["statistics"]["DataScannedInBytes"]`` is what was read.
        """
        from labkit.analysis.athena import run_athena

        return run_athena(self, sql, progress=progress)

    def athena_ddl(self) -> str:
        """The CREATE EXTERNAL TABLE that lab.athena runs on Athena (live) for the lab's bucket."""
        from labkit.analysis.athena import athena_ddl

        return athena_ddl(self)

    def simulate_busy_network(self, records: int = 1_000_000, interfaces: int = 400, hours: int = 24,
                              seed: int = 0, day=None, progress: bool = True):
        """Write a day of a busy VPC's flow logs (Parquet, AWS's key layout) to the lab's bucket."""
        from labkit.lab.busy_network import simulate_busy_network

        return simulate_busy_network(self, records=records, interfaces=interfaces, hours=hours, seed=seed,
                                     day=day, progress=progress)

    def diagram(self):
        """The topology as it is, read back through describe calls, as a mermaid diagram."""
        from labkit.analysis.diagram import topology_diagram

        return topology_diagram(self)

    @property
    def log_group_name(self) -> str:
        """The CloudWatch Logs group the lab's flow logs write to."""
        return names.log_group_name(self)

    def rules_table(self, group_ids: list[str]):
        """The inbound and outbound rules of these security groups, one row a rule."""
        from labkit.analysis.views import rules_table

        return rules_table(self, group_ids)

    def route_tables_table(self):
        """Every route of the lab's route tables, one row a route."""
        from labkit.analysis.views import route_tables_table

        return route_tables_table(self)

    def flow_logs_table(self):
        """The lab's flow logs as DescribeFlowLogs shows them, the columns that matter."""
        from labkit.analysis.views import flow_logs_table

        return flow_logs_table(self)

    def explain(self, record=None, *, src: str | None = None, dst: str | None = None,
                protocol: str | int | None = None, port: int | None = None):
        """Why a record's traffic (or src/dst/protocol/port) was accepted, rejected or lost, and the fix."""
        from labkit.analysis.explain import explain

        return explain(self, record, src=src, dst=dst, protocol=protocol, port=port)

    def resources(self):
        """The ids of the lab's VPCs, subnets, route tables, groups, instances and peering, found by tag."""
        from labkit.lab.faults import lab_resources

        return lab_resources(self)

    def ping(self, src: str = "instance1", dst: str = "instance2", count: int = 2):
        """Ping through SSM Run Command; ``.records()`` are the flow-log records it left."""
        from labkit.lab.faults import ping

        return ping(self, src, dst, count)

    def check_diagnosis(self, fault: str, answer) -> bool:
        """Check a troubleshooting answer (a resource id) against the lab; prints why."""
        from labkit.lab.faults import check_diagnosis

        return check_diagnosis(self, fault, answer)

    def plant_fault(self, seed: int | None = None):
        """Break the lab in one of five ways, chosen at random; the answer stays hidden until .reveal()."""
        from labkit.lab.faults import plant_fault

        return plant_fault(self, seed)

    def fix_fault(self) -> list[str]:
        """Undo every planted fault the lab has now; returns their names."""
        from labkit.lab.faults import fix_fault

        return fix_fault(self)


def checked_step(step) -> int:
    """``step`` as an int if it names a build state (0..7), else a LabError that says what is accepted."""
    from labkit.lab.steps import STEPS

    last = max(STEPS)
    accepted = (f"step is a whole number from 0 to {last}: 0 opens the lab as it is, N builds what notebooks "
                f"01..N create (notebook N+1 opens with step=N; notebooks after 0{last} use step={last})")
    if isinstance(step, str):
        if step.strip().isdigit() and int(step) <= last:
            raise LabError(f"step={step!r} is text: write it without quotes, open_lab(step={int(step)})")
        raise LabError(f"step={step!r} is text, not a number; {accepted}")
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise LabError(f"step={step!r} is not a whole number; {accepted}")
    if not 0 <= step <= last:
        raise LabError(f"there is no step {step}; {accepted}")
    return int(step)


def open_lab(step: int = 0, *, mode: str | None = None, lab: str | None = None,
             region: str | None = None, confirm_account: str | None = None,
             session: boto3.Session | None = None, quiet: bool = False) -> Lab:
    """Open the lab and bring it to the state after notebook ``step``; the one call atop every notebook.

    ``step``: 0 opens the lab as it is; 1-7 first run the build steps of notebooks 01..step, each
    finding what exists by tag and creating only what is missing (so it is safe to repeat).

    ``mode`` (default ``LABKIT_MODE``, else ``"offline"``):

    * ``"offline"``: the local emulator, no AWS account. Uses ``LABKIT_ENDPOINT`` when set (and
      fails if nothing answers there), else the shared emulator, started when none is running.
    * ``"live"``: real AWS, through ``session`` or the profile ``LABKIT_PROFILE``. Prints the
      account, region, identity and a cost estimate, and creates nothing until
      ``confirm_account`` (or ``LABKIT_CONFIRM_ACCOUNT``) names that account.
    * ``"replay"``: the sample records in ``data/sample_flowlogs``; reads and queries only.

    ``lab`` names the lab (default ``LABKIT_LAB``, else ``flowlogs-lab``): tags and resource names
    carry it. ``region`` defaults to ``LABKIT_REGION``, then us-east-1 offline or the profile's live.

    Prints one line saying where the lab is and at which step (live and replay print their own
    header); ``quiet=True`` prints nothing, except that an unconfirmed live lab always shows its
    account. Raises :class:`~labkit.errors.LabError` with what to fix when it cannot open.
    """
    step = checked_step(step)  # before anything starts: a typo costs no emulator start
    chosen_mode = config.resolve_mode(mode)
    name = config.resolve_lab_name(lab)
    if chosen_mode == "replay":
        from labkit.lab.replay import open_replay

        return open_replay(name, quiet=quiet)
    if chosen_mode == "live":
        the_lab = _open_live(name, region, confirm_account, session, quiet)
    else:
        the_lab = _open_offline(name, region, session)
    the_lab.bring_to(step)
    if not quiet:
        print(_banner(the_lab))
    return the_lab


def _open_offline(name: str, region: str | None, session: boto3.Session | None) -> Lab:
    region, source = config.resolve_region(region, config.DEFAULT_OFFLINE_REGION)
    endpoint = config.env("LABKIT_ENDPOINT")
    if endpoint:
        if emulator_process.health(endpoint) is None:
            raise LabError(
                f"no labkit emulator answers at LABKIT_ENDPOINT={endpoint}: start one with "
                "`python -m labkit.emulator --port PORT`, or unset LABKIT_ENDPOINT to use "
                "the shared one"
            )
    else:
        endpoint = emulator_process.start().endpoint
    session = session or boto3.Session(region_name=region, **OFFLINE_CREDENTIALS)
    config.check_known_region(region, source)
    return Lab(mode="offline", name=name, region=region, session=session,
               endpoint_url=endpoint, account_id=names.OFFLINE_ACCOUNT_ID)


def _open_live(name, region, confirm_account, session, quiet) -> Lab:
    from labkit.lab.cost import estimate

    profile = config.env("LABKIT_PROFILE")
    try:
        session = session or boto3.Session(profile_name=profile)
    except Exception as error:  # botocore's ProfileNotFound and friends
        raise LabError(f"live mode: cannot use AWS profile {profile!r}: {error}") from None
    region, source = config.resolve_region(region, session.region_name)
    if not region:
        raise LabError("live mode: no region set: pass region=... or set LABKIT_REGION "
                       "(or a region in your AWS profile)")
    config.check_known_region(region, source)
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except NoCredentialsError:
        raise LabError("live mode: no AWS credentials found: run `aws configure` or "
                       "`aws sso login`, or set LABKIT_PROFILE; nothing was created") from None
    except (ClientError, BotoCoreError) as error:  # expired SSO tokens, no network, bad keys...
        raise LabError(f"live mode: AWS did not accept your credentials: {error}") from None
    account = identity["Account"]
    confirmed = (confirm_account or config.env("LABKIT_CONFIRM_ACCOUNT")) == account
    if not quiet or not confirmed:
        print(f"LIVE AWS: account {account}, region {region}, as {identity.get('Arn', '?')}")
        print("Estimated cost while the lab exists:")
        print(estimate())
        if not confirmed:
            print(f"Nothing will be created until you confirm this account: "
                  f"open_lab(..., mode='live', confirm_account='{account}') "
                  f"or LABKIT_CONFIRM_ACCOUNT={account}")
    # The learner's session itself: Lab.client pins each client to the region. (Wrapping its
    # botocore session in a second boto3.Session registers boto3's S3 injection twice, and every
    # S3 client then fails with 'Cannot inject class attribute "upload_file"'.)
    return Lab(mode="live", name=name, region=region, session=session,
               account_id=account, confirmed=confirmed)


def _banner(lab: Lab) -> str:
    where = f"emulator {lab.endpoint_url}" if lab.mode == "offline" else f"account {lab.account_id}"
    return f"Lab {lab.name!r}: {lab.mode}, {where}, region {lab.region}; {_built(lab)}"


def _built(lab: Lab) -> str:
    """What the lab holds, in words: a step number alone says nothing after open_lab() or a teardown."""
    if lab.step:
        return f"built through notebook {lab.step:02d}"
    if lab.mode == "live":  # counting would cost a dozen describe calls on the learner's account
        return "opened as it is (lab.inventory() lists what it owns)"
    from labkit.lab.inventory import survey

    owned = len(survey(lab).owned)
    if not owned:
        return "nothing built yet (or torn down)"
    if owned == 1:
        return "opened as it is: 1 resource of this lab exists (lab.inventory() lists it)"
    return f"opened as it is: {owned} resources of this lab exist (lab.inventory() lists them)"
