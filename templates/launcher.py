"""cargo-mlops launcher: runs one entry point of a deployed MLflow project in this process.

Databricks runs this file as the job's `spark_python_task` (on a job cluster, an existing
cluster or serverless compute); the local target runs it in the project's environment. It

- puts MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID and MLFLOW_RUN_ID into os.environ, for the
  MLflow run `cargo mlops run` created (or, with --new-run, creates that run first);
- extracts the project tarball that `cargo mlops deploy` published and changes into it;
- runs a `python FILE` (or `python -m MODULE`) entry point as `__main__` in this interpreter,
  so it shares the task's Spark session and dbutils, as MLflow's own Databricks Spark job
  format does; any other command runs as a subprocess with the same environment;
- with --log-dir, tees the entry point's stdout and stderr (its subprocesses' too) into
  numbered chunks in that folder every few seconds (through the /Volumes or /dbfs mount on a
  cluster, a plain folder locally), which `cargo mlops run` and `logs --follow` read while it
  runs, and logs the whole output as the run's artifacts logs/stdout.txt and logs/stderr.txt;
- ends the MLflow run FINISHED, FAILED or KILLED, and fails the task when the entry point
  fails: a non-zero exit, or its exception with the traceback.

Its packages (our wheels, the environment's pip packages, mlflow) were installed by the
platform: job libraries on clusters, environment dependencies on serverless. Nothing here
depends on `__file__`: Databricks may run this source with exec() in a fresh namespace.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback

PROJECT_PREFIX = "mlflow-project"
DESCRIPTION = "Runs one entry point of a project deployed by cargo mlops, in this process."


def say(message):
    print("cargo-mlops launcher: " + message, file=sys.stderr, flush=True)


def local_path(path):
    """DBFS paths are read through the cluster's /dbfs mount; volumes are mounted at /Volumes."""
    if path.startswith("dbfs:/"):
        return "/dbfs/" + path[len("dbfs:/"):].lstrip("/")
    return path


def extract(tarball, into):
    with tarfile.open(local_path(tarball), "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            name = os.path.normpath(member.name)
            if name.startswith("..") or os.path.isabs(name) or member.issym() or member.islnk():
                raise SystemExit("refusing unsafe path in project tarball: " + member.name)
        # The "data" filter (Python 3.12+, backported to 3.8.17+) also rejects odd modes.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=members, **extra)
    return os.path.join(into, PROJECT_PREFIX)


def parse(argv):
    argv = list(argv)
    entry_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, entry_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="mlops_launcher.py", description=DESCRIPTION)
    parser.add_argument("--tarball", required=True, help="the project tarball (dbfs:/, /Volumes/ or a local path)")
    run = parser.add_mutually_exclusive_group(required=True)
    run.add_argument("--run-id", help="the MLflow run to log into, created beforehand")
    run.add_argument("--new-run", help="JSON {experiment, run_name, tags, params}: create the run first")
    parser.add_argument("--experiment-id", help="the run's experiment")
    parser.add_argument("--tracking-uri", help="MLFLOW_TRACKING_URI for the entry point (databricks in a job)")
    parser.add_argument("--result-file", help="write the run's id, status, params and metrics here as JSON")
    parser.add_argument("--log-dir", help="stream the output into numbered chunks here ({run_id} is the run's id)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--python-file", help="run this file of the project as __main__, in this process")
    what.add_argument("--python-module", help="run this module as __main__, in this process")
    what.add_argument("--shell", help="run this command with a shell, as a subprocess")
    args = parser.parse_args(argv)
    args.entry_args = entry_args
    return args


def create_run(spec):
    """Creates the run (local target): MLflow is imported here, once, for the whole run."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    # Whose experiment it is (`cargo mlops gc` finds a gone branch's by these tags).
    wanted = spec.get("experiment_tags") or {}
    experiment = client.get_experiment_by_name(spec["experiment"])
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                spec["experiment"], artifact_location=spec.get("artifact_location"), tags=wanted
            )
            wanted = {}
        except MlflowException:
            # A concurrent run created it first.
            experiment = client.get_experiment_by_name(spec["experiment"])
            experiment_id = experiment.experiment_id
    else:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        experiment_id = experiment.experiment_id
    for key, value in wanted.items():
        if experiment is None or experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    run = client.create_run(experiment_id, tags=spec.get("tags") or {}, run_name=spec.get("run_name"))
    params = [Param(k, str(v)) for k, v in sorted((spec.get("params") or {}).items())]
    for start in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[start:start + 100])
    return run.info.run_id, experiment_id


def exit_code(code):
    """What `SystemExit(code)` means as a process exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr, flush=True)
    return 1


