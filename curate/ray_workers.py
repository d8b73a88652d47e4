"""`executor: ray`: one Ray actor per worker for the whole run, fed task after task of phase after phase.

An actor is a long-lived process, so the models a task loads (lid.176, lingua, spaCy tokenizers, presidio: cached
per process, see curate/executors.py) stay loaded for the next task. datatrove's RayPipelineExecutor instead starts
a new actor, and a process pool inside it, for every task: every task of every phase loads every model again
(measured in issue 18: Ray at 6.4 pages/s against 20.0 locally with 1 worker).

The tasks run datatrove's `_run_for_rank` in the actor (logs, stats and completion markers on the shared output
folder), exactly as locally. An actor that dies (a node lost, a crash in native code) is replaced; its task stays
without a completion marker and the phase runner reports it, so re-running the command resumes it.
"""

import dill
import ray

from curate.executors import run_pickled_task

# executor.options that reserve an actor's resources (the names of datatrove's RayPipelineExecutor, which the
# config validates them against): cpus_per_task, mem_per_cpu_gb, gpus_per_task, ray_remote_kwargs
_DEFAULTS = {"cpus_per_task": 1, "mem_per_cpu_gb": 2, "gpus_per_task": 0}


class _TaskRunner:
    def run(self, payload: bytes, rank: int) -> int:
        return run_pickled_task(payload, rank)


def _task_error(ref) -> Exception | None:
    """The exception a finished task raised, or None."""
    try:
        ray.get(ref)
    except Exception as error:  # noqa: BLE001 - any failure of a task is the caller's to judge
        return error
    return None


class RayWorkers:
    def __init__(self, workers: int, options: dict):
        options = {**_DEFAULTS, **options}
        cpus = options["cpus_per_task"]
        self.remote_options = {"num_cpus": cpus, "memory": int(options["mem_per_cpu_gb"] * cpus * 2**30),
                               "num_gpus": options["gpus_per_task"], **(options.get("ray_remote_kwargs") or {})}
        self.actor_class = ray.remote(_TaskRunner)
        self.actors = [self._new_actor() for _ in range(workers)]

    def _new_actor(self):
        return self.actor_class.options(**self.remote_options).remote()

    def run_tasks(self, executor, ranks: list[int]) -> None:
        payload = ray.put(dill.dumps(executor))
        queue = list(ranks)
        running = {}
        for index in range(len(self.actors)):
            if queue:
                running[self.actors[index].run.remote(payload, queue.pop(0))] = index
        while running:
            [done], _ = ray.wait(list(running), num_returns=1)
            index = running.pop(done)
            # a failed task is logged in its task log and reported by the phase runner; the queue goes on
            if isinstance(_task_error(done), ray.exceptions.RayActorError):  # the actor is gone: a new one instead
                self.actors[index] = self._new_actor()
            if queue:
                running[self.actors[index].run.remote(payload, queue.pop(0))] = index

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
