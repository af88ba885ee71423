#!/usr/bin/env python3
"""Summarise an Autobahn TestSuite report and fail on non-conforming cases.

Usage:
    scripts/autobahn_check.py LABEL OUTDIR [--agent NAME] [--expect N]

LABEL   first word of the closing line, e.g. "autobahn-server" or
        "autobahn-client".
OUTDIR  directory that wstest wrote its reports into; it must contain
        index.json.

wstest's index.json has the shape

    {agent: {case_id: {"behavior": ..., "behaviorClose": ...,
                       "duration": ..., "reportfile": ...}}}

A case passes only when both `behavior` and `behaviorClose` are OK or
INFORMATIONAL. Anything else (NON-STRICT, FAILED, UNIMPLEMENTED, WRONG CODE,
UNCLEAN, FAILED BY CLIENT, ...) is a failure.

wstest stops early and still writes a report when it loses its peer (e.g. the
testee crashed), so a short report can look all green. With --expect N (the
"will run N test cases" count wstest logs), every case short of N is counted
as failed.

The script prints per-section behavior counts (section = first component of
the case id), a total line, every failing case, a line
"LABEL counts: OK=.. INFORMATIONAL=.. ... | close: OK=.. ..." with the
testee's verdict counts, and finally one line of the form
"LABEL: N passed, M failed". It exits 1 if any case failed or if no
cases were found at all, and 2 on usage or input errors.

Only the Python 3 standard library is used.
"""

import argparse
import json
import os
import sys
from collections import Counter, OrderedDict

# Verdicts that count as a pass, for both `behavior` and `behaviorClose`.
PASSING = {"OK", "INFORMATIONAL"}

# Order in which behaviors are shown in the per-section counts; any
# behavior not listed here is shown after these, alphabetically.
BEHAVIOR_ORDER = [
    "OK",
    "INFORMATIONAL",
    "NON-STRICT",
    "UNIMPLEMENTED",
    "WRONG CODE",
    "UNCLEAN",
    "FAILED BY CLIENT",
    "FAILED",
]


def case_sort_key(case_id):
    """Sort "9.10.1" after "9.2.1": compare numerically where possible."""
    key = []
    for part in case_id.split("."):
        try:
            key.append((0, int(part), ""))
        except ValueError:
            key.append((1, 0, part))
    return key


def behavior_sort_key(behavior):
    if behavior in BEHAVIOR_ORDER:
        return (BEHAVIOR_ORDER.index(behavior), behavior)
    return (len(BEHAVIOR_ORDER), behavior)


def format_counts(counter):
    return "  ".join(
        "%s=%d" % (b, counter[b]) for b in sorted(counter, key=behavior_sort_key)
    )


def load_index(outdir):
    path = os.path.join(outdir, "index.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        sys.stderr.write(
            "autobahn_check: %s not found (did wstest run and write its "
            "report?)\n" % path
        )
        return None
    except (OSError, ValueError) as e:
        sys.stderr.write("autobahn_check: cannot read %s: %s\n" % (path, e))
        return None
    if not isinstance(data, dict):
        sys.stderr.write("autobahn_check: %s: expected a JSON object\n" % path)
        return None
    return data


def case_result_text(outdir, entry):
    """One-line explanation of a failure, taken from the per-case JSON report
    that "reportfile" names: its "result" when `behavior` failed and its
    "resultClose" when `behaviorClose` failed. Returns "" when it is not
    available."""
    reportfile = entry.get("reportfile")
    if not reportfile:
        return ""
    path = os.path.join(outdir, reportfile)
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return ""
    parts = []
    for verdict_key, text_key in (("behavior", "result"), ("behaviorClose", "resultClose")):
        if entry.get(verdict_key) in PASSING:
            continue
        text = report.get(text_key)
        if text:
            parts.append(" ".join(str(text).split()))
    return " | ".join(parts)