class NestedProjectsRunHere(object):
    """An import hook: when the entry point imports `mlflow.projects`, its `run` defaults to
    `env_manager="local"` for local runs. A nested `mlflow.projects.run(uri=".", ...)` (as
    MLflow's examples/hyperparam does) then runs in the environment this run already has,
    whose packages are the project's, instead of building a virtualenv with pyenv, which
    neither a cluster nor our local environments have. MLflow itself reads no setting for
    this default (mlflow/projects/backend/local.py `LocalBackend.run` takes the project's
    environment type when `env_manager` is None). Importing MLflow stays lazy: nothing is
    imported until the entry point does."""

    def find_spec(self, name, path=None, target=None):
        if name != "mlflow.projects":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def patched(module):
            exec_module(module)
            run_projects_here(module)

        loader.exec_module = patched
        return spec


def run_projects_here(module):
    """`mlflow.projects.run` with `env_manager="local"` as its default (see
    NestedProjectsRunHere)."""
    run = module.run
    if getattr(run, "_cargo_mlops", False):
        return

    def run_here(*args, **kwargs):
        backend = kwargs.get("backend") or "local"
        if kwargs.get("env_manager") is None and backend == "local":
            kwargs["env_manager"] = "local"
        return run(*args, **kwargs)

    run_here.__doc__ = run.__doc__
    run_here._cargo_mlops = True
    module.run = run_here
    # `mlflow.run` is the same function, bound by mlflow/__init__.py.
    top = sys.modules.get("mlflow")
    if top is not None and getattr(top, "run", None) is run:
        top.run = run_here


