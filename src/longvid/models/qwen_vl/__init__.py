"""Qwen2.5-VL, run through transformers' own classes, with longvid's sampling and compression.

``QwenVLModel`` (model.py) loads a released folder or hub id with
``Qwen2_5_VLForConditionalGeneration``; ``preprocess.py`` lays out the video pixels as the
released processor does; ``engine.py`` answers questions (``ask``/``run``) with longvid's
``Answer``; ``family.py`` registers the ``qwen2_5_vl`` family; ``testing.py`` writes a tiny
random checkpoint. See docs/qwen_vl.md.
"""
