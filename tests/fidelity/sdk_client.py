"""Drives the fake workspace with the real databricks-sdk, the reference client.

Usage: python sdk_client.py HOST TOKEN. Exits non-zero (with the SDK's error) wherever the
fake disagrees with what the SDK sends or expects. Prints a JSON summary on success.
"""

import datetime
import io
import json
import sys

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import compute, jobs, workspace


def main() -> None:
    host, token = sys.argv[1], sys.argv[2]
    w = WorkspaceClient(host=host, token=token, auth_type="pat")
    summary = {}

    # DBFS: the SDK uploads through create / add-block / close (1 MiB blocks) and reads back
    # with read at offsets.
    data = bytes(range(256)) * 9000  # 2.2 MiB: three blocks
    w.dbfs.mkdirs("/fidelity")
    with w.dbfs.open("/fidelity/data.bin", write=True, overwrite=True) as f:
        f.write(data)
    with w.dbfs.download("/fidelity/data.bin") as f:
        back = f.read()
    assert back == data, f"DBFS read back {len(back)} bytes, wrote {len(data)}"
    status = w.dbfs.get_status("/fidelity/data.bin")
    assert status.file_size == len(data) and not status.is_dir, status
    names = [f.path for f in w.dbfs.list("/fidelity")]
    assert names == ["/fidelity/data.bin"], names
    w.dbfs.move("/fidelity/data.bin", "/fidelity/moved.bin")
    w.dbfs.delete("/fidelity", recursive=True)
    summary["dbfs_bytes"] = len(data)

    # Unity Catalog volume through the Files API.
    small = data[:100_000]
    path = "/Volumes/main/mlops/artifacts/fidelity/x.bin"
    w.files.upload(path, io.BytesIO(small), overwrite=True)
    got = w.files.download(path).contents.read()
    assert got == small, f"volume read back {len(got)} bytes"
    meta = w.files.get_metadata(path)
    assert int(meta.content_length) == len(small), meta
    entries = [e.path for e in w.files.list_directory_contents("/Volumes/main/mlops/artifacts/fidelity")]
    assert entries == [path], entries
    w.files.delete(path)
    summary["volume_bytes"] = len(small)

    # A file at the SDK's multipart threshold (50 MiB): initiate-upload, parts PUT to the
    # presigned URLs of create-upload-part-urls, complete-upload (FilesExt.upload).
    big = bytes(range(256)) * (50 * 4096 + 17)
    path = "/Volumes/main/mlops/artifacts/fidelity/big.bin"
    w.files.upload(path, io.BytesIO(big), overwrite=True)
    got = w.files.download(path).contents.read()
    assert got == big, f"multipart read back {len(got)} bytes of {len(big)}"
    w.files.delete(path)
    summary["multipart_bytes"] = len(big)

    # MLflow experiments: create under a workspace folder, then find by name.
    w.workspace.mkdirs("/Shared/fidelity")
    exp_id = w.experiments.create_experiment(name="/Shared/fidelity/exp").experiment_id
    found = w.experiments.get_by_name("/Shared/fidelity/exp").experiment
    assert found.experiment_id == exp_id, found
    summary["experiment_id"] = exp_id

    # Jobs: submit a one-task run and wait for it with the SDK's own waiter.
    waiter = w.jobs.submit(
        run_name="fidelity",
        tasks=[
            jobs.SubmitTask(
                task_key="main",
                spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/fidelity/x.py", parameters=["--a", "1"]),
                new_cluster=compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="Standard_DS3_v2", num_workers=1),
            )
        ],
        idempotency_token="fidelity-1",
    )
    run = waiter.result(timeout=datetime.timedelta(seconds=120))
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED, run.state
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.logs, output
    summary["job_run_id"] = run.run_id

    # Serverless: no cluster and no libraries; the Python task names one of the run's
    # environments, whose dependencies are pip lines (a wheel on a volume among them).
    w.files.upload("/Volumes/main/mlops/artifacts/fidelity/dep-1.0-py3-none-any.whl", io.BytesIO(b"PK"), overwrite=True)
    w.workspace.mkdirs("/Users/ada@example.com/fidelity")
    w.workspace.upload("/Users/ada@example.com/fidelity/job.py", io.BytesIO(b"print('hi')"), format=workspace.ImportFormat.RAW, overwrite=True)
    waiter = w.jobs.submit(
        run_name="fidelity-serverless",
        tasks=[
            jobs.SubmitTask(
                task_key="main",
                spark_python_task=jobs.SparkPythonTask(python_file="/Users/ada@example.com/fidelity/job.py", parameters=["--a", "1"]),
                environment_key="default",
            )
        ],
        environments=[
            jobs.JobEnvironment(
                environment_key="default",
                spec=compute.Environment(
                    environment_version="4",
                    dependencies=["/Volumes/main/mlops/artifacts/fidelity/dep-1.0-py3-none-any.whl", "mlflow==3.1.0"],
                ),
            )
        ],
        idempotency_token="fidelity-serverless-1",
    )
    run = waiter.result(timeout=datetime.timedelta(seconds=120))
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state
    summary["serverless_run_id"] = run.run_id
    # The service's refusals reach the SDK as errors: libraries on a serverless task.
    try:
        w.jobs.submit(
            run_name="fidelity-refused",
            tasks=[
                jobs.SubmitTask(
                    task_key="main",
                    spark_python_task=jobs.SparkPythonTask(python_file="/Users/ada@example.com/fidelity/job.py"),
                    environment_key="default",
                    libraries=[compute.Library(pypi=compute.PythonPyPiLibrary(package="mlflow"))],
                )
            ],
            environments=[jobs.JobEnvironment(environment_key="default", spec=compute.Environment(environment_version="4"))],
        )
    except InvalidParameterValue as e:
        summary["serverless_refusal"] = str(e)
    else:
        raise AssertionError("libraries on a serverless task were accepted")
    # Unity Catalog models: the test made version 1 of main.fidelity.model from run
    # "fidelity-run" (a version needs files moved, which no REST call does).
    from databricks.sdk.errors import NotFound

    name = "main.fidelity.model"
    versions = list(w.model_versions.list(name))
    assert [(v.version, v.run_id) for v in versions] == [(1, "fidelity-run")], versions
    try:
        w.model_versions.get_by_alias(name, "champion")
    except NotFound:
        pass
    else:
        raise AssertionError("an alias nobody set was found")
    w.registered_models.set_alias(name, "champion", 1)
    version = w.model_versions.get_by_alias(name, "champion")
    assert version.version == 1, version
    assert [a.alias_name for a in version.aliases] == ["champion"], version.aliases
    summary["uc_alias_version"] = version.version
    # What a release that rolls back does to an alias that held no version.
    w.registered_models.set_alias(name, "challenger", 1)
    w.registered_models.delete_alias(name, "challenger")
    try:
        w.model_versions.get_by_alias(name, "challenger")
    except NotFound:
        pass
    else:
        raise AssertionError("a deleted alias was found")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
