"""Checks the dashboard in the expanded template against what the product emits and alarms on.

Run by scripts/validate-infra on the CloudFormation the SAM transform expands to:
- the dashboard body (an Fn::Sub) is valid JSON once its ${...} are filled in;
- every metric of the snowsync namespace a widget reads is one the functions emit (the names
  in shared/src/telemetry.rs), so a renamed metric cannot leave a widget silently empty;
- the alarm widget shows every alarm of the template, and nothing else;
- every widget has a title.
Exits non-zero, one line per problem.
"""

import json
import re
import sys
from pathlib import Path


def main(expanded: str, telemetry: str) -> int:
    template = json.loads(Path(expanded).read_text())
    resources = template["Resources"]
    emitted = set(re.findall(r'"Name": "(\w+)"', Path(telemetry).read_text()))
    problems = []
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        return fail([f"expected one AWS::CloudWatch::Dashboard, found {len(dashboards)}"])
    body = dashboards[0]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    referenced = set(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", text))
    filled = re.sub(r"\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}", lambda m: "2" if m.group(1) == "LagAlarmRatio" else f"<{m.group(1)}{m.group(2) or ''}>", text)
    try:
        widgets = json.loads(filled)["widgets"]
    except (json.JSONDecodeError, KeyError) as e:
        return fail([f"dashboard body is not JSON with widgets: {e}"])

    for name in referenced - set(resources) - {"AWS", "LagAlarmRatio"}:
        problems.append(f"dashboard references ${{{name}}}, which is no resource of the template")

    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    shown = set()
    for w in widgets:
        props = w.get("properties", {})
        if not props.get("title"):
            problems.append(f"a {w.get('type')} widget has no title")
        if w.get("type") == "alarm":
            shown |= {re.sub(r"^<(\w+)\.Arn>$", r"\1", a) for a in props.get("alarms", [])}
        for line in props.get("metrics", []):
            for part in line:
                if isinstance(part, dict) and "expression" in part:
                    m = re.match(r'SELECT \w+\((\w+)\) FROM SCHEMA\("snowsync"', part["expression"])
                    if m and m.group(1) not in emitted:
                        problems.append(f"widget {props.get('title')!r} reads snowsync metric {m.group(1)}, which the functions do not emit")
                    elif not m:
                        problems.append(f"widget {props.get('title')!r}: unexpected expression {part['expression']!r}")
    if shown != alarms:
        problems.append(f"the alarm widget shows {sorted(shown)}, the template's alarms are {sorted(alarms)}")
    if problems:
        return fail(problems)
    print(f"dashboard: {len(widgets)} widgets, {len(shown)} alarms, metrics all emitted by the functions")
    return 0


def fail(problems: list[str]) -> int:
    for p in problems:
        print(f"dashboard: {p}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
