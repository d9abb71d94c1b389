"""The `voj` fixture: delivery's stack, provisioned in-process and steady on revision 1."""

from __future__ import annotations

import httpx

from rollout.sandbox import Sandbox


def test_voj_fixture_is_steady_on_revision_1(voj: Sandbox) -> None:
    """The provisioned service runs revision 1 with one COMPLETED deployment; calls start empty."""
    result = voj.provisioned
    assert result is not None
    assert voj.calls() == []
    ecs = voj.client_factory().client("ecs")
    service = ecs.describe_services(cluster=result.cluster, services=[result.service])["services"][
        0
    ]
    assert service["taskDefinition"].endswith(f"/{result.family}:1")
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["runningCount"] == service["desiredCount"] > 0


def test_voj_alb_serves_the_first_image(voj: Sandbox) -> None:
    """The voj ALB's data plane answers /version with the image revision 1 runs."""
    result = voj.provisioned
    assert result is not None
    url = voj.serve()
    response = httpx.get(f"{url}/_sandbox/alb/{result.load_balancer_name}/version", timeout=10)
    assert response.status_code == 200
    assert response.json()["image"] == result.image("sha-0000001")


def test_voj_route53_record_changes_propagate(voj: Sandbox) -> None:
    """A weight change on voj's weighted records is PENDING, then INSYNC 30 s later."""
    result = voj.provisioned
    assert result is not None
    route53 = voj.client_factory().client("route53")
    records = route53.list_resource_record_sets(HostedZoneId=result.hosted_zone_id)
    weighted = [r for r in records["ResourceRecordSets"] if "Weight" in r]
    assert {r["SetIdentifier"] for r in weighted} == set(result.record_set_identifiers)
    record = dict(weighted[0], Weight=0)
    info = route53.change_resource_record_sets(
        HostedZoneId=result.hosted_zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
    )["ChangeInfo"]
    assert info["Status"] == "PENDING"
    voj.clock.advance(30)
    assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
