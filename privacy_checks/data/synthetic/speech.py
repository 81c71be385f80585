"""One utterance from first principles: syllable plan, F0 contour, glottal source, articulation,
frication, and the formant filtering that turns them into speech.

Every random number an utterance uses is drawn up front (``Draws``) in a fixed order with fixed
sizes, so gender never influences which numbers are drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from privacy_checks.data.synthetic.dsp import bandpass, formant_sos, loudness, rms, seconds_to_sample, smooth
from privacy_checks.data.synthetic.layout import UTTERANCE_STREAM, make_speaker, stream_rng, utterance_labels
from privacy_checks.data.synthetic.params import SyntheticParams
from privacy_checks.data.synthetic.voices import (
    ACCENT_PROBABILITY,
    BURST_S,
    CLOSURE_FRACTION,
    CONSONANT_NAMES,
    CONSONANT_S,
    CONSONANTS,
    EMOTION_STYLES,
    FORMANT_BANDWIDTHS,
    NASAL_BANDWIDTHS,
    NASAL_FORMANTS,
    NASAL_LEVEL,
    REFERENCE_VTL_CM,
    RHYTHMS,
    VOWEL_FORMANTS,
    VOWEL_S,
    VOWELS,
    EmotionStyle,
    Rhythm,
    Speaker,
)


@dataclass(frozen=True)
class Draws:
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
    def draw(cls, rng: np.random.Generator, duration: float, n: int) -> Draws:
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
class Syllable:
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


def plan_syllables(draws: Draws, duration: float, rate: float, rhythm: Rhythm, accent_scale: float) -> list[Syllable]:
    """Consonant-vowel syllables and pauses filling the utterance; the first one always fits."""
    t = 0.05 + 0.03 * abs(draws.utterance_z[2])
    end = duration - 0.05
    syllables: list[Syllable] = []
    for k, (u, z) in enumerate(zip(draws.syllable_u, draws.syllable_z)):
        if k and u[4] < rhythm.pause_probability:
            t += rhythm.pause_s[0] + u[5] * (rhythm.pause_s[1] - rhythm.pause_s[0])
        accent = accent_scale * (0.5 + u[3]) if u[2] < ACCENT_PROBABILITY else 0.0
        consonant_s = CONSONANT_S * math.exp(rhythm.duration_sd * z[0]) / rate
        vowel_s = VOWEL_S * math.exp(rhythm.duration_sd * z[1]) * (1.3 if accent else 1.0) / rate
        if syllables and t + consonant_s + vowel_s > end:
            break
        syllables.append(
            Syllable(
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


def f0_contour(
    syllables: list[Syllable], draws: Draws, base_hz: float, style: EmotionStyle, n: int, sr: int
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


def glottal_source(
    f0: np.ndarray, cycle_z: np.ndarray, speaker: Speaker, style: EmotionStyle, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow at the F0 contour -> (flow derivative with unit RMS, flow in [0, 1]).

    Jitter and shimmer are drawn per glottal cycle; the derivative includes lip radiation.
    """
    from scipy.signal import lfilter  # on first use: scipy.signal takes a second to import

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
    return derivative / max(rms(derivative), 1e-12), flow