def run_in_process(args):
    """Runs the entry point as __main__ in this interpreter; returns its exit status."""
    import runpy

    # What the entry point starts (`python train.py` of a nested project run) is this
    # interpreter, as for a shell entry point.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if "mlflow.projects" in sys.modules:
        run_projects_here(sys.modules["mlflow.projects"])
    else:
        sys.meta_path.insert(0, NestedProjectsRunHere())
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    try:
        if args.python_file:
            sys.argv = [args.python_file] + args.entry_args
            sys.path.insert(0, os.path.dirname(os.path.abspath(args.python_file)))
            runpy.run_path(args.python_file, run_name="__main__")
        else:
            sys.argv = [args.python_module] + args.entry_args
            sys.path.insert(0, os.getcwd())
            runpy.run_module(args.python_module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return exit_code(e.code)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def run_shell(command):
    """Runs a non-Python entry point as MLflow does (`bash -c`), with this interpreter first
    on PATH so that a `python` inside it is this one."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    shell = shutil.which("bash") or shutil.which("sh")
    if shell is None:
        return subprocess.call(command, shell=True, env=env)
    return subprocess.call([shell, "-c", command], env=env)


# The live log: a chunk every few seconds, at most this big, and at most this much output kept
# for a store that refuses writes before the live log gives up (the task's own log keeps it).
LOG_INTERVAL_SECS = 3.0
LOG_CHUNK_BYTES = 512 * 1024
LOG_WAITING_BYTES = 16 * 1024 * 1024


class TeeStream(object):
    """A Python stream that also hands what is written to the live log: used where the stream
    is not backed by file descriptor 1 or 2, so the descriptor cannot be teed."""

    def __init__(self, inner, live, letter):
        self._inner, self._live, self._letter = inner, live, letter

    def write(self, text):
        n = self._inner.write(text)
        self._live.keep(self._letter, text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text))
        return n

    def __getattr__(self, name):
        return getattr(self._inner, name)


class LiveLog(object):
    """The entry point's output, teed into numbered chunks 000001.txt, 000002.txt... in
    `folder`, which `cargo mlops run` and `logs --follow` read while the task runs (src/run/
    live_log.rs). Each line of a chunk is `o ` (stdout) or `e ` (stderr) and the text: one
    sequence for both streams keeps their order. A chunk is written whole under its own
    number, once (to a temporary name, then renamed where the store allows it): a lost write is
    retried under the same number and a repeated one writes the same bytes, so no reader sees a
    garbled log. end.json gives the last number once the entry point has ended. Chunks are
    written by a thread of their own; a store that refuses is said once on stderr and the
    training goes on, its output still in the task's own log."""

    def __init__(self, folder):
        self.folder = local_path(folder)
        self.interval = float(os.environ.get("MLOPS_LOG_INTERVAL_SECS") or LOG_INTERVAL_SECS)
        self.lock = threading.Lock()
        self.lines, self.waiting = [], 0
        self.partial = {"o": b"", "e": b""}
        self.whole = {"o": tempfile.TemporaryFile(), "e": tempfile.TemporaryFile()}
        self.pending, self.number, self.written = [], 0, 0
        self.refused = self.given_up = False
        self.restore, self.wrapped, self.pumps = [], [], []
        self.stopping = threading.Event()
        self.writer = threading.Thread(target=self.write_loop, name="mlops-live-log")
        self.writer.daemon = True

    def start(self):
        for letter, fd, name in (("o", 1, "stdout"), ("e", 2, "stderr")):
            if not self.tee_fd(letter, fd, getattr(sys, name)):
                self.wrapped.append((name, getattr(sys, name)))
                setattr(sys, name, TeeStream(getattr(sys, name), self, letter))
        self.writer.start()

    def tee_fd(self, letter, fd, stream):
        """Puts a pipe in place of descriptor `fd`: what anyone writes there (this process,
        C extensions, subprocesses) still reaches the original stream, through the pump."""
        try:
            if stream.fileno() != fd:
                return False
            stream.flush()
            saved = os.dup(fd)
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
        except (AttributeError, OSError, ValueError):
            return False
        try:
            # Line by line into the pipe, as on a terminal.
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
        pump = threading.Thread(target=self.pump, args=(read, saved, letter), name="mlops-tee-" + letter)
        pump.daemon = True
        pump.start()
        self.pumps.append(pump)
        self.restore.append((fd, saved))
        return True

    def pump(self, read, saved, letter):
        while True:
            try:
                data = os.read(read, 65536)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(saved, view):]
                except InterruptedError:
                    continue
                except OSError:
                    # A closed original stream: the live log still gets the output.
                    break
            self.keep(letter, data)
        os.close(read)

    def keep(self, letter, data):
        with self.lock:
            self.whole[letter].write(data)
            if self.given_up:
                return
            text = self.partial[letter] + data
            lines = text.split(b"\n")
            rest = lines.pop()
            if len(rest) > LOG_CHUNK_BYTES // 2:
                lines.append(rest)
                rest = b""
            self.partial[letter] = rest
            for line in lines:
                self.lines.append((letter, line.rstrip(b"\r").decode("utf-8", "replace")))
                self.waiting += len(line) + 3
            if self.waiting > LOG_WAITING_BYTES:
                self.give_up("over %d MiB of output waits for it" % (LOG_WAITING_BYTES >> 20))

    def give_up(self, why):
        """Stops the live log (not the training); called with the lock held."""
        self.given_up = True
        self.lines, self.pending, self.waiting = [], [], 0
        say("the live log in %s stops: %s; the task's own log has the whole output" % (self.folder, why))

    def write_loop(self):
        while not self.stopping.wait(self.interval):
            self.cut(final=False)
            self.write_pending()

    def cut(self, final):
        """The waiting lines as numbered chunks (with the unfinished lines too at the end)."""
        with self.lock:
            if final:
                for letter in ("o", "e"):
                    if self.partial[letter]:
                        self.lines.append((letter, self.partial[letter].decode("utf-8", "replace")))
                        self.partial[letter] = b""
            lines, self.lines = self.lines, []
            chunk, size = [], 0
            for letter, text in lines:
                line = ("%s %s\n" % (letter, text)).encode("utf-8", "replace")
                if chunk and size + len(line) > LOG_CHUNK_BYTES:
                    self.queue(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self.queue(b"".join(chunk))

    def queue(self, data):
        self.number += 1
        self.pending.append((self.number, data))

    def write_pending(self):
        while True:
            with self.lock:
                if not self.pending:
                    return
                number, data = self.pending[0]
            try:
                self.put("%06d.txt" % number, data)
            except Exception as e:
                if not self.refused:
                    self.refused = True
                    say("cannot write the live log to %s (%s): the training goes on, and its output is in the task's own log" % (self.folder, e))
                return
            with self.lock:
                if self.pending and self.pending[0][0] == number:
                    self.pending.pop(0)
                    self.waiting = max(0, self.waiting - len(data))
                self.written += 1

    def put(self, name, data):
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder)
        final = os.path.join(self.folder, name)
        temp = os.path.join(self.folder, ".tmp-" + name)
        with open(temp, "wb") as f:
            f.write(data)
        try:
            os.replace(temp, final)
        except OSError:
            # A mount that cannot rename: the whole chunk in one write.
            with open(final, "wb") as f:
                f.write(data)
            try:
                os.remove(temp)
            except OSError:
                pass

    def stop(self):
        """The original streams back, and every line written (the writer waits at most a
        minute for a slow store)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        for name, inner in self.wrapped:
            setattr(sys, name, inner)
        for fd, saved in self.restore:
            os.dup2(saved, fd)
        for pump in self.pumps:
            # A process the entry point left behind may hold the pipe open.
            pump.join(5)
        # Only once its pump has written the last bytes through it: closed earlier, the
        # entry point's last lines would be lost on the way to the terminal.
        for (fd, saved), pump in zip(self.restore, self.pumps):
            if not pump.is_alive():
                os.close(saved)
        self.stopping.set()
        self.writer.join(60)
        if not self.writer.is_alive():
            self.cut(final=True)
            self.write_pending()

    def end(self, status, code):
        """end.json: the last chunk's number, for readers to know the log is whole."""
        if self.given_up or self.writer.is_alive():
            return
        try:
            self.put("end.json", json.dumps({"chunks": self.number, "status": status, "exit_code": code}).encode())
        except Exception as e:
            if not self.refused:
                say("cannot write the live log's end to %s (%s)" % (self.folder, e))

    def log_artifacts(self, run_id):
        """The whole output as the MLflow run's artifacts logs/stdout.txt and logs/stderr.txt,
        so the run's page shows it."""
        folder = tempfile.mkdtemp(prefix="mlops-logs-")
        try:
            for letter, name in (("o", "stdout.txt"), ("e", "stderr.txt")):
                whole = self.whole[letter]
                whole.seek(0)
                with open(os.path.join(folder, name), "wb") as out:
                    shutil.copyfileobj(whole, out)
            from mlflow.tracking import MlflowClient

            MlflowClient().log_artifacts(run_id, folder, "logs")
        except Exception:
            say("could not log the output as artifacts of MLflow run %s:\n%s" % (run_id, traceback.format_exc()))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def end_run(run_id, status):
    """Ends the run with the entry point's outcome (MLflow's own exit handler would mark it
    FINISHED whatever happened); an entry point that never imported MLflow has it imported
    here, so a run followed by nobody (`run --no-wait`) still ends."""
    try:
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        # A run the entry point ended itself keeps its status when it succeeded.
        if status != "FINISHED" or client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status)
    except Exception:
        say("could not end MLflow run %s:\n%s" % (run_id, traceback.format_exc()))


