"""ECR gateway: find an image by tag or digest (read-only)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from rollout.aws import ClientFactory
from rollout.gateways._base import aws_errors, error_code, ts


@dataclass(frozen=True)
class EcrImage:
    repository: str
    registry_id: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: float | None
    size_bytes: int | None


class EcrGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    def _ecr(self, region: str | None) -> Any:
        if region is None or region == self._factory.region:
            return self._factory.client("ecr")
        # An image in another region's registry: same endpoint, session and retries.
        return dataclasses.replace(self._factory, region=region).client("ecr")

    def find_image(
        self,
        repository: str,
        *,
        tag: str | None = None,
        digest: str | None = None,
        registry_id: str | None = None,
        region: str | None = None,
    ) -> EcrImage | None:
        """The image with ``digest`` (preferred) or ``tag``; None when the repository has no
        such image. A missing repository raises :class:`AwsError` (``RepositoryNotFoundException``).
        """
        if digest is None and tag is None:
            raise ValueError("find_image needs a tag or a digest")
        image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
        params: dict[str, Any] = {"repositoryName": repository, "imageIds": [image_id]}
        if registry_id:
            params["registryId"] = registry_id
        with aws_errors(f"describe image {repository} {digest or tag} in ECR"):
            try:
                resp = self._ecr(region).describe_images(**params)
            except ClientError as exc:
                if error_code(exc) == "ImageNotFoundException":
                    return None
                raise
        details = resp.get("imageDetails") or []
        if not details:
            return None
        raw = details[0]
        return EcrImage(
            repository=str(raw.get("repositoryName", repository)),
            registry_id=str(raw.get("registryId", registry_id or "")),
            digest=str(raw["imageDigest"]),
            tags=tuple(raw.get("imageTags") or ()),
            pushed_at=ts(raw.get("imagePushedAt")),
            size_bytes=raw.get("imageSizeInBytes"),
        )
