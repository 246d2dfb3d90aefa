"""Checks request bodies our client sent against databricks-sdk-py's own request shapes.

Usage: python request_bodies.py FILE (or --serve: a list a line on standard input, a JSON
list of problems a line back), where FILE holds a JSON list of
{"method", "path", "body"} objects (what the fake workspace logged). For each body of an
endpoint the SDK has a method for, every key must be a parameter of that method, and every
value must survive the SDK's own types: `T.from_dict(v).as_dict() == v` for a dataclass
parameter (each element for a list of them), a known value for an enum. A misspelt or
unknown field, or one the SDK would drop or reshape, is reported. Prints one problem a line
and exits 1 when there is any; exits 0 silently otherwise.
"""

import enum
import inspect
import json
import re
import sys
import typing

from databricks.sdk.service import catalog, files, jobs, serving, workspace

# (method, path pattern) -> (API class, method name, path parameters the body leaves out)
ENDPOINTS = [
    ("POST", r"/api/2\.[12]/jobs/runs/submit", jobs.JobsAPI, "submit"),
    ("POST", r"/api/2\.[12]/jobs/runs/cancel", jobs.JobsAPI, "cancel_run"),
    ("POST", r"/api/2\.[12]/jobs/runs/repair", jobs.JobsAPI, "repair_run"),
    ("POST", r"/api/2\.[12]/jobs/run-now", jobs.JobsAPI, "run_now"),
    ("POST", r"/api/2\.0/dbfs/put", files.DbfsAPI, "put"),
    ("POST", r"/api/2\.0/dbfs/create", files.DbfsAPI, "create"),
    ("POST", r"/api/2\.0/dbfs/add-block", files.DbfsAPI, "add_block"),
    ("POST", r"/api/2\.0/dbfs/close", files.DbfsAPI, "close"),
    ("POST", r"/api/2\.0/dbfs/mkdirs", files.DbfsAPI, "mkdirs"),
    ("POST", r"/api/2\.0/dbfs/move", files.DbfsAPI, "move"),
    ("POST", r"/api/2\.0/dbfs/delete", files.DbfsAPI, "delete"),
    ("POST", r"/api/2\.0/workspace/mkdirs", workspace.WorkspaceAPI, "mkdirs"),
    ("POST", r"/api/2\.0/workspace/import", workspace.WorkspaceAPI, "import_"),
    ("PUT", r"/api/2\.1/unity-catalog/models/[^/]+/aliases/[^/]+", catalog.RegisteredModelsAPI, "set_alias"),
    # service/serving.py ServingEndpointsAPI: create, update_config (name in the path), query.
    ("POST", r"/api/2\.0/serving-endpoints", serving.ServingEndpointsAPI, "create"),
    ("PUT", r"/api/2\.0/serving-endpoints/[^/]+/config", serving.ServingEndpointsAPI, "update_config"),
    ("POST", r"/serving-endpoints/[^/]+/invocations", serving.ServingEndpointsAPI, "query"),
]

# Path parameters (in the URL, not the body).
PATH_PARAMS = {"set_alias": {"full_name", "alias"}, "update_config": {"name"}, "query": {"name"}}


def unwrap(tp):
    """Optional[X] -> X; returns (origin, args)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return unwrap(rest[0])
    return tp


def roundtrip(tp, value, where, problems):
    tp = unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (list, typing.List):
        (inner,) = typing.get_args(tp) or (typing.Any,)
        if not isinstance(value, list):
            problems.append(f"{where}: a list was expected, not {value!r}")
            return
        for i, v in enumerate(value):
            roundtrip(inner, v, f"{where}[{i}]", problems)
        return
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        if value not in {m.value for m in tp}:
            problems.append(f"{where}: {value!r} is not one of {tp.__name__}'s values")
        return
    if inspect.isclass(tp) and hasattr(tp, "from_dict") and hasattr(tp, "as_dict"):
        if not isinstance(value, dict):
            problems.append(f"{where}: an object ({tp.__name__}) was expected, not {value!r}")
            return
        back = tp.from_dict(value).as_dict()
        if back != value:
            lost = sorted(set(value) - set(back))
            problems.append(
                f"{where} ({tp.__name__}): the SDK's type does not keep it as sent"
                + (f"; unknown keys {lost}" if lost else f"; sent {json.dumps(value, sort_keys=True)[:400]}, kept {json.dumps(back, sort_keys=True)[:400]}")
            )


def check(method_name, api, body, where, problems):
    fn = getattr(api, method_name)
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = {n for n in sig.parameters if n != "self"} - PATH_PARAMS.get(method_name, set())
    # The SDK names a parameter `import_` where the wire says `import`... keep wire names.
    wire = {p.rstrip("_"): p for p in params}
    for key, value in body.items():
        if key not in wire:
            problems.append(f"{where}: `{key}` is not a field of {api.__name__}.{method_name} (fields: {sorted(wire)})")
            continue
        roundtrip(hints.get(wire[key], typing.Any), value, f"{where}.{key}", problems)


# MLflow's Unity Catalog registry API, which the SDK does not describe: the bodies must parse
# as MLflow's own request protos (mlflow/protos/databricks_uc_registry_messages.proto), which
# refuse an unknown field.
MLFLOW_UC = [
    ("POST", r"/api/2\.0/mlflow/unity-catalog/registered-models/create", "CreateRegisteredModelRequest"),
    ("PATCH", r"/api/2\.0/mlflow/unity-catalog/registered-models/update", "UpdateRegisteredModelRequest"),
    ("POST", r"/api/2\.0/mlflow/unity-catalog/model-versions/set-tag", "SetModelVersionTagRequest"),
]


def check_proto(message_name, body, where, problems):
    from google.protobuf import json_format
    from mlflow.protos import databricks_uc_registry_messages_pb2 as messages

    try:
        json_format.ParseDict(body, getattr(messages, message_name)())
    except json_format.ParseError as e:
        problems.append(f"{where}: not a {message_name}: {e}")


def problems_of(logged):
    problems = []
    for entry in logged:
        body = entry.get("body")
        if not isinstance(body, dict):
            continue
        for method, pattern, name in MLFLOW_UC:
            if entry["method"] == method and re.fullmatch(pattern, entry["path"]):
                check_proto(name, body, f"{method} {entry['path']}", problems)
        for method, pattern, api, name in ENDPOINTS:
            if entry["method"] == method and re.fullmatch(pattern, entry["path"]):
                check(name, api, body, f"{method} {entry['path']}", problems)
                break
    return list(dict.fromkeys(problems))


def serve():
    """One checker for a whole test run: a JSON list a line in, a JSON list of problems a
    line out, until standard input closes (the SDK is imported once, not per workspace)."""
    for line in sys.stdin:
        print(json.dumps(problems_of(json.loads(line))), flush=True)


def main():
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    with open(sys.argv[1]) as f:
        problems = problems_of(json.load(f))
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