def write_result(path, run_id, experiment_id, status):
    if not path:
        return
    result = {"run_id": run_id, "experiment_id": experiment_id, "status": status}
    if status != "RUNNING":
        try:
            from mlflow.tracking import MlflowClient

            run = MlflowClient().get_run(run_id)
            result.update(status=run.info.status, params=run.data.params, metrics=run.data.metrics)
        except Exception:
            say("could not read MLflow run %s back:\n%s" % (run_id, traceback.format_exc()))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)


class RegistryError(Exception):
    """A registry operation that cannot be done, said in one line with its fix."""

    def __init__(self, message, fix):
        Exception.__init__(self, message)
        self.message, self.fix = message, fix


def missing(error):
    """Whether a registry or tracking error says only that the thing is not there. Every
    store answers a missing model, version or run RESOURCE_DOES_NOT_EXIST (Unity Catalog may
    say NOT_FOUND); MLflow's SQL store answers a missing alias INVALID_PARAMETER_VALUE
    "Registered model alias ... not found." (mlflow/store/model_registry/sqlalchemy_store.py
    `get_model_version_by_alias`, 2.x and 3.x). Anything else (a 403 on another team's
    experiment, an outage) is an error, never "none"."""
    code = getattr(error, "error_code", None)
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return True
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(getattr(error, "message", error))


