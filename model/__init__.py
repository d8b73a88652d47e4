"""curate's trainer: a compact GPT trained on curated Parquet shards (see model/README_SECTION.md).

One file per concern: config, tokenizer, data, gpt, train, evaluate, sample, checkpoint, export,
cli. Nothing here imports curate.stages: the trainer only reads the shards the pipeline writes.
"""

import os

# OpenMP threads that wait for work spin by default. On a machine whose cores are shared with
# other processes, spinning threads steal the cores the working threads need: measured here,
# 2 threads took ~800 ms per CPU training step instead of ~80 ms. Waiting passively costs little
# on an idle machine. This must be set before torch loads its OpenMP runtime, hence here; an
# explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
