"""Lists an experiment's runs as JSON for `cargo mlops runs` and `compare` on the local target.

Run by the interpreter of a local run environment (which has MLflow), with the tracking URI,
the experiment name, the most runs to list and an MLflow search filter (empty: none); prints a JSON list, newest first.
"""
import json
import sys

from mlflow.tracking import MlflowClient

client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name(sys.argv[2])
found = []
if experiment is not None:
    for run in client.search_runs(
        [experiment.experiment_id],
        filter_string=sys.argv[4] if len(sys.argv) > 4 else "",
        order_by=["attributes.start_time DESC"],
        max_results=int(sys.argv[3]),
    ):
        found.append(
            {
                "run_id": run.info.run_id,
                "start_time": run.info.start_time,
                "status": run.info.status,
                "tags": run.data.tags,
                "params": run.data.params,
                "metrics": run.data.metrics,
            }
        )
print(json.dumps({"experiment_id": experiment.experiment_id if experiment else None, "runs": found}))
