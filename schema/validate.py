#!/usr/bin/env python3
"""Checks mlpbench results files against schema/mlpbench-1.schema.json (JSON Schema draft 2020-12).

    python3 schema/validate.py results/reference.json results/*/*.json

One line per problem, `FILE: JSON path: message`, then one line per file that passed; exit 0 when every file is
valid, 1 when one is not, 2 when a file can't be read or isn't JSON, or jsonschema (4.0 or newer: Debian's
python3-jsonschema) is missing. The schema checks keys, types, enums and ranges; `mlpbench report --from FILE`
checks what a schema can't (inference_times_ms equal to the cells' medians, min <= median <= p90 <= p99 <= max,
as many samples_ms as samples).
"""
import json, os, sys  # noqa: E401

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlpbench-1.schema.json")


def validator():
    """A Draft 2020-12 validator for the schema (the schema itself checked first)."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # no jsonschema, or one older than 4.0 (no draft 2020-12)
        print("validate.py: needs Python's jsonschema 4.0 or newer (Debian: apt-get install python3-jsonschema)", file=sys.stderr)
        raise SystemExit(2)
    with open(SCHEMA) as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def json_path(error):
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def problems(doc, v=None):
    """["$.cells.CPU.1.median_ms: -1 is less than or equal to the minimum of 0", ...] for a parsed document."""
    v = v or validator()
    errors = sorted(v.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{json_path(e)}: {e.message}" for e in errors]


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    v, status = validator(), 0
    for path in argv:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 2
            continue
        found = problems(doc, v)
        for p in found:
            print(f"{path}: {p}")
        if found:
            status = max(status, 1)
        else:
            print(f"{path}: valid mlpbench/1")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
