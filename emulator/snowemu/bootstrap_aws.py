"""Create the AWS resources the local stack needs in moto (idempotent).

Usage: python -m snowemu.bootstrap_aws http://127.0.0.1:PORT

- the DynamoDB state table `snowsync` (pk S HASH, sk S RANGE, PAY_PER_REQUEST);
- the EventBridge Scheduler group `snowsync` and the role `snowsync-scheduler`;
- the functions `snowsync-pull` and `snowsync-push` (placeholders with an IAM role), so that
  continuing a run in a fresh invocation and `--remote` have a function to invoke. moto answers
  asynchronous invokes with 202 and runs nothing.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile

import boto3

TABLE = "snowsync"
FUNCTIONS = ("snowsync-pull", "snowsync-push")
ROLE = "snowsync-local-function"
SCHEDULER_ROLE = "snowsync-scheduler"
# What the deployed stack sets from its NAT gateways' Elastic IPs; here documentation addresses
# (RFC 5737), so `snowsync egress-ips` and `snowsync check` have something to print locally.
EGRESS_IPS = "192.0.2.10,192.0.2.11"
SCHEDULE_GROUP = "snowsync"


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def state_table(endpoint: str) -> None:
    dynamodb = client("dynamodb", endpoint)
    if TABLE in dynamodb.list_tables().get("TableNames", []):
        print(f"dynamodb table {TABLE}: exists")
        return
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


def functions(endpoint: str) -> None:
    iam = client("iam", endpoint)
    lam = client("lambda", endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        role = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    existing = {f["FunctionName"] for f in lam.list_functions().get("Functions", [])}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# placeholder: moto runs nothing\n")
    for name in FUNCTIONS:
        env = {"Variables": {"SNOWSYNC_EGRESS_IPS": EGRESS_IPS}}
        if name in existing:
            lam.update_function_configuration(FunctionName=name, Environment=env)
            print(f"lambda function {name}: exists")
            continue
        lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": buf.getvalue()},
            Environment=env,
        )
        print(f"lambda function {name}: created")


def scheduler(endpoint: str) -> None:
    iam = client("iam", endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        iam.get_role(RoleName=SCHEDULER_ROLE)
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(RoleName=SCHEDULER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    sched = client("scheduler", endpoint)
    groups = {g["Name"] for g in sched.list_schedule_groups().get("ScheduleGroups", [])}
    if SCHEDULE_GROUP not in groups:
        sched.create_schedule_group(Name=SCHEDULE_GROUP)
        print(f"schedule group {SCHEDULE_GROUP}: created")
    else:
        print(f"schedule group {SCHEDULE_GROUP}: exists")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    state_table(sys.argv[1])
    functions(sys.argv[1])
    scheduler(sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
