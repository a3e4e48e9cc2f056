"""Create the AWS resources the local stack needs in moto (idempotent).

Usage: python scripts/emulator/bootstrap_aws.py http://127.0.0.1:PORT

Creates the DynamoDB table `snowsync` (pk S HASH, sk S RANGE, PAY_PER_REQUEST) if missing.
"""

from __future__ import annotations

import os
import sys

import boto3

TABLE = "snowsync"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    endpoint = sys.argv[1]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    if TABLE in dynamodb.list_tables().get("TableNames", []):
        print(f"dynamodb table {TABLE}: exists")
        return 0
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    print(f"dynamodb table {TABLE}: created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