def accepts(function, keyword):
    """Whether the installed MLflow's `function` takes `keyword` (MLflow 2.x lacks some)."""
    import inspect

    try:
        return keyword in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def registry_op(spec):
    """One model registry operation for `cargo mlops release` and `promote`, under MLflow 2.x
    and 3.x alike."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    op, name = spec["op"], spec.get("model")

    def find(read):
        """`read()`, or None when the registry says only that it is not there."""
        try:
            return read()
        except MlflowException as e:
            if missing(e):
                return None
            raise

    def logged_model_metrics(model_id):
        """An MLflow 3 LoggedModel's metrics, the latest value of each (highest step, then
        newest), as a run's latest metrics are read; {} when MLflow has no logged models."""
        if not model_id or not hasattr(client, "get_logged_model"):
            return {}
        model = find(lambda: client.get_logged_model(model_id))
        latest = {}
        for m in (model.metrics or []) if model else []:
            order = (m.step or 0, m.timestamp or 0)
            if m.key not in latest or order >= latest[m.key][0]:
                latest[m.key] = (order, m.value)
        return {k: v for k, (_, v) in latest.items()}

    def version_model_id(version):
        """The LoggedModel a version was registered from (MLflow 3: its `model_id`, or a
        `models:/<model_id>` source)."""
        model_id = getattr(version, "model_id", None)
        source = version.source or ""
        if not model_id and source.startswith("models:/") and "/" not in source[len("models:/"):]:
            model_id = source[len("models:/"):]
        return model_id

    def described(version):
        run = find(lambda: client.get_run(version.run_id)) if version.run_id else None
        model_id = version_model_id(version)
        # The run's metrics, with those of its LoggedModel over them: what gates read.
        metrics = dict(run.data.metrics) if run else {}
        metrics.update(logged_model_metrics(model_id))
        return {
            "model": name,
            "version": str(version.version),
            "run_id": version.run_id,
            "model_id": model_id,
            "metrics": metrics,
            "tags": dict(version.tags or {}),
        }

    def run_logged_model(run_id, artifact_path):
        """The id of the LoggedModel the run logged as `artifact_path`, if any (MLflow 3)."""
        import mlflow

        if not hasattr(mlflow, "search_logged_models"):
            return None
        run = client.get_run(run_id)
        for m in mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string="source_run_id = '%s'" % run_id,
            output_format="list",
        ):
            if m.name == artifact_path:
                return m.model_id
        return None

    def create_model(model):
        """Whether this call made the model. A model that exists already is fine, under
        either code: the workspace registry and MLflow's own stores answer
        RESOURCE_ALREADY_EXISTS, Unity Catalog ALREADY_EXISTS (HTTP 409), as
        mlflow/tracking/_model_registry/fluent.py `_register_model` accepts."""
        try:
            client.create_registered_model(model)
            return True
        except MlflowException as e:
            if e.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
            return False

    def unmake(model):
        """Deletes a model this operation made and left without a version: no debris."""
        try:
            if not client.search_model_versions("name='%s'" % model.replace("'", "\\'")):
                client.delete_registered_model(model)
        except Exception:
            say("could not delete the empty registered model %s:\n%s" % (model, traceback.format_exc()))

    def logged_models_of(run_id):
        """The names of the models the run logged as MLflow 3 logged models (none under
        MLflow 2, which has no such search)."""
        import mlflow

        if not hasattr(mlflow, "search_logged_models"):
            return []
        run = client.get_run(run_id)
        found = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string="source_run_id = '%s'" % run_id,
            output_format="list",
        )
        return [m.name for m in found]

    def model_folders_of(run_id):
        """The run's artifact folders that hold an MLmodel file (MLflow 2's logged models)."""
        return [
            item.path
            for item in client.list_artifacts(run_id)
            if item.is_dir and any(a.path.endswith("MLmodel") for a in client.list_artifacts(run_id, item.path))
        ]

    def check_model_logged(run_id, artifact_path):
        """The run's model at `artifact_path` exists (an MLflow 3 logged model of that name,
        or an artifact folder with an MLmodel file), or the error says what it logged. Asked
        of the tracking store's metadata, never by downloading the model."""
        names = logged_models_of(run_id)
        if artifact_path in names:
            return
        if any(a.path.endswith("MLmodel") for a in client.list_artifacts(run_id, artifact_path)):
            return
        names = sorted(set(names + model_folders_of(run_id)))
        logged = "it logged models named %s" % ", ".join("`%s`" % n for n in names) if names else "it logged no model"
        fix = (
            "set `[release] artifact_path = \"%s\"` in mlops.toml" % names[0]
            if names
            else "log the model in the entry point (`mlflow.<flavor>.log_model(..., name=\"%s\")`)" % artifact_path
        )
        raise RegistryError("run %s has no model at `%s`: %s" % (run_id, artifact_path, logged), fix)

    def of_run(run_id):
        # Only a READY version counts: one left PENDING_REGISTRATION or FAILED_REGISTRATION
        # by a registration that died holds no usable model (ModelVersionStatus in
        # mlflow/entities/model_registry/model_version_status.py). search_model_versions
        # pages through every version (MLflow's PagedList, followed by its token).
        token = None
        while True:
            page = client.search_model_versions(
                "name='%s'" % name.replace("'", "\\'"), max_results=1000, page_token=token
            )
            for version in page:
                if version.run_id == run_id and (version.status or "READY") == "READY":
                    # Unity Catalog's search answers are ModelVersionSearch objects
                    # (mlflow/entities/model_registry/model_version_search.py), whose `tags`
                    # and `aliases` are methods that raise: the version itself is read, as
                    # that class's own message advises.
                    return client.get_model_version(name, version.version)
            token = page.token
            if not token:
                return None

    if op == "logged_model":
        model_id = run_logged_model(spec["run_id"], spec["artifact_path"])
        return {"model_id": model_id, "metrics": logged_model_metrics(model_id)}
    if op == "find":
        version = of_run(spec["run_id"])
        return {"found": described(version) if version else None}
    if op == "alias":
        version = find(lambda: client.get_model_version_by_alias(name, spec["alias"]))
        return {"found": described(version) if version else None}
    if op == "branch_experiments":
        # `cargo mlops gc` on a store it does not read itself: the project's active
        # experiments of branches gone from the remote, and whether each holds a run a model
        # version was registered from (those are kept).
        held = set()
        token = None
        while True:
            page = client.search_model_versions("", max_results=1000, page_token=token)
            for version in page:
                if version.run_id:
                    try:
                        held.add(client.get_run(version.run_id).info.experiment_id)
                    except MlflowException:
                        pass
            token = page.token
            if not token:
                break
        found = []
        live = set(spec["live_slugs"])
        for e in client.search_experiments(
            filter_string="tags.`mlops.project` = '%s'" % spec["project"].replace("'", "\\'"),
            max_results=50000,
        ):
            slug = e.tags.get("mlops.branch")
            if slug and slug not in live:
                # A run still going keeps its experiment, as gc keeps its files.
                going = client.search_runs([e.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1)
                found.append({
                    "experiment_id": e.experiment_id, "name": e.name, "branch_slug": slug,
                    "held": e.experiment_id in held, "in_flight": going[0].info.run_id if going else None,
                })
        return {"experiments": found}
    if op == "delete_experiments":
        # To MLflow's trash (`restore_experiment` undoes it).
        for experiment_id in spec["ids"]:
            client.delete_experiment(experiment_id)
        return {"deleted": spec["ids"]}
    if op == "release":
        # A scheduled job's release task (`[jobs.NAME] release = true`): the run its train task
        # made (found by the job run's tag), checked against the gates and must_beat as
        # `cargo mlops release` checks them (src/release/mod.rs), then registered.
        experiment = client.get_experiment_by_name(spec["experiment"])
        key, value = spec["run_tag"]["key"], spec["run_tag"]["value"]
        runs = []
        if experiment is not None:
            runs = client.search_runs(
                [experiment.experiment_id], filter_string="tags.`%s` = '%s'" % (key, value), max_results=1
            )
        if not runs:
            raise SystemExit("no MLflow run tagged %s = %s in %s: the train task made none" % (key, value, spec["experiment"]))
        run = runs[0]
        if run.info.status != "FINISHED":
            raise SystemExit("run %s is %s, not FINISHED: nothing was registered" % (run.info.run_id, run.info.status))
        # The run's metrics, with its LoggedModel's over them (as `cargo mlops release` reads).
        metrics = dict(run.data.metrics)
        metrics.update(logged_model_metrics(run_logged_model(run.info.run_id, spec.get("artifact_path") or "model")))
        failed = []
        ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}
        for gate in spec.get("gates") or []:
            got = metrics.get(gate["metric"])
            if got is None or not ops[gate["op"]](got, gate["threshold"]):
                failed.append("%s = %s, needs %s %s" % (gate["metric"], got, gate["op"], gate["threshold"]))
        beat = spec.get("must_beat")
        if beat:
            # No champion, or a champion whose run is gone, is beaten; a champion that
            # cannot be read (a 403, an outage) fails the task rather than pass it unseen.
            champion = find(lambda: client.get_model_version_by_alias(name, beat["alias"]))
            if champion is not None and champion.run_id and champion.run_id != run.info.run_id:
                theirs = described(champion)["metrics"].get(beat["metric"])
                ours = metrics.get(beat["metric"])
                if ours is None:
                    failed.append("%s is missing, so it cannot beat `%s`" % (beat["metric"], beat["alias"]))
                elif theirs is not None and not (ours > theirs if beat["better"] == "higher" else ours < theirs):
                    failed.append("%s = %s does not beat `%s`'s %s" % (beat["metric"], ours, beat["alias"], theirs))
        if failed:
            say("run %s did not pass the release checks: nothing was registered: %s" % (run.info.run_id, "; ".join(failed)))
            raise SystemExit(1)
        if spec.get("checks_only"):
            # A job deployed from a branch that does not release (`cargo mlops jobs deploy`
            # off the target's release branches): the checks ran, nothing is registered and
            # no alias moves, whoever started the job.
            say("run %s passed the release checks; branch %s does not release, so nothing was registered" % (run.info.run_id, spec.get("branch")))
            return {"checked": True, "registered": False, "run_id": run.info.run_id, "version": None}
        return registry_op(dict(spec, op="register", run_id=run.info.run_id))
    if op == "register":
        version = of_run(spec["run_id"])
        registered = version is None
        if registered:
            check_model_logged(spec["run_id"], spec["artifact_path"])
            made = create_model(name)
            import mlflow

            # register_model copies the files where the registry needs them (Unity Catalog
            # storage on Databricks), with the workspace's credentials.
            # Under MLflow 3 `runs:/<run>/<name>` registers the run's LoggedModel of that name
            # (source `models:/<model_id>`, the version's `model_id` set) and keeps the run id,
            # which `of_run` finds versions by (mlflow/tracking/_model_registry/fluent.py
            # `_register_model`); `models:/<model_id>` itself would leave the run id empty.
            # Under MLflow 2 it is the run's artifact folder.
            try:
                version = mlflow.register_model(
                    "runs:/%s/%s" % (spec["run_id"], spec["artifact_path"]), name, tags=spec.get("tags") or {}
                )
            except Exception:
                if made:
                    unmake(name)
                raise
        if spec.get("alias"):
            client.set_registered_model_alias(name, spec["alias"], version.version)
        result = described(version)
        result["registered"] = registered
        return result
    if op == "get":
        version = find(lambda: client.get_model_version(name, spec["version"]))
        return {"found": described(version) if version else None}
    if op == "set_alias":
        # A version that does not exist (or a model that does not) is none: nothing moves.
        if find(lambda: client.get_model_version(name, spec["version"])) is None:
            return {"found": None}
        client.set_registered_model_alias(name, spec["alias"], spec["version"])
        return {"found": described(client.get_model_version(name, spec["version"]))}
    if op == "copy":
        source = find(lambda: client.get_model_version(spec["from_model"], spec["version"]))
        if source is None:
            raise RegistryError(
                "model %s has no version %s" % (spec["from_model"], spec["version"]),
                "name an existing version with `--version N`, or an alias with `--from ALIAS`",
            )
        create_model(name)
        # What MLflow's copy_model_version does (mlflow/store/model_registry/abstract_store.py
        # `AbstractStore.copy_model_version`), without its create_registered_model, which
        # accepts only RESOURCE_ALREADY_EXISTS and so fails on a Unity Catalog model that
        # exists (ALREADY_EXISTS): a new version whose source is the old one, with its run,
        # tags, link, description and logged model.
        # `model_id` (the LoggedModel) arrived with MLflow 3 (mlflow/tracking/client.py
        # `MlflowClient.create_model_version`, mlflow PR #13668); MLflow 2.x's signature has no
        # such keyword and raises TypeError on it.
        linked = {}
        if getattr(source, "model_id", None) and accepts(client.create_model_version, "model_id"):
            linked["model_id"] = source.model_id
        version = client.create_model_version(
            name=name,
            source="models:/%s/%s" % (spec["from_model"], spec["version"]),
            run_id=source.run_id,
            tags=dict(source.tags or {}),
            run_link=source.run_link,
            description=source.description,
            **linked
        )
        for key, value in (spec.get("tags") or {}).items():
            client.set_model_version_tag(name, version.version, key, value)
        if spec.get("alias"):
            client.set_registered_model_alias(name, spec["alias"], version.version)
        return {"found": described(client.get_model_version(name, version.version))}
    if op == "approval_check":
        # A deployment job's approval task: the version must carry the tag named after the
        # task, `Approved` (what the Databricks UI's Approve button and `cargo mlops approve`
        # set). Until then the task fails, and the job run waits to be repaired.
        version = client.get_model_version(name, str(spec["version"]))
        tags = dict(version.tags or {})
        said = tags.get(spec["tag"])
        if (said or "").lower() != "approved":
            raise RegistryError(
                "version %s of %s is not approved for deployment (its tag `%s` is %s)"
                % (spec["version"], name, spec["tag"], "`%s`" % said if said else "not set"),
                "approve it with `cargo mlops approve %s`, which sets the tag and repairs this run" % spec["version"],
            )
        return {"approved": True, "by": tags.get("mlops.approved_by")}
    raise SystemExit("unknown registry operation: %s" % op)


