"""The built-in synthetic corpus: a source-filter speech synthesiser with a gender-leakage dial.

Each utterance is a string of consonant-vowel syllables rendered from first principles: a
Rosenberg glottal pulse train at the speaker's F0 contour (with jitter, shimmer, spectral tilt and
breath noise) drives a cascade of formant resonators for the vowel and nasal sounds; fricatives
and plosive bursts are band-passed noise. Speakers differ in mean F0, vocal-tract length (which
scales every formant), speaking rate and voice quality; emotions act through prosody (F0 level and
range, loudness, rate, tilt, voice quality), all relative to the speaker, so they carry no gender.

``gender_effect`` moves the female and male means of every speaker trait from one shared middle
(0: gender leaves no trace at all in the audio) to realistic separation (1). Every random draw is
keyed by (seed, speaker index, utterance index) and made in a fixed order with fixed sizes, so
gender never influences which numbers are drawn, and a sweep over ``gender_effect`` changes the
audio smoothly. Utterances are synthesised on demand, each from its own seed, so reading one alone
gives the same samples as reading the whole corpus.

Modules: ``params`` (SyntheticParams and its option parsing), ``voices`` (trait, emotion and
phonetic tables), ``layout`` (speakers, labels, random streams), ``dsp`` (filters, smoothing,
loudness), ``speech`` (one utterance), ``corpus`` (the Corpus object).
"""

from __future__ import annotations

from privacy_checks.data.synthetic.corpus import SYNTH_VERSION, corpus_name, make_synthetic_corpus, speaker_traits
from privacy_checks.data.synthetic.params import EMOTION_SETS, SyntheticParams
from privacy_checks.data.synthetic.speech import synthesize_utterance
from privacy_checks.data.synthetic.voices import Speaker

__all__ = [
    "EMOTION_SETS",
    "SYNTH_VERSION",
    "Speaker",
    "SyntheticParams",
    "corpus_name",
    "make_synthetic_corpus",
    "speaker_traits",
    "synthesize_utterance",
]
