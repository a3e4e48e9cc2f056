#!/usr/bin/env python3
"""Checks the run state machines (infra/statemachine/runs.asl.json; infra/README.md, "Orchestration").

Usage: check_statemachine.py TEMPLATE.yaml EXPANDED_TEMPLATE.json OUT_DIR

1. The template: every AWS::Serverless::StateMachine's definition file exists, every
   ${variable} in it has a DefinitionSubstitutions value and every value is used.
2. The definition, statically: every StartAt/Next/Default names a state of its scope and every
   state is reachable; Retry/Catch name only our error kinds, Lambda's and States' errors;
   `transient` is retried on every function call and the other kinds never are; the Map bounds
   its concurrency by MaxConcurrencyPath; each function call waits longer than the function's
   own timeout. Writes the definition with sample substitutions to OUT_DIR/<machine>.asl.json
   for the ASL validator (scripts/validate-infra runs asl-validator on them).
3. The data flow, on moto's Step Functions interpreter (the States Language interpreter moto
   took over from LocalStack, run in-process): the definition executes against a stand-in for
   the function that answers with the event files in infra/statemachine/events/ (the same files
   the Rust handlers' tests read), and the dead-letter queue is moto's SQS. It asserts that the
   function receives exactly the plan request and each unit event unchanged, that a
   continuation is invoked with exactly the result's next_event, that `transient` is retried and
   `privilege` is not, that a failed unit reaches the dead-letter queue with its event and
   error while the other units complete, and how the execution ends. Retry waits are recorded,
   not slept.

Prints one line per problem and exits 1 on any.
"""

import io
import json
import os
import logging
import re
import sys
import threading
import time
from pathlib import Path

KINDS = {"transient", "auth", "network_policy", "missing_object", "privilege", "config", "quota"}
RETRIED_KINDS = {"transient"}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
EVENTS = Path(__file__).resolve().parent / "statemachine" / "events"
SAMPLE_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:snowsync-{direction}"

problems = []


def problem(text):
    problems.append(text)
    print(f"check_statemachine: {text}")


def event(name):
    return json.loads((EVENTS / name).read_text())


# ---- 1 and 2: the template and the definition ------------------------------------------------

def check_template(template_path, expanded):
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(Path(template_path).read_text())
    base = Path(template_path).parent
    machines = {}
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = res.get("Properties", {})
        path = base / str(props.get("DefinitionUri", ""))
        if not path.is_file():
            problem(f"{name}: DefinitionUri {props.get('DefinitionUri')!r} is no file next to the template")
            continue
        text = path.read_text()
        used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
        given = set(props.get("DefinitionSubstitutions", {}))
        for var in sorted(used - given):
            problem(f"{name}: ${{{var}}} in {path.name} has no DefinitionSubstitutions value")
        for var in sorted(given - used):
            problem(f"{name}: DefinitionSubstitutions {var} is used nowhere in {path.name}")
        direction = props.get("DefinitionSubstitutions", {}).get("Direction")
        if direction not in ("pull", "push"):
            problem(f"{name}: Direction must be pull or push, not {direction!r}")
            continue
        if props.get("Type", "STANDARD") != "STANDARD":
            problem(f"{name}: runs last hours; only STANDARD workflows allow that")
        machines[name] = (direction, text)
    if sorted(d for d, _ in machines.values()) != ["pull", "push"]:
        problem(f"want one state machine per direction, found {sorted(machines)}")
    timeouts = [r["Properties"].get("Timeout", 3) for r in expanded["Resources"].values()
                if r.get("Type") == "AWS::Lambda::Function"]
    return machines, max(timeouts or [900])


def substituted(text, direction, queue_url):
    values = {
        "Direction": direction,
        "FunctionArn": SAMPLE_FUNCTION.format(direction=direction),
        "DeadLetterQueueUrl": queue_url,
    }
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def error_name_ok(name):
    return name in KINDS or name.startswith("Lambda.") or name.startswith("States.") \
        or name.startswith("snowsync.")