def plain_error(message, fix):
    """Ends a registry operation that failed with one line and its fix (read by cargo mlops)."""
    print("cargo-mlops registry: error: " + message, file=sys.stderr, flush=True)
    print("cargo-mlops registry: help: " + fix, file=sys.stderr, flush=True)
    raise SystemExit(1)


def registry_main(argv):
    parser = argparse.ArgumentParser(prog="mlops_launcher.py", description="Model registry operations of cargo mlops.")
    parser.add_argument("--registry", required=True, help="JSON {op, model, ...}")
    parser.add_argument("--tracking-uri", help="MLFLOW_TRACKING_URI")
    parser.add_argument("--registry-uri", help="MLFLOW_REGISTRY_URI (databricks-uc for Unity Catalog)")
    parser.add_argument("--result-file", help="write the answer here as JSON")
    args = parser.parse_args(argv)
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.registry_uri:
        os.environ["MLFLOW_REGISTRY_URI"] = args.registry_uri
    try:
        answer = json.dumps(registry_op(json.loads(args.registry)))
    except RegistryError as e:
        plain_error(e.message, e.fix)
    except Exception as e:
        # MLflow's own words, in one line; the traceback only when asked for.
        message = getattr(e, "message", None) or str(e) or type(e).__name__
        if os.environ.get("MLOPS_DEBUG"):
            traceback.print_exc()
        plain_error(message.strip().splitlines()[0], "run again with MLOPS_DEBUG=1 to see MLflow's traceback")
    # A job's output is read back from its log; a local caller reads the file.
    print("cargo-mlops registry: " + answer, flush=True)
    if args.result_file:
        with open(args.result_file, "w") as f:
            f.write(answer)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--registry" in argv:
        return registry_main(argv)
    args = parse(argv)
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.new_run:
        run_id, experiment_id = create_run(json.loads(args.new_run))
    else:
        run_id, experiment_id = args.run_id, args.experiment_id
    os.environ["MLFLOW_RUN_ID"] = run_id
    if experiment_id:
        os.environ["MLFLOW_EXPERIMENT_ID"] = str(experiment_id)
    write_result(args.result_file, run_id, experiment_id, "RUNNING")
    what = args.python_file or args.python_module or args.shell
    say("MLflow run %s: %s %s" % (run_id, "running" if args.shell else "running in-process", what))
    workdir = tempfile.mkdtemp(prefix="mlops-project-")
    cwd = os.getcwd()
    status, code = "FAILED", 1
    live = LiveLog(args.log_dir.replace("{run_id}", run_id)) if args.log_dir else None
    try:
        os.chdir(extract(args.tarball, workdir))
        if live is not None:
            live.start()
        code = run_shell(args.shell) if args.shell else run_in_process(args)
        status = "FINISHED" if code == 0 else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        # Python prints the traceback after this, on the original stderr: the live log
        # gets it here.
        if live is not None:
            live.keep("e", traceback.format_exc().encode("utf-8", "replace"))
        raise
    finally:
        os.chdir(cwd)
        if live is not None:
            live.stop()
            live.log_artifacts(run_id)
        end_run(run_id, status)
        if live is not None:
            live.end(status, code)
        write_result(args.result_file, run_id, experiment_id, status)
        shutil.rmtree(workdir, ignore_errors=True)
    if code != 0:
        say("the entry point exited with status %d" % code)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
