"""Run a cohort's studies on long-lived workers: on Ray (a local cluster by default, or a cluster's address:
one worker per GPU where the cluster has GPUs), or here in this process (``engine="serial"``).

Resumable and idempotent: a study whose record says it is done is skipped (its derived UIDs are
deterministic, so running it again would write the same series over themselves). A study whose worker died
(killed, out of memory) or whose run failed for a reason another attempt may not meet is run again on a
fresh worker, up to ``retries`` more times, then recorded as failed with its reason; the cohort goes on.
Each series is written all or nothing by the app's writer, so a killed worker leaves no half series (its
hidden partial folder is removed by the next write there).
"""
from __future__ import annotations

import logging
import os
import resource
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import Study
from .worker import StudyWorker, finished, new_record, write_record

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
STACK_BYTES = 32 * 1024 * 1024      # what Holoscan's threads need (workers inherit it from this process)


@dataclass
class CohortRun:
    records: list[dict]                        # one per study, in manifest order
    skipped: list[str] = field(default_factory=list)     # study keys already done before this run


def _failed(study: Study, attempts: int, reason: str) -> dict:
    return {**new_record(study, attempts, None), "status": "failed", "reason": reason}


def _raise_stack_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = STACK_BYTES if hard == resource.RLIM_INFINITY else min(STACK_BYTES, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def run_cohort(studies: list[Study], out: Path, model: Path, *, workers: int | None = 2, engine: str = "ray",
               address: str | None = None, retries: int = 2, outputs: set | None = None,
               outside_domain: bool = False) -> CohortRun:
    """Run every study not yet done (see the module notes); returns every study's record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = {s.key: rec for s in studies if (rec := finished(out, s)) is not None}
    todo = [s for s in studies if s.key not in done]
    if todo:
        run = _run_serial if engine == "serial" else _run_ray
        done.update(run(todo, out, Path(model).resolve(), workers=workers, address=address, retries=retries,
                        outputs=outputs, outside_domain=outside_domain))
    return CohortRun([done[s.key] for s in studies], [s.key for s in studies if s.key not in {t.key for t in todo}])


def _run_serial(todo, out, model, *, workers, address, retries, outputs, outside_domain) -> dict[str, dict]:
    worker = StudyWorker(out, model, outputs, outside_domain)
    records = {}
    for study in todo:
        for attempt in range(1, retries + 2):
            rec = worker.run(study, attempt)
            if rec["status"] == "done" or not rec["retry"]:
                break
        records[study.key] = rec
    return records


def _run_ray(todo, out, model, *, workers, address, retries, outputs, outside_domain) -> dict[str, dict]:
    import ray

    _raise_stack_limit()
    started_here = not ray.is_initialized()
    if started_here:
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               "HOLOSCAN_LOG_LEVEL": "OFF"}
        kwargs = dict(address=address, runtime_env={"env_vars": env}, include_dashboard=False,
                      log_to_driver=False, logging_level=logging.WARNING)
        if address is None:       # a local cluster sized for the workers, with a small object store
            kwargs.update(num_cpus=workers, object_store_memory=200 * 1024 * 1024)
        ray.init(**kwargs)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        if address is not None:         # a cluster: as many workers as its GPUs (or CPUs), unless told
            workers = workers or int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1))
        remote = ray.remote(StudyWorker).options(num_cpus=1, num_gpus=gpus, max_restarts=0)

        def new_worker():
            return remote.remote(out, model, outputs, outside_domain)

        pending = deque((s, 1) for s in todo)
        idle = [new_worker() for _ in range(min(workers, len(todo)))]
        running: dict = {}
        records: dict[str, dict] = {}
        while pending or running:
            while idle and pending:
                actor = idle.pop()
                study, attempt = pending.popleft()
                running[actor.run.remote(study, attempt)] = (actor, study, attempt)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, study, attempt = running.pop(ready[0])
            try:
                rec = ray.get(ready[0])
                idle.append(actor)
                if rec["status"] == "done" or not rec["retry"] or attempt > retries:
                    records[study.key] = rec
                    continue
                reason = rec["reason"]
            except ray.exceptions.RayActorError as e:      # the worker died: a fresh one takes its place
                ray.kill(actor)
                idle.append(new_worker())
                reason = f"the worker died ({type(e).__name__})"
            except ray.exceptions.RayError as e:
                idle.append(actor)
                reason = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[-1]}"
            if attempt > retries:
                records[study.key] = _failed(study, attempt, reason)
                write_record(out, records[study.key])
            else:
                log.warning("study %s, attempt %d: %s; trying again", study.key, attempt, reason)
                pending.append((study, attempt + 1))
        for actor in idle:
            ray.kill(actor)
        return records
    finally:
        if started_here:
            ray.shutdown()
