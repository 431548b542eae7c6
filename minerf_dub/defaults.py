"""Defaults of a dub that the command line shows without importing the pipeline."""

DEFAULT_EXPRESSION_GAIN = 3.0
"""The dub's default :attr:`DubOptions.expression_gain`. The fast field renders only part of
an expression's mouth motion, and audio2exp predicts less motion than a person makes
(``audio2exp-whisper-b3-pd19``: 0.62 of the tracked opening's spread on unseen speakers). On
the self-dub benchmark (6 people no model saw, 1200 personalization steps, docs/dubbing.md)
with that network, gain 3 against 2: the dub's opening spread 0.53 against 0.33 of the real
one, the opening's correlation with the real mouth 0.38 against 0.36 (-0.07 / -0.05 with
shuffled audio), own-audio landmark distance further below the shuffled control (0.0026
against 0.0015), 0.36 dB less face-crop PSNR. Gain 2 was the default with the earlier
``audio2exp-whisper-pd19`` (0.75 of the spread). With the speaker lift (the default,
:attr:`DubOptions.speaker_lift`) gain 3 again beat 2 on the same six: opening r 0.495 against
0.49, spread 0.72 against 0.53, 27.1 against 27.4 dB."""

DEMO_EXPRESSION_GAIN = 2.0
"""``minerf-dub --demo``'s expression gain (when ``--expression-gain`` is not given): the demo
trains its own small audio2exp on the portrait, and its numbers (:data:`DEMO_PERSONALIZE_STEPS`)
were measured at gain 2."""

DEFAULT_PERSONALIZE_STEPS = 1200
"""The dub's default :attr:`DubOptions.personalize_steps` for a person the run does not know.
Re-rendering the own tracked expressions of three unseen people (talk_woman_c / vox_00086 /
vox_actor, docs/dubbing.md), 1200 steps against 600: rendered-vs-real opening r 0.73 / 0.88 /
0.88 against 0.39 / 0.84 / 0.84, opening spread 0.45 / 0.45 / 1.00 against 0.36 / 0.43 /
0.63, face-crop PSNR +1.6 / +0.9 / +0.8 dB. On vox_actor 2400 steps were no better (spread
0.78, r 0.90). It costs: a 10 s dub of a 5 s unseen video took 210 s on 2 CPU cores (personalize
162 s), against 98 s at 600 steps."""

DEMO_PERSONALIZE_STEPS = 600
"""``minerf-dub --demo``'s personalization steps (when ``--personalize-steps`` is not given).
On the built-in portrait (benchmarks/demo_dub.py, 2 CPU cores) 600 steps beat 1200 on every
count: 94 s against 192 s, the dub's opening spread 0.74 against 0.49 of the source's, its
dark-mouth area against the speech envelope r 0.77 against 0.73."""


DEFAULT_SPEAKER_LIFT = True
"""The dub's default :attr:`DubOptions.speaker_lift` (docs/dubbing.md, "Speaker lift": on the
six-person self-dub, opening r 0.38 -> 0.495 and spread 0.53 -> 0.72 at gain 3)."""

DEMO_SPEAKER_LIFT = False
"""``minerf-dub --demo``'s :attr:`DubOptions.speaker_lift` (when neither ``--speaker-lift`` nor
``--no-speaker-lift`` is given). The demo's audio2exp is trained on the portrait itself, so
its predictions already move the portrait's own mix of coefficients, and the lift only takes
from it: on benchmarks/demo_dub.py the lift cut the dub's opening spread from 0.74 to 0.39 of
the source's and its dark-mouth area against the speech envelope from r 0.77 to 0.66."""


def dub_defaults(personalize_steps: int | None, expression_gain: float | None, demo: bool, speaker_lift: bool | None = None) -> tuple[int, float, bool]:
    """The personalization steps, expression gain and speaker lift of a dub: the given values,
    else the defaults (``--demo``'s own when ``demo``)."""
    steps = personalize_steps if personalize_steps is not None else (DEMO_PERSONALIZE_STEPS if demo else DEFAULT_PERSONALIZE_STEPS)
    gain = expression_gain if expression_gain is not None else (DEMO_EXPRESSION_GAIN if demo else DEFAULT_EXPRESSION_GAIN)
    lift = speaker_lift if speaker_lift is not None else (DEMO_SPEAKER_LIFT if demo else DEFAULT_SPEAKER_LIFT)
    return steps, gain, lift
