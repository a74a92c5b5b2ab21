"""Trust rules of a manifest: its fields, its shard paths, its content id.

A manifest is read from disk and not trusted. Opening a generation refuses malformed
fields (``check_fields``) and shard files outside the generation directory
(``shard_path``); the first read from a shard refuses one that does not hold what the
manifest says (``check_shard``); ``verify`` also refuses counts and ids that do not add
up (``check_content``) and an id that is not the content id of the lineage fields or
not the directory's name (``check_identity``). Every refusal is a
``DamagedGenerationError`` that names the manifest field, or the shard.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ._format import FORMAT_VERSION, MANIFEST, SHARD_PATTERN, DamagedGenerationError, canonical_json, sha256_hex
from .codecs import Codec
from .families import FAMILIES, KINDS, create_family
from .quality import empty_stats

GENERATION_ID = re.compile(rf"({'|'.join(KINDS)})-[0-9a-f]{{16}}")
SHA256 = re.compile(r"[0-9a-f]{64}")


def make_lineage(*, family: str, kind: str, num_classes: int, encoding: str, teacher_hash: str,
                 dataset_hash: str, params: dict, parent: str | None, ids_sha256: str) -> dict:
    """What a generation id is derived from; ``family`` enters it only for Bernoulli labels."""
    return {"format_version": FORMAT_VERSION, "kind": kind, "num_classes": num_classes, "encoding": encoding,
            "teacher_hash": teacher_hash, "dataset_hash": dataset_hash, "params": params, "parent": parent,
            "ids_sha256": ids_sha256, **create_family(family).lineage_fields()}


def generation_id(lineage: dict) -> str:
    """``<kind>-`` + the first 16 hex digits of the sha256 of the canonical lineage JSON."""
    return f"{lineage['kind']}-{sha256_hex(canonical_json(lineage))[:16]}"


def family_of(manifest: dict) -> str:
    return manifest.get("family", "simplex")  # manifests written before families are simplex


def lineage_of(manifest: dict) -> dict:
    """The lineage a manifest's own fields describe."""
    return make_lineage(family=family_of(manifest), kind=manifest["kind"], num_classes=manifest["num_classes"],
                        encoding=manifest["encoding"], teacher_hash=manifest["teacher_hash"],
                        dataset_hash=manifest["dataset_hash"], params=manifest["params"],
                        parent=(manifest["parent"] or {}).get("id"), ids_sha256=manifest["ids_sha256"])


def _int(low: int):
    return lambda v: type(v) is int and v >= low


def _str(v) -> bool:
    return isinstance(v, str)


def _sha(v) -> bool:
    return isinstance(v, str) and SHA256.fullmatch(v) is not None


def _number(v) -> bool:
    return type(v) in (int, float)


SHARD_ENTRY = {"file": _str, "samples": _int(1), "bytes": _int(0), "sha256": _sha, "index_sha256": _sha}


def _shards(v) -> bool:
    return (isinstance(v, list) and len(v) > 0 and all(
        isinstance(e, dict) and all(k in e and ok(e[k]) for k, ok in SHARD_ENTRY.items()) for e in v))


def _parent(v) -> bool:
    return v is None or (isinstance(v, dict) and isinstance(v.get("id"), str)
                         and GENERATION_ID.fullmatch(v["id"]) is not None and _str(v.get("path")))


def _quality(v) -> bool:
    if not (isinstance(v, dict) and isinstance(v.get("summary"), dict) and isinstance(v.get("accumulators"), dict)):
        return False
    acc = v["accumulators"]
    return all(key in acc and (_numbers(acc[key]) if isinstance(blank, list) else _number(acc[key]))
               for key, blank in empty_stats(0).items())


def _numbers(v) -> bool:
    return isinstance(v, list) and all(map(_number, v))


FIELDS = {
    "id": (lambda v: _str(v) and GENERATION_ID.fullmatch(v) is not None, "a generation id <kind>-<16 hex digits>"),
    "kind": (lambda v: v in KINDS, f"one of {', '.join(KINDS)}"),
    "num_classes": (_int(1), "an integer >= 1"),
    "encoding": (_str, "a string"),
    "hard_dtype": (_str, "a string"),
    "shape": (lambda v: isinstance(v, list) and all(map(_int(1), v)), "a list of positive integers"),
    "teacher_hash": (_str, "a string"),
    "dataset_hash": (_str, "a string"),
    "ids_sha256": (_sha, "a sha256 hex digest"),
    "lineage_sha256": (_sha, "a sha256 hex digest"),
    "params": (lambda v: isinstance(v, dict), "an object"),
    "parent": (_parent, 'null or {"id": <generation id>, "path": <string>}'),
    "samples": (_int(1), "an integer >= 1"),
    "samples_total": (_int(1), "an integer >= 1"),
    "shard_size": (_int(1), "an integer >= 1"),
    "shards": (_shards, f"a non-empty list of objects with {', '.join(SHARD_ENTRY)}"),
    "quality": (_quality, "an object with accumulators and summary"),
    "created_at": (_str, "a string"),
}
OPTIONAL = {
    "family": (lambda v: v in tuple(FAMILIES), f"one of {', '.join(FAMILIES)}"),
    "quality_total": (_quality, "an object with accumulators and summary"),
}


def _damaged(gen_dir: Path, field: str, problem: str) -> DamagedGenerationError:
    return DamagedGenerationError(gen_dir / MANIFEST, f"manifest field {field}: {problem}")


