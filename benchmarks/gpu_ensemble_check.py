"""CUDA check of the ensemble trainer: agreement with the per-run trainer on the GPU, and throughput.

Prints one JSON summary. Exits cleanly (status 0, with a message) when no CUDA device is present.

Checks, on the paper's fully connected net and the MNIST subset (offline):

1. agreement: 4 models (seeds 0-3, eta 0.01-0.05, b = 5, 300 steps, "permuted" data order) trained by
   ``train_ensemble`` on CUDA against ``train_sgd`` on CUDA with the same seeds: largest absolute difference
   of the averaged weights and of the minibatch losses (float32; TF32 matmuls are switched off for the check);
2. the same ensemble on CUDA against ``train_sgd`` on the CPU (different kernels: a looser agreement);
3. throughput in model-steps per second at b = 1 and b = 10 for 16, 64 and 256 stacked models, against
   ``train_sgd`` on CUDA (one model at a time), and the LeNet-sized CNN through the vmap engine.

Run: ``python benchmarks/gpu_ensemble_check.py`` (about a minute on one GPU).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rate(fn, n1=200, n2=1200, m=1):
    import torch

    def timed(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(n)
        torch.cuda.synchronize()
        return time.perf_counter() - t0

    timed(50)  # warm-up
    t1, t2 = min(timed(n1) for _ in range(2)), min(timed(n2) for _ in range(2))
    return m * (n2 - n1) / (t2 - t1)


def main() -> dict:
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"cuda": False, "message": "no CUDA device: nothing to check"}))
        return {}
    from hts_lib.nn.data import load_dataset
    from hts_lib.nn.ensemble import train_ensemble
    from hts_lib.nn.nets import build_model
    from hts_lib.nn.training import train_sgd

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ds = load_dataset("mnist_subset")
    out = {"cuda": True, "device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    seeds, etas = [0, 1, 2, 3], [0.01, 0.02, 0.03, 0.05]
    streams = [np.random.default_rng(s).spawn(3)[0] for s in seeds]
    nets = [build_model("fc", ds.input_shape, 10, seed=s) for s in seeds]
    ens = train_ensemble(
        nets,
        ds,
        etas,
        5,
        300,
        n_average=100,
        eval_every=100,
        data_order="permuted",
        seeds=streams,
        device="cuda",
    )
    for dev in ("cuda", "cpu"):
        dw, dl = 0.0, 0.0
        for i, s in enumerate(seeds):
            ref = train_sgd(
                build_model("fc", ds.input_shape, 10, seed=s),
                ds,
                etas[i],
                5,
                300,
                n_average=100,
                eval_every=100,
                data_order="permuted",
                seed=np.random.default_rng(s).spawn(3)[0],
                device=dev,
            )
            dw = max(dw, max(float(np.abs(ens[i].average[k] - ref.average[k]).max()) for k in ref.average))
            dl = max(dl, float(np.abs(ens[i].batch_losses - ref.batch_losses).max()))
        out[f"max_abs_diff_weights_vs_train_sgd_{dev}"] = dw
        out[f"max_abs_diff_losses_vs_train_sgd_{dev}"] = dl
    out["agrees_on_cuda"] = out["max_abs_diff_weights_vs_train_sgd_cuda"] < 1e-4
    for b in (1, 10):
        single = _rate(
            lambda n, b=b: train_sgd(
                build_model("fc", ds.input_shape, 10, seed=0),
                ds,
                0.01,
                b,
                n,
                n_average=1,
                eval_every=10**6,
                device="cuda",
            )
        )
        out[f"train_sgd_model_steps_per_s_b{b}"] = single
        for m in (16, 64, 256):

            def run(n, m=m, b=b):
                nets = [build_model("fc", ds.input_shape, 10, seed=s) for s in range(m)]
                train_ensemble(nets, ds, 0.01, b, n, n_average=1, eval_every=10**6, device="cuda")

            r = _rate(run, m=m)
            out[f"ensemble_fc_model_steps_per_s_b{b}_m{m}"] = r
            out[f"ensemble_fc_speedup_b{b}_m{m}"] = r / single

    def lenet(n, m=16):
        nets = [build_model("lenet", ds.input_shape, 10, seed=s) for s in range(m)]
        train_ensemble(nets, ds, 0.01, 10, n, n_average=1, eval_every=10**6, device="cuda")

    out["ensemble_lenet_model_steps_per_s_b10_m16"] = _rate(lenet, n1=100, n2=600, m=16)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