def check_scope(scope, where, function_timeout):
    states = scope.get("States", {})
    targets = {scope.get("StartAt")}
    for name, st in states.items():
        at = f"{where}{name}"
        nexts = [st.get("Next"), st.get("Default")]
        nexts += [c.get("Next") for c in st.get("Choices", [])]
        nexts += [c.get("Next") for c in st.get("Catch", [])]
        for n in filter(None, nexts):
            targets.add(n)
            if n not in states:
                problem(f"{at}: goes to {n!r}, which is no state here")
        if st["Type"] not in ("Choice", "Succeed", "Fail") and not st.get("Next") and not st.get("End"):
            problem(f"{at}: neither Next nor End")
        for r in st.get("Retry", []):
            for e in r.get("ErrorEquals", []):
                if not error_name_ok(e):
                    problem(f"{at}: Retry names {e!r}, neither an error kind nor a Lambda/States error")
                if e in KINDS - RETRIED_KINDS:
                    problem(f"{at}: retries {e!r}; only {sorted(RETRIED_KINDS)} is worth retrying")
        for c in st.get("Catch", []):
            for e in c.get("ErrorEquals", []):
                if not error_name_ok(e):
                    problem(f"{at}: Catch names {e!r}, neither an error kind nor a Lambda/States error")
        if st.get("Resource") == LAMBDA_INVOKE:
            retried = {e for r in st.get("Retry", []) for e in r.get("ErrorEquals", [])}
            for e in ["transient", "Lambda.ServiceException", "Lambda.AWSLambdaException",
                      "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
                      "Lambda.Unknown", "States.Timeout"]:
                if e not in retried:
                    problem(f"{at}: does not retry {e}")
            if not any("States.ALL" in c.get("ErrorEquals", []) for c in st.get("Catch", [])):
                problem(f"{at}: no Catch of States.ALL: a failed call would stop the others")
            if st.get("Parameters", {}).get("FunctionName") != "${FunctionArn}":
                problem(f"{at}: FunctionName is not ${{FunctionArn}} (the direction's own function)")
            if not st.get("TimeoutSeconds", 0) > function_timeout:
                problem(f"{at}: TimeoutSeconds must exceed the function's {function_timeout} s")
        if st["Type"] == "Map":
            if st.get("MaxConcurrencyPath") != "$.plan.max_parallel" or "MaxConcurrency" in st:
                problem(f"{at}: the Map must bound concurrency by MaxConcurrencyPath $.plan.max_parallel")
            check_scope(st.get("ItemProcessor", {}), f"{at}/", function_timeout)
    for name in sorted(set(states) - targets):
        problem(f"{where}{name}: unreachable")
    if scope.get("StartAt") not in states:
        problem(f"{where}StartAt {scope.get('StartAt')!r} is no state")


# ---- 3: the data flow on moto's interpreter --------------------------------------------------

class Function:
    """Stands in for the direction's Lambda function: answers each payload from a script of
    (expected payload, answers) pairs, where an answer is a result or an error payload
    (an `errorType` key), consumed in order. Anything unexpected is recorded as a problem."""

    def __init__(self, label, script):
        self.label = label
        self.script = [(payload, list(answers)) for payload, answers in script]
        self.calls = []
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def invoke(self, **params):
        payload = json.loads(params["Payload"])
        with self.lock:
            self.calls.append(payload)
            self.running += 1
            self.peak = max(self.peak, self.running)
            answer = None
            for expected, answers in self.script:
                if expected == payload and answers:
                    answer = answers.pop(0)
                    break
        time.sleep(0.05)  # lets parallel iterations overlap, so the bound is observable
        with self.lock:
            self.running -= 1
        if answer is None:
            problem(f"{self.label}: the function got an event no script expects: {json.dumps(payload)}")
            answer = {"errorType": "config", "errorMessage": "unexpected event"}
        out = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}
        if "errorType" in answer:
            out["FunctionError"] = "Unhandled"
        return out

    def left_over(self):
        return [p for p, answers in self.script if answers]


