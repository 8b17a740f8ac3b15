"""Typed settings read from the environment once, failing with the name of what is missing."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    pass


class Settings(BaseModel):
    """Every variable a function may need; each function reads only the ones it uses."""

    model_config = ConfigDict(frozen=True)

    products_table_name: str | None = None
    orders_table_name: str | None = None
    orders_queue_url: str | None = None
    idempotency_table_name: str | None = None
    notifications_queue_url: str | None = None
    notifications_dlq_url: str | None = None
    webhook_secret_arn: str | None = None
    max_body_bytes: int = 64 * 1024
    # Webhook delivery: the schedule is configuration (the topology sets the defaults).
    webhook_max_attempts: int = Field(default=12, ge=1)
    webhook_retry_base_seconds: float = Field(default=30, gt=0)
    webhook_retry_max_delay_seconds: float = Field(default=3600, gt=0, le=43_200)
    webhook_connect_timeout_seconds: float = Field(default=2, gt=0)
    webhook_read_timeout_seconds: float = Field(default=5, gt=0)
    # Sweeper: ACCEPTED longer than this means the order's message was lost.
    sweep_after_seconds: float = Field(default=900, gt=0)
    sweep_max_reenqueues: int = Field(default=3, ge=1)
    # Set only by the local runtime: callbacks may use plain http to loopback addresses.
    webhook_local_mode: bool = False

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise SettingsError(f"environment variable {name.upper()} is not set")
        return str(value)


@cache
def get_settings() -> Settings:
    fields = Settings.model_fields
    present = {name: os.environ[name.upper()] for name in fields if name.upper() in os.environ}
    try:
        return Settings.model_validate(present)
    except ValidationError as error:
        names = ", ".join(str(e["loc"][0]).upper() for e in error.errors())
        raise SettingsError(f"invalid environment variables: {names}") from error
