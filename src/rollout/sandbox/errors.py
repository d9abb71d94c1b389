"""Errors the simulated AWS APIs answer with, shaped like AWS's JSON 1.1 errors."""

from __future__ import annotations


class ApiError(Exception):
    """An AWS API error: ``code`` becomes ``__type``; the front turns it into an HTTP answer."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def to_body(self) -> dict[str, str]:
        """The JSON 1.1 error body AWS sends (botocore reads ``__type`` and ``message``)."""
        return {"__type": self.code, "message": self.message}


def client_error(message: str) -> ApiError:
    return ApiError("ClientException", message)


def invalid_parameter(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


def cluster_not_found() -> ApiError:
    return ApiError("ClusterNotFoundException", "Cluster not found.")


def service_not_found() -> ApiError:
    return ApiError("ServiceNotFoundException", "Service not found.")


def service_not_active() -> ApiError:
    return ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
