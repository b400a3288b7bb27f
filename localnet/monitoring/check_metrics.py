#!/usr/bin/env python3
"""Checks that every metric named in the alerting rules and the Grafana dashboard exists.

    check_metrics.py [--scrape URL]... [--declared app/src/node/metrics.rs] FILE...

FILE: a Prometheus rule file (.yml/.yaml: every `expr`) or a Grafana dashboard (.json: every
panel target's `expr`). Each metric name found in those PromQL expressions must be exported by
one of the scraped /metrics endpoints (a live node), or be a parleyd metric described in the
`--declared` source but not exported yet (the exporter lists a metric only once something
records it, e.g. proving or bridge figures on a chain without them), or be one of the few
CometBFT metrics that CometBFT exports only once they are non-zero (listed below). Prints one
line per name (`live`, `declared` or `UNKNOWN`) and exits 1 if any is unknown.
"""
import argparse
import json
import re
import sys
import urllib.request

# CometBFT 0.38 (consensus/metrics.gen.go) exports these only after the first event.
COMETBFT_LAZY = {
    "cometbft_consensus_validator_missed_blocks": "set once this node's validator misses a block",
}
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
}


def expressions(path):
    """The PromQL expressions in a rule file or a dashboard."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        out = []

        def walk(p):
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(t["expr"])
            for c in p.get("panels", []):
                walk(c)

        for p in json.loads(text).get("panels", []):
            walk(p)
        return out
    try:
        import yaml  # noqa: PLC0415

        doc = yaml.safe_load(text)
        return [r["expr"] for g in doc.get("groups", []) for r in g.get("rules", [])]
    except ImportError:
        # Without PyYAML: the rule files here keep each expr on one quoted line.
        return [m.group(2) for m in re.finditer(r"^\s*expr:\s*(['\"])(.*)\1\s*$", text, re.M)]


def metric_names(expr):
    """Metric names in a PromQL expression (identifiers that are not functions or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges
    # label lists of by/without/on/ignoring/group_left/group_right
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode("utf-8", "replace")
    out = set()
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        out.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return out


def declared(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    return set(re.findall(r'describe_(?:counter|gauge|histogram)!\(\s*"([a-z0-9_]+)"', src))


def base(name, known):
    """A summary's or histogram's series name (`x_sum`, `x_count`, `x_bucket`) as `x`."""
    for suffix in ("_sum", "_count", "_bucket"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrape", action="append", default=[], help="a /metrics URL (repeatable)")
    ap.add_argument("--declared", help="parleyd's metrics source (describe_* calls)")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    live = set(BUILTIN)
    for u in a.scrape:
        try:
            live |= scrape(u)
        except OSError as e:
            print(f"cannot scrape {u}: {e}", file=sys.stderr)
            return 2
    decl = declared(a.declared) if a.declared else set()
    wanted = {}
    for path in a.files:
        exprs = expressions(path)
        if not exprs:
            print(f"{path}: no PromQL expressions found", file=sys.stderr)
            return 2
        for ex in exprs:
            for n in metric_names(ex):
                wanted.setdefault(n, set()).add(path.rsplit("/", 1)[-1])
    unknown = 0
    counts = {"live": 0, "declared": 0}
    for n in sorted(wanted):
        where = ",".join(sorted(wanted[n]))
        if n in live or base(n, live) in live:
            status = "live"
        elif n in decl or base(n, decl) in decl:
            status = "declared"
        elif n in COMETBFT_LAZY:
            status = "declared"
            where += f" (CometBFT: {COMETBFT_LAZY[n]})"
        else:
            status = "UNKNOWN"
            unknown += 1
        if status != "UNKNOWN":
            counts[status] += 1
        print(f"{status:8} {n}  [{where}]")
    print(
        f"{len(wanted)} metric names: {counts['live']} live, {counts['declared']} declared but "
        f"not exported yet, {unknown} unknown"
    )
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
