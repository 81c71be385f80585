"""Training the target SER model for emotion (the paper's recipe: Adam, lr 1e-4, cross-entropy)."""

from __future__ import annotations

import io
import json

import numpy as np
import torch
from torch import nn

from privacy_checks import stats
from privacy_checks.data import load_corpus
from privacy_checks.engine.representations import feature_batches
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.fileio import atomic_write_bytes
from privacy_checks.model import EXPORT_METADATA, save_checkpoint, zoo


def corpus_features(corpus, spec: FeatureSpec) -> torch.Tensor:
    return torch.cat([batch for _, batch in feature_batches(corpus, spec, 64)])


def train_emotion_model(
    arch: str,
    corpus,
    spec: FeatureSpec,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    log=print,
    init: dict | None = None,
    arch_kwargs: dict | None = None,
):
    """Train on 80 % of the speakers, report emotion accuracy on the held-out 20 %. `init` is a
    state_dict to start from (pretrained weights, as the paper's models start from ImageNet's);
    tensors whose shapes don't fit (a different number of classes) keep their fresh values.
    `arch_kwargs` (e.g. width) go to zoo.build; the info returned records them with num_classes."""
    emotions = corpus.emotions
    if not emotions or any(u.emotion is None for u in corpus.utterances):
        raise PrivacyInputError(f"{corpus.name}: every utterance needs an emotion label to train an SER model.")
    labels = np.array([emotions.index(u.emotion) for u in corpus.utterances])
    folds = stats.speaker_folds(corpus.speakers, corpus.gender_labels, 5, seed)
    train, held_out = np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)
    x = corpus_features(corpus, spec)
    y = torch.from_numpy(labels)
    torch.manual_seed(seed)
    arch_kwargs = {**(arch_kwargs or {}), "num_classes": len(emotions)}
    model = zoo.build(arch, **arch_kwargs)
    if init:
        own = model.state_dict()
        model.load_state_dict({k: v for k, v in init.items() if k in own and own[k].shape == v.shape}, strict=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(train)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        if epoch == epochs or epoch % 5 == 0:
            log(
                f"epoch {epoch}/{epochs}: train loss {total / len(train):.3f}, "
                f"held-out emotion accuracy {_accuracy(model, x, y, held_out):.3f}"
            )
    model.eval()
    return model, {
        "epochs": epochs,
        "lr": lr,
        "seed": seed,
        "corpus": corpus.name,
        "initialised_from_base": bool(init),
        "arch_kwargs": arch_kwargs,
        "held_out_emotion_accuracy": round(_accuracy(model, x, y, held_out), 4),
    }


def _accuracy(model, x, y, rows) -> float:
    model.eval()
    with torch.inference_mode():
        return float((model(x[rows]).argmax(1) == y[rows]).float().mean())


def input_spec(text: str | None) -> FeatureSpec:
    """`--input kind=lld,layout=sequence` -> FeatureSpec (values typed as YAML scalars)."""
    import yaml

    from privacy_checks.data import parse_options

    if not text:
        return FeatureSpec()
    options = {key: yaml.safe_load(value) for key, value in parse_options(text, "--input").items()}
    return FeatureSpec.from_mapping(options, where="--input")


def train_command(args) -> int:
    from pathlib import Path

    spec = input_spec(args.input)
    corpus = load_corpus(args.data, Path.cwd(), option="--data")
    init = None
    if args.init is not None:
        from privacy_checks.model import load_target

        base = load_target(args.init)
        if base.architecture != args.arch:
            raise PrivacyInputError(
                f"--init {args.init}: a {base.architecture!r} checkpoint cannot initialise --arch {args.arch!r}"
            )
        init = base.module.state_dict()
    arch_kwargs = {} if args.width is None else {"width": args.width}
    if spec.kind != "waveform" and spec.layout == "sequence":  # a sequence model reads D features per frame
        arch_kwargs["input_dim"] = spec.shape[-1]
    try:
        model, info = train_emotion_model(
            args.arch,
            corpus,
            spec,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            seed=args.seed,
            init=init,
            arch_kwargs=arch_kwargs,
        )
    except KeyError:
        raise PrivacyInputError(f"--arch {args.arch!r}: unknown; choose from {', '.join(zoo.names())}") from None
    except TypeError as exc:  # e.g. a CNN given input_dim: the input layout does not fit the architecture
        raise PrivacyInputError(
            f"--arch {args.arch} does not take {spec.kind} input in layout {spec.layout}: {exc}"
        ) from None
    labels = tuple(corpus.emotions)
    kwargs = info["arch_kwargs"]
    if args.format == "checkpoint":
        save_checkpoint(args.out, model, args.arch, kwargs, spec, labels, info)
    elif args.format == "state_dict":
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        atomic_write_bytes(args.out, buffer.getvalue())
    elif args.format == "torchscript":
        from privacy_checks.model.torchscript import save_torchscript

        save_torchscript(model, spec, args.out, args.arch, labels, kwargs)
    else:
        export_program(model, spec, args.out, args.arch, labels, kwargs)
    print(f"wrote {args.out} ({info['held_out_emotion_accuracy']:.3f} held-out emotion accuracy)")
    return 0


def export_program(
    model: nn.Module, spec: FeatureSpec, out, arch: str, labels, arch_kwargs: dict | None = None
) -> None:
    """torch.export program with the input spec inside, so the audit needs no config for it. The
    metadata's arch_kwargs (default: num_classes only) rebuild the zoo reference (e.g. its width)."""
    example = torch.zeros((2, *spec.shape))
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model.eval(), (example,), dynamic_shapes=({0: batch},))
    meta = json.dumps(
        {
            "architecture": arch,
            "arch_kwargs": dict(arch_kwargs or {"num_classes": len(labels)}),
            "input_spec": spec.as_dict(),
            "labels": list(labels),
        }
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={EXPORT_METADATA: meta})
    atomic_write_bytes(out, buffer.getvalue())
