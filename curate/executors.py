"""The executors a run's phases use: local (one pool of worker processes for the whole run), Ray (one actor per
worker for the whole run) and Slurm (datatrove's: one job array per phase).

Start-up is paid once per worker, not once per task and phase. A task loads its stages' models through caches that
live as long as the process (`lru_cache`d detectors, tokenizers, presidio engines), so a worker that runs task after
task, phase after phase, loads each model once. datatrove's local executor starts a new pool (and a Manager
process) for every `run()`, which is every phase here, and its Ray executor a new actor (and a pool inside it) for
every task: both reload every model every time. What is kept from datatrove: its `_run_for_rank` (the task's log
file, stats, completion marker), so logs, stats, resuming and the manifest are the same on every executor.

Workers die with the run: each worker watches the run's process and exits when it goes, and each process a worker
starts (a stage's sandbox) watches its worker (curate/processes.py). Then multiprocessing's forkserver and resource
tracker, which live as long as any worker holds their pipes, exit too: `kill -9` of `curate run` alone leaves
nothing behind.
"""

import io
import os
import sys
from contextlib import contextmanager

import dill
from datatrove.executor.local import LocalPipelineExecutor

from curate.config import RAY_INIT_OPTIONS, ExecutorConfig
from curate.processes import worker_start

# Imported once by the process that forks the local workers (multiprocessing's forkserver), so that a worker starts
# with them loaded: what every pipeline task imports (datatrove, pyarrow, the readers and the shard writer), and the
# modules of the run's stages (worker_pool's `preload`).
PRELOAD = ["curate.pipeline"]


def make_executor(cfg: ExecutorConfig, pipeline, tasks: int, workers: int, logging_dir: str, verbose: bool = False,
                  depends=None, pool=None):
    """The executor of `executor.type` for one phase (`logging_dir`: OUT/logs/<phase>). `pool`: the run's
    WorkerPool (local, Ray), which runs the tasks; without one they run in this process."""
    if cfg.type == "slurm":
        from datatrove.executor.slurm import SlurmPipelineExecutor

        # one job array per phase, named after it (curate-01-stream, curate-02-minhash_dedup-pairs, ...)
        phase = logging_dir.rstrip("/").rsplit("/", 1)[-1]
        options = {"time": "24:00:00", "partition": "default", **cfg.options}
        options["job_name"] = f"{options.get('job_name', 'curate')}-{phase}"
        return SlurmPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=logging_dir,
                                     depends=depends, **options)
    return PhaseExecutor(pipeline, tasks=tasks, logging_dir=logging_dir, verbose=verbose, pool=pool)


class PhaseExecutor(LocalPipelineExecutor):
    """One phase's tasks, run by the run's worker pool (or one after the other in this process without one).

    datatrove's per-task INFO logging goes to OUT/logs/<phase>/logs/ only, warnings to stderr: `curate run` draws
    its own progress, and datatrove's loguru sink writes every task's INFO lines to stderr.
    """

    def __init__(self, pipeline, tasks: int, logging_dir: str, verbose: bool = False, pool=None):
        super().__init__(pipeline, tasks=tasks, workers=1, logging_dir=logging_dir)
        self.verbose = verbose
        self.pool = pool

    def __getstate__(self):  # the pool stays in the parent: a task needs its pipeline, not the pool
        return {**self.__dict__, "pool": None}

    def run(self):
        ranks = self.get_incomplete_ranks()
        if not ranks:
            return
        self.save_executor_as_json()
        if self.pool is None:
            pipeline = self.pipeline
            for rank in ranks:
                self.pipeline = dill.loads(dill.dumps(pipeline))  # a fresh copy of every step for every task
                self._run_for_rank(rank)
            self.pipeline = pipeline
        else:
            self.pool.run_tasks(self, ranks)

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if self.verbose:
            return super()._run_for_rank(rank, local_rank, node_rank)
        saved, sys.stderr = sys.stderr, _WarningsOnly(sys.stderr)
        try:
            return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            sys.stderr = saved


