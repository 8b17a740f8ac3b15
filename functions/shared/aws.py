"""AWS clients, created once and lazily: cheap for tests, nothing extra on the cold path.

Every client, the secret fetch's included, comes from one boto3 session: a session's loader
reads each service model, the endpoint rules and the SDK's defaults once, and a second session
(what Powertools' parameters build when given no client) reads them all again at cold start.

Endpoints come from the standard `AWS_ENDPOINT_URL` variable, which the local runtime points at
moto; the code is the same in both places.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

# Short timeouts: an API call must fail fast enough to answer within API Gateway's 29 s.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)


@cache
def session() -> boto3.session.Session:
    """The execution environment's one session (region and credentials from the environment)."""
    return boto3.session.Session()


# shared.faults' variable: the module (tests and demos only) is imported only where it is set
_FAULT_INJECTION = "FAULT_INJECTION"


def _with_faults(client: Any) -> None:
    if os.environ.get(_FAULT_INJECTION):
        from shared import faults

        faults.install(client)


@cache
def dynamodb() -> DynamoDBClient:
    client = session().client("dynamodb", config=_CONFIG)
    _with_faults(client)
    return client


@cache
def sqs() -> SQSClient:
    client = session().client("sqs", config=_CONFIG)
    _with_faults(client)
    return client


def secret_value(secret_id: str) -> str:
    """A Secrets Manager secret, cached for five minutes (Powertools parameters)."""
    # Imported here: only the notifier reads secrets; the others skip the import at cold start.
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:  # what get_secret uses (and clear_caches clears)
        client = session().client("secretsmanager")
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=client)
    value = parameters.get_secret(secret_id, max_age=300)
    return value if isinstance(value, str) else value.decode()
