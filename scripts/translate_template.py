"""Expands template.yaml (AWS SAM) into the plain CloudFormation that CloudFormation itself sees,
offline, with aws-sam-translator (the library the SAM CLI uses), so that lints and deployments
check the real resources: the rules, event source mappings and roles SAM generates, and every
reference to them.

    .tools/sam/bin/python scripts/translate_template.py template.yaml OUT.json \\
        [--code BUCKET KEY] [Param=Value ...]

--code sets the CodeUri of every function to an S3 object (what `sam package` does after it
uploads a local CodeUri such as `.`); without it, a placeholder object stands there, enough for
a lint. Param=Value are template parameters; SAM resolves only a few itself, the rest stay
references for CloudFormation. No AWS call is made.
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """Stands in for the loader of managed policies, which would call iam:ListPolicies; the
    template names none by name."""

    def load(self):
        return {}


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, out = args.pop(0), args.pop(0)
    # samtranslator asks for a region; the template's own references resolve at deployment.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(source) as f:
        template = yaml_parse(f.read())
    bucket, key = "code-placeholder", "bootstrap.zip"
    if args[:1] == ["--code"]:
        bucket, key = args[1:3]
        del args[:3]
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    parameters = dict(arg.split("=", 1) for arg in args)
    expanded = transform(template, parameters, OfflinePolicyLoader())
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(expanded, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
