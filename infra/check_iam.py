#!/usr/bin/env python3
"""Checks the functions' IAM in the expanded template (what CloudFormation deploys).

Usage: check_iam.py EXPANDED_TEMPLATE.json

1. Tenant isolation (issue 16, item 2; infra/README.md "IAM"):
   - no execution role of a function reaches a tenant secret (snowsync/tenants/...);
   - each function names a tenant-access role in SNOWSYNC_TENANT_ROLE_ARN that only its
     execution roles may assume, only with a session tag `tenant`;
   - that role reads secrets only under snowsync/tenants/${aws:PrincipalTag/tenant}-?????? and
     touches state items only where dynamodb:LeadingKeys is TENANT#${aws:PrincipalTag/tenant}.
2. Least privilege (item 5): the roles the functions' code runs as (execution and tenant
   role) and the DynamoDB endpoint allow only the DynamoDB actions the function path calls;
   each execution role denies network-interface actions to the function's code
   (lambda:SourceFunctionArn), leaving them to Lambda itself.
3. parliament (an IAM linter) on every policy document of the template, intrinsic functions
   resolved to sample values; any finding fails unless listed in ALLOWED_FINDINGS with why.

Prints one line per problem and exits 1 on any.
"""

import json
import re
import sys

# The DynamoDB actions of the function path (lambda::handle -> Job::run): the config (GetItem),
# status rows, leases and checkpoints (UpdateItem, GetItem), run records (PutItem). Query and
# DeleteItem serve only the CLI (status, runs, tenant remove); Scan nothing.
FUNCTION_DYNAMODB_ACTIONS = {"dynamodb:getitem", "dynamodb:putitem", "dynamodb:updateitem"}
NETWORK_INTERFACE_ACTIONS = {
    "ec2:createnetworkinterface",
    "ec2:deletenetworkinterface",
    "ec2:assignprivateipaddresses",
    "ec2:unassignprivateipaddresses",
}
DESCRIBE_ACTIONS = {"ec2:describenetworkinterfaces", "ec2:describesubnets"}
TENANT_SECRET = "secret:snowsync/tenants/${aws:PrincipalTag/tenant}-??????"
TENANT_PK = "TENANT#${aws:PrincipalTag/tenant}"

# parliament findings accepted, each with the reason (also in infra/README.md): issue -> which
# of its findings (by the finding's detail).
ALLOWED_FINDINGS = {
    # Lambda creates and deletes the functions' network interfaces with the execution role,
    # with ENI ids it cannot know in advance; AWS's managed policies for this
    # (AWSLambdaVPCAccessExecutionRole, AWSLambdaENIManagementAccess) use "*". The statement
    # NoNetworkInterfacesFromCode denies all of them to the function's own code.
    "RESOURCE_STAR": lambda detail: bool(detail)
    and {str(a).lower() for a in as_list(detail)} <= NETWORK_INTERFACE_ACTIONS | DESCRIBE_ACTIONS,
    # lambda:SourceFunctionArn is injected by Lambda into every request of a function's code
    # and is valid with any action (Lambda developer guide, "Using source function ARN to
    # control function access behavior"); parliament's per-service key table lacks it for ec2.
    "UNKNOWN_CONDITION_FOR_ACTION": lambda detail: str(detail).startswith(
        "Unknown condition lambda:SourceFunctionArn for action ec2:"
    ),
}

SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "snowsync",
    "AWS::URLSuffix": "amazonaws.com",
}

problems = []


def problem(text):
    problems.append(text)
    print(f"check_iam: {text}")


def as_list(v):
    return v if isinstance(v, list) else [v]