def check_agent(agent, cases, outdir, show_details, expect):
    """Print the summary for one agent; return (passed, failed).

    `expect` is the number of cases wstest meant to run, or None; cases
    missing from the report count as failed."""
    print("== agent %s: %d cases ==" % (agent, len(cases)))

    sections = OrderedDict()
    for case_id in sorted(cases, key=case_sort_key):
        sections.setdefault(case_id.split(".")[0], []).append(case_id)

    total = Counter()
    failures = []
    for section, ids in sections.items():
        counts = Counter()
        for case_id in ids:
            entry = cases[case_id] or {}
            behavior = entry.get("behavior", "MISSING")
            close = entry.get("behaviorClose", "MISSING")
            counts[behavior] += 1
            if behavior not in PASSING or close not in PASSING:
                failures.append((case_id, behavior, close, entry))
        total.update(counts)
        print("  section %-3s %4d cases  %s" % (section, len(ids), format_counts(counts)))
    print("  total       %4d cases  %s" % (len(cases), format_counts(total)))

    if failures:
        print("  failing cases (behavior / behaviorClose):")
        for case_id, behavior, close, entry in failures:
            line = "    %-10s %s / %s" % (case_id, behavior, close)
            if show_details:
                detail = case_result_text(outdir, entry)
                if detail:
                    line += "  -- " + detail
            print(line)

    failed = len(failures)
    passed = len(cases) - failed
    closes = Counter((cases[c] or {}).get("behaviorClose", "MISSING") for c in cases)
    if expect is not None and len(cases) != expect:
        missing = max(expect - len(cases), 0)
        print(
            "  INCOMPLETE RUN: %d of %d expected cases reported (testee crashed "
            "or stopped early?); %d missing counted as failed"
            % (len(cases), expect, missing)
        )
        failed += missing
        if len(cases) > expect:
            # More cases than wstest announced: the report is not the one we
            # think it is (stale outdir?). Fail rather than guess.
            failed += 1
    return passed, failed, total, closes


def main(argv):
    parser = argparse.ArgumentParser(
        description="Summarise an Autobahn TestSuite index.json and fail on "
        "non-conforming cases."
    )
    parser.add_argument("label", help='first word of the final line, e.g. "autobahn-server"')
    parser.add_argument("outdir", help="wstest report directory containing index.json")
    parser.add_argument(
        "--agent",
        help="only check this agent (default: every agent in index.json)",
    )
    parser.add_argument(
        "--expect",
        type=int,
        metavar="N",
        help="number of cases wstest announced; fewer in the report fail the check",
    )
    parser.add_argument(
        "--no-details",
        action="store_true",
        help="do not read per-case reports to explain failures",
    )
    args = parser.parse_args(argv)

    index = load_index(args.outdir)
    if index is None:
        print("%s: 0 passed, 0 failed" % args.label)
        return 2

    agents = sorted(index)
    if args.agent is not None:
        if args.agent not in index:
            sys.stderr.write(
                "autobahn_check: agent %r not in report (found: %s)\n"
                % (args.agent, ", ".join(agents) or "none")
            )
            print("%s: 0 passed, 0 failed" % args.label)
            return 2  # an input error, as the docstring promises
        agents = [args.agent]

    passed = failed = 0
    behaviors = Counter()
    close_behaviors = Counter()
    for agent in agents:
        cases = index[agent]
        if not isinstance(cases, dict):
            sys.stderr.write("autobahn_check: agent %r: malformed entry\n" % agent)
            return 2
        p, f, b, c = check_agent(agent, cases, args.outdir, not args.no_details, args.expect)
        passed += p
        failed += f
        behaviors.update(b)
        close_behaviors.update(c)

    if passed + failed == 0:
        sys.stderr.write("autobahn_check: no test cases found in %s\n" % args.outdir)

    # The testee's verdict counts in one line (behavior, then behaviorClose).
    print(
        "%s counts: %s | close: %s"
        % (args.label, format_counts(behaviors) or "none", format_counts(close_behaviors) or "none")
    )
    # Plain closing line; keep it last and alone on its line.
    print("%s: %d passed, %d failed" % (args.label, passed, failed))
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
