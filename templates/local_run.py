"""cargo-mlops local runner: runs one entry point of the rendered project with MLflow's own
project runner (`--env-manager local`, in the environment cargo mlops made), then reads the run
back, all in one interpreter so MLflow is imported once.

Argument: a JSON object {project, entry, parameters, experiment}. Prints one line
`MLOPS_RESULT {...}` with the run's id, status, parameters and metrics, and exits 1 when the
entry point failed.
"""

import json
import sys

import mlflow
from mlflow.exceptions import ExecutionException
from mlflow.tracking import MlflowClient


def main() -> int:
    args = json.loads(sys.argv[1])
    try:
        submitted = mlflow.projects.run(
            uri=args["project"],
            entry_point=args["entry"],
            parameters=args["parameters"],
            env_manager="local",
            experiment_name=args["experiment"],
            synchronous=True,
        )
    except ExecutionException as e:
        print(f"cargo-mlops: the entry point failed: {e}", file=sys.stderr)
        print("MLOPS_RESULT " + json.dumps({"status": "FAILED"}), flush=True)
        return 1
    run = MlflowClient().get_run(submitted.run_id)
    result = {
        "run_id": submitted.run_id,
        "status": run.info.status,
        "params": run.data.params,
        "metrics": run.data.metrics,
    }
    print("MLOPS_RESULT " + json.dumps(result), flush=True)
    return 0 if run.info.status == "FINISHED" else 1


if __name__ == "__main__":
    sys.exit(main())