class Resolver:
    """Intrinsic functions to sample strings (ARNs shaped like the real ones)."""

    def __init__(self, template):
        self.resources = template.get("Resources", {})
        self.params = template.get("Parameters", {})

    def arn_of(self, name):
        r = self.resources.get(name, {})
        t, props = r.get("Type", ""), r.get("Properties", {})
        p = lambda v: self.resolve(v) if v is not None else name  # noqa: E731
        if t == "AWS::IAM::Role":
            return f"arn:aws:iam::123456789012:role/{p(props.get('RoleName'))}"
        if t == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:us-east-1:123456789012:table/{p(props.get('TableName'))}"
        if t == "AWS::SQS::Queue":
            return f"arn:aws:sqs:us-east-1:123456789012:{name}"
        if t == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:us-east-1:123456789012:log-group:{p(props.get('LogGroupName'))}:*"
        if t == "AWS::Lambda::Function":
            return f"arn:aws:lambda:us-east-1:123456789012:function:{p(props.get('FunctionName'))}"
        if t == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:us-east-1:123456789012:stateMachine:{p(props.get('StateMachineName'))}"
        return f"arn:aws:ec2:us-east-1:123456789012:{name.lower()}/{name}"

    def ref(self, name):
        if self.resources.get(name, {}).get("Type") == "AWS::StepFunctions::StateMachine":
            return self.arn_of(name)  # Ref of a state machine is its ARN
        if name in SAMPLE:
            return SAMPLE[name]
        if name in self.params:
            default = self.params[name].get("Default", "")
            if default != "":
                return str(default)
            if name.endswith("KmsKeyArn"):
                return "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
            if name.endswith("SecretArn"):
                return "arn:aws:secretsmanager:us-east-1:123456789012:secret:snowsync/platform-database-AbCdEf"
            return f"sample-{name}"
        return self.arn_of(name)

    def resolve(self, v):
        """Resolves intrinsics; `Fn::If` keeps its first branch (the optional statements are
        checked too), AWS::NoValue drops the item."""
        if isinstance(v, list):
            out = [self.resolve(x) for x in v]
            return [x for x in out if x is not NOVALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return NOVALUE if a == "AWS::NoValue" else self.ref(a)
            if k == "Fn::GetAtt":
                name, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.arn_of(name) if attr == "Arn" else f"sample-{name}-{attr}"
            if k == "Fn::Sub":
                text, extra = (a, {}) if isinstance(a, str) else (a[0], a[1])

                def sub(m):
                    key = m.group(1)
                    if key.startswith("!"):
                        return "${" + key[1:] + "}"
                    if key in extra:
                        return str(self.resolve(extra[key]))
                    if "." in key:
                        name, attr = key.split(".", 1)
                        return self.arn_of(name) if attr == "Arn" else f"sample-{name}-{attr}"
                    return str(self.ref(key))

                return re.sub(r"\$\{([^}]+)\}", sub, text)
            if k == "Fn::Join":
                return a[0].join(str(self.resolve(x)) for x in a[1])
            if k == "Fn::If":
                return self.resolve(a[1])
            if k in ("Fn::Select",):
                return self.resolve(a[1])[int(a[0])]
        return {k: self.resolve(x) for k, x in v.items()}


class _NoValue:
    pass


NOVALUE = _NoValue()


def statements(doc):
    return [s for s in as_list(doc.get("Statement", [])) if isinstance(s, dict)]


def actions(stmt):
    return {a.lower() for a in as_list(stmt.get("Action", []))}


def allows(stmt, pattern):
    """Whether an Allow statement's actions match `pattern` (lower-case, may end in *)."""
    if stmt.get("Effect") != "Allow":
        return False
    for a in actions(stmt):
        if a == pattern or a == "*" or (a.endswith("*") and pattern.startswith(a[:-1])):
            return True
        if pattern.endswith("*") and a.startswith(pattern[:-1]):
            return True
    return False


def role_policies(role):
    return [p["PolicyDocument"] for p in role.get("Properties", {}).get("Policies", [])]


def check_roles(template, r):
    res = template["Resources"]
    functions = {n: x for n, x in res.items() if x.get("Type") == "AWS::Lambda::Function"}
    if not functions:
        problem("no AWS::Lambda::Function in the expanded template")
    exec_roles = {}
    tenant_roles = set()
    for fname, f in functions.items():
        props = f.get("Properties", {})
        role_ref = props.get("Role", {}).get("Fn::GetAtt")
        if not role_ref:
            problem(f"{fname}: Role is not a role of this template")
            continue
        role_name = role_ref[0] if isinstance(role_ref, list) else role_ref.split(".")[0]
        exec_roles[fname] = role_name
        env = props.get("Environment", {}).get("Variables", {})
        tr = env.get("SNOWSYNC_TENANT_ROLE_ARN", {})
        tr = tr.get("Fn::GetAtt") if isinstance(tr, dict) else None
        if not tr:
            problem(
                f"{fname}: SNOWSYNC_TENANT_ROLE_ARN does not name a role of this template: "
                "set it to !GetAtt TenantAccessRole.Arn so runs use tenant sessions"
            )
        else:
            tenant_roles.add(tr[0] if isinstance(tr, list) else tr.split(".")[0])
        fn_arn = r.arn_of(fname)
        docs = [r.resolve(d) for d in role_policies(res.get(role_name, {}))]
        stmts = [s for d in docs for s in statements(d)]
        for s in stmts:
            if allows(s, "secretsmanager:getsecretvalue") or allows(s, "secretsmanager:*"):
                for resource in as_list(s.get("Resource", [])):
                    if "snowsync/tenants" in str(resource) or str(resource) == "*":
                        problem(
                            f"{role_name} (execution role of {fname}) allows Secrets Manager on "
                            f"{resource}: tenant secrets only through the tenant-access role"
                        )
            dyn = {a for a in actions(s) if a.startswith("dynamodb:")} if s.get("Effect") == "Allow" else set()
            extra = dyn - FUNCTION_DYNAMODB_ACTIONS
            if extra:
                problem(
                    f"{role_name} (execution role of {fname}) allows {sorted(extra)}: the "
                    f"function path calls only {sorted(FUNCTION_DYNAMODB_ACTIONS)}"
                )
        denied = [
            s for s in stmts
            if s.get("Effect") == "Deny"
            and NETWORK_INTERFACE_ACTIONS <= actions(s)
            and fn_arn in as_list(s.get("Condition", {}).get("ArnEquals", {}).get("lambda:SourceFunctionArn", []))
        ]
        if not denied:
            problem(
                f"{role_name} (execution role of {fname}) does not deny "
                f"{sorted(NETWORK_INTERFACE_ACTIONS)} to the function's code: add a Deny with "
                f"ArnEquals lambda:SourceFunctionArn {fn_arn}"
            )
        if tr:
            target = r.arn_of(tr[0] if isinstance(tr, list) else tr.split(".")[0])
            if not any(allows(s, "sts:assumerole") and allows(s, "sts:tagsession")
                       and target in as_list(s.get("Resource", [])) for s in stmts):
                problem(f"{role_name} may not sts:AssumeRole + sts:TagSession on {target}")
    for tname in sorted(tenant_roles):
        check_tenant_role(tname, res.get(tname, {}), set(exec_roles.values()), r)
    endpoint_actions = set()
    for name, x in res.items():
        if x.get("Type") == "AWS::EC2::VPCEndpoint" and "PolicyDocument" in x.get("Properties", {}):
            for s in statements(r.resolve(x["Properties"]["PolicyDocument"])):
                endpoint_actions |= {a for a in actions(s) if a.startswith("dynamodb:")}
    extra = endpoint_actions - FUNCTION_DYNAMODB_ACTIONS
    if extra:
        problem(f"the DynamoDB endpoint policy allows {sorted(extra)}: the functions call only "
                f"{sorted(FUNCTION_DYNAMODB_ACTIONS)}")


def check_tenant_role(name, role, exec_roles, r):
    props = role.get("Properties", {})
    trust = props.get("AssumeRolePolicyDocument", {})
    principals = set()
    for s in statements(trust):
        if s.get("Effect") != "Allow":
            continue
        for p in as_list(s.get("Principal", {}).get("AWS", [])):
            ref = p.get("Fn::GetAtt") if isinstance(p, dict) else None
            principals.add(ref[0] if ref else json.dumps(p))
        if not ({"sts:assumerole", "sts:tagsession"} <= actions(s)):
            problem(f"{name}: the trust policy must allow sts:AssumeRole and sts:TagSession together")
        cond = json.dumps(s.get("Condition", {}))
        if "aws:RequestTag/tenant" not in cond:
            problem(f"{name}: the trust policy does not require the session tag tenant (aws:RequestTag/tenant)")
    if principals != exec_roles:
        problem(f"{name}: trusted principals {sorted(principals)}, want exactly the execution roles {sorted(exec_roles)}")
    stmts = [s for d in role_policies(role) for s in statements(r.resolve(d))]
    for s in stmts:
        if s.get("Effect") != "Allow":
            continue
        for a in actions(s):
            if a.startswith("secretsmanager:"):
                for resource in as_list(s.get("Resource", [])):
                    if not str(resource).endswith(TENANT_SECRET):
                        problem(f"{name}: {a} on {resource}: only ...:{TENANT_SECRET}")
            if a.startswith("dynamodb:"):
                if a not in FUNCTION_DYNAMODB_ACTIONS:
                    problem(f"{name}: allows {a}: the function path calls only {sorted(FUNCTION_DYNAMODB_ACTIONS)}")
                keys = s.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:LeadingKeys")
                if as_list(keys) != [TENANT_PK]:
                    problem(f"{name}: {a} without ForAllValues:StringEquals dynamodb:LeadingKeys = {TENANT_PK}")
            if a == "*" or a.endswith(":*"):
                problem(f"{name}: allows {a}")


def run_parliament(template, r):
    try:
        from parliament import analyze_policy_string
    except ImportError:
        problem("parliament is not installed (scripts/validate-infra installs it)")
        return
    n = 0
    for name, x in sorted(template["Resources"].items()):
        props = x.get("Properties", {})
        docs = []
        if x.get("Type") == "AWS::IAM::Role":
            docs = [(f"{name} policy {p.get('PolicyName')}", p["PolicyDocument"])
                    for p in props.get("Policies", [])]
        elif x.get("Type") == "AWS::IAM::ManagedPolicy":
            docs = [(name, props["PolicyDocument"])]
        for label, doc in docs:
            n += 1
            policy = analyze_policy_string(json.dumps(r.resolve(doc)))
            for f in policy.findings:
                detail = json.dumps(f.detail) if f.detail else ""
                if ALLOWED_FINDINGS.get(f.issue, lambda _: False)(f.detail):
                    continue
                problem(f"parliament {f.issue} in {label}: {detail} {json.dumps(f.location)}")
    print(f"check_iam: parliament read {n} policies")


def main():
    template = json.load(open(sys.argv[1]))
    r = Resolver(template)
    check_roles(template, r)
    run_parliament(template, r)
    if problems:
        print(f"check_iam: {len(problems)} problem(s)")
        sys.exit(1)
    print("check_iam: tenant-scoped roles, least privilege and parliament: no findings")


if __name__ == "__main__":
    main()
