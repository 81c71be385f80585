"""Who speaks and how: speaker trait tables, emotion styles, and the phonetic inventory.

Speaker traits have female and male population means; emotions act through prosody relative to the
speaker, so they carry no gender. Segment tables (vowels, consonants, rhythm) are the same for all.
"""

from __future__ import annotations

from dataclasses import dataclass

SPONTANEITY = ("improvised", "scripted")

# --- speakers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trait:
    """A speaker trait: female and male population means and the within-gender spread."""

    female: float
    male: float
    sd: float

    def value(self, gender: str, gender_effect: float, z: float) -> float:
        middle = (self.female + self.male) / 2
        typical = self.female if gender == "female" else self.male
        # At gender_effect 0 this is exactly `middle + sd * z` for both genders.
        return middle + gender_effect * (typical - middle) + self.sd * z


# Adult means from the phonetics literature (F0, vocal-tract length); the rest are plausible
# voice-quality differences (women's voices somewhat breathier with a steeper tilt).
TRAITS = {
    "f0_hz": Trait(female=210.0, male=115.0, sd=18.0),
    "vtl_cm": Trait(female=14.5, male=17.0, sd=0.6),
    "rate": Trait(female=0.97, male=1.03, sd=0.08),  # syllables per second relative to 4.5
    "breathiness": Trait(female=0.30, male=0.18, sd=0.06),  # breath-noise / voicing level
    "tilt": Trait(female=0.55, male=0.45, sd=0.08),  # one-pole low-pass coefficient on the flow
    "open_quotient": Trait(female=0.65, male=0.55, sd=0.05),  # open fraction of a glottal cycle
    "f0_range_st": Trait(female=3.0, male=3.0, sd=0.7),  # pitch-accent height, semitones
    "jitter": Trait(female=0.01, male=0.01, sd=0.003),  # relative period perturbation
    "shimmer": Trait(female=0.05, male=0.05, sd=0.015),  # relative amplitude perturbation
    "gain_db": Trait(female=0.0, male=0.0, sd=1.5),  # habitual loudness
}
Z_CLIP = 2.5  # keeps every trait physiologically plausible


@dataclass(frozen=True)
class Speaker:
    id: str
    gender: str
    session: str
    f0_hz: float
    vtl_cm: float
    rate: float
    breathiness: float
    tilt: float
    open_quotient: float
    f0_range_st: float
    jitter: float
    shimmer: float
    gain_db: float


# --- emotions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmotionStyle:
    """How an emotion changes the speaker's delivery; every F0 effect is a ratio or in semitones."""

    f0_scale: float = 1.0
    range_scale: float = 1.0  # multiplies pitch accents and declination
    gain_db: float = 0.0
    rate_scale: float = 1.0
    tilt_shift: float = 0.0  # + darker (lax voice), - brighter (pressed voice)
    breath_scale: float = 1.0
    oq_shift: float = 0.0
    jitter_scale: float = 1.0
    final_st: float = -1.0  # F0 movement over the last syllable: fall < 0 < rise


EMOTION_STYLES = {
    "neutral": EmotionStyle(),
    "calm": EmotionStyle(0.96, 0.7, -3.0, 0.9, 0.10, 1.2, 0.05, 1.0, -1.5),
    "happy": EmotionStyle(1.22, 1.6, 3.0, 1.1, -0.10, 1.0, -0.03, 1.0, 1.0),
    "sad": EmotionStyle(0.90, 0.5, -6.0, 0.8, 0.20, 1.5, 0.08, 1.3, -2.0),
    "angry": EmotionStyle(1.20, 1.3, 6.0, 1.15, -0.25, 0.6, -0.15, 1.5, -2.0),
    "fearful": EmotionStyle(1.35, 0.8, 0.0, 1.2, 0.0, 1.6, 0.05, 2.5, 1.0),
    "disgust": EmotionStyle(0.92, 1.1, -1.0, 0.8, 0.10, 1.1, -0.05, 1.0, -3.0),
    "surprised": EmotionStyle(1.35, 2.0, 3.0, 1.0, -0.10, 1.2, 0.0, 1.0, 5.0),
}

# --- phonetics ------------------------------------------------------------------------------------

REFERENCE_VTL_CM = 17.0  # the tract the formant table below describes
# Peterson & Barney (1952) adult-male vowels, F1..F4 in Hz.
VOWEL_FORMANTS = {
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "e": (530.0, 1840.0, 2480.0, 3500.0),
    "i": (270.0, 2290.0, 3010.0, 3700.0),
    "o": (570.0, 840.0, 2410.0, 3300.0),
    "u": (300.0, 870.0, 2240.0, 3200.0),
}
FORMANT_BANDWIDTHS = (70.0, 100.0, 140.0, 200.0)
NASAL_FORMANTS = (250.0, 1100.0, 2300.0, 3300.0)  # murmur of /m/ and /n/
NASAL_BANDWIDTHS = (80.0, 200.0, 250.0, 300.0)
NASAL_LEVEL = 0.35
VOWELS = tuple(VOWEL_FORMANTS)


@dataclass(frozen=True)
class Consonant:
    kind: str  # "fricative" | "plosive" | "nasal"
    noise_hz: float = 0.0  # centre of the noise band for the reference tract
    noise_bw: float = 0.0
    level: float = 0.0  # noise RMS relative to the vowels' RMS


CONSONANTS = {
    "s": Consonant("fricative", 5500.0, 3000.0, 0.35),
    "sh": Consonant("fricative", 3000.0, 1500.0, 0.40),
    "f": Consonant("fricative", 4000.0, 5000.0, 0.12),
    "p": Consonant("plosive", 900.0, 1200.0, 0.30),
    "t": Consonant("plosive", 4000.0, 2500.0, 0.50),
    "k": Consonant("plosive", 2000.0, 1200.0, 0.45),
    "m": Consonant("nasal"),
    "n": Consonant("nasal"),
}
CONSONANT_NAMES = tuple(CONSONANTS)
BURST_S = 0.012
CLOSURE_FRACTION = 0.55  # of a plosive's duration; the rest is the burst and aspiration


@dataclass(frozen=True)
class Rhythm:
    duration_sd: float  # log-normal spread of segment durations
    pause_probability: float
    pause_s: tuple[float, float]


# Read speech is more regular than improvised speech: steadier syllables, fewer and shorter pauses.
RHYTHMS = {
    "scripted": Rhythm(0.12, 0.08, (0.08, 0.20)),
    "improvised": Rhythm(0.28, 0.20, (0.10, 0.35)),
}
CONSONANT_S, VOWEL_S = 0.08, 0.14  # mean segment durations at rate 1 (about 4.5 syllables/s)
ACCENT_PROBABILITY = 0.35