def run(label, definition, function, execution_input, direction, sfn, sqs, queue_url):
    """Runs one execution to its end; returns (description, Gather's output or None, messages)."""
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils as lam

    real = lam.boto_client_for
    lam.boto_client_for = lambda region, service, state_credentials=None: (
        function if service == "lambda" else real(region, service, state_credentials))
    try:
        arn = sfn.create_state_machine(
            name=f"snowsync-{direction}-{label}", definition=definition,
            roleArn="arn:aws:iam::123456789012:role/snowsync-runs")["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, name=label,
                                 input=json.dumps(execution_input))["executionArn"]
        deadline = time.monotonic() + 60
        while (desc := sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                problem(f"{label}: still running after 60 s")
                break
            time.sleep(0.05)
    finally:
        lam.boto_client_for = real
    history = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    gathered = None
    for e in history:
        d = e.get("stateExitedEventDetails")
        if d and d["name"] == "Gather":
            gathered = json.loads(d["output"])
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for m in batch:
            messages.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    for p in function.left_over():
        problem(f"{label}: the function was never (or not often enough) called with {json.dumps(p)}")
    return desc, gathered, messages, ex


def expect(label, what, got, want):
    if got != want:
        problem(f"{label}: {what}: got {json.dumps(got)}, want {json.dumps(want)}")


def check_data_flow(machines):
    logging.disable(logging.CRITICAL)  # the interpreter logs every IsPresent miss
    import boto3
    from moto import mock_aws
    import moto.stepfunctions.parser.asl.component.common.retry.retrier_decl as retrier

    waits = []

    class Clock:
        @staticmethod
        def sleep(seconds):
            waits.append(seconds)

    retrier.time = Clock
    texts = {d: t for d, t in machines.values()}
    # In-process AWS only: the local stack's AWS_ENDPOINT_URL (scripts/test exports it) would
    # send these clients to the moto server, where no stand-in function answers.
    for var in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[var]
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="snowsync-runs-dlq")["QueueUrl"]
        pull = substituted(texts["pull"], "pull", queue)
        push = substituted(texts["push"], "push", queue)

        # Pull backfill: a table done in one invocation, a key range that continues once, a key
        # range that fails transiently, is retried, then fails with privilege (not retried).
        plan = event("pull-plan-result.json")
        transient, privilege = event("pull-unit-error-transient.json"), event("pull-unit-error-privilege.json")
        continued = event("pull-unit-range-result-continued.json")
        expect("pull", "next_event in the continued result is pull-unit-range-continuation.json",
               continued["next_event"], event("pull-unit-range-continuation.json"))
        f = Function("pull", [
            (event("pull-plan-request.json"), [plan]),
            (event("pull-unit-table.json"), [event("pull-unit-table-result.json")]),
            (event("pull-unit-range.json"), [continued]),
            (continued["next_event"], [event("pull-unit-range-result-complete.json")]),
            (event("pull-unit-range-failing.json"), [transient, privilege]),
        ])
        if plan["units"][:2] != [event("pull-unit-table.json"), event("pull-unit-range.json")]:
            problem("pull-plan-result.json: its first units are not pull-unit-table.json, pull-unit-range.json")
        before = len(waits)
        desc, gathered, messages, ex = run("pull", pull, f, event("pull-execution-input.json"), "pull", sfn, sqs, queue)
        expect("pull", "status", (desc["status"], desc.get("error")), ("FAILED", "snowsync.UnitsFailed"))
        expect("pull", "calls of the failing unit (transient retried, privilege not)",
               f.calls.count(event("pull-unit-range-failing.json")), 2)
        if f.peak > plan["max_parallel"]:
            problem(f"pull: {f.peak} units ran at once, over max_parallel {plan['max_parallel']}")
        retry_waits = waits[before:]
        if len(retry_waits) != 1 or not 0 <= retry_waits[0] <= 30:
            problem(f"pull: want one retry wait within the first transient interval (0-30 s, full jitter), got {retry_waits}")
        want_message = event("pull-dead-letter-message.json")
        if len(messages) != 1:
            problem(f"pull: want one dead-letter message, got {messages}")
        else:
            m = messages[0]
            if not str(m.get("execution", "")).startswith("arn:aws:states:"):
                problem(f"pull: the dead-letter message's execution is no execution ARN: {m.get('execution')}")
            m["execution"] = want_message["execution"]
            expect("pull", "dead-letter message (pull-dead-letter-message.json)", m, want_message)
        if gathered is None:
            problem("pull: no Gather output in the history")
        else:
            expect("pull", "gathered reports", gathered["reports"], [
                event("pull-unit-table-result.json"),
                event("pull-unit-range-result-complete.json"),
                {"dead_lettered": {"event": event("pull-unit-range-failing.json"), "error": "privilege"}},
            ])

        # Push incremental: two exports, both complete; the execution succeeds with the reports.
        plan = event("push-plan-result.json")
        f = Function("push", [
            (event("push-plan-request.json"), [plan]),
            (event("push-unit-export.json"), [event("push-unit-export-result.json")]),
            (plan["units"][1], [event("push-unit-stages-result.json")]),
        ])
        desc, gathered, messages, _ = run("push", push, f, event("push-execution-input.json"), "push", sfn, sqs, queue)
        expect("push", "status", desc["status"], "SUCCEEDED")
        expect("push", "output", json.loads(desc.get("output") or "null"), {
            "tenant": "acme", "mode": "incremental", "dead_lettered": [],
            "reports": [event("push-unit-export-result.json"), event("push-unit-stages-result.json")],
        })
        expect("push", "dead-letter messages", messages, [])
        if plan["units"][0] != event("push-unit-export.json"):
            problem("push-plan-result.json: its first unit is not push-unit-export.json")

        # A plan that fails with config: not retried, dead-lettered, the execution fails.
        f = Function("plan", [(event("pull-plan-request.json"), [event("plan-error-config.json")])])
        desc, _, messages, _ = run("plan", pull, f, event("pull-execution-input.json"), "pull", sfn, sqs, queue)
        expect("plan", "status", (desc["status"], desc.get("error")), ("FAILED", "snowsync.PlanFailed"))
        expect("plan", "calls", f.calls, [event("pull-plan-request.json")])
        expect("plan", "dead-lettered events", [m.get("event") for m in messages], [event("pull-plan-request.json")])

        # A unit that never stops continuing: the state machine's own bound (100 hops) ends it.
        unit = event("pull-unit-table.json")
        endless = {**event("pull-unit-table-result.json"), "next_event": unit}
        single = {**event("pull-plan-result.json"), "units": [unit]}
        f = Function("hops", [(event("pull-plan-request.json"), [single]), (unit, [endless] * 101)])
        desc, _, messages, _ = run("hops", pull, f, event("pull-execution-input.json"), "pull", sfn, sqs, queue)
        expect("hops", "status", desc["status"], "FAILED")
        expect("hops", "unit invocations", f.calls.count(unit), 101)
        expect("hops", "dead-letter errors", [m["error"]["Error"] for m in messages], ["snowsync.TooManyHops"])


def main():
    template_path, expanded_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    expanded = json.loads(Path(expanded_path).read_text())
    machines, function_timeout = check_template(template_path, expanded)
    out.mkdir(parents=True, exist_ok=True)
    for name, (direction, text) in machines.items():
        definition = json.loads(text)
        check_scope(definition, f"{name}: ", function_timeout)
        sample = substituted(text, direction, "https://sqs.us-east-1.amazonaws.com/123456789012/snowsync-runs")
        (out / f"{name}.asl.json").write_text(sample)
    if not problems:
        check_data_flow(machines)
    if problems:
        print(f"check_statemachine: {len(problems)} problem(s)")
        sys.exit(1)
    print(f"check_statemachine: {len(machines)} state machines; substitutions, transitions, retries "
          "and the data flow of the events in infra/statemachine/events/: no findings")


if __name__ == "__main__":
    main()
