"""Instance profiles' tags, as the IAM API reference documents them.

Pages: "ListInstanceProfileTags - AWS Identity and Access Management"
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListInstanceProfileTags.html) and
"TagInstanceProfile" (https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagInstanceProfile.html).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator_fixtures import clients


@pytest.fixture
def iam(fresh_emulator):
    client = clients(fresh_emulator.endpoint)["iam"]
    tags = [{"Key": "Project", "Value": "web"}, {"Key": "ManagedBy", "Value": "labkit"}]
    client.create_instance_profile(InstanceProfileName="web-ssm", Path="/labkit/web/", Tags=tags)
    return client


def test_tags_are_listed_sorted_by_key(iam):
    """"The returned list of tags is sorted by tag key"; IsTruncated is false when all are there."""
    answer = iam.list_instance_profile_tags(InstanceProfileName="web-ssm")
    assert answer["Tags"] == [{"Key": "ManagedBy", "Value": "labkit"}, {"Key": "Project", "Value": "web"}]
    assert answer["IsTruncated"] is False


def test_tag_instance_profile_overwrites_a_key_and_adds_new_ones(iam):
    """TagInstanceProfile: "If a tag with the same key name already exists, then that tag is overwritten
    with the new value"; ListInstanceProfileTags shows the result."""
    iam.tag_instance_profile(InstanceProfileName="web-ssm",
                             Tags=[{"Key": "Project", "Value": "web2"}, {"Key": "Cost", "Value": "lab"}])
    tags = iam.list_instance_profile_tags(InstanceProfileName="web-ssm")["Tags"]
    assert tags == [{"Key": "Cost", "Value": "lab"}, {"Key": "ManagedBy", "Value": "labkit"},
                    {"Key": "Project", "Value": "web2"}]


def test_max_items_and_marker_page_the_tags(iam):
    """MaxItems: "If additional items exist beyond the maximum you specify, the IsTruncated response
    element is true"; Marker continues where the last page stopped."""
    first = iam.list_instance_profile_tags(InstanceProfileName="web-ssm", MaxItems=1)
    assert first["IsTruncated"] is True and first["Tags"] == [{"Key": "ManagedBy", "Value": "labkit"}]
    rest = iam.list_instance_profile_tags(InstanceProfileName="web-ssm", Marker=first["Marker"])
    assert rest["IsTruncated"] is False and rest["Tags"] == [{"Key": "Project", "Value": "web"}]


def test_an_unknown_profile_is_no_such_entity(iam):
    """Errors: NoSuchEntity, "The request was rejected because it referenced a resource entity that does
    not exist" (HTTP 404)."""
    with pytest.raises(ClientError) as caught:
        iam.list_instance_profile_tags(InstanceProfileName="nobody")
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("NoSuchEntity", 404)
    assert error["Error"]["Message"] == "Instance Profile nobody cannot be found."
