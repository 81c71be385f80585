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
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter, resample_poly, sosfilt

from privacy_checks.data.records import GENDERS, Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

SYNTH_VERSION = 1  # bump whenever the synthesiser's output changes: it is part of the fingerprint

EMOTION_SETS = {
    4: ("neutral", "happy", "angry", "sad"),  # as IEMOCAP is usually used
    8: ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),  # RAVDESS
}
SPONTANEITY = ("improvised", "scripted")
PEAK_LIMIT = 0.98
TARGET_RMS = 0.05  # neutral loudness before the speaker's and the emotion's gain

# --- speakers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trait:
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
    "f0_hz": _Trait(female=210.0, male=115.0, sd=18.0),
    "vtl_cm": _Trait(female=14.5, male=17.0, sd=0.6),
    "rate": _Trait(female=0.97, male=1.03, sd=0.08),  # syllables per second relative to 4.5
    "breathiness": _Trait(female=0.30, male=0.18, sd=0.06),  # breath-noise / voicing level
    "tilt": _Trait(female=0.55, male=0.45, sd=0.08),  # one-pole low-pass coefficient on the flow
    "open_quotient": _Trait(female=0.65, male=0.55, sd=0.05),  # open fraction of a glottal cycle
    "f0_range_st": _Trait(female=3.0, male=3.0, sd=0.7),  # pitch-accent height, semitones
    "jitter": _Trait(female=0.01, male=0.01, sd=0.003),  # relative period perturbation
    "shimmer": _Trait(female=0.05, male=0.05, sd=0.015),  # relative amplitude perturbation
    "gain_db": _Trait(female=0.0, male=0.0, sd=1.5),  # habitual loudness
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
class _Rhythm:
    duration_sd: float  # log-normal spread of segment durations
    pause_probability: float
    pause_s: tuple[float, float]


# Read speech is more regular than improvised speech: steadier syllables, fewer and shorter pauses.
RHYTHMS = {
    "scripted": _Rhythm(0.12, 0.08, (0.08, 0.20)),
    "improvised": _Rhythm(0.28, 0.20, (0.10, 0.35)),
}
CONSONANT_S, VOWEL_S = 0.08, 0.14  # mean segment durations at rate 1 (about 4.5 syllables/s)
ACCENT_PROBABILITY = 0.35

# --- parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticParams:
    speakers: int = 20  # total, half female half male; even, >= 2
    utterances: int = 20  # per speaker; >= 1
    gender_effect: float = 1.0  # 0: gender leaves no trace in the audio; 1: realistic
    seed: int = 0
    emotions: int = 4  # 4 (IEMOCAP-like) or 8 (RAVDESS-like)
    duration: float = 2.0  # seconds per utterance (every utterance has exactly this length)
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        # Coerce to plain int/float so equal settings give one name and one fingerprint.
        for name in ("speakers", "utterances", "seed", "emotions", "sample_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise PrivacyInputError(f"synthetic: {name}={value!r} must be an integer")
            object.__setattr__(self, name, int(value))
        for name in ("gender_effect", "duration"):
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                raise PrivacyInputError(f"synthetic: {name}={value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        problems = self._problems()
        if problems:
            raise PrivacyInputError("synthetic: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        if self.speakers < 2 or self.speakers % 2:
            problems.append(
                f"speakers={self.speakers} must be an even number >= 2 (the corpus is half "
                f"female, half male); use e.g. speakers={max(2, self.speakers + self.speakers % 2)}"
            )
        if self.utterances < 1:
            problems.append(f"utterances={self.utterances} must be >= 1 (per speaker)")
        if not 0.0 <= self.gender_effect <= 1.0:
            problems.append(f"gender_effect={self.gender_effect} must be between 0 and 1")
        if self.seed < 0:
            problems.append(f"seed={self.seed} must be >= 0")
        if self.emotions not in EMOTION_SETS:
            problems.append(f"emotions={self.emotions} must be 4 or 8")
        if not 0.5 <= self.duration <= 30.0:
            problems.append(f"duration={self.duration} must be between 0.5 and 30 (seconds)")
        if not 8000 <= self.sample_rate <= 48000:
            problems.append(f"sample_rate={self.sample_rate} must be between 8000 and 48000 (Hz)")
        return problems

    @classmethod
    def from_options(cls, options: Mapping[str, str], origin: str = "--privacy-data") -> SyntheticParams:
        """Parse the ``key=value`` options of a ``synthetic:...`` spec (all values strings).

        ``origin`` names where the options came from, for the error message.
        """
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = [key for key in options if key not in defaults]
        if unknown:
            raise PrivacyInputError(
                f"{origin} synthetic: unknown key {unknown[0]!r}; valid keys: {', '.join(defaults)}"
            )
        values = {}
        for key, text in options.items():
            kind = type(defaults[key])
            try:
                values[key] = kind(str(text).strip())
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise PrivacyInputError(
                    f"{origin} synthetic: {key}={text!r} is not {what}; write e.g. {key}={defaults[key]}"
                ) from None
        try:
            return cls(**values)
        except PrivacyInputError as error:
            raise PrivacyInputError(f"{origin} {error}") from None

    @property
    def emotion_names(self) -> tuple[str, ...]:
        return EMOTION_SETS[self.emotions]

    @property
    def n_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))

    def canonical(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))


