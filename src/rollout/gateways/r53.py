"""Route 53 gateway: weighted records of the two serving paths (set, read back, wait INSYNC)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollout.aws import ClientFactory
from rollout.errors import AwsError
from rollout.gateways._base import aws_errors


class Route53Gateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _r53(self) -> Any:
        return self._factory.client("route53")

    def zone_id(self, zone_name: str) -> str:
        """The hosted-zone id for ``zone_name`` (``example.com`` or ``example.com.``)."""
        want = _norm(zone_name)
        with aws_errors(f"find hosted zone {zone_name}"):
            resp = self._r53.list_hosted_zones_by_name(DNSName=want + ".")
            zones = list(resp.get("HostedZones", []))
            if not any(_norm(z["Name"]) == want for z in zones):
                # some implementations answer ByName loosely: fall back to the full listing
                for page in self._r53.get_paginator("list_hosted_zones").paginate():
                    zones.extend(page.get("HostedZones", []))
        for zone in zones:
            if _norm(zone["Name"]) == want and not zone.get("Config", {}).get("PrivateZone"):
                return str(zone["Id"]).rsplit("/", 1)[-1]
        for zone in zones:
            if _norm(zone["Name"]) == want:
                return str(zone["Id"]).rsplit("/", 1)[-1]
        raise AwsError(
            f"failed to find hosted zone {zone_name}: it does not exist.",
            hint="Check `traffic.zone_name` or set `traffic.hosted_zone_id` in rollout.toml.",
        )

    def weighted_records(
        self, zone_id: str, name: str, record_type: str = "A"
    ) -> dict[str, dict[str, Any]]:
        """The weighted record sets under ``name``/``record_type``, by SetIdentifier."""
        fqdn = name.rstrip(".") + "."
        records: dict[str, dict[str, Any]] = {}
        with aws_errors(f"list records {name} in {zone_id}"):
            pages = self._r53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone_id, StartRecordName=fqdn, StartRecordType=record_type
            )
            for page in pages:
                for rr in page.get("ResourceRecordSets", []):
                    if _norm(rr["Name"]) != _norm(fqdn) or rr["Type"] != record_type:
                        continue
                    if "SetIdentifier" in rr:
                        records[rr["SetIdentifier"]] = rr
        return records

    def weights(self, zone_id: str, name: str, record_type: str = "A") -> dict[str, int]:
        return {
            k: int(v.get("Weight", 0))
            for k, v in self.weighted_records(zone_id, name, record_type).items()
        }

    def set_weights(
        self, zone_id: str, name: str, weights: Mapping[str, int], record_type: str = "A"
    ) -> str:
        """UPSERT the weights of existing weighted records in one batch; returns the change id."""
        current = self.weighted_records(zone_id, name, record_type)
        missing = [s for s in weights if s not in current]
        if missing:
            raise AwsError(
                f"failed to set weights on {name}: no weighted record with set identifier(s) "
                f"{', '.join(missing)}.",
                hint="Check `traffic.new_set_identifier` and `traffic.legacy_set_identifier`.",
            )
        changes = []
        for set_id, weight in weights.items():
            record = {
                k: v for k, v in current[set_id].items() if k not in ("ResourceRecords",) or v
            }
            record["Weight"] = int(weight)
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        with aws_errors(f"change weights of {name}"):
            resp = self._r53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": "rollout: shift traffic", "Changes": changes},
            )
        return str(resp["ChangeInfo"]["Id"])

    def change_status(self, change_id: str) -> str:
        """PENDING | INSYNC."""
        with aws_errors(f"read Route 53 change {change_id}"):
            resp = self._r53.get_change(Id=change_id)
        return str(resp["ChangeInfo"]["Status"])


def _norm(name: str) -> str:
    """A DNS name compared without its trailing dot and case (``API.x.com.`` == ``api.x.com``)."""
    return name.rstrip(".").lower()
