"""The model manifest: the contract between the export module and the runtime, read and written only here.

A model directory holds ``manifest.json`` plus model files (formats x precisions x input shapes). Every file is
listed with its sha256. The runtime reads each file's bytes once, checks them against the manifest and hands exactly
those bytes to the inference runtime (:meth:`ModelFile.read_verified`), so what is verified is what runs; a file
must resolve inside the model directory (a symlink out of it is refused).

Reading validates every field the runtime uses and raises :class:`ModelLoadError` naming the field
(``input.std[0]``, ``files[2].input_size``), never a bare ``KeyError``/``ZeroDivisionError`` later on. Writing goes
through the same dataclasses (:meth:`Manifest.write` re-reads what it writes): nobody edits the JSON by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .preprocess import Normalization
from .priors import AnchorConfig

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
OUTPUT_ROLES = ("boxes", "scores", "landmarks")
FORMATS = ("onnx", "openvino", "tflite")  # model file formats a manifest may list (one backend module each)
PRECISIONS = ("fp32", "fp16", "int8", "int8-ptq")
# What the ``scores`` output holds, and so how post-processing gets a face probability (edge_sdk.postprocess):
# "softmax": (N, P, 2) probabilities (background, face), the softmax inside the graph; "sigmoid": (N, P, 1) face logits.
SCORE_ACTIVATIONS = {"softmax": 2, "sigmoid": 1}  # activation → number of score columns (architecture.num_classes)
LAYOUTS = ("NCHW", "NHWC")  # input layouts: the manifest's default, and a file's own where it differs
MAX_INPUT_SIDE = 8192
MAX_STRIDE = 1024
MAX_FILE_BYTES = 1 << 30  # a model file is read into memory whole; refuse anything absurd before reading it
MAX_MANIFEST_BYTES = 16 << 20
_LETTERBOX_NOTE = "keep aspect, image top-left, pad right/bottom with the mean (0 after normalization)"
_OUTPUT_LAYOUT_NOTE = (
    "boxes (N,P,4) dx,dy,dw,dh; scores (N,P,2) background,face; landmarks (N,P,10) x,y per point; N = batch"
)


# ------------------------------------------------------------------------------------------------------ files


@dataclass(frozen=True)
class ModelBytes:
    """A model file's bytes and its extra files' bytes (OpenVINO's .bin), each checked against its sha256."""

    content: bytes
    extra_content: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ModelFile:
    """One runnable file of a model: ``input_size`` is (width, height), or None for a dynamic-shape model.

    ``output_names`` (role → tensor name) is set where the converter renamed the outputs (TFLite); otherwise the
    manifest's common names apply (:meth:`Manifest.output_names_for`). ``directory`` is the model directory the
    file must resolve inside (None: the file's own folder).
    """

    path: Path
    format: str
    precision: str
    input_size: tuple[int, int] | None
    sha256: str
    extra_files: tuple[Path, ...] = ()
    extra_sha256: tuple[str, ...] = ()  # one per extra file (e.g. OpenVINO's .bin weights)
    output_names: dict[str, str] | None = None
    quantization: str | None = None  # how a quantized file was made (free text, shown by benchmarks)
    exporter: str = ""
    bytes: int | None = None  # size of the file and its extra files together (informational)
    directory: Path | None = field(default=None, compare=False)
    layout: str | None = None  # this file's input layout where it differs from the manifest's ("NHWC" TFLite files)

    @property
    def dynamic(self) -> bool:
        return self.input_size is None

    @classmethod
    def of_file(
        cls,
        directory: Path,
        path: Path,
        format: str,
        precision: str,
        input_size: tuple[int, int] | None,
        extra_files: Iterable[Path] = (),
        output_names: dict[str, str] | None = None,
        quantization: str | None = None,
        exporter: str = "",
        layout: str | None = None,
    ) -> ModelFile:
        """The entry of a file just written into ``directory``: checksums and size measured now."""
        extras = tuple(Path(p) for p in extra_files)
        return cls(
            path=Path(path),
            format=format,
            precision=precision,
            input_size=None if input_size is None else (int(input_size[0]), int(input_size[1])),
            sha256=sha256_of(Path(path)),
            extra_files=extras,
            extra_sha256=tuple(sha256_of(p) for p in extras),
            output_names=None if output_names is None else dict(output_names),
            quantization=quantization,
            exporter=exporter,
            bytes=sum(p.stat().st_size for p in (Path(path), *extras)),
            directory=Path(directory),
            layout=layout,
        )

    def read_verified(self) -> ModelBytes:
        """Read the file and its extra files once each, refusing any that resolves outside the model directory, is
        not a regular file or does not match its recorded sha256 (:class:`ModelLoadError`). Runtimes are given these
        bytes, never the path, so a file swapped after the check is never what runs."""
        root = (self.directory or self.path.parent).resolve()
        paths = (self.path, *self.extra_files)
        for path in paths:  # all there, inside, regular and not absurdly large, before reading any
            _checked_size(path, root)
        contents = []
        for path, expected in zip(paths, (self.sha256, *self.extra_sha256)):
            content = _read_inside(path, root)
            actual = hashlib.sha256(content).hexdigest()
            if actual != expected:
                raise ModelLoadError(
                    f"checksum mismatch for {path.name}: manifest says {expected[:12]}…, file is {actual[:12]}…; "
                    "the file is corrupt or was replaced. Re-export it or restore the original."
                )
            contents.append(content)
        return ModelBytes(contents[0], tuple(contents[1:]))

    def verify(self) -> None:
        """Raise :class:`ModelLoadError` unless every file is there, inside the directory and matches its checksum."""
        self.read_verified()

    def to_dict(self, directory: Path) -> dict[str, Any]:
        """This entry as ``manifest.json`` lists it (paths relative to ``directory``)."""
        extras = [_relative(p, directory) for p in self.extra_files]
        entry: dict[str, Any] = {
            "path": _relative(self.path, directory),
            "format": self.format,
            "precision": self.precision,
            "input_size": None if self.input_size is None else list(self.input_size),
            "sha256": self.sha256,
        }
        if self.bytes is not None:
            entry["bytes"] = self.bytes
        entry["extra_files"] = extras
        if extras:
            entry["extra_sha256"] = dict(zip(extras, self.extra_sha256))
        if self.output_names is not None:
            entry["output_names"] = dict(self.output_names)
        if self.quantization is not None:
            entry["quantization"] = self.quantization
        if self.layout is not None:
            entry["layout"] = self.layout
        entry["exporter"] = self.exporter
        return entry


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(path: Path, root: Path) -> Path:
    """``path`` with every symlink resolved; :class:`ModelLoadError` unless that lies inside ``root`` (resolved)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ModelLoadError(
            f"{path.name} resolves to {resolved}, outside the model directory {root}: a model file (or a symlink to "
            "one) must stay inside its directory. Copy the file in instead of linking it."
        )
    return resolved


def _checked_size(path: Path, root: Path) -> int:
    resolved = _inside(path, root)
    try:
        info = resolved.stat()
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} listed in the manifest is missing") from None
    except OSError as exc:
        raise ModelLoadError(f"model file {path} cannot be read: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ModelLoadError(f"model file {path} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise ModelLoadError(f"model file {path} is {info.st_size} bytes, over the {MAX_FILE_BYTES} limit")
    return info.st_size


def _read_inside(path: Path, root: Path) -> bytes:
    resolved = _inside(path, root)
    try:
        with open(resolved, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ModelLoadError(f"model file {path} is not a regular file")
            return handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} listed in the manifest is missing") from None
    except OSError as exc:
        raise ModelLoadError(f"model file {path} cannot be read: {exc}") from exc


def _relative(path: Path, directory: Path) -> str:
    try:
        return Path(path).relative_to(directory).as_posix()
    except ValueError:
        raise ValueError(f"{path} is not inside the model directory {directory}") from None


# --------------------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Manifest:
    """A model directory's manifest. The first fields are what the runtime uses; the rest is provenance."""

    name: str
    directory: Path
    normalization: Normalization
    anchors: AnchorConfig
    output_names: dict[str, str]  # role → tensor name (a file's own ``output_names`` overrides them)
    score_activation: str
    landmark_order: tuple[str, ...]
    files: tuple[ModelFile, ...]
    num_classes: int = 2  # columns of the scores output
    input_name: str = "input"
    input_layout: str = "NCHW"
    letterbox: str = _LETTERBOX_NOTE
    output_layout: str = _OUTPUT_LAYOUT_NOTE
    description: str = ""
    architecture: dict[str, Any] = field(default_factory=dict)  # model settings other than num_classes (provenance)
    source: dict[str, Any] = field(default_factory=dict)
    license: str = "unknown"
    produced_by: dict[str, Any] = field(default_factory=dict)

    def find_file(self, path: Path) -> ModelFile | None:
        resolved = Path(path).resolve()
        return next((f for f in self.files if f.path.resolve() == resolved), None)

    def select(self, formats: tuple[str, ...], precision: str, input_size: tuple[int, int] | None) -> ModelFile | None:
        """The best file for a backend: an exact fixed-size match first, else a dynamic-shape file."""
        candidates = [f for f in self.files if f.format in formats and f.precision == precision]
        exact = [f for f in candidates if f.input_size is not None and f.input_size == input_size]
        dynamic = [f for f in candidates if f.dynamic]
        return (exact or dynamic or [None])[0]

    def layout_of(self, model: ModelFile) -> str:
        """The input layout of one of this model's files (its own, else the manifest's)."""
        return model.layout or self.input_layout

    def output_names_for(self, model: ModelFile) -> dict[str, str]:
        """Role → tensor name for one of this model's files."""
        return dict(model.output_names or self.output_names)

    def add_files(self, files: Iterable[ModelFile]) -> Manifest:
        """This manifest with ``files`` added; an entry for the same path is replaced. Entries are kept sorted by
        (format, precision, path), the order ``python -m export`` writes."""
        new = [dataclasses.replace(f, directory=self.directory) for f in files]
        paths = {f.path.resolve() for f in new}
        kept = [f for f in self.files if f.path.resolve() not in paths]
        merged = sorted(kept + new, key=lambda f: (f.format, f.precision, _relative(f.path, self.directory)))
        return dataclasses.replace(self, files=tuple(merged))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``load_manifest(d).to_dict()`` equals the dict ``json.load`` gives for the same file)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "architecture": {**self.architecture, "num_classes": self.num_classes},
            "input": {
                "name": self.input_name,
                "layout": self.input_layout,
                "channel_order": self.normalization.channel_order,
                "mean": [float(v) for v in self.normalization.mean],
                "std": [float(v) for v in self.normalization.std],
                "letterbox": self.letterbox,
            },
            "anchors": self.anchors.to_dict(),
            "outputs": {
                "names": {role: self.output_names[role] for role in OUTPUT_ROLES},
                "score_activation": self.score_activation,
                "layout": self.output_layout,
            },
            "landmark_order": list(self.landmark_order),
            "source": dict(self.source),
            "license": self.license,
            "produced_by": dict(self.produced_by),
            "files": [f.to_dict(self.directory) for f in self.files],
        }

    def write(self) -> Path:
        """Write ``directory/manifest.json`` (atomically). What is written is parsed back first, so an invalid
        manifest raises here instead of at the next load."""
        data = self.to_dict()
        path = Path(self.directory) / MANIFEST_NAME
        parse_manifest(json.loads(json.dumps(data)), Path(self.directory), path)
        temporary = path.with_name(f".{MANIFEST_NAME}.tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        return path


def load_manifest(directory: Path) -> Manifest:
    """Read and validate ``directory/manifest.json`` (file checksums are checked when a file is read:
    :meth:`ModelFile.read_verified`)."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"no {MANIFEST_NAME} in {directory}: a model needs its manifest (write one with `python -m export`)"
        )
    _inside(path, directory.resolve())
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ModelLoadError(f"{path} is {size} bytes, over the {MAX_MANIFEST_BYTES} limit of a manifest")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc}") from exc
    return parse_manifest(raw, directory, path)


def parse_manifest(raw: object, directory: Path, source: Path | str = MANIFEST_NAME) -> Manifest:
    """Validate the JSON value of a manifest; :class:`ModelLoadError` names the first bad field."""
    try:
        return _parse(_Field(raw, ""), Path(directory))
    except _Invalid as exc:
        raise ModelLoadError(f"{source}: {exc}") from None


# ------------------------------------------------------------------------------------------------- validation


class _Invalid(Exception):
    """A field of the manifest is missing or has a bad value (turned into ModelLoadError with the file name)."""


_MISSING = object()


class _Field:
    """A JSON value and where it sits in the manifest (``anchors.strides[1]``), with typed accessors that raise
    :class:`_Invalid` naming that place."""

    def __init__(self, value: object, where: str):
        self.value, self.where = value, where

    def fail(self, problem: str) -> _Invalid:
        shown = repr(self.value)
        shown = shown[:80] + "…" if len(shown) > 80 else shown
        return _Invalid(f"{self.where or 'the manifest'} {problem}, got {shown}")

    def _child_name(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.where}[{key}]"
        return f"{self.where}.{key}" if self.where else key

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail("must be a JSON object")
        return self.value

    def has(self, key: str) -> bool:
        return key in self.obj()

    def get(self, key: str, default: object = _MISSING) -> _Field:
        data = self.obj()
        if key not in data:
            if default is _MISSING:
                raise _Invalid(f"{self._child_name(key)} is missing")
            return _Field(default, self._child_name(key))
        return _Field(data[key], self._child_name(key))

    def items(self, length: int | None = None, min_length: int = 0) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        if length is not None and len(self.value) != length:
            raise self.fail(f"must have {length} values")
        if len(self.value) < min_length:
            raise self.fail(f"must have at least {min_length} value(s)")
        return [_Field(v, self._child_name(i)) for i, v in enumerate(self.value)]

    def text(self, choices: Iterable[str] | None = None, empty: bool = False) -> str:
        if not isinstance(self.value, str) or (not empty and not self.value):
            raise self.fail("must be a non-empty string" if not empty else "must be a string")
        if choices is not None and self.value not in tuple(choices):
            raise self.fail(f"must be one of {list(choices)}")
        return self.value

    def integer(self, low: int, high: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail("must be an integer")
        if not low <= self.value <= high:
            raise self.fail(f"must be in [{low}, {high}]")
        return self.value

    def number(self, low: float, high: float, low_open: bool = False) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.fail("must be a number")
        value = float(self.value)
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            raise self.fail(f"must be a finite number in {'(' if low_open else '['}{low:g}, {high:g}]")
        return value

    def free_object(self) -> dict[str, Any]:
        """Provenance: any JSON object, kept as is."""
        return dict(self.obj())


def _parse(root: _Field, directory: Path) -> Manifest:
    root.obj()
    version = root.get("schema_version")
    if isinstance(version.value, bool) or version.value != SCHEMA_VERSION:
        raise version.fail(f"is unsupported (expected {SCHEMA_VERSION})")
    inp = root.get("input")
    normalization = Normalization(
        channel_order=inp.get("channel_order").text(("BGR", "RGB")),
        mean=tuple(v.number(0, 255) for v in inp.get("mean").items(3)),
        std=tuple(v.number(0, 255, low_open=True) for v in inp.get("std").items(3)),
    )
    anchors = _parse_anchors(root.get("anchors"))
    outputs = root.get("outputs")
    names_field = outputs.get("names")
    names = {role: names_field.get(role).text() for role in OUTPUT_ROLES}
    if len(set(names.values())) != len(OUTPUT_ROLES):
        raise names_field.fail("must name three different tensors")
    activation = outputs.get("score_activation", "softmax").text(SCORE_ACTIVATIONS)
    architecture = root.get("architecture", {})
    num_classes = architecture.get("num_classes", SCORE_ACTIVATIONS[activation]).integer(1, 2)
    if num_classes != SCORE_ACTIVATIONS[activation]:
        raise architecture.get("num_classes").fail(
            f"must be {SCORE_ACTIVATIONS[activation]} for score_activation {activation!r}"
        )
    order_field = root.get("landmark_order")
    landmark_order = tuple(v.text() for v in order_field.items(anchors.num_landmarks))
    if len(set(landmark_order)) != len(landmark_order):
        raise order_field.fail("must name each landmark once")
    files = tuple(_parse_file(entry, directory) for entry in root.get("files").items())
    if not files:
        raise _Invalid("files lists no model files")
    return Manifest(
        name=root.get("name").text(),
        directory=directory,
        normalization=normalization,
        anchors=anchors,
        output_names=names,
        score_activation=activation,
        landmark_order=landmark_order,
        files=files,
        num_classes=num_classes,
        input_name=inp.get("name", "input").text(),
        input_layout=inp.get("layout", "NCHW").text(LAYOUTS),
        letterbox=inp.get("letterbox", _LETTERBOX_NOTE).text(empty=True),
        output_layout=outputs.get("layout", _OUTPUT_LAYOUT_NOTE).text(empty=True),
        description=root.get("description", "").text(empty=True),
        architecture={k: v for k, v in architecture.free_object().items() if k != "num_classes"},
        source=root.get("source", {}).free_object(),
        license=root.get("license", "unknown").text(empty=True),
        produced_by=root.get("produced_by", {}).free_object(),
    )


def _parse_anchors(anchors: _Field) -> AnchorConfig:
    strides = tuple(s.integer(1, MAX_STRIDE) for s in anchors.get("strides").items(min_length=1))
    min_sizes_field = anchors.get("min_sizes")
    min_sizes = tuple(
        tuple(m.integer(1, MAX_INPUT_SIDE) for m in level.items(min_length=1))
        for level in min_sizes_field.items(len(strides))
    )
    variances = tuple(v.number(0, 10, low_open=True) for v in anchors.get("variances").items(2))
    num_landmarks = anchors.get("num_landmarks", 5).integer(1, 100)
    return AnchorConfig(
        strides=strides, min_sizes=min_sizes, variances=(variances[0], variances[1]), num_landmarks=num_landmarks
    )


def _parse_path(value: _Field, directory: Path) -> Path:
    relative = value.text()
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts or "\\" in relative or "\x00" in relative:
        raise value.fail("must be a relative path that stays inside the model directory")
    return directory / relative


def _parse_file(entry: _Field, directory: Path) -> ModelFile:
    entry.obj()
    size = entry.get("input_size")
    input_size = None if size.value is None else tuple(v.integer(1, MAX_INPUT_SIDE) for v in size.items(2))
    extras_field = entry.get("extra_files", [])
    extra_names = [e.text() for e in extras_field.items()]
    extra_files = tuple(_parse_path(e, directory) for e in extras_field.items())
    checksums = entry.get("extra_sha256", {})
    checksums.obj()
    extra_sha256 = tuple(_sha256(checksums.get(name)) for name in extra_names)
    output_names = None
    if entry.has("output_names"):
        names = entry.get("output_names")
        output_names = {role: names.get(role).text() for role in OUTPUT_ROLES}
    quantization = entry.get("quantization", None)
    layout = entry.get("layout", None)
    return ModelFile(
        path=_parse_path(entry.get("path"), directory),
        format=entry.get("format").text(FORMATS),
        precision=entry.get("precision").text(PRECISIONS),
        input_size=None if input_size is None else (input_size[0], input_size[1]),
        sha256=_sha256(entry.get("sha256")),
        extra_files=extra_files,
        extra_sha256=extra_sha256,
        output_names=output_names,
        quantization=None if quantization.value is None else quantization.text(empty=True),
        exporter=entry.get("exporter", "").text(empty=True),
        bytes=None if not entry.has("bytes") else entry.get("bytes").integer(0, 16 * MAX_FILE_BYTES),
        directory=directory,
        layout=None if layout.value is None else layout.text(LAYOUTS),
    )


def _sha256(value: _Field) -> str:
    text = value.text()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise value.fail("must be a sha256: 64 lowercase hex digits")
    return text
