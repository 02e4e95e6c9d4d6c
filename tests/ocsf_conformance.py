#!/usr/bin/env python3
"""Checks OCSF records against the OCSF schema's own JSON definitions.

  ocsf_conformance.py SCHEMA_DIR < records.jsonl

SCHEMA_DIR is a copy of the ocsf-schema repository at one release (the
tests vendor 1.3.0 in tests/fixtures/ocsf-1.3.0). For each record (one JSON
object per line) the class is found by `class_uid`, its attributes are
resolved the way the schema composes them (`extends`, `$include`d
includes and profiles), and every attribute of the record, recursively
through objects, must be one the class or object defines (profile
attributes only with the profile named in `metadata.profiles`), of the
dictionary's type, with an `_id` value its enum lists; required
attributes must be present; `type_uid`, `category_uid` and
`metadata.version` must agree with the schema. Prints one line per problem
and exits 1 when there is any, 0 otherwise. Findings (Compliance and
Detection Finding) are also validated with py-ocsf-models, whose models
require what OCSF only recommends (`device.name`, `uid`, `ip`, `region`).
"""
import json
import os
import sys

SCALARS = {
    "boolean_t": bool,
    "integer_t": int,
    "long_t": int,
    "float_t": (int, float),
    "string_t": str,
    "json_t": object,
}


# Their values are checked against the class itself (below), not as enums:
# the schema's server generates their enums per class.
GENERATED = {"class_uid", "category_uid", "type_uid"}


def merge(parent, child):
    """An attribute refined by a class or object: its `enum` grows (a
    class adds its activities to 0 Unknown and 99 Other)."""
    out = dict(parent)
    out.update(child)
    if "enum" in parent and "enum" in child:
        out["enum"] = {**parent["enum"], **child["enum"]}
    return out


class Schema:
    def __init__(self, root):
        self.root = root
        load = lambda *p: json.load(open(os.path.join(root, *p)))
        self.version = load("version.json")["version"]
        d = load("dictionary.json")
        self.dictionary = d["attributes"]
        self.types = d["types"]["attributes"]
        self.categories = load("categories.json")["attributes"]
        self.classes = {}
        self.class_files = {}
        for dirpath, _, files in os.walk(os.path.join(root, "events")):
            for f in files:
                if f.endswith(".json"):
                    j = json.load(open(os.path.join(dirpath, f)))
                    self.class_files[j["name"]] = j
        self.objects = {}
        for f in os.listdir(os.path.join(root, "objects")):
            j = json.load(open(os.path.join(root, "objects", f)))
            self.objects[j["name"]] = j

    def include(self, path):
        j = json.load(open(os.path.join(self.root, path)))
        profile = j["name"] if j.get("meta") == "profile" else None
        return j.get("attributes", {}), profile

    def resolve(self, definition, lookup):
        """Attributes of a class or object: name -> (definition, profile)."""
        attrs = {}
        if "extends" in definition:
            attrs.update(self.resolve(lookup[definition["extends"]], lookup))
        own = definition.get("attributes", {})
        for inc in own.get("$include", []):
            included, profile = self.include(inc)
            for k, v in included.items():
                attrs[k] = (merge(attrs.get(k, ({}, None))[0], v), profile)
        for k, v in own.items():
            if k == "$include":
                continue
            attrs[k] = (merge(attrs.get(k, ({}, None))[0], v), attrs.get(k, ({}, None))[1])
        return attrs

    def class_by_uid(self, class_uid):
        if class_uid == 0:
            return "base_event", self.class_files["base_event"]
        for name, j in self.class_files.items():
            if "uid" not in j:
                continue
            cat = self.categories.get(self.category_of(j), {}).get("uid", 0)
            uid = cat * 1000 + j["uid"]
            if uid == class_uid:
                return name, j
        return None, None

    def category_of(self, cls):
        """A class's category, inherited along `extends` when not its own."""
        while "category" not in cls and "extends" in cls:
            cls = self.class_files[cls["extends"]]
        return cls.get("category")


