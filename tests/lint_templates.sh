#!/usr/bin/env bash
# Lint the SAM templates and prove the linter catches errors.
#
#   1. cfn-lint on template.yaml and infra/*.yaml: must be clean (exit 0: no error,
#      warning or informational finding).
#   2. Broken copies of template.yaml (a runtime that does not exist, a timeout above
#      Lambda's 900 s): cfn-lint must fail on each with E3030 / E3034. A cfn-lint that
#      does not look inside AWS::Serverless::Function properties fails this step.
#   3. checkov on the same templates: no failed check. A check that does not apply is skipped
#      in the template itself (Metadata: checkov: skip), with the reason.
#   4. `sam validate --lint` when the SAM CLI is installed; skipped with a note otherwise.
#
# Environment: CFN_LINT (default: cfn-lint on PATH), CHECKOV (default: checkov on PATH),
# SAM (default: sam on PATH).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CFN_LINT="${CFN_LINT:-cfn-lint}"
CHECKOV="${CHECKOV:-checkov}"
SAM="${SAM:-sam}"
export SAM_CLI_TELEMETRY=0

if ! command -v "$CFN_LINT" >/dev/null 2>&1; then
    echo "lint_templates: $CFN_LINT not found (install cfn-lint)" >&2
    exit 2
fi

templates=(template.yaml infra/*.yaml)
echo "lint_templates: $("$CFN_LINT" --version) on ${templates[*]}"
"$CFN_LINT" -- "${templates[@]}"
echo "lint_templates: templates are clean"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# broken_copy NAME CODE FROM TO: copy the templates, replace FROM by TO in template.yaml,
# and require cfn-lint to fail on the copy with CODE.
broken_copy() {
    local name="$1" code="$2" from="$3" to="$4"
    local dir="$work/$name"
    mkdir -p "$dir"
    cp template.yaml "$dir/"
    cp -R infra "$dir/"
    FROM="$from" TO="$to" python3 - "$dir/template.yaml" <<'PY'
import os, sys
path = sys.argv[1]
text = open(path).read()
count = text.count(os.environ["FROM"])
if count != 1:
    sys.exit(f"lint_templates: expected {os.environ['FROM']!r} once in template.yaml, found {count}")
open(path, "w").write(text.replace(os.environ["FROM"], os.environ["TO"]))
PY
    local output status=0
    output="$(cd "$dir" && "$CFN_LINT" -- template.yaml 2>&1)" || status=$?
    if [ "$status" -eq 0 ]; then
        echo "lint_templates: FAIL: cfn-lint passed a template with $to" >&2
        exit 1
    fi
    if ! grep -q "$code" <<<"$output"; then
        echo "lint_templates: FAIL: cfn-lint did not report $code for $to; it said:" >&2
        echo "$output" >&2
        exit 1
    fi
    echo "lint_templates: cfn-lint rejects $to ($code)"
}

broken_copy runtime E3030 "Runtime: provided.al2023" "Runtime: provided.al2099"
broken_copy timeout E3034 "Timeout: !Ref FunctionTimeout" "Timeout: 5000"

if ! command -v "$CHECKOV" >/dev/null 2>&1; then
    echo "lint_templates: $CHECKOV not found (make lint-templates installs it)" >&2
    exit 2
fi
echo "lint_templates: checkov $("$CHECKOV" --version) on ${templates[*]}"
# --skip-download: offline, no platform data (links, severities) needed for the verdict.
checkov_args=(--quiet --compact --skip-download --framework cloudformation)
for t in "${templates[@]}"; do checkov_args+=(-f "$t"); done
"$CHECKOV" "${checkov_args[@]}"
echo "lint_templates: checkov found nothing (skips are explained in the templates)"

if command -v "$SAM" >/dev/null 2>&1; then
    echo "lint_templates: $("$SAM" --version)"
    "$SAM" validate --lint --region us-east-1 --template-file template.yaml
else
    echo "lint_templates: note: the SAM CLI is not installed; skipped 'sam validate --lint'"
fi

echo "lint_templates: OK"
