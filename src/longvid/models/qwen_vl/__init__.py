"""Qwen2-VL and Qwen2.5-VL, run through transformers' own classes, with longvid's sampling and compression.

``QwenVLModel`` (model.py) loads a released folder or hub id with transformers'
``Qwen2VLForConditionalGeneration`` or ``Qwen2_5_VLForConditionalGeneration`` (``variants.py``
holds what differs between the two); ``preprocess.py`` lays out the video pixels as the released
processor does; ``engine.py`` answers questions (``ask``/``run``) with longvid's ``Answer``;
``family.py`` registers the ``qwen2_vl`` and ``qwen2_5_vl`` families; ``testing.py`` writes tiny
random checkpoints. See docs/qwen_vl.md.
"""
