"""cargo-mlops launcher: runs one entry point of a deployed MLflow project.

Databricks runs this file as the job's `spark_python_task`. It extracts the project tarball
that `cargo mlops deploy` stored next to it and runs

    mlflow run <project> -e <entry> --run-id <run id> --env-manager <manager> -P name=value ...

so the entry point runs under the MLflow run that `cargo mlops run` created, and exits with
the entry point's exit code (non-zero fails the Databricks task).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

PROJECT_PREFIX = "mlflow-project"


def local_path(path: str) -> str:
    """DBFS paths are read through the cluster's /dbfs mount."""
    if path.startswith("dbfs:/"):
        return "/dbfs/" + path[len("dbfs:/"):].lstrip("/")
    return path


def extract(tarball: str, into: str) -> str:
    with tarfile.open(local_path(tarball), "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            name = os.path.normpath(member.name)
            if name.startswith("..") or os.path.isabs(name) or member.issym() or member.islnk():
                raise SystemExit(f"refusing unsafe path in project tarball: {member.name}")
        # The "data" filter (Python 3.12+, backported to 3.8.17+) also rejects odd modes.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=members, **extra)
    return os.path.join(into, PROJECT_PREFIX)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", required=True, help="the project tarball (dbfs:/, /Volumes/ or a local path)")
    parser.add_argument("--entry", required=True, help="the entry point to run")
    parser.add_argument("--run-id", required=True, help="the MLflow run to log into")
    parser.add_argument("--env-manager", default="local", choices=["local", "conda", "virtualenv", "uv"])
    parser.add_argument("--param", "-P", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="mlops-project-")
    try:
        project = extract(args.tarball, workdir)
        cmd = [
            sys.executable, "-m", "mlflow", "run", project,
            "-e", args.entry,
            "--run-id", args.run_id,
            "--env-manager", args.env_manager,
        ]
        for param in args.param:
            cmd += ["-P", param]
        print("cargo-mlops launcher: " + " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
