"""Drives the fake workspace's persistent-jobs endpoints with the real databricks-sdk.

Usage: sdk_jobs.py HOST TOKEN. Prints a JSON summary; any disagreement raises.
"""
import json
import sys

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service import compute, jobs

w = WorkspaceClient(host=sys.argv[1], token=sys.argv[2], auth_type="pat")

cluster = compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=1)


def settings(name, paused):
    train = jobs.Task(
        task_key="train",
        spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/x/launcher.py", parameters=["--run", "{{job.run_id}}"]),
        new_cluster=cluster,
        libraries=[compute.Library(whl="dbfs:/x/a-1.0-py3-none-any.whl")],
    )
    release = jobs.Task(
        task_key="release",
        depends_on=[jobs.TaskDependency(task_key="train")],
        spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/x/launcher.py", parameters=["--registry", "{}"]),
        new_cluster=cluster,
    )
    return dict(
        name=name,
        tasks=[train, release],
        schedule=jobs.CronSchedule(
            quartz_cron_expression="0 0 2 * * ?",
            timezone_id="UTC",
            pause_status=jobs.PauseStatus.PAUSED if paused else jobs.PauseStatus.UNPAUSED,
        ),
        tags={"mlops-project": "fidelity", "mlops-job": name},
        max_concurrent_runs=1,
        timeout_seconds=3600,
        email_notifications=jobs.JobEmailNotifications(on_failure=["ml@example.com"]),
        webhook_notifications=jobs.WebhookNotifications(on_failure=[jobs.Webhook(id="hook-1")]),
    )


ids = [w.jobs.create(**settings("fidelity-%d" % i, paused=True)).job_id for i in range(3)]
got = w.jobs.get(ids[0])
assert got.settings.schedule.pause_status == jobs.PauseStatus.PAUSED, got
assert got.settings.tasks[1].depends_on[0].task_key == "train", got
assert got.settings.tags["mlops-job"] == "fidelity-0", got

# The SDK's iterator follows next_page_token across pages of 1.
listed = [j.job_id for j in w.jobs.list(limit=1)]
assert sorted(listed) == sorted(ids), listed
by_name = [j.job_id for j in w.jobs.list(name="FIDELITY-1")]
assert by_name == [ids[1]], by_name
expanded = next(iter(w.jobs.list(name="fidelity-2", expand_tasks=True)))
assert expanded.settings.tasks and expanded.settings.tasks[0].libraries[0].whl.endswith(".whl"), expanded
brief = next(iter(w.jobs.list(name="fidelity-2")))
assert not brief.settings.tasks, brief

unpaused = settings("fidelity-0", paused=False)
w.jobs.reset(ids[0], new_settings=jobs.JobSettings(**unpaused))
assert w.jobs.get(ids[0]).settings.schedule.pause_status == jobs.PauseStatus.UNPAUSED

run = w.jobs.run_now(ids[0])
run_id = run.response.run_id
runs = list(w.jobs.list_runs(job_id=ids[0]))
assert [r.run_id for r in runs] == [run_id], runs
# The dynamic value reference became the run's id.
first_task = w.jobs.get_run(run_id).tasks[0]
assert first_task.spark_python_task.parameters == ["--run", str(run_id)], first_task

refusals = {}
for why, change in [
    ("cron", lambda s: s.update(schedule=jobs.CronSchedule(quartz_cron_expression="0 2 * * *", timezone_id="UTC"))),
    ("depends_on", lambda s: s["tasks"][1].depends_on.__setitem__(0, jobs.TaskDependency(task_key="nope"))),
    ("duplicate_key", lambda s: s["tasks"].__setitem__(1, s["tasks"][0])),
]:
    bad = settings("refused", paused=True)
    change(bad)
    try:
        w.jobs.create(**bad)
        raise SystemExit("the fake accepted a bad %s" % why)
    except DatabricksError as e:
        refusals[why] = str(e)

for job_id in ids:
    w.jobs.delete(job_id)
try:
    w.jobs.get(ids[0])
    raise SystemExit("a deleted job is still there")
except DatabricksError as e:
    refusals["deleted"] = str(e)
assert list(w.jobs.list()) == []

print(json.dumps({"jobs": len(ids), "run_id": run_id, "refusals": refusals}))
