"""Toy queue consumers: each record's delivery is written to the `deliveries` table."""

import json
import os
import time
import uuid
from typing import Any

import boto3

_table = None


def _record(item: dict[str, Any]) -> None:
    global _table
    _table = _table or boto3.resource("dynamodb").Table(os.environ["DELIVERIES_TABLE"])
    _table.put_item(Item={"id": str(uuid.uuid4()), "at": time.time_ns()} | item)


def ledger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """FIFO consumer that reports a job failed on its first receive when asked, but (unlike
    what AWS asks of FIFO consumers) goes on with the rest: the mapping must hold them back."""
    failures = []
    for record in event["Records"]:
        job = json.loads(record["body"])
        attempt = int(record["attributes"]["ApproximateReceiveCount"])
        _record({"group": job["group"], "seq": job["seq"], "attempt": attempt})
        if job.get("fail") and attempt == 1:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def tally(event: dict[str, Any], context: Any) -> None:
    """Records the size of each batch and the message group of each record."""
    _record(
        {
            "kind": "batch",
            "records": len(event["Records"]),
            "bytes": len(json.dumps(event).encode()),
            "groups": [r["attributes"].get("MessageGroupId", "") for r in event["Records"]],
        }
    )
