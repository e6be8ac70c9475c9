#!/usr/bin/env python3
"""The chart's values table in README.md, derived from helm/endocarp/values.yaml.

Every leaf value (dotted path) becomes a row `Key | Type | Default | Description`, the
description being the `# -- ...` comment directly above the key (helm-docs style).

    python3 helm/tests/values_table.py           # print the table
    python3 helm/tests/values_table.py --write   # rewrite it in README.md between the markers
    python3 helm/tests/values_table.py --check   # exit 1 when README.md's table is out of date

Needs PyYAML only.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "endocarp" / "values.yaml"
README = ROOT / "README.md"
BEGIN = "<!-- helm-values:begin -->"
END = "<!-- helm-values:end -->"
HEADER = "| Key | Type | Default | Description |\n|---|---|---|---|"

KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")


def leaves(values: dict, prefix: str = "") -> dict[str, object]:
    """Dotted path -> default, for every leaf (a non-empty mapping is not a leaf)."""
    out: dict[str, object] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(leaves(value, path + "."))
        else:
            out[path] = value
    return out


def descriptions(text: str, values: dict) -> dict[str, str]:
    """Dotted path -> the `# --` comment directly above its key (continued by `#` lines)."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        match = KEY_LINE.match(line)
        if not match or stripped.startswith("-"):
            pending = None
            continue
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [key for _, key in stack] + [match.group("key")]
        node: object = values
        inside_mapping = True
        for part in path[:-1]:
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                inside_mapping = False
                break
        if not inside_mapping or not isinstance(node, dict) or path[-1] not in node:
            # A key inside a list item (e.g. a default topology spread constraint).
            pending = None
            continue
        stack.append((indent, match.group("key")))
        if pending is not None:
            out[".".join(path)] = " ".join(p for p in pending if p)
        pending = None
    return out


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows() -> list[tuple[str, str, str, str]]:
    text = VALUES.read_text()
    values = yaml.safe_load(text)
    described = descriptions(text, values)
    out = []
    for path, default in leaves(values).items():
        out.append((path, type_name(default), json.dumps(default, separators=(",", ":")), described.get(path, "")))
    return out


def render_table() -> str:
    lines = [HEADER]
    for key, typ, default, desc in rows():
        lines.append(f"| `{key}` | {typ} | `{cell(default)}` | {cell(desc)} |")
    return "\n".join(lines)


def replace_block(readme: str, table: str) -> str:
    start = readme.index(BEGIN) + len(BEGIN)
    end = readme.index(END)
    return readme[:start] + "\n" + table + "\n" + readme[end:]


def parse_readme_table(readme: str) -> dict[str, tuple[str, str, str]]:
    """Key -> (type, default JSON, description) from the README's table."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block")
    block = readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)]
    out: dict[str, tuple[str, str, str]] = {}
    for line in block.strip().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) != 4:
            raise ValueError(f"README values table row has {len(cells)} columns: {line}")
        key, typ, default, desc = cells
        out[key.strip("`")] = (typ, default.strip("`"), desc)
    return out


def main(argv: list[str]) -> int:
    table = render_table()
    if "--write" in argv:
        readme = README.read_text()
        updated = replace_block(readme, table)
        if updated != readme:
            README.write_text(updated)
            print("README.md: values table rewritten")
        else:
            print("README.md: values table already up to date")
        return 0
    if "--check" in argv:
        readme = README.read_text()
        if replace_block(readme, table) != readme:
            print("README.md's values table is out of date: run python3 helm/tests/values_table.py --write")
            return 1
        print("README.md's values table is up to date")
        return 0
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