def run_pickled_task(payload: bytes, rank: int) -> int:
    """What a worker runs: one task of a phase. The executor comes pickled (its steps fresh for this task)."""
    executor = dill.loads(payload)
    executor._run_for_rank(rank)
    return rank


class LocalWorkers:
    """`workers` processes for the whole run, started once (forked from multiprocessing's forkserver, which has
    imported PRELOAD), fed task after task of phase after phase.

    concurrent.futures' pool, not multiprocessing.Pool (datatrove's): when a worker dies (the kernel's OOM killer,
    a crash in native code) the tasks under way fail with BrokenProcessPool and the phase runner reports them;
    multiprocessing.Pool would wait for their results forever."""

    def __init__(self, workers: int, preload: list[str] = ()):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([*PRELOAD, *preload])  # (only the first pool of a process starts the server)
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker_start,
                                        initargs=(os.getpid(), multiprocessing.get_start_method()))

    def run_tasks(self, executor: PhaseExecutor, ranks: list[int]) -> None:
        """Every task of `ranks`, whatever happens to any one of them: a failed task is logged in its task log and
        left without a completion marker (the phase runner reports it), and the others still run."""
        payload = dill.dumps(executor)
        for future in [self.pool.submit(run_pickled_task, payload, rank) for rank in ranks]:
            try:
                future.result()
            except Exception:  # noqa: BLE001 - logged by datatrove in the task's log; the phase runner reports it
                continue

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def terminate(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in list(getattr(self.pool, "_processes", {}).values()):  # the tasks under way: stopped now
            process.kill()


@contextmanager
def worker_pool(cfg: ExecutorConfig, workers: int, preload: list[str] = ()):
    """The run's workers: None (tasks run in this process) for one local worker or Slurm (its own job arrays),
    LocalWorkers, or RayWorkers on a Ray cluster (`options.address`, or a local one started here and shut down at
    the end: with `options.num_cpus` CPUs, default all)."""
    if cfg.type == "slurm" or (cfg.type == "local" and workers <= 1):
        yield None
        return
    if cfg.type == "local":
        pool = LocalWorkers(workers, preload)
        try:
            yield pool
        except BaseException:
            pool.terminate()
            raise
        pool.close()
        return
    import ray

    from curate.ray_workers import RayWorkers

    started = False
    if not ray.is_initialized():
        init = {k: cfg.options[k] for k in RAY_INIT_OPTIONS if cfg.options.get(k) is not None}
        ray.init(**init, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        pool = RayWorkers(workers, {k: v for k, v in cfg.options.items() if k not in RAY_INIT_OPTIONS})
        try:
            yield pool
        finally:
            pool.close()
    finally:
        if started:
            ray.shutdown()


@contextmanager
def quiet_logs(verbose: bool):
    """datatrove logs through loguru, whose default handler prints every INFO line and a stats table per phase on
    stderr. A run that is not `verbose` shows only warnings and errors there, from the Python API as from `curate
    run` (the task logs in OUT/logs/<phase>/logs/ keep everything). Afterwards loguru has datatrove's default
    handler again, as datatrove itself leaves it after each task it runs in this process."""
    if verbose:
        yield
        return
    from datatrove.utils.logging import setup_default_logger

    log_to_stderr("WARNING")
    try:
        yield
    finally:
        setup_default_logger()


def log_to_stderr(level: str) -> None:
    """loguru's only handler: stderr, from `level` up."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=level)


class _WarningsOnly(io.TextIOBase):
    def __init__(self, target):
        self.target = target

    def write(self, text: str) -> int:
        if "| WARNING" in text:
            self.target.write(text)
        elif "| ERROR" in text or "| CRITICAL" in text:  # the first line; the traceback is in the task's log file
            self.target.write(text.splitlines()[0] + "  (traceback: OUT/logs/<phase>/logs/task_*.log)\n")
        return len(text)

    def flush(self):
        self.target.flush()
