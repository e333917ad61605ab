"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL, run through transformers' own classes, with longvid's sampling and compression.

``QwenVLModel`` (model.py) loads a released folder or hub id with transformers'
``Qwen2VLForConditionalGeneration``, ``Qwen2_5_VLForConditionalGeneration`` or
``Qwen3VLForConditionalGeneration`` (``variants.py`` holds what differs between them); ``preprocess.py`` lays out the video pixels as the released
processor does; ``engine.py`` answers questions (``ask``/``run``) with longvid's ``Answer``;
``family.py`` registers the ``qwen2_vl``, ``qwen2_5_vl`` and ``qwen3_vl`` families; ``testing.py`` writes tiny
random checkpoints. See docs/qwen_vl.md.
"""
