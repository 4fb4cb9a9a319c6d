#!/usr/bin/env bash
# Runs wsproxy's whole test suite: installs what is missing, builds, runs
# every unit and integration test (really running them: cached results are
# refused) and buf lint on api/, and ends with a line "N passed, N failed"
# counting test cases.
# Exits non-zero if anything failed. CI (.ci/run) calls exactly this.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# The protos follow buf's style rules: one more case, passed or failed.
if (cd api && ../tools/node_modules/.bin/buf lint); then lint_failed=0; echo "buf lint: ok"; else lint_failed=1; fi

# Results of an earlier run must not be counted as this run's.
if [ -e bazel-testlogs ]; then find -L bazel-testlogs -name test.xml -delete 2>/dev/null; fi

output=$(mktemp)
bash tools/bazel.sh test //... --nocache_test_results --test_output=errors "$@" 2>&1 | tee "$output"
bazel_status=${PIPESTATUS[0]}

# Count test cases from each target's JUnit XML; a test target with no XML
# (it did not build, or did not run) counts as one failure.
/usr/bin/python3 - "$output" "$lint_failed" <<'PY'
import glob, re, sys, xml.etree.ElementTree as ET
passed, failed = (0, 1) if sys.argv[2] == "1" else (1, 0)  # buf lint
failures_in = {}  # target -> failed cases its XML shows
for path in glob.glob("bazel-testlogs/**/test.xml", recursive=True):
    target = "//" + path[len("bazel-testlogs/"):-len("/test.xml")]
    target = target.rsplit("/", 1)[0] + ":" + target.rsplit("/", 1)[1]
    failures_in[target] = 0
    for case in ET.parse(path).iter("testcase"):
        if any(case.find(tag) is not None for tag in ("failure", "error", "skipped")):
            failed += 1
            failures_in[target] += 1
        else:
            passed += 1
# A target Bazel reports as not passed counts at least one failure, even if
# its XML is missing or shows none.
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(//\S+)\s+(?:\(cached\) )?(FAILED TO BUILD|NO STATUS|FAILED|TIMEOUT|PASSED|FLAKY)", line)
    if m and m.group(2) != "PASSED" and failures_in.get(m.group(1), 0) == 0:
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
count_status=$?
rm -f "$output"
[ "$bazel_status" -eq 0 ] && [ "$count_status" -eq 0 ]
