"""Least privilege in infra/template.yaml, checked: which function may write
which prefix of the work bucket, and which function sees Amazon's role.

Run by scripts/check-infra with the infra venv's Python (cfn-lint's decoder
reads the template with its intrinsic functions). Exits 1 with one line per
broken rule. Each rule is one a review found broken (issue 15, item 11).
"""

import fnmatch
import sys

from cfnlint.decode import decode

WRITES = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:*", "*"}

# (function, work-bucket key that function must never write)
FORBIDDEN_WRITES = [
    ("CatalogBuilderFunction", "state/ledger/published/x.json"),
    ("CatalogBuilderFunction", "outbox/staging/rejected/x.xml.zst"),
    ("CatalogBuilderFunction", "outbox/prod/rejected/x.xml.zst"),
    ("ManifestWriterFunction", "state/ledger/claims/0000000001.json"),
    ("ManifestWriterFunction", "state/ledger/submissions/x.json"),
    ("ManifestWriterFunction", "state/catalog-state.jsonl.zst"),
    ("ManifestWriterFunction", "state/latest-export.json"),
    # Buy with Prime feeds: the builder writes feed files and submits them;
    # the report parser reads results back. Neither writes the other's.
    ("CatalogBuilderFunction", "bwp/results/x.result.csv"),
    ("CatalogBuilderFunction", "state/bwp/finished/x"),
    ("CatalogBuilderFunction", "products/x.jsonl"),
    ("ReportParserFunction", "bwp/feeds/x.csv"),
    ("ReportParserFunction", "products/x.jsonl"),
    ("ReportParserFunction", "state/bwp/latest-products.json"),
    ("EventProcessorFunction", "state/bwp/listing.jsonl.zst"),
]
# (function, key it must be able to write)
REQUIRED_WRITES = [
    ("CatalogBuilderFunction", "outbox/${CatalogEnv}/catalogs/x.xml.zst"),
    ("CatalogBuilderFunction", "state/ledger/claims/0000000001.json"),
    ("ManifestWriterFunction", "state/ledger/published/x.json"),
    ("ManifestWriterFunction", "state/needs-full/x.json"),
    ("CatalogBuilderFunction", "bwp/feeds/x.csv"),
    ("CatalogBuilderFunction", "state/bwp/feeds/x.csv.json"),
    ("CatalogBuilderFunction", "state/bwp/listing.jsonl.zst"),
    ("ReportParserFunction", "bwp/results/x.result.csv"),
    ("ReportParserFunction", "state/bwp/feeds/x.csv.json"),
    ("ReportParserFunction", "state/bwp/listing.jsonl.zst"),
]
# Variables only the functions that assume Amazon's role may see.
ROLE_VARIABLES = ["DESTINATION_EXTERNAL_ID", "DESTINATION_ROLE_ARN"]
ASSUMES_ROLE = {"ManifestWriterFunction", "ReportParserFunction"}


def work_bucket_patterns(resource):
    """The work-bucket key patterns a statement's Resource names."""
    resources = resource if isinstance(resource, list) else [resource]
    for r in resources:
        text = r.get("Fn::Sub") if isinstance(r, dict) else r
        if isinstance(text, list):
            text = text[0]
        if isinstance(text, str) and text.startswith("${WorkBucket.Arn}/"):
            yield text[len("${WorkBucket.Arn}/"):]


def writes(function, key):
    for policy in function["Properties"].get("Policies", []):
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") != "Allow" or not WRITES & set(actions):
                continue
            for pattern in work_bucket_patterns(statement.get("Resource", [])):
                if fnmatch.fnmatchcase(key, pattern.replace("${CatalogEnv}", "*")) or pattern == key:
                    return True
    return False


def main(path):
    template, matches = decode(path)
    if template is None:
        print(f"{path}: cannot be read: {matches}")
        return 1
    problems = []
    resources = template["Resources"]
    for name, key in FORBIDDEN_WRITES:
        if writes(resources[name], key):
            problems.append(f"{name} may write {key}; only its owner may")
    for name, key in REQUIRED_WRITES:
        if not writes(resources[name], key):
            problems.append(f"{name} cannot write {key}, which it must")
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    for variable in ROLE_VARIABLES:
        if variable in globals_env.get("Variables", {}):
            problems.append(f"{variable} is in Globals: every function would see it")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        for variable in ROLE_VARIABLES:
            if variable in variables and name not in ASSUMES_ROLE:
                problems.append(f"{name} sees {variable} but does not assume Amazon's role")
    for problem in problems:
        print(f"check_iam: {problem}")
    if not problems:
        print(f"check_iam: {len(FORBIDDEN_WRITES) + len(REQUIRED_WRITES)} write rules and the role variables hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"))
