"""Drives the fake workspace's serving endpoints with the real databricks-sdk
(service/serving.py ServingEndpointsAPI: create_and_wait, get, update_config_and_wait,
query, list, delete), the way `release` and `gc` do.

Usage: sdk_serving.py HOST TOKEN. The fake must fail exactly the third config change (the
test sets that). Prints a JSON summary; any disagreement raises.
"""
import json
import sys
from datetime import timedelta

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, OperationFailed, ResourceAlreadyExists
from databricks.sdk.service import serving

w = WorkspaceClient(host=sys.argv[1], token=sys.argv[2], auth_type="pat")
api = w.serving_endpoints
wait = timedelta(seconds=60)


def entity(version):
    return serving.ServedEntityInput(
        entity_name="main.ml.demo", entity_version=version, workload_size="Small", scale_to_zero_enabled=True
    )


created = api.create_and_wait(
    "demo-main",
    config=serving.EndpointCoreConfigInput(name="demo-main", served_entities=[entity("1")]),
    tags=[serving.EndpointTag(key="mlops.project", value="demo")],
    timeout=wait,
)
assert created.state.ready == serving.EndpointStateReady.READY, created.state
assert created.state.config_update == serving.EndpointStateConfigUpdate.NOT_UPDATING
try:
    api.create("demo-main", config=serving.EndpointCoreConfigInput(name="demo-main", served_entities=[entity("1")]))
    raise AssertionError("a second create was accepted")
except ResourceAlreadyExists:
    pass

# A canary: version 2 beside version 1, 10% of the traffic.
canary = api.update_config_and_wait(
    "demo-main",
    served_entities=[entity("1"), entity("2")],
    traffic_config=serving.TrafficConfig(
        routes=[
            serving.Route(served_entity_name="main-ml-demo-1", traffic_percentage=90),
            serving.Route(served_entity_name="main-ml-demo-2", traffic_percentage=10),
        ]
    ),
    timeout=wait,
)
versions = [e.entity_version for e in canary.config.served_entities]
assert versions == ["1", "2"], versions
assert canary.config.config_version == 2, canary.config

# The third change fails: the SDK's waiter raises, the previous config still serves.
try:
    api.update_config_and_wait("demo-main", served_entities=[entity("3")], timeout=wait)
    raise AssertionError("a failed update was reported as done")
except OperationFailed as e:
    failed = str(e)
after = api.get("demo-main")
assert after.state.config_update == serving.EndpointStateConfigUpdate.UPDATE_FAILED, after.state
assert [e.entity_version for e in after.config.served_entities] == ["1", "2"]

answer = api.query("demo-main", dataframe_records=[{"x": 1.0}, {"x": 2.0}])
listed = [e for e in api.list() if e.name == "demo-main"]
assert len(listed) == 1, listed
assert [t.as_dict() for t in listed[0].tags] == [{"key": "mlops.project", "value": "demo"}], listed
assert [e.entity_name for e in listed[0].config.served_entities] == ["main.ml.demo", "main.ml.demo"], listed
api.delete("demo-main")
try:
    api.get("demo-main")
    raise AssertionError("a deleted endpoint was found")
except NotFound:
    pass
print(json.dumps({
    "created_tags": [t.as_dict() for t in created.tags],
    "canary_versions": versions,
    "failed": failed,
    "predictions": answer.predictions,
}))