# --- corpus layout --------------------------------------------------------------------------------

_SPEAKER_STREAM, _UTTERANCE_STREAM = 0, 1  # keep speaker and utterance seeds apart


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def _speaker(params: SyntheticParams, index: int) -> Speaker:
    """Speaker ``index``: even indices are female, odd male; session k pairs speakers 2k, 2k+1."""
    gender = GENDERS[index % 2]
    # The deviations are drawn before gender is looked at, so gender cannot change them.
    z = _rng(params.seed, _SPEAKER_STREAM, index).standard_normal(len(TRAITS))
    z = np.clip(z, -Z_CLIP, Z_CLIP)
    traits = {
        name: float(trait.value(gender, float(params.gender_effect), z[k]))
        for k, (name, trait) in enumerate(TRAITS.items())
    }
    return Speaker(
        id=f"syn{params.seed}-{gender[0].upper()}{index // 2 + 1:02d}",
        gender=gender,
        session=_session(index),
        **traits,
    )


def _session(speaker_index: int) -> str:
    return f"S{speaker_index // 2 + 1:02d}"


def _utterance_labels(params: SyntheticParams, speaker_index: int, local: int) -> tuple[str, str]:
    """(emotion, spontaneity), cycled per speaker, offset by session: both genders get the same."""
    names = params.emotion_names
    session = speaker_index // 2
    emotion = names[(local + session) % len(names)]
    spontaneity = SPONTANEITY[(local // len(names) + session) % 2]
    return emotion, spontaneity


def speaker_traits(params: SyntheticParams) -> list[dict]:
    """Each speaker's id, gender, session and voice parameters, in corpus order."""
    return [asdict(_speaker(params, i)) for i in range(params.speakers)]


def _utterance_record(params: SyntheticParams, speaker: Speaker, speaker_index: int, local: int) -> Utterance:
    emotion, spontaneity = _utterance_labels(params, speaker_index, local)
    return Utterance(
        id=f"{speaker.id}-{local:03d}",
        speaker=speaker.id,
        gender=speaker.gender,
        emotion=emotion,
        session=speaker.session,
        spontaneity=spontaneity,
    )


# --- signal helpers -------------------------------------------------------------------------------


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Two passes of a centred moving average (a triangular window): cheap ramps and crossfades."""
    return uniform_filter1d(uniform_filter1d(x, width, mode="constant"), width, mode="constant")


def _resonator(freq: float, bandwidth: float, sample_rate: int) -> list[float]:
    """Klatt's second-order formant resonator (unit gain at 0 Hz), as one SOS row."""
    r = math.exp(-math.pi * bandwidth / sample_rate)
    c = 2 * r * math.cos(2 * math.pi * freq / sample_rate)
    return [1 - c + r * r, 0.0, 0.0, 1.0, -c, r * r]


def _bandpass(freq: float, bandwidth: float, sample_rate: int) -> tuple[list[float], list[float]]:
    """Second-order band-pass (zeros at 0 Hz and Nyquist, unit gain at ``freq``): noise shaping."""
    r = math.exp(-math.pi * bandwidth / sample_rate)
    c = 2 * r * math.cos(2 * math.pi * freq / sample_rate)
    g = (1 - r * r) / 2
    return [g, 0.0, -g], [1.0, -c, r * r]


def _formant_sos(formants, bandwidths, scale: float, sample_rate: int) -> np.ndarray:
    """Resonator cascade for one tract shape, scaled by reference/speaker VTL; none near Nyquist."""
    rows = [
        _resonator(f * scale, b * scale, sample_rate)
        for f, b in zip(formants, bandwidths)
        if f * scale < 0.45 * sample_rate
    ]
    return np.array(rows)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


# --- one utterance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draws:
    """Every random number one utterance uses, drawn up front in a fixed order and fixed sizes.

    Sizes depend only on duration and sample rate, so the i-th syllable (or sample of noise) gets
    the same numbers whatever the speaker's gender, rate or emotion.
    """

    # (max syllables, 6) uniforms: consonant, vowel, accent?, accent height, pause?, pause length
    syllable_u: np.ndarray
    syllable_z: np.ndarray  # (max syllables, 2) normals: consonant and vowel duration
    utterance_z: np.ndarray  # (3,) normals: rate, F0 level, lead-in silence
    wander_z: np.ndarray  # slow F0 drift, one point per quarter second
    cycle_z: np.ndarray  # (2, max glottal cycles): jitter, shimmer
    breath_noise: np.ndarray  # (n,)
    burst_noise: np.ndarray  # (n,)

    @classmethod
    def draw(cls, rng: np.random.Generator, duration: float, n: int) -> _Draws:
        max_syllables = int(duration * 12) + 2
        return cls(
            syllable_u=rng.random((max_syllables, 6)),
            syllable_z=rng.standard_normal((max_syllables, 2)),
            utterance_z=rng.standard_normal(3),
            wander_z=rng.standard_normal(int(duration * 4) + 2),
            cycle_z=rng.standard_normal((2, int(duration * 800) + 1)),
            breath_noise=rng.standard_normal(n),
            burst_noise=rng.standard_normal(n),
        )


@dataclass(frozen=True)
class _Syllable:
    start: float  # seconds
    consonant: str
    consonant_s: float
    vowel: str
    vowel_s: float
    accent_st: float  # pitch-accent height; 0 when unaccented

    @property
    def vowel_start(self) -> float:
        return self.start + self.consonant_s

    @property
    def end(self) -> float:
        return self.vowel_start + self.vowel_s


def _plan_syllables(
    draws: _Draws, duration: float, rate: float, rhythm: _Rhythm, accent_scale: float
) -> list[_Syllable]:
    """Consonant-vowel syllables and pauses filling the utterance; the first one always fits."""
    t = 0.05 + 0.03 * abs(draws.utterance_z[2])
    end = duration - 0.05
    syllables = []
    for k, (u, z) in enumerate(zip(draws.syllable_u, draws.syllable_z)):
        if k and u[4] < rhythm.pause_probability:
            t += rhythm.pause_s[0] + u[5] * (rhythm.pause_s[1] - rhythm.pause_s[0])
        accent = accent_scale * (0.5 + u[3]) if u[2] < ACCENT_PROBABILITY else 0.0
        consonant_s = CONSONANT_S * math.exp(rhythm.duration_sd * z[0]) / rate
        vowel_s = VOWEL_S * math.exp(rhythm.duration_sd * z[1]) * (1.3 if accent else 1.0) / rate
        if syllables and t + consonant_s + vowel_s > end:
            break
        syllables.append(
            _Syllable(
                start=t,
                consonant=CONSONANT_NAMES[int(u[0] * len(CONSONANT_NAMES))],
                consonant_s=consonant_s,
                vowel=VOWELS[int(u[1] * len(VOWELS))],
                vowel_s=vowel_s,
                accent_st=accent,
            )
        )
        t += consonant_s + vowel_s
    return syllables


def _f0_contour(
    syllables: list[_Syllable], draws: _Draws, base_hz: float, style: EmotionStyle, n: int, sr: int
) -> np.ndarray:
    """F0 in Hz per sample: declination, pitch accents, slow drift and a final rise or fall."""
    t = np.arange(n) / sr
    duration = n / sr
    semitones = -2.0 * style.range_scale * t / duration
    semitones += np.interp(t, np.linspace(0, duration, len(draws.wander_z)), 0.4 * draws.wander_z)
    for syllable in syllables:
        if syllable.accent_st:
            lo, hi = syllable.vowel_start - 0.05, syllable.end + 0.05
            inside = (t >= lo) & (t < hi)
            bump = 0.5 * (1 - np.cos(2 * np.pi * (t[inside] - lo) / (hi - lo)))
            semitones[inside] += syllable.accent_st * bump
    last = syllables[-1]
    semitones += style.final_st * np.clip((t - last.vowel_start) / last.vowel_s, 0.0, 1.0)
    return np.clip(base_hz * 2.0 ** (semitones / 12.0), 50.0, min(700.0, 0.2 * sr))


def _glottal_source(
    f0: np.ndarray, cycle_z: np.ndarray, speaker: Speaker, style: EmotionStyle, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow at the F0 contour -> (flow derivative with unit RMS, flow in [0, 1]).

    Jitter and shimmer are drawn per glottal cycle; the derivative includes lip radiation.
    """
    open_quotient = float(np.clip(speaker.open_quotient + style.oq_shift, 0.3, 0.9))
    tilt = float(np.clip(speaker.tilt + style.tilt_shift, 0.0, 0.95))
    jitter = speaker.jitter * style.jitter_scale
    jitter_z, shimmer_z = cycle_z
    last_cycle = len(jitter_z) - 1
    nominal_cycle = np.minimum(np.cumsum(f0 / sr).astype(np.int64), last_cycle)
    phase = np.cumsum(f0 * (1 + jitter * jitter_z[nominal_cycle]) / sr)
    cycle = np.minimum(phase.astype(np.int64), last_cycle)
    frac = phase - np.floor(phase)
    opening, closing = 0.6 * open_quotient, 0.4 * open_quotient
    flow = np.where(
        frac < opening,
        0.5 * (1 - np.cos(np.pi * frac / opening)),
        np.where(frac < opening + closing, np.cos(0.5 * np.pi * (frac - opening) / closing), 0.0),
    )
    flow *= 1 + speaker.shimmer * shimmer_z[cycle]
    tilted = lfilter([1 - tilt], [1.0, -tilt], flow)
    derivative = np.diff(tilted, prepend=tilted[0])
    return derivative / max(_rms(derivative), 1e-12), flow


def _seconds_to_sample(t: float, sr: int, n: int) -> int:
    return min(max(int(round(t * sr)), 0), n)


def _articulation(syllables: list[_Syllable], n: int, sr: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per-sample voicing level, plosive-aspiration gate, and the weight of each tract shape."""
    voicing, aspiration = np.zeros(n), np.zeros(n)
    shapes = {name: np.zeros(n) for name in (*VOWELS, "nasal")}
    for s in syllables:
        c0, v0, v1 = (_seconds_to_sample(x, sr, n) for x in (s.start, s.vowel_start, s.end))
        kind = CONSONANTS[s.consonant].kind
        voicing[v0:v1] = 1.0 + 0.05 * s.accent_st  # accented vowels are a little louder
        shapes[s.vowel][c0:v1] = 1.0  # coarticulation: the tract takes the vowel's shape early
        if kind == "nasal":
            voicing[c0:v0] = NASAL_LEVEL
            shapes[s.vowel][c0:v0] = 0.0
            shapes["nasal"][c0:v0] = 1.0
        elif kind == "plosive":
            release = s.start + CLOSURE_FRACTION * s.consonant_s + BURST_S
            aspiration[_seconds_to_sample(release, sr, n) : v0] = 0.5
    ramp = max(int(0.008 * sr), 2)
    crossfade = max(int(0.025 * sr), 2)
    weights = {k: _smooth(v, crossfade) for k, v in shapes.items() if v.any()}
    return _smooth(voicing, ramp), _smooth(aspiration, ramp), weights


def _frication(syllables: list[_Syllable], noise: np.ndarray, scale: float, n: int, sr: int) -> np.ndarray:
    """Band-passed noise for fricatives and plosive bursts: front-cavity sources, so not sent
    through the vowel tract. Unit level = the RMS of the voiced speech."""
    out = np.zeros(n)
    for s in syllables:
        consonant = CONSONANTS[s.consonant]
        if consonant.kind == "fricative":
            lo, hi = s.start, s.vowel_start
        elif consonant.kind == "plosive":
            lo = s.start + CLOSURE_FRACTION * s.consonant_s
            hi = lo + BURST_S
        else:
            continue
        a, b = _seconds_to_sample(lo, sr, n), _seconds_to_sample(hi, sr, n)
        if b - a < 4:
            continue
        freq = min(consonant.noise_hz * scale, 0.42 * sr)
        num, den = _bandpass(freq, min(consonant.noise_bw * scale, 0.3 * sr), sr)
        shaped = lfilter(num, den, noise[a:b])
        if consonant.kind == "fricative":
            envelope = np.hanning(b - a)
        else:
            envelope = np.exp(-np.arange(b - a) / (0.3 * (b - a)))
        out[a:b] = consonant.level * envelope * shaped / max(_rms(shaped), 1e-12)
    return out


def _render(
    params: SyntheticParams,
    speaker: Speaker,
    emotion: str,
    spontaneity: str,
    rng: np.random.Generator,
) -> np.ndarray:
    sr, n = params.sample_rate, params.n_samples
    style = EMOTION_STYLES[emotion]
    draws = _Draws.draw(rng, params.duration, n)
    rate = speaker.rate * style.rate_scale * math.exp(0.05 * draws.utterance_z[0])
    accent_st = speaker.f0_range_st * style.range_scale
    syllables = _plan_syllables(draws, params.duration, rate, RHYTHMS[spontaneity], accent_st)

    base_hz = speaker.f0_hz * style.f0_scale * math.exp(0.03 * draws.utterance_z[1])
    f0 = _f0_contour(syllables, draws, base_hz, style, n, sr)
    voiced, flow = _glottal_source(f0, draws.cycle_z, speaker, style, sr)
    voicing, aspiration, shapes = _articulation(syllables, n, sr)
    breath = speaker.breathiness * style.breath_scale * draws.breath_noise * (0.3 + flow)
    excitation = voicing * (voiced + breath) + aspiration * draws.burst_noise

    scale = REFERENCE_VTL_CM / speaker.vtl_cm
    speech = np.zeros(n)
    for shape, weight in shapes.items():
        if shape == "nasal":
            sos = _formant_sos(NASAL_FORMANTS, NASAL_BANDWIDTHS, scale, sr)
        else:
            sos = _formant_sos(VOWEL_FORMANTS[shape], FORMANT_BANDWIDTHS, scale, sr)
        speech += weight * sosfilt(sos, excitation)
    speech += _rms(speech[voicing > 0.5]) * _frication(syllables, draws.burst_noise, scale, n, sr)
    return _loudness(speech, speaker.gain_db + style.gain_db)


def _loudness(speech: np.ndarray, gain_db: float) -> np.ndarray:
    """Fixed RMS times the speaker's and the emotion's gain (energy stays an emotion cue).

    The same target for everyone, so loudness carries gender only through gender-driven traits."""
    speech = speech * (TARGET_RMS * 10.0 ** (gain_db / 20.0) / max(_rms(speech), 1e-12))
    peak = float(np.max(np.abs(speech)))
    if peak > PEAK_LIMIT:
        speech *= PEAK_LIMIT / peak
    return speech.astype(np.float32)


def synthesize_utterance(params: SyntheticParams, utterance_index: int) -> np.ndarray:
    """The ``utterance_index``-th utterance in corpus order: float32 at params.sample_rate."""
    count = params.speakers * params.utterances
    if not 0 <= utterance_index < count:
        raise IndexError(f"utterance_index {utterance_index} outside 0..{count - 1}")
    speaker_index, local = divmod(utterance_index, params.utterances)
    emotion, spontaneity = _utterance_labels(params, speaker_index, local)
    rng = _rng(params.seed, _UTTERANCE_STREAM, speaker_index, local)
    return _render(params, _speaker(params, speaker_index), emotion, spontaneity, rng)


# --- the corpus -----------------------------------------------------------------------------------


def corpus_name(params: SyntheticParams) -> str:
    shown = ["speakers", "utterances", "gender_effect", "seed", "emotions"]
    defaults = SyntheticParams()
    shown += [k for k in ("duration", "sample_rate") if getattr(params, k) != getattr(defaults, k)]
    return "synthetic(" + ",".join(f"{k}={getattr(params, k)}" for k in shown) + ")"


def make_synthetic_corpus(params: SyntheticParams) -> Corpus:
    speakers = [_speaker(params, i) for i in range(params.speakers)]
    utterances = tuple(
        _utterance_record(params, speaker, i, local)
        for i, speaker in enumerate(speakers)
        for local in range(params.utterances)
    )
    index_of = {u.id: k for k, u in enumerate(utterances)}

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        if utterance.id not in index_of:
            raise PrivacyInputError(
                f"utterance {utterance.id!r} is not in {corpus_name(params)}; read it from the corpus it came from"
            )
        if int(sample_rate) != sample_rate or sample_rate < 1:
            raise PrivacyInputError(f"sample_rate={sample_rate!r} must be a positive integer (Hz)")
        audio = synthesize_utterance(params, index_of[utterance.id])
        if sample_rate == params.sample_rate:
            return audio
        g = math.gcd(int(sample_rate), params.sample_rate)
        resampled = resample_poly(audio, int(sample_rate) // g, params.sample_rate // g)
        return np.clip(resampled, -1.0, 1.0).astype(np.float32)  # filter ringing may overshoot

    canonical = f"synthetic|v{SYNTH_VERSION}|{params.canonical()}"
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    return Corpus(
        name=corpus_name(params),
        utterances=utterances,
        fingerprint=fingerprint,
        read_audio=read_audio,
        emotions=params.emotion_names,
    )


__all__ = [
    "EMOTION_SETS",
    "SYNTH_VERSION",
    "Speaker",
    "SyntheticParams",
    "make_synthetic_corpus",
    "speaker_traits",
    "synthesize_utterance",
]
