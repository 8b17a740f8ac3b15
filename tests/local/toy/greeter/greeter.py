"""A toy API function (its own code directory): greets, enqueues jobs, misbehaves on demand."""

import base64
import json
import os
import time
from typing import Any

import boto3

_sqs = None


def handler(event: dict[str, Any], context: Any) -> Any:
    global _sqs
    path = event["path"]
    if event["httpMethod"] == "POST" and path == "/jobs":
        _sqs = _sqs or boto3.client("sqs")
        for job in json.loads(event["body"])["jobs"]:
            extra = {"MessageGroupId": job["group"]} if "group" in job else {}
            _sqs.send_message(
                QueueUrl=os.environ[job.get("queue", "JOBS_QUEUE_URL")],
                MessageBody=json.dumps(job),
                **extra,
            )
        return {"statusCode": 202, "body": ""}
    if path == "/hello/malformed":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if path == "/hello/extra-key":
        return {"statusCode": 200, "body": "", "cookies": ["a=b"]}
    if path == "/hello/binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(b"\x00\x01binary").decode(),
            "isBase64Encoded": True,
        }
    if path == "/hello/slow":
        time.sleep(float(event["queryStringParameters"]["s"]))
    claims = (event["requestContext"].get("authorizer") or {}).get("claims")
    answer = {"function": context.function_name, "claims": claims}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(answer),
    }