def check_value(schema, path, name, value, attr, problems, profiles):
    d = schema.dictionary.get(name, {})
    typ = attr.get("type") or d.get("type")
    is_array = attr.get("is_array", d.get("is_array", False))
    if is_array:
        if not isinstance(value, list):
            problems.append(f"{path}: must be an array")
            return
        for i, v in enumerate(value):
            check_one(schema, f"{path}[{i}]", name, v, typ, attr, d, problems, profiles)
    else:
        check_one(schema, path, name, value, typ, attr, d, problems, profiles)


def check_one(schema, path, name, value, typ, attr, d, problems, profiles):
    enum = {**d.get("enum", {}), **attr.get("enum", {})} or None
    if enum is not None and name not in GENERATED:
        if not isinstance(value, int) or str(value) not in enum:
            problems.append(f"{path}: {value!r} is not in its enum {sorted(enum, key=int)}")
    if typ is None:
        problems.append(f"{path}: the dictionary does not define `{name}`")
        return
    if typ in schema.objects:
        if not isinstance(value, dict):
            problems.append(f"{path}: must be an object ({typ})")
            return
        if typ == "object":
            return  # a generic object: anything goes
        check_object(schema, path, schema.objects[typ], schema.objects, value, problems, profiles)
        return
    base = typ
    while base not in SCALARS and base in schema.types:
        base = schema.types[base].get("type", "json_t")
    want = SCALARS.get(base, object)
    if want is int and isinstance(value, bool) or not isinstance(value, want):
        problems.append(f"{path}: {value!r} is not a {typ}")


def check_object(schema, path, definition, lookup, record, problems, profiles):
    attrs = schema.resolve(definition, lookup)
    for k, v in record.items():
        here = f"{path}.{k}" if path else k
        if k not in attrs:
            problems.append(f"{here}: not an attribute of {definition.get('name')} in OCSF {schema.version}")
            continue
        attr, profile = attrs[k]
        if profile is not None and profile not in profiles:
            problems.append(f"{here}: comes from the `{profile}` profile, which metadata.profiles does not name")
        if v is None:
            continue
        check_value(schema, here, k, v, attr, problems, profiles)
    for k, (attr, profile) in attrs.items():
        if attr.get("requirement") == "required" and k not in record and (profile is None or profile in profiles):
            problems.append(f"{path + '.' if path else ''}{k}: required by {definition.get('name')}, missing")


def check_record(schema, record):
    problems = []
    name, cls = schema.class_by_uid(record.get("class_uid"))
    if cls is None:
        return [f"class_uid {record.get('class_uid')!r} is not a class of OCSF {schema.version}"]
    profiles = set(record.get("metadata", {}).get("profiles", []))
    check_object(schema, "", cls, schema.class_files, record, problems, profiles)
    category = schema.categories.get(schema.category_of(cls), {}).get("uid", 0)
    if name != "base_event" and record.get("category_uid") != category:
        problems.append(f"category_uid: {record.get('category_uid')} is not {category} ({schema.category_of(cls)})")
    if record.get("type_uid") != record.get("class_uid", 0) * 100 + record.get("activity_id", 0):
        problems.append("type_uid: is not class_uid * 100 + activity_id")
    if record.get("metadata", {}).get("version") != schema.version:
        problems.append(f"metadata.version: {record.get('metadata', {}).get('version')!r} is not {schema.version}")
    return [f"{name}: {p}" for p in problems]


def check_models(record):
    """The record against py-ocsf-models (PyPI; the OCSF library Prowler
    uses), for the classes it models: what a pipeline built on it refuses."""
    try:
        from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
        from py_ocsf_models.events.findings.detection_finding import DetectionFinding
    except ImportError:
        return ["py-ocsf-models is not installed (scripts/test installs it)"]
    model = {2003: ComplianceFinding, 2004: DetectionFinding}.get(record.get("class_uid"))
    if model is None:
        return []
    try:
        model.model_validate(record)
    except Exception as e:  # pydantic's ValidationError, with every field
        return [f"py-ocsf-models {model.__name__}: " + " | ".join(str(e).splitlines()[:12])]
    return []


def main():
    schema = Schema(sys.argv[1])
    failed = 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        record = json.loads(line)
        for p in check_record(schema, record) + check_models(record):
            failed += 1
            print(f"record {n} ({record.get('class_name')}): {p}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
