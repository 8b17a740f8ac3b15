"""What the notifier reads from its environment (see shared.settings)."""

from __future__ import annotations

from pydantic import Field

from notifications.circuit import CircuitSettings
from notifications.delivery.decide import Schedule
from shared.settings import FunctionSettings


class NotifierSettings(FunctionSettings):
    deliveries_table_name: str = Field(min_length=1)
    notifications_queue_url: str = Field(min_length=1)  # to reschedule its own messages
    notifications_dlq_url: str = Field(min_length=1)
    orders_queue_url: str = Field(min_length=1)  # where delivery updates go back to
    webhook_secret_arn: str = Field(min_length=1)
    webhook_max_attempts: int = Field(ge=1)
    webhook_retry_base_seconds: float = Field(gt=0)
    webhook_retry_max_delay_seconds: float = Field(gt=0, le=43_200)
    webhook_connect_timeout_seconds: float = Field(gt=0)
    webhook_read_timeout_seconds: float = Field(gt=0)
    webhook_record_retention_days: int = Field(ge=1)
    webhook_batch_concurrency: int = Field(ge=1, le=100)
    webhook_max_in_flight_per_destination: int = Field(ge=1)
    webhook_defer_seconds: int = Field(ge=1, le=900)
    webhook_circuit_failure_threshold: int = Field(ge=1)
    webhook_circuit_recovery_seconds: int = Field(ge=1, le=900)
    # set only by the local runtime: callbacks may use plain http to loopback addresses
    webhook_local_mode: bool = False

    @property
    def schedule(self) -> Schedule:
        return Schedule(
            max_attempts=self.webhook_max_attempts,
            base_delay_s=self.webhook_retry_base_seconds,
            max_delay_s=self.webhook_retry_max_delay_seconds,
        )

    @property
    def circuit(self) -> CircuitSettings:
        return CircuitSettings(
            table_name=self.deliveries_table_name,
            failure_threshold=self.webhook_circuit_failure_threshold,
            recovery_s=self.webhook_circuit_recovery_seconds,
        )

    @property
    def attempt_deadline_s(self) -> float:
        """One attempt's hard wall-clock deadline, DNS to the answer's headers."""
        return self.webhook_connect_timeout_seconds + self.webhook_read_timeout_seconds
