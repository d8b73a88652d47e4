"""`curate tokenize` against a plain `tokenizers` loop on the same text: tokens/s and peak RSS, cold processes.

Setup (not timed): the 7 Gutenberg books of ../shared/data (current and old editions) and tiny Shakespeare, cut into
~2,000-character blocks and split train/val/test by a `curate run` (chunk, split); a byte-level BPE of 8,192 ids
trained on the train split's first 2 MB with `tokenizers`. `--scale N` adds a second output whose train split is
the first one's shards N times over, to show that memory does not grow with the split.

Timed, alternating, each a fresh process:
  - ours: `curate tokenize OUT --tokenizer T` (nanoGPT .bin + datatrove .ds/.index/.metadata: both formats, one
    stream written once and hard-linked);
  - baseline: what a user writes with `tokenizers` alone: read each shard's text column with pyarrow, encode_batch
    1,024 documents at a time, append the EOS id, write uint16 to train.bin/val.bin/test.bin.
Each round also times a process that only starts (`curate --version`; python importing numpy, pyarrow and
tokenizers), so tokens/s are given with and without that fixed cost.
Prints JSON: medians of wall seconds, tokens/s and peak RSS (VmHWM of the child), ratios, and the load average.

    python benchmarks/bench_tokenize.py [--repeats 3] [--scale 4]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data" / "text"

BASELINE_IMPORTS = "import numpy, pyarrow.parquet, tokenizers\n"
BASELINE = BASELINE_IMPORTS + r'''
import sys
from pathlib import Path
import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

out, tokenizer_path, target = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
tokenizer = Tokenizer.from_file(tokenizer_path)
eos = tokenizer.token_to_id("<|endoftext|>")
target.mkdir(parents=True, exist_ok=True)
total = 0
for split in ("train", "val", "test"):
    with open(target / f"{split}.bin", "wb") as f:
        for shard in sorted((out / split).glob("*.parquet")):
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=1024, columns=["text"]):
                texts = [t for t in batch.column(0).to_pylist() if t]
                for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
                    ids = encoding.ids + [eos]
                    total += len(ids)
                    f.write(np.array(ids, dtype=np.uint16).tobytes())
print(total)
'''


def build_output(tmp: Path) -> Path:
    from curate import Pipeline

    books = sorted(str(p) for p in SHARED.glob("gutenberg/*/**/*.txt")) + [str(SHARED / "tinyshakespeare/input.txt")]
    out = tmp / "out"
    Pipeline({"input": {"format": "text", "paths": books}, "output": {"path": str(out)},
              "stages": [{"chunk": {"min_chars": 2000}},
                         {"split": {"fractions": {"train": 0.9, "val": 0.05, "test": 0.05}}}]}).run(force=True)
    return out


def scaled_output(out: Path, scale: int, tmp: Path) -> Path:
    """A copy of `out` whose train split holds its shards `scale` times (val and test as they are)."""
    big = tmp / f"out_x{scale}"
    for split in ("train", "val", "test"):
        (big / split).mkdir(parents=True)
        for shard in sorted((out / split).glob("*.parquet")):
            for copy in range(scale if split == "train" else 1):
                os.link(shard, big / split / f"{shard.stem}-copy{copy}.parquet")
    return big


def train_tokenizer(out: Path, path: Path) -> None:
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts, size = [], 0
    for shard in sorted((out / "train").glob("*.parquet")):
        for text in pq.read_table(shard, columns=["text"]).column(0).to_pylist():
            texts.append(text)
            size += len(text)
        if size > 2_000_000:
            break
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8192, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer.save(str(path))


# Runs a module or a script with arguments and writes its peak RSS (VmHWM) to $PEAK_RSS_FILE on exit. Not the
# child's ru_maxrss: that starts at the parent's RSS at fork and survives exec (this parent ran a pipeline).
LAUNCHER = """
import atexit, os, runpy, sys
def peak():
    with open(os.environ["PEAK_RSS_FILE"], "w") as f:
        f.write(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
atexit.register(peak)
target, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(target, run_name="__main__") if not target.endswith(".py") else runpy.run_path(target, run_name="__main__")
"""


def timed(target: str, args: list[str], tmp: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of a fresh process running `target` (a module or a .py file)."""
    peak_file = tmp / "peak_rss_kb"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PEAK_RSS_FILE": str(peak_file)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", LAUNCHER, target, *args], capture_output=True, text=True, env=env,
                            cwd=REPO)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{target} failed:\n{result.stderr[-2000:]}")
    return wall, int(peak_file.read_text()) / 1024, result.stdout


