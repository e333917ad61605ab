"""Video-XL (``sy1998/Video_XL``): LongVA's vision side, Qwen2 with visual summarization
("beacon") tokens, and a streaming windowed prefill whose memory is set by the beacons.

``config`` (typed ``config.json``), ``beacon`` (the windowed prefill and its KV cache),
``model`` (connector with the beacon weights, the model object, its engine), ``family``
(registration), ``testing`` (a tiny random checkpoint in the released layout). See docs/videoxl.md.
"""