def check_fields(manifest: dict, gen_dir: Path) -> None:
    """Refuse missing or malformed fields, and an encoding or hard dtype the labels cannot have."""
    for field, (ok, expected) in (FIELDS | OPTIONAL).items():
        if field not in manifest:
            if field in FIELDS:
                raise _damaged(gen_dir, field, "missing")
        elif not ok(manifest[field]):
            raise _damaged(gen_dir, field, f"expected {expected}, got {repr(manifest[field])[:80]}")
    family, kind = create_family(family_of(manifest)), manifest["kind"]
    allowed = family.encodings[kind]
    if manifest["encoding"] not in allowed:
        raise _damaged(gen_dir, "encoding", f"{manifest['encoding']!r} is not an encoding of {kind} "
                                            f"{family.name} labels ({', '.join(allowed)})")
    k = manifest["num_classes"]
    if manifest["hard_dtype"] != family.hard_dtype(k).name:
        raise _damaged(gen_dir, "num_classes", f"{k}, but hard_dtype is {manifest['hard_dtype']!r}")
    for field in ("quality", "quality_total"):
        classes = len(manifest[field]["accumulators"]["class_counts"]) if field in manifest else k
        if classes != k:
            raise _damaged(gen_dir, "num_classes", f"{k}, but {field} counts {classes} classes")


def shard_path(gen_dir: Path, i: int, name: str) -> Path:
    """The file of the manifest's ``i``-th shard: named by the store's pattern, inside ``gen_dir``."""
    if name != SHARD_PATTERN.format(i):
        raise _damaged(gen_dir, f"shards[{i}].file", f"expected {SHARD_PATTERN.format(i)!r}, got {name!r}")
    path = gen_dir / name
    if path.resolve().parent != gen_dir.resolve():
        raise _damaged(gen_dir, f"shards[{i}].file", f"{name} resolves to {path.resolve()}, outside the generation")
    return path


def check_shard(manifest: dict, gen_dir: Path, i: int, codec: Codec, reader) -> None:
    """Refuse a shard whose header, sample count or block streams differ from the manifest's claims."""
    header = reader.header
    held = {"family": header.get("family", "simplex"), "kind": header.get("kind"),
            "encoding": header.get("encoding"), "num_classes": header.get("num_classes"),
            "shape": header.get("sample_shape")}
    claimed = dict(manifest, family=family_of(manifest))
    for field, value in held.items():
        if value != claimed[field]:
            raise _damaged(gen_dir, field, f"{claimed[field]!r}, but {reader.path.name} holds {value!r}")
    if len(reader.ids) != manifest["shards"][i]["samples"]:
        raise _damaged(gen_dir, f"shards[{i}].samples",
                       f"{manifest['shards'][i]['samples']}, but {reader.path.name} holds {len(reader.ids)}")
    pixels = math.prod(manifest["shape"])
    for j, block in enumerate(reader.blocks):
        expected = codec.layout(manifest["kind"], len(block["ids"]), manifest["num_classes"], pixels)
        try:
            found = {name: (dtype, tuple(shape)) for name, dtype, shape, _ in block["streams"]}
        except (TypeError, ValueError) as exc:
            raise DamagedGenerationError(reader.path, f"block {j}: unreadable stream list ({exc})") from exc
        if not _layout_matches(found, expected):
            raise DamagedGenerationError(reader.path, f"block {j} holds streams {found}; {manifest['kind']} "
                                                      f"{codec.family} labels encoded {codec.name} need {expected}")


def _layout_matches(found: dict, expected: dict) -> bool:
    return found.keys() == expected.keys() and all(
        found[name][0] == dtype and shape in (None, found[name][1]) for name, (dtype, shape) in expected.items())


def check_content(manifest: dict, gen_dir: Path, ids: list[str], parent_total: int) -> None:
    """Refuse ``samples``, ``ids_sha256`` or ``samples_total`` that differ from the ids the shards hold."""
    if manifest["samples"] != len(ids):
        raise _damaged(gen_dir, "samples", f"{manifest['samples']}, but the shards hold {len(ids)} ids")
    if sha256_hex(canonical_json(ids)) != manifest["ids_sha256"]:
        raise _damaged(gen_dir, "ids_sha256", "differs from the sha256 of the ids the shards hold")
    if manifest["samples_total"] != len(ids) + parent_total:
        raise _damaged(gen_dir, "samples_total", f"{manifest['samples_total']}, but {len(ids)} own samples + "
                                                 f"{parent_total} in the parent chain = {len(ids) + parent_total}")


def check_identity(manifest: dict, gen_dir: Path) -> None:
    """Refuse an id that is not the directory's name or not the content id of the lineage fields."""
    if manifest["id"] != gen_dir.name:
        raise _damaged(gen_dir, "id", f"{manifest['id']!r}, but the generation directory is {gen_dir.name!r}")
    lineage = lineage_of(manifest)
    if generation_id(lineage) != manifest["id"]:
        fields = ", ".join(sorted(set(lineage) - {"format_version"}))
        raise _damaged(gen_dir, "id", f"{manifest['id']!r} is not the content id of the lineage fields "
                                      f"({fields}), which hash to {generation_id(lineage)!r}: one was edited")
    if sha256_hex(canonical_json(lineage)) != manifest["lineage_sha256"]:
        raise _damaged(gen_dir, "lineage_sha256", "differs from the sha256 of the lineage fields")
