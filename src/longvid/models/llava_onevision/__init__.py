"""LLaVA-OneVision, run through transformers' own class, with longvid's sampling and compression.

``OnevisionModel`` (model.py) loads a released folder or hub id with transformers'
``LlavaOnevisionForConditionalGeneration``; ``preprocess.py`` lays out the video pixels as its
video processor does (plain torch); ``engine.py`` answers questions with longvid's ``Answer``;
``family.py`` registers the ``llava_onevision`` family; ``testing.py`` writes tiny random
checkpoints. See docs/llava_onevision.md.
"""
