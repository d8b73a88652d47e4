"""The executors a run's phases use: datatrove's local one (quiet), Ray (a local cluster when no address is given)
and Slurm (one job array per phase)."""

import io
import sys
from contextlib import contextmanager

from datatrove.executor.local import LocalPipelineExecutor

from curate.config import RAY_INIT_OPTIONS, ExecutorConfig


def make_executor(cfg: ExecutorConfig, pipeline, tasks: int, workers: int, logging_dir: str, verbose: bool = False,
                  depends=None):
    """The datatrove executor of `executor.type` for one phase (`logging_dir`: OUT/logs/<phase>)."""
    workers = min(workers, tasks)
    if cfg.type == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        options = {k: v for k, v in cfg.options.items() if k not in RAY_INIT_OPTIONS}
        return RayPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                   depends=depends, **options)
    if cfg.type == "slurm":
        from datatrove.executor.slurm import SlurmPipelineExecutor

        # one job array per phase, named after it (curate-01-stream, curate-02-minhash_dedup-pairs, ...)
        phase = logging_dir.rstrip("/").rsplit("/", 1)[-1]
        options = {"time": "24:00:00", "partition": "default", **cfg.options}
        options["job_name"] = f"{options.get('job_name', 'curate')}-{phase}"
        return SlurmPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                     depends=depends, **options)
    return QuietLocalExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, verbose=verbose,
                              depends=depends)


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


@contextmanager
def ray_cluster(cfg: ExecutorConfig):
    """For `executor.type: ray`: connect to `options.address`, or start a local Ray cluster (with `options.num_cpus`
    CPUs, default all) when there is none; a cluster started here is shut down at the end of the run."""
    if cfg.type != "ray":
        yield
        return
    import ray

    started = False
    if not ray.is_initialized():
        init = {k: cfg.options[k] for k in RAY_INIT_OPTIONS if cfg.options.get(k) is not None}
        ray.init(**init, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        yield
    finally:
        if started:
            ray.shutdown()


class QuietLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor; its per-task INFO logging goes to OUT/logs/<phase>/logs/ only, warnings to stderr.

    `curate run` draws its own progress; datatrove's loguru sink writes every task's INFO lines to stderr.
    """

    def __init__(self, *args, verbose: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbose = verbose

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if self.verbose:
            return super()._run_for_rank(rank, local_rank, node_rank)
        saved, sys.stderr = sys.stderr, _WarningsOnly(sys.stderr)
        try:
            return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            sys.stderr = saved


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
