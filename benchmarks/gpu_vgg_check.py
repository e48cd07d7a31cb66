"""GPU check: one ``paper-vgg`` run on a synthetic archive in CIFAR-10's format, with its time by phase.

Run it whenever a GPU machine is at hand (CI has none; this is a benchmark, not a test)::

    # on a GPU (about 2 minutes on one H200)
    python benchmarks/gpu_vgg_check.py --steps 10000 --out gpu_vgg_check.json --write-result
    # CPU smoke check (under a minute on one idle core)
    python benchmarks/gpu_vgg_check.py --device cpu --steps 3 --n-train 500 --n-test 100 \\
        --width-scale 0.125 --batch-size 16 --no-sharpness

What it does, each step timed on its own:

1. records the machine: device name, torch/CUDA/cuDNN versions, the GPU's compute capability and whether
   the installed torch carries compiled kernels for it (if not, every kernel is compiled from PTX on first
   use and cached under ``~/.nv/ComputeCache``, which makes only the first process slow), and whether that
   cache existed;
2. writes a synthetic archive ``cifar-10-python.tar.gz`` in CIFAR-10's format (five pickled training batches
   and a test batch; random images around ten class templates) into a temporary data folder;
3. on CUDA, times ``torch.cuda.init()``, the creation of the CUDA context, and a first and a second training
   step of the VGG-11 on one batch (the first step pays for loading the kernels and cuDNN's choice of
   algorithms), then the mean of 20 more steps (the steady state);
4. runs the ``paper-vgg`` config (eta = 0.05, b = 128 by default) through
   :func:`hts_lib.nn.training.run_from_config` and reads its per-phase ``timings``: data loading,
   training, evaluation, tail estimates, sharpness and the rest;
5. prints one JSON summary (and writes it to ``--out``): per-phase seconds, steps, time per step, the
   run's wall time over its training time (goal: at most 2 for 10,000 steps), and a diagnosis in words of
   where a slow first run goes.

``--write-result`` also writes ``benchmarks/results/gpu_vgg_check.json`` (rows for the performance page,
with the device named); regenerate the page with ``python benchmarks/run_all.py --page-only``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GOAL_RATIO = 2.0  # issue: a 10,000-step VGG run in at most 2x its own training time


def write_synthetic_cifar10(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write ``<folder>/cifar10/cifar-10-python.tar.gz`` in CIFAR-10's layout with synthetic images.

    Images are a class template plus noise (uint8, channel-major rows of 3072 values), so that the network
    has something to learn; labels cycle through the ten classes. Compression level 1, to write it fast.
    """
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(10, 3072), dtype=np.int16)

    def batch(n: int, offset: int) -> dict:
        labels = (np.arange(n) + offset) % 10
        noise = rng.integers(-64, 64, size=(n, 3072), dtype=np.int16)
        data = np.clip(templates[labels] // 2 + 64 + noise, 0, 255).astype(np.uint8)
        return {b"data": data, b"labels": labels.tolist()}

    out = folder / "cifar10"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "cifar-10-python.tar.gz"
    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        members = [(f"data_batch_{i + 1}", batch(n, sum(sizes[:i]))) for i, n in enumerate(sizes)]
        members.append(("test_batch", batch(n_test, 0)))
        for name, content in members:
            blob = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def machine(torch) -> dict:
    """Device and versions, and what decides the cost of a first CUDA run."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "cudnn": None,
        "device_name": "cpu",
        "capability": None,
        "torch_arch_list": None,
        "kernels_for_this_gpu": None,
        "CUDA_MODULE_LOADING": os.environ.get("CUDA_MODULE_LOADING"),
        "cuda_cache": None,
        "cuda_cache_existed": None,
    }
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        arch = f"sm_{major}{minor}"
        arch_list = torch.cuda.get_arch_list()
        cache = Path(os.environ.get("CUDA_CACHE_PATH", Path.home() / ".nv" / "ComputeCache"))
        info.update(
            device_name=torch.cuda.get_device_name(0),
            capability=arch,
            torch_arch_list=arch_list,
            kernels_for_this_gpu=arch in arch_list,
            cudnn=torch.backends.cudnn.version(),
            cuda_cache=str(cache),
            cuda_cache_existed=cache.exists(),
        )
    return info


def cuda_startup(torch, model_fn, batch_size: int, n_steady: int = 20) -> dict:
    """Seconds of CUDA initialisation, context creation, first and second training step, steady step."""
    from torch import nn

    sync = torch.cuda.synchronize
    out = {}
    t = time.perf_counter()
    torch.cuda.init()
    out["cuda_init_s"] = time.perf_counter() - t
    t = time.perf_counter()
    torch.empty(1, device="cuda")
    sync()
    out["cuda_context_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = model_fn().to("cuda")
    sync()
    out["model_to_device_s"] = time.perf_counter() - t
    x = torch.randn(batch_size, 3, 32, 32, device="cuda")
    y = torch.randint(0, 10, (batch_size,), device="cuda")
    params = [p for p in model.parameters()]

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            torch._foreach_add_(params, grads, alpha=-0.01)
        sync()

    # as in a run: deterministic algorithms (cuDNN then skips its autotuner), warn-only
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        for key in ("first_step_s", "second_step_s"):
            t = time.perf_counter()
            step()
            out[key] = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(n_steady):
            step()
        out["steady_step_s"] = (time.perf_counter() - t) / n_steady
    finally:
        torch.use_deterministic_algorithms(prev)
    out["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    return out


def diagnosis(summary: dict) -> list[str]:
    """Plain-words reading of the numbers: where the time of this (and of a slow first) run went."""
    notes = []
    m, s, r = summary["machine"], summary["startup"], summary["run"]
    t = r["timings"]
    train, ratio = t.get("training_s", 0.0), r["wall_over_training"]
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    goal = (
        f" (goal <= {GOAL_RATIO:g}: {verdict})"
        if r["steps"] >= 10_000
        else " (the goal is stated for 10,000 steps)"
    )
    notes.append(
        f"run: {r['steps']} steps in {r['wall_time_s']:.1f} s, of which training {train:.1f} s "
        f"({1e3 * r['time_per_step_s']:.2f} ms per step); wall / training = {ratio:.2f}{goal}"
    )
    big = sorted(((v, k) for k, v in t.items() if k != "training_s"), reverse=True)[:3]
    notes.append(
        "largest phases besides training: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for v, k in big)
    )
    if m["kernels_for_this_gpu"] is False:
        notes.append(
            f"torch has no compiled kernels for {m['capability']} "
            f"(arch list {m['torch_arch_list']}): kernels are compiled from PTX on first use, "
            "which makes the first process on a fresh machine slow until ~/.nv/ComputeCache is "
            "filled"
        )
    elif m["kernels_for_this_gpu"]:
        notes.append(
            f"torch ships compiled kernels for {m['capability']}: no PTX compilation on a fresh machine"
        )
    if "first_step_s" in s:
        once = s["cuda_init_s"] + s["cuda_context_s"] + s["first_step_s"] - s["steady_step_s"]
        notes.append(
            f"first use in this process: CUDA init {s['cuda_init_s']:.2f} s, context "
            f"{s['cuda_context_s']:.2f} s, first step {s['first_step_s']:.2f} s, second "
            f"{s['second_step_s']:.3f} s, steady {1e3 * s['steady_step_s']:.2f} ms per step: about "
            f"{once:.1f} s once per process (no cuDNN autotuning: deterministic algorithms, "
            f"cudnn.benchmark={s['cudnn_benchmark']})"
        )
    notes.append(
        f"imports: torch {s['import_torch_s']:.1f} s, hts_lib {s['import_hts_lib_s']:.1f} s; "
        f"the first call of torch.use_deterministic_algorithms imported "
        f"{s['deterministic_mode_modules_imported']} modules (torch's compiler stack, sympy) in "
        f"{s['deterministic_mode_first_call_s']:.1f} s: paid once per process, more on a cold disk "
        "cache (a fresh machine), and inside the first run when nothing is warmed up"
    )
    notes.append(
        f"data: building the synthetic archive took {s['archive_build_s']:.1f} s; reading and "
        f"normalising it plus the copy to the device {t.get('data_loading_s', 0):.1f} s"
    )
    sh = r.get("sharpness") or {}
    if sh:
        notes.append(
            f"sharpness: {sh.get('n_iter')} Hessian-vector products on {sh.get('n_samples')} of "
            f"{sh.get('n_train')} training images ({sh.get('subset')}) in "
            f"{t.get('sharpness_s', 0):.1f} s; its cost grows with the products Lanczos needs, "
            "which depends on the trained network"
        )
    return notes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--eta", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--n-train", type=int, default=50_000)
    p.add_argument("--n-test", type=int, default=10_000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument(
        "--width-scale", type=float, default=1.0, help="channel multiplier (small for a CPU smoke run)"
    )
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    p.add_argument("--no-sharpness", action="store_true")
    p.add_argument(
        "--sharpness-examples",
        type=int,
        default=None,
        help="training images in the sharpness (default: the library's, 2,048 for VGG)",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the timed CUDA start-up (a cold run)")
    p.add_argument(
        "--data-dir", default=None, help="folder for the synthetic archive (default: a temporary one)"
    )
    p.add_argument("--out", default=None, help="also write the JSON summary to this file")
    p.add_argument(
        "--write-result",
        action="store_true",
        help="write benchmarks/results/gpu_vgg_check.json for the performance page",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.batch_size > args.n_train or args.n_test < 1:
        p.error("--steps, --batch-size and --n-test must be >= 1, and --batch-size <= --n-train")

    import torch

    t_import = time.perf_counter() - T_START
    t = time.perf_counter()
    import hts_lib.nn.sharpness  # noqa: F401  (imported by a run on first use: timed here, not in the run)
    import hts_lib.tails.estimators  # noqa: F401
    from hts_lib.nn.experiments import grid_configs
    from hts_lib.nn.nets import build_model
    from hts_lib.nn.training import resolve_device, run_from_config

    t_lib = time.perf_counter() - t
    # a run turns on torch's deterministic mode; its first call imports torch's compiler stack (sympy, ...)
    n_modules, t = len(sys.modules), time.perf_counter()
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.use_deterministic_algorithms(prev)
    startup = {
        "import_torch_s": t_import,
        "import_hts_lib_s": t_lib,
        "deterministic_mode_first_call_s": time.perf_counter() - t,
        "deterministic_mode_modules_imported": len(sys.modules) - n_modules,
    }
    summary = {"machine": machine(torch), "startup": startup}
    device = resolve_device(args.device)
    if device.type == "cpu" and args.device == "auto" and args.steps > 100:
        print(
            f"no CUDA device is visible (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
            "refusing a long VGG run on the CPU: pass --device cpu with a few --steps for a smoke check",
            file=sys.stderr,
        )
        return 2
    summary["machine"]["device"] = str(device)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hts_gpu_check_") as tmp:
        data_dir = Path(args.data_dir or tmp)
        t = time.perf_counter()
        write_synthetic_cifar10(data_dir, args.n_train, args.n_test)
        summary["startup"]["archive_build_s"] = time.perf_counter() - t
        if device.type == "cuda" and not args.no_warmup:
            summary["startup"].update(
                cuda_startup(
                    torch,
                    lambda: build_model("vgg", (3, 32, 32), 10, seed=0, width_scale=args.width_scale),
                    args.batch_size,
                )
            )
        overrides = {
            "eta": args.eta,
            "batch_size": args.batch_size,
            "n_steps": args.steps,
            "n_average": min(1000, args.steps),
            "eval_every": args.eval_every,
            "n_train": args.n_train,
            "n_test": args.n_test,
            "width_scale": args.width_scale,
            "data_dir": str(data_dir),
            "device": args.device,
            "sharpness": not args.no_sharpness,
            "sharpness_examples": args.sharpness_examples,
        }
        (config,) = grid_configs("paper-vgg", overrides)
        res = run_from_config(config)
    timings = res["timings"]
    train = max(timings.get("training_s", 0.0), 1e-12)
    summary["run"] = {
        "config": res["config"],
        "device": res["device"],
        "n_params": res["n_params"],
        "steps": args.steps,
        "diverged": res["diverged"],
        "timings": timings,
        "wall_time_s": res["wall_time_s"],
        "time_per_step_s": train / args.steps,
        "wall_over_training": res["wall_time_s"] / train,
        "metrics_average": res["metrics_average"],
        "sharpness": res["sharpness"],
        "alpha_stable": {k: v["alpha_stable"]["alpha"] for k, v in res["alpha"].items()},
    }
    if args.steps < 10_000:
        # the same run at 10,000 steps: training scales with the steps, evaluation with the number of
        # evaluations (step 0, every eval_every steps, the end, and the two final ones), the rest stays
        def n_evals(steps):
            return 1 + -(-steps // args.eval_every) + 2

        t_train = timings.get("training_s", 0.0) * 10_000 / args.steps
        t_eval = timings.get("evaluation_s", 0.0) * n_evals(10_000) / n_evals(args.steps)
        fixed = res["wall_time_s"] - timings.get("training_s", 0.0) - timings.get("evaluation_s", 0.0)
        summary["run"]["projected_10000_steps"] = {
            "wall_s": fixed + t_train + t_eval,
            "training_s": t_train,
            "evaluation_s": t_eval,
        }
    summary["load_average"] = [round(v, 2) for v in load]
    summary["total_script_s"] = time.perf_counter() - T_START
    summary["diagnosis"] = diagnosis(summary)
    text = json.dumps(summary, indent=1, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write_result:
        from _common import write_result

        m = summary["machine"]
        label = f"{m['device_name']} ({res['device']})"
        rows = [
            {
                "metric": f"VGG-11, {args.steps} steps, b={args.batch_size}: {k.removesuffix('_s')}",
                "value": v,
                "unit": "s",
                "baseline": train if k != "training_s" else None,
                "ratio": v / train if k != "training_s" else None,
                "target": "",
                "ok": None,
            }
            for k, v in timings.items()
        ]
        rows.append(
            {
                "metric": f"VGG-11, {args.steps} steps: run wall time (baseline: its training time)",
                "value": res["wall_time_s"],
                "unit": "s",
                "baseline": train,
                "ratio": res["wall_time_s"] / train,
                "target": f"ratio <= {GOAL_RATIO:g} at 10,000 steps",
                "ok": (res["wall_time_s"] / train <= GOAL_RATIO) if args.steps >= 10_000 else None,
            }
        )
        rows.append(
            {
                "metric": "time per training step",
                "value": train / args.steps,
                "unit": "s",
                "baseline": None,
                "ratio": None,
                "target": "",
                "ok": None,
            }
        )
        for k in (
            "import_torch_s",
            "import_hts_lib_s",
            "deterministic_mode_first_call_s",
            "cuda_init_s",
            "cuda_context_s",
            "model_to_device_s",
            "first_step_s",
            "second_step_s",
            "steady_step_s",
        ):
            if k in summary["startup"]:
                rows.append(
                    {
                        "metric": f"start-up: {k.removesuffix('_s').replace('_', ' ')}",
                        "value": summary["startup"][k],
                        "unit": "s",
                        "baseline": None,
                        "ratio": None,
                        "target": "",
                        "ok": None,
                    }
                )
        write_result(
            "gpu_vgg_check",
            rows,
            machine_device=label,
            script="benchmarks/gpu_vgg_check.py",
            torch=m["torch"],
            cuda=m["torch_cuda"],
            diagnosis=summary["diagnosis"],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
