"""Scores a SyTest TAP log per area: `python3 score.py sytest.log [--json]`.

SyTest prints each test file's name (on stderr, merged into the log) before its tests,
and one `ok N name`, `ok N name # skip reason` or `not ok N name` line per test. Areas
are SyTest's directories; the totals group them as the SyTest scores are usually given
(Client-Server, Federation, Application services)."""

import json
import re
import sys
from collections import OrderedDict

FILE = re.compile(r"^(tests/[^:]+\.pl):$")
# A result usually starts its line; after a test's own progress output ("Test 47 …… ")
# it follows on the same line.
RESULT = re.compile(r"(?:^|\.\.\. )(not ok|ok) (\d+) (.*?)(?: # (skip|TODO)\b.*)?$")
GROUPS = {"50federation": "Federation", "60app-services": "Application services"}


def parse(lines):
    """Yields (file, name, outcome) with outcome one of pass, fail, skip, expected-fail."""
    current = "?"
    for line in lines:
        line = line.rstrip("\n")
        m = FILE.match(line)
        if m:
            current = m.group(1)
            continue
        m = RESULT.search(line)
        if not m:
            continue
        status, _, name, directive = m.groups()
        expected_fail = "(expected fail)" in name
        if directive == "skip":
            outcome = "skip"
        elif status == "ok":
            outcome = "pass"
        elif expected_fail:
            outcome = "expected-fail"
        else:
            outcome = "fail"
        yield current, name, outcome


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8", errors="replace") as f:
        results = list(parse(f))
    areas = OrderedDict()
    groups = OrderedDict()
    for file, _, outcome in results:
        # SyTest's areas are its directories and the files directly in tests/.
        parts = file.split("/")
        area = parts[1].removesuffix(".pl") if len(parts) >= 2 else "?"
        for table, key in ((areas, area), (groups, GROUPS.get(area, "Client-Server"))):
            counts = table.setdefault(key, {"pass": 0, "fail": 0, "skip": 0, "expected-fail": 0})
            counts[outcome] += 1
    if "--json" in sys.argv:
        failed = [{"file": f, "name": n} for f, n, o in results if o == "fail"]
        print(json.dumps({"areas": areas, "groups": groups, "failed": failed}, indent=1))
        return
    print("| area | passed | run | skipped |")
    print("|---|---|---|---|")
    for table in (areas, groups):
        for key, c in table.items():
            run = c["pass"] + c["fail"] + c["expected-fail"]
            label = f"**{key}**" if table is groups else key
            print(f"| {label} | {c['pass']} | {run} | {c['skip']} |")


if __name__ == "__main__":
    main()
