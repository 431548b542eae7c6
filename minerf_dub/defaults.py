"""Defaults of a dub that the command line shows without importing the pipeline."""

DEFAULT_EXPRESSION_GAIN = 2.0
"""The dub's default :attr:`DubOptions.expression_gain`. The fast field renders only part of
an expression's mouth motion (a dub's opening varied a quarter as much as the real one's);
on the self-dub benchmark (3 people no model saw, docs/dubbing.md) gain 2 doubled that spread
(0.23 -> 0.46 of the real one), raised the opening's correlation with the real mouth (0.45 ->
0.50, against 0.16 -> 0.03 with shuffled audio) and cost 0.45 dB of face-crop PSNR; gain 3
reached 0.75 of the spread for 1.1 dB and blotches on a 3/4 view. On three more people,
checked after the choice: spread 0.19 -> 0.31, r 0.10 -> 0.24, -0.27 dB."""

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
