"""LLaMA-VID (``YanweiLi/llama-vid-*``): EVA-ViT-G, a Q-Former reading the question, two tokens per frame, Vicuna.

``config`` (typed config), ``family`` (registered as ``llama_vid``), ``modules`` (Q-Former,
projectors), ``model`` (the model object and its subtitle-interleaving engine), ``cache``
(per-frame features on disk), ``testing`` (a tiny random checkpoint in the released layout).
See docs/llama_vid.md.
"""
