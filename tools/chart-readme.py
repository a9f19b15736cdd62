"""Keeps the chart's README in step with its values.yaml: the table between
<!-- values:begin --> and <!-- values:end --> lists every value, its default and the
comment above it in values.yaml.

    python3 tools/chart-readme.py [--check] [CHART_DIR]

Without --check the table is rewritten. With --check nothing is written, and the exit is 1
when the README's table is stale, when a value has no comment above it, or when values.yaml
and values.schema.json disagree on which keys exist. A key is a group (its keys listed one
by one) when the schema gives it properties, and a single value otherwise (Kubernetes
objects such as resources or tolerations)."""
import json
import re
import sys

import yaml

BEGIN = "<!-- values:begin -->"
END = "<!-- values:end -->"
KEY = re.compile(r"^( *)([A-Za-z0-9_.-]+):(.*)$")


def schema_at(schema, path):
    """The schema of the value at path, or None when the schema has no such key."""
    node = schema
    for key in path:
        props = node.get("properties")
        if props is None or key not in props:
            return None
        node = props[key]
    return node


def value_at(values, path):
    for key in path:
        values = values[key]
    return values


def keys_with_comments(lines, schema):
    """Yields (path, comment) for every key of values.yaml, in file order; keys inside a
    single value are not visited. The file's opening comment (before its first blank line)
    belongs to no key."""
    stack = []          # (indent, key) of the groups the line is in
    comment = []
    skip_below = None   # indent of a single value whose lines are not keys
    header = True
    for line in lines:
        if header:
            if line.strip() == "":
                header = False
            continue
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if skip_below is not None:
            if stripped == "" or indent > skip_below or stripped.startswith("- "):
                continue
            skip_below = None
        if stripped == "":
            comment = []
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        m = KEY.match(line)
        if m is None:
            comment = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [m.group(2)]
        yield path, " ".join(comment)
        comment = []
        node = schema_at(schema, path)
        if node is not None and "properties" in node:
            stack.append((indent, m.group(2)))
        else:
            skip_below = indent


def schema_paths(schema, prefix=()):
    for key, node in schema.get("properties", {}).items():
        path = prefix + (key,)
        yield path
        if "properties" in node:
            yield from schema_paths(node, path)


def table(chart):
    """The README's table, and the problems found on the way."""
    with open(chart + "/values.yaml") as f:
        lines = f.read().splitlines()
    values = yaml.safe_load("\n".join(lines))
    with open(chart + "/values.schema.json") as f:
        schema = json.load(f)
    problems = []
    rows = ["| value | default | meaning |", "|---|---|---|"]
    seen = set()
    for path, comment in keys_with_comments(lines, schema):
        name = ".".join(path)
        seen.add(tuple(path))
        node = schema_at(schema, path)
        if node is None:
            problems.append("values.yaml: %s is not in values.schema.json" % name)
        if not comment:
            problems.append("values.yaml: %s has no comment above it" % name)
        if node is not None and "properties" in node:
            if comment:
                rows.append("| `%s` | | %s |" % (name, comment.replace("|", "\\|")))
            continue
        default = json.dumps(value_at(values, path), separators=(", ", ": "))
        rows.append("| `%s` | `%s` | %s |" % (name, default.replace("|", "\\|"),
                                             comment.replace("|", "\\|")))
    for path in schema_paths(schema):
        if path not in seen:
            problems.append("values.schema.json: %s is not in values.yaml" % ".".join(path))
    return "\n".join(rows) + "\n", problems


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    chart = args[0] if args else "helm-chart/gleaner"
    text, problems = table(chart)
    readme_path = chart + "/README.md"
    with open(readme_path) as f:
        readme = f.read()
    if BEGIN not in readme or END not in readme:
        problems.append("%s: no %s ... %s markers" % (readme_path, BEGIN, END))
        new = readme
    else:
        head, rest = readme.split(BEGIN, 1)
        new = head + BEGIN + "\n" + text + END + rest.split(END, 1)[1]
    for p in problems:
        print("chart-readme: " + p, file=sys.stderr)
    if check:
        if new != readme:
            print("chart-readme: %s is stale: run python3 tools/chart-readme.py %s"
                  % (readme_path, chart), file=sys.stderr)
            return 1
        return 1 if problems else 0
    if new != readme:
        with open(readme_path, "w") as f:
            f.write(new)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