def measure(out: Path, tokenizer: Path, repeats: int, tmp: Path) -> dict:
    runs = {"curate": [], "baseline": []}
    starts = {"curate": [], "baseline": []}  # a fresh process that only starts: the fixed cost inside each run
    tokens = {}
    baseline_script, imports_script = tmp / "baseline.py", tmp / "imports.py"
    baseline_script.write_text(BASELINE)
    imports_script.write_text(BASELINE_IMPORTS)
    for _ in range(repeats):
        starts["curate"].append(timed("curate.cli", ["--version"], tmp)[0])
        starts["baseline"].append(timed(str(imports_script), [], tmp)[0])
        wall, rss, stdout = timed("curate.cli", ["tokenize", str(out), "--tokenizer", str(tokenizer), "--name", "bench",
                                                 "--json"], tmp)
        tokens["curate"] = sum(s["tokenizer_tokens"] for s in json.loads(stdout)["splits"].values())
        runs["curate"].append((wall, rss))
        target = tmp / "baseline"
        shutil.rmtree(target, ignore_errors=True)
        wall, rss, stdout = timed(str(baseline_script), [str(out), str(tokenizer), str(target)], tmp)
        tokens["baseline"] = int(stdout)
        runs["baseline"].append((wall, rss))
    if tokens["curate"] != tokens["baseline"]:
        raise RuntimeError(f"token counts differ: {tokens}")
    for split in ("train", "val", "test"):  # the same token stream, byte for byte
        if (out / "tokens/bench" / f"{split}.bin").read_bytes() != (tmp / "baseline" / f"{split}.bin").read_bytes():
            raise RuntimeError(f"{split}.bin differs from the baseline's")
    text_mb = sum(f.stat().st_size for s in ("train", "val", "test") for f in (out / s).glob("*.parquet")) / 1e6
    result = {"tokens": tokens["curate"], "parquet_mb": round(text_mb, 1)}
    for name, values in runs.items():
        wall = statistics.median(w for w, _ in values)
        start = statistics.median(starts[name])
        result[name] = {"median_s": round(wall, 2), "tokens_per_s": round(tokens[name] / wall),
                        "start_s": round(start, 2), "tokens_per_s_after_start": round(tokens[name] / (wall - start)),
                        "peak_rss_mb": round(statistics.median(r for _, r in values), 1),
                        "runs_s": [round(w, 2) for w, _ in values]}
    result["speed_ratio_curate_vs_baseline"] = round(result["curate"]["tokens_per_s"] /
                                                     result["baseline"]["tokens_per_s"], 2)
    result["speed_ratio_after_start"] = round(result["curate"]["tokens_per_s_after_start"] /
                                              result["baseline"]["tokens_per_s_after_start"], 2)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = build_output(tmp)
        tokenizer = tmp / "tokenizer.json"
        train_tokenizer(out, tokenizer)
        result = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "repeats": args.repeats,
                  "tokenizer": "byte-level BPE, 8,192 ids", "x1": measure(out, tokenizer, args.repeats, tmp)}
        if args.scale > 1:
            result[f"x{args.scale}_train"] = measure(scaled_output(out, args.scale, tmp), tokenizer, args.repeats, tmp)
        result["load_after"] = os.getloadavg()
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
