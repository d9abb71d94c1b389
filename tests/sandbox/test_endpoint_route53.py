"""Route 53 change status on the sandbox: PENDING until propagated, then INSYNC (reference §7)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from rollout.sandbox import Sandbox
from rollout.sandbox.overlays.route53 import weight_errors


def weighted(name: str, ident: str, weight: int) -> dict[str, Any]:
    return {
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": name,
            "Type": "CNAME",
            "SetIdentifier": ident,
            "Weight": weight,
            "TTL": 60,
            "ResourceRecords": [{"Value": f"{ident}.example.net"}],
        },
    }


def make_zone(route53: Any) -> str:
    zone = route53.create_hosted_zone(Name="voj.example.", CallerReference="ref-1")
    return str(zone["HostedZone"]["Id"])


def test_change_is_pending_until_propagated_then_insync_over_http(sandbox: Sandbox) -> None:
    """Over HTTP, a record change answers PENDING, GetChange stays PENDING for 30 s, then INSYNC."""
    url = sandbox.serve()
    route53 = boto3.client(
        "route53",
        endpoint_url=url,
        region_name=sandbox.region,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="x",
    )
    zone = make_zone(route53)
    info = route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Comment": "shift 10%", "Changes": [weighted("api.voj.example.", "alb", 10)]},
    )["ChangeInfo"]
    assert info["Status"] == "PENDING"
    assert info["Comment"] == "shift 10%"
    assert info["SubmittedAt"].timestamp() == sandbox.clock.now()
    sandbox.clock.advance(29.9)
    assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
    sandbox.clock.advance(0.1)
    assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def test_every_change_gets_its_own_id(sandbox: Sandbox) -> None:
    """Each change (zone creation included) has a distinct id, each with its own status."""
    route53 = sandbox.client_factory().client("route53")
    created = route53.create_hosted_zone(Name="voj.example.", CallerReference="ref-1")
    zone = created["HostedZone"]["Id"]
    first = route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [weighted("api.voj.example.", "a", 1)]}
    )["ChangeInfo"]
    sandbox.clock.advance(20)
    second = route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [weighted("api.voj.example.", "b", 1)]}
    )["ChangeInfo"]
    ids = {created["ChangeInfo"]["Id"], first["Id"], second["Id"]}
    assert len(ids) == 3
    sandbox.clock.advance(10)
    assert route53.get_change(Id=first["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert route53.get_change(Id=second["Id"])["ChangeInfo"]["Status"] == "PENDING"


def test_unknown_change_id_is_no_such_change(sandbox: Sandbox) -> None:
    """GetChange for an id the sandbox never issued fails with NoSuchChange (404)."""
    route53 = sandbox.client_factory().client("route53")
    with pytest.raises(ClientError) as caught:
        route53.get_change(Id="/change/C0000000000000")
    assert caught.value.response["Error"]["Code"] == "NoSuchChange"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_waiter_sees_insync_after_the_propagation_delay(sandbox: Sandbox) -> None:
    """botocore's ResourceRecordSetsChanged waiter logic succeeds only once the change is
    INSYNC (checked by polling on the virtual clock as the waiter would)."""
    route53 = sandbox.client_factory().client("route53")
    zone = make_zone(route53)
    info = route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [weighted("api.voj.example.", "a", 5)]}
    )["ChangeInfo"]
    start = sandbox.clock.now()

    def insync() -> float | None:
        status = route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"]
        return sandbox.clock.now() - start if status == "INSYNC" else None

    assert sandbox.advance_until(insync, step=5, timeout=120) == 30


def test_propagation_delay_is_configurable() -> None:
    """``Sandbox(route53_propagation=...)`` sets how long changes stay PENDING."""
    with Sandbox(route53_propagation=60) as sb:
        route53 = sb.client_factory().client("route53")
        zone = make_zone(route53)
        info = route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": [weighted("api.voj.example.", "a", 5)]}
        )["ChangeInfo"]
        sb.clock.advance(59)
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
        sb.clock.advance(1)
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"


@pytest.mark.parametrize(
    ("weight", "accepted"),
    [(0, True), (255, True), (256, False), (300, False)],
)
def test_weight_must_be_between_0_and_255(sandbox: Sandbox, weight: int, accepted: bool) -> None:
    """A weight outside 0..255 is InvalidInput and nothing is stored; inside, it is stored."""
    route53 = sandbox.client_factory().client("route53")
    zone = make_zone(route53)
    change = {"Changes": [weighted("api.voj.example.", "alb", weight)]}
    if accepted:
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch=change)
    else:
        with pytest.raises(ClientError) as caught:
            route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch=change)
        assert caught.value.response["Error"]["Code"] == "InvalidInput"
        assert "less than or equal to 255" in caught.value.response["Error"]["Message"]
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    stored = [r for r in records if r.get("SetIdentifier") == "alb"]
    assert [r["Weight"] for r in stored] == ([weight] if accepted else [])


@pytest.mark.parametrize(
    ("weights", "problems"),
    [([1, 2], 0), ([256], 1), ([-1, 999], 2), ([], 0)],
)
def test_weight_errors_counts_each_bad_weight(weights: list[int], problems: int) -> None:
    """weight_errors names every out-of-range weight in a ChangeBatch document."""
    ns = "https://route53.amazonaws.com/doc/2013-04-01/"
    changes = "".join(
        f"<Change><Action>UPSERT</Action><ResourceRecordSet><Name>a.</Name><Type>A</Type>"
        f"<SetIdentifier>s{i}</SetIdentifier><Weight>{w}</Weight></ResourceRecordSet></Change>"
        for i, w in enumerate(weights)
    )
    body = (
        f'<ChangeResourceRecordSetsRequest xmlns="{ns}"><ChangeBatch><Changes>{changes}'
        "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
    ).encode()
    assert len(weight_errors(body)) == problems
