"""The needles of the 20-minute test video: where they are and how they are asked for."""

from __future__ import annotations

from dataclasses import dataclass

from longvid.offline.synth import Needle


@dataclass(frozen=True)
class Probe:
    needle: Needle
    query: str  # for search
    question: str  # for ask
    expect: str  # a word the answer must contain (lower case)


# depths 0%, 25%, 50%, 75%, 100% of the video; on-screen only, spoken only, and both
PROBES = (
    Probe(Needle(2.0, "Password: PINEAPPLE", "The secret password is pineapple."),
          "secret password", "What is the secret password?", "pineapple"),
    Probe(Needle(300.0, "", "The conference will be held in Lisbon."),
          "conference city", "Where will the conference be held?", "lisbon"),
    Probe(Needle(600.0, "Vault code 5821", ""), "vault code", "What is the vault code?", "5821"),
    Probe(Needle(900.0, "", "The red balloon flew over the old castle."),
          "balloon castle", "What flew over the old castle?", "balloon"),
    Probe(Needle(1186.0, "Final chapter: Mount Everest", "", show_s=12.0),
          "final chapter", "What is the final chapter about?", "everest"),
)
SPOKEN = {1, 3}  # probes whose only trace is speech