def articulation(syllables: list[Syllable], n: int, sr: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per-sample voicing level, plosive-aspiration gate, and the weight of each tract shape."""
    voicing, aspiration = np.zeros(n), np.zeros(n)
    shapes = {name: np.zeros(n) for name in (*VOWELS, "nasal")}
    for s in syllables:
        c0, v0, v1 = (seconds_to_sample(x, sr, n) for x in (s.start, s.vowel_start, s.end))
        kind = CONSONANTS[s.consonant].kind
        voicing[v0:v1] = 1.0 + 0.05 * s.accent_st  # accented vowels are a little louder
        shapes[s.vowel][c0:v1] = 1.0  # coarticulation: the tract takes the vowel's shape early
        if kind == "nasal":
            voicing[c0:v0] = NASAL_LEVEL
            shapes[s.vowel][c0:v0] = 0.0
            shapes["nasal"][c0:v0] = 1.0
        elif kind == "plosive":
            release = s.start + CLOSURE_FRACTION * s.consonant_s + BURST_S
            aspiration[seconds_to_sample(release, sr, n) : v0] = 0.5
    ramp = max(int(0.008 * sr), 2)
    crossfade = max(int(0.025 * sr), 2)
    weights = {k: smooth(v, crossfade) for k, v in shapes.items() if v.any()}
    return smooth(voicing, ramp), smooth(aspiration, ramp), weights


def frication(syllables: list[Syllable], noise: np.ndarray, scale: float, n: int, sr: int) -> np.ndarray:
    """Band-passed noise for fricatives and plosive bursts: front-cavity sources, so not sent
    through the vowel tract. Unit level = the RMS of the voiced speech."""
    from scipy.signal import lfilter

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
        a, b = seconds_to_sample(lo, sr, n), seconds_to_sample(hi, sr, n)
        if b - a < 4:
            continue
        freq = min(consonant.noise_hz * scale, 0.42 * sr)
        num, den = bandpass(freq, min(consonant.noise_bw * scale, 0.3 * sr), sr)
        shaped = lfilter(num, den, noise[a:b])
        if consonant.kind == "fricative":
            envelope = np.hanning(b - a)
        else:
            envelope = np.exp(-np.arange(b - a) / (0.3 * (b - a)))
        out[a:b] = consonant.level * envelope * shaped / max(rms(shaped), 1e-12)
    return out


def render(
    params: SyntheticParams,
    speaker: Speaker,
    emotion: str,
    spontaneity: str,
    rng: np.random.Generator,
) -> np.ndarray:
    from scipy.signal import sosfilt

    sr, n = params.sample_rate, params.n_samples
    style = EMOTION_STYLES[emotion]
    draws = Draws.draw(rng, params.duration, n)
    rate = speaker.rate * style.rate_scale * math.exp(0.05 * draws.utterance_z[0])
    accent_st = speaker.f0_range_st * style.range_scale
    syllables = plan_syllables(draws, params.duration, rate, RHYTHMS[spontaneity], accent_st)

    base_hz = speaker.f0_hz * style.f0_scale * math.exp(0.03 * draws.utterance_z[1])
    f0 = f0_contour(syllables, draws, base_hz, style, n, sr)
    voiced, flow = glottal_source(f0, draws.cycle_z, speaker, style, sr)
    voicing, aspiration, shapes = articulation(syllables, n, sr)
    breath = speaker.breathiness * style.breath_scale * draws.breath_noise * (0.3 + flow)
    excitation = voicing * (voiced + breath) + aspiration * draws.burst_noise

    scale = REFERENCE_VTL_CM / speaker.vtl_cm
    speech = np.zeros(n)
    for shape, weight in shapes.items():
        if shape == "nasal":
            sos = formant_sos(NASAL_FORMANTS, NASAL_BANDWIDTHS, scale, sr)
        else:
            sos = formant_sos(VOWEL_FORMANTS[shape], FORMANT_BANDWIDTHS, scale, sr)
        speech += weight * sosfilt(sos, excitation)
    speech += rms(speech[voicing > 0.5]) * frication(syllables, draws.burst_noise, scale, n, sr)
    return loudness(speech, speaker.gain_db + style.gain_db)


def synthesize_utterance(params: SyntheticParams, utterance_index: int) -> np.ndarray:
    """The ``utterance_index``-th utterance in corpus order: float32 at params.sample_rate."""
    count = params.speakers * params.utterances
    if not 0 <= utterance_index < count:
        raise IndexError(f"utterance_index {utterance_index} outside 0..{count - 1}")
    speaker_index, local = divmod(utterance_index, params.utterances)
    emotion, spontaneity = utterance_labels(params, speaker_index, local)
    rng = stream_rng(params.seed, UTTERANCE_STREAM, speaker_index, local)
    return render(params, make_speaker(params, speaker_index), emotion, spontaneity, rng)
