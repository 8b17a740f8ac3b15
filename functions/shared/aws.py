"""AWS clients, created once and lazily: cheap for tests, nothing extra on the cold path.

Every client comes from one botocore session: a session's loader reads each service model, the
endpoint rules and the SDK's defaults once, and a second session would read them all again at
cold start. botocore, not boto3: boto3's clients are botocore's, and importing boto3 also loads
its S3 transfer manager and resource layer, which no function uses (~70 million instructions,
6% of a boto3 handler's whole cold start; docs/performance.md).

Endpoints come from the standard `AWS_ENDPOINT_URL` variable, which the local runtime points at
moto; the code is the same in both places.
"""

from __future__ import annotations

import os
import threading
import time
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Short timeouts: an API call must fail fast enough to answer within API Gateway's 29 s.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)

SECRET_MAX_AGE_S = 300


@cache
def session() -> botocore.session.Session:
    """The execution environment's one session (region and credentials from the environment)."""
    return botocore.session.get_session()


# shared.faults' variable: the module (tests and demos only) is imported only where it is set
_FAULT_INJECTION = "FAULT_INJECTION"


def _client(service: str) -> Any:
    client = session().create_client(service, config=_CONFIG)
    if os.environ.get(_FAULT_INJECTION):
        from shared import faults

        faults.install(client)
    return client


@cache
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb"))


@cache
def sqs() -> SQSClient:
    return cast("SQSClient", _client("sqs"))


def secret_value(secret_id: str) -> str:
    """A Secrets Manager secret, read once per five minutes per environment.

    Not Powertools parameters: its package imports boto3 (the cost above) for a cache of a few
    lines. Not through `_client`: injected faults are for the queues and tables.
    """
    now = _clock()
    with _SECRETS_LOCK:
        cached = _SECRETS.get(secret_id)
    if cached is not None and now < cached[0]:
        return cached[1]
    answer = _secrets_manager().get_secret_value(SecretId=secret_id)
    value = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"].decode()
    with _SECRETS_LOCK:
        _SECRETS[secret_id] = (now + SECRET_MAX_AGE_S, value)
    return value


def forget_secrets() -> None:
    """Drop the cached secrets, as if their five minutes had passed, and their client."""
    with _SECRETS_LOCK:
        _SECRETS.clear()
    _secrets_manager.cache_clear()


_SECRETS: dict[str, tuple[float, str]] = {}  # secret id -> (fresh until, value)
_SECRETS_LOCK = threading.Lock()
_clock = time.monotonic  # the secrets' clock (tests move it, not the process's)


@cache
def _secrets_manager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", session().create_client("secretsmanager", config=_CONFIG))
