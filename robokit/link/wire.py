"""The link's wire format: msgpack maps with raw array bytes, and the checks every message passes.

Nothing is unpickled. A message is one zmq frame holding one msgpack map with a "t" (type) field.
Arrays travel as [dtype, shape, bytes]. Transitions travel as a TransitionBatch's columns (frames +
two index columns: an observation that is one transition's next and the following one's is sent
once, which halves the bytes of image observations).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

import msgpack
import numpy as np

from robokit.link.base import ROW_FIELDS, STREAMS
from robokit.types import EnvSpec, TransitionBatch

PROTOCOL = 2  # 2: hellos carry the agent config's fields and the reward source
MAX_MESSAGE_BYTES = 256 * 2**20
MAX_ITEMS = 100_000  # transitions or metric rows per batch
MAX_ROW_FIELDS = 64  # fields of one metrics / interventions / corrections row
MAX_TEXT = 4096
MAX_CHUNK_STEPS = 1024  # env steps one transition (an action chunk) may stand for
MAX_HANDSHAKE_BYTES = 64 * 2**10  # any message from a peer that has not completed a hello
MAX_ID = 2**62  # actor ids and spool sources are non-negative and below this
MAX_VIEW_CAMERAS = 8  # cameras in one "view" message (an encoded actor's frames for the console)
MAX_VIEW_SIDE = 2048  # pixels on a view frame's side


class MessageError(ValueError):
    """A message that is malformed, hostile or does not fit the handshake's spec."""


def pack(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(frame: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """Decode one frame into a map with a string "t"; MessageError for anything else."""
    if len(frame) > max_bytes:
        raise MessageError(f"message of {len(frame)} bytes exceeds the {max_bytes}-byte limit")
    try:
        message = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            max_array_len=MAX_ITEMS,
            max_map_len=MAX_ITEMS,
            max_str_len=MAX_TEXT * 16,
            max_ext_len=0,
        )
    except Exception as err:  # msgpack raises many types for hostile input
        raise MessageError(f"undecodable message ({type(err).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise MessageError("message is not a map with a string 't' field")
    return message


def field(message: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    value = message.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MessageError(f"field {name!r} is missing or not {getattr(kind, '__name__', kind)}")
    return value


def identifier(message: dict, name: str) -> int:
    """An actor id or spool source: an int in [0, MAX_ID)."""
    value = field(message, name, int)
    if not 0 <= value < MAX_ID:
        raise MessageError(f"field {name!r} must be from 0 to 2**62 - 1")
    return value


def short(value: Any, limit: int = 80) -> str:
    """A peer-sent value for a log line or a reply: its repr, cut to `limit` characters (a refusal
    never echoes a whole payload back)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- arrays -----------------------------------------------------------------------------------------
def encode_array(array: np.ndarray) -> list:
    array = np.ascontiguousarray(array)
    return [array.dtype.str, list(array.shape), array.data if array.size else b""]


def decode_array(value: Any, name: str, dtype: str, trailing: tuple[int, ...]) -> np.ndarray:
    """The array in `value`, checked to be `dtype` with shape (n, *trailing)."""
    if not (isinstance(value, list) and len(value) == 3):
        raise MessageError(f"{name} is not an [dtype, shape, bytes] array")
    got_dtype, shape, data = value
    if not isinstance(got_dtype, str) or np.dtype(dtype).str != got_dtype:
        raise MessageError(f"{name} has dtype {short(got_dtype, 30)}, expected {np.dtype(dtype).str!r}")
    expected = f"(n, {', '.join(map(str, trailing))})"
    if not (isinstance(shape, list) and len(shape) == len(trailing) + 1):
        raise MessageError(f"{name} has a malformed shape: expected {expected}")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise MessageError(f"{name} has a malformed shape: expected {expected}")
    if not 0 <= shape[0] <= 2 * MAX_ITEMS:
        raise MessageError(f"{name} has {short(shape[0])} rows, expected 0 to {2 * MAX_ITEMS}")
    if tuple(shape[1:]) != tuple(trailing):
        raise MessageError(f"{name} has shape {short(shape)}, expected {expected}")
    # Python ints: a hostile shape cannot wrap around the way an int64 product would
    if not isinstance(data, bytes) or len(data) != math.prod(shape) * np.dtype(dtype).itemsize:
        raise MessageError(f"{name} holds the wrong number of bytes for shape {tuple(shape)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


# -- views: camera frames for the console alone ---------------------------------------------------
def encode_view(frames: dict[str, np.ndarray]) -> dict:
    """A "view" message: the newest frame of each camera, each (H, W, 3) uint8."""
    return {
        "t": "view",
        "frames": {name: encode_array(np.asarray(f, np.uint8)[None]) for name, f in frames.items()},
    }


def decode_view(message: dict) -> dict[str, np.ndarray]:
    """{camera: (H, W, 3) uint8 frame} of a "view" message, checked: 1 to MAX_VIEW_CAMERAS cameras
    with short names, each one frame with sides up to MAX_VIEW_SIDE."""
    frames = message.get("frames")
    if not isinstance(frames, dict) or not 0 < len(frames) <= MAX_VIEW_CAMERAS:
        raise MessageError(f"a view holds 1 to {MAX_VIEW_CAMERAS} cameras' frames")
    views = {}
    for name, value in frames.items():
        if not (isinstance(name, str) and 0 < len(name) <= 64):
            raise MessageError(f"camera name {short(name, 30)} is not a short string")
        shape = value[1] if isinstance(value, list) and len(value) == 3 else None
        sides = shape[1:3] if isinstance(shape, list) and len(shape) == 4 and shape[0] == 1 else []
        if not (
            sides
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_VIEW_SIDE for n in sides)
        ):
            raise MessageError(
                f"the view of {name!r} is not one (H, W, 3) frame with sides up to {MAX_VIEW_SIDE}"
            )
        views[name] = decode_array(value, f"the view of {name!r}", "uint8", (*sides, 3))[0]
    return views


# -- transitions ------------------------------------------------------------------------------------
def encode_transitions(batch: TransitionBatch, spec: EnvSpec) -> dict:
    """The wire form of a TransitionBatch: its columns, each frame once."""
    columns = {
        "frames": {
            key: encode_array(np.asarray(batch.frames[key], dtype)) for key, _, dtype in spec.observations
        },
        "obs_index": encode_array(np.asarray(batch.obs_index, np.int32)),
        "next_index": encode_array(np.asarray(batch.next_index, np.int32)),
        "actions": encode_array(np.asarray(batch.actions, np.float32)),
        "rewards": encode_array(np.asarray(batch.rewards, np.float32)),
        "terminated": encode_array(np.asarray(batch.terminated, bool)),
        "truncated": encode_array(np.asarray(batch.truncated, bool)),
    }
    if (np.asarray(batch.env_steps) != 1).any():  # action chunks: env steps per transition
        columns["steps"] = encode_array(np.asarray(batch.env_steps, np.int32))
    return columns


def decode_transitions(data: Any, spec: EnvSpec) -> TransitionBatch:
    """The checked TransitionBatch (source 0: the link names the sender). Raises MessageError on
    any mismatch with `spec`."""
    if not isinstance(data, dict) or not isinstance(data.get("frames"), dict):
        raise MessageError("transitions are not a map with 'frames'")
    keys = list(data["frames"])
    if not all(isinstance(k, str) for k in keys) or set(keys) != set(spec.observation_keys):
        raise MessageError(
            f"observation keys {short(keys)} do not match the handshake's {list(spec.observation_keys)}"
        )
    frames = {
        key: decode_array(data["frames"][key], f"frames[{key}]", dtype, shape)
        for key, shape, dtype in spec.observations
    }
    counts = {len(v) for v in frames.values()}
    obs_index = decode_array(data.get("obs_index"), "obs_index", "int32", ())
    n = len(obs_index)
    out = {
        "obs_index": obs_index,
        "next_index": decode_array(data.get("next_index"), "next_index", "int32", ()),
        "actions": decode_array(data.get("actions"), "actions", "float32", (spec.action_dim,)),
        "rewards": decode_array(data.get("rewards"), "rewards", "float32", ()),
        "terminated": decode_array(data.get("terminated"), "terminated", "bool", ()),
        "truncated": decode_array(data.get("truncated"), "truncated", "bool", ()),
    }
    if "steps" in data:
        out["env_steps"] = decode_array(data["steps"], "steps", "int32", ())
        if (
            len(out["env_steps"])
            and not 1 <= out["env_steps"].min() <= out["env_steps"].max() <= MAX_CHUNK_STEPS
        ):
            raise MessageError(f"steps per transition must be 1 to {MAX_CHUNK_STEPS}")
    else:
        out["env_steps"] = np.ones(n, np.int32)
    if not 1 <= n <= MAX_ITEMS or any(len(v) != n for v in out.values()):
        raise MessageError("transition columns have different or out-of-range lengths")
    (m,) = counts if len(counts) == 1 else (-1,)
    if not 1 <= m <= 2 * n:
        raise MessageError("observation frames have different or out-of-range lengths")
    for name in ("obs_index", "next_index"):
        if out[name].min() < 0 or out[name].max() >= m:
            raise MessageError(f"{name} points outside the {m} frames sent")
    floats = [out["actions"], out["rewards"]] + [v for v in frames.values() if v.dtype.kind == "f"]
    if not all(np.isfinite(v).all() for v in floats):
        raise MessageError("transitions hold NaN or infinite values")
    return TransitionBatch(frames=frames, **out)


# -- the other streams: small rows of scalars and short text ----------------------------------------
def check_rows(data: Any, stream: str) -> list[dict]:
    """The rows of a metrics / interventions / corrections batch, checked against the stream's
    schema (robokit.link.base.ROW_FIELDS): every required field present with its type, every number
    finite, every other field a finite number, bool or short text."""
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_ITEMS:
        raise MessageError(f"{stream} items are not a non-empty list")
    required = ROW_FIELDS[stream]
    for row in data:
        if not isinstance(row, dict) or len(row) > MAX_ROW_FIELDS:
            raise MessageError(f"a {stream} item is not a map of at most {MAX_ROW_FIELDS} fields")
        missing = [name for name in required if name not in row]
        if missing:
            raise MessageError(f"a {stream} item lacks {', '.join(missing)}")
        for key, value in row.items():
            if not isinstance(key, str) or len(key) > 64:
                raise MessageError(f"a {stream} item has a field name {short(key)} that is not short text")
            kind = required.get(key)
            if kind is not None and not _is(value, kind):
                raise MessageError(f"{stream} field {key!r} is {short(value)}, expected {kind}")
            if isinstance(value, float) and not math.isfinite(value):
                raise MessageError(f"{stream} field {key!r} is not finite")
            scalar = isinstance(value, bool | int | float) or value is None
            text = isinstance(value, str) and len(value) <= MAX_TEXT
            if not (scalar or text) or (isinstance(value, int) and not -(2**63) <= value < 2**63):
                raise MessageError(f"{stream} field {key!r} is not a number, bool or short text")
    return data


def _is(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_ID
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str) and len(value) <= MAX_TEXT  # "text"


def encode_batch(stream: str, items: TransitionBatch | list, spec: EnvSpec) -> dict | list:
    if stream == "transitions":
        return encode_transitions(items, spec)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in items]


def decode_batch(message: dict, spec: EnvSpec) -> tuple[int, str, Any]:
    """(seq, stream, checked data) of a "batch" message."""
    seq = field(message, "seq", int)
    stream = field(message, "stream", str)
    if stream not in STREAMS:
        raise MessageError(f"unknown stream {short(stream, 30)}")
    if seq < 0:
        raise MessageError("negative sequence number")
    data = message.get("data")
    if stream == "transitions":
        return seq, stream, decode_transitions(data, spec)
    return seq, stream, check_rows(data, stream)


# -- handshake --------------------------------------------------------------------------------------
def spec_to_wire(spec: EnvSpec) -> dict:
    return {
        "observations": [[k, list(shape), dtype] for k, shape, dtype in spec.observations],
        "action_dim": spec.action_dim,
    }


def config_hash(config: Any) -> str:
    """A short stable hash of an agent config (a dataclass, or its dict): the handshake compares
    it, so that actors act with the learner's config."""
    return agent_identity(config)[0]


def agent_identity(config: Any) -> tuple[str, dict | None]:
    """(hash, fields) of an agent config (a dataclass or its dict); a str is a hash alone (None:
    no fields to name in a refusal)."""
    if isinstance(config, str):
        return config, None
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    fields = json.loads(json.dumps(config, sort_keys=True, default=str))
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16], fields


def config_difference(theirs: Any, ours: dict | None, most: int = 3) -> str:
    """The options that differ between an actor's config fields and the learner's, as
    'utd_ratio is 2 on the actor, 1 on the learner'; hashes alone when either side sent none."""
    if not isinstance(theirs, dict) or ours is None:
        return "the two hashes differ; the actor sent no fields to compare"
    names = sorted({str(k) for k in theirs} | set(ours), key=lambda k: (k not in ours or k not in theirs, k))
    different = [k for k in names if theirs.get(k, "(unset)") != ours.get(k, "(unset)")]
    parts = []
    for k in different[:most]:
        mine, yours = short(ours.get(k, "(unset)"), 40), short(theirs.get(k, "(unset)"), 40)
        name = k if k.isidentifier() and len(k) <= 40 else short(k, 40)
        parts.append(f"{name} is {yours} on the actor, {mine} on the learner")
    more = len(different) - most
    return (
        "; ".join(parts) + (f"; and {more} more" if more > 0 else "") if parts else "same fields, other hash"
    )


def spec_difference(theirs: Any, ours: dict) -> str | None:
    """What differs between an actor's env spec (as sent) and the learner's, in a few words; None
    when they match. Never echoes more than short pieces of what the actor sent."""
    if theirs == ours:
        return None
    if not isinstance(theirs, dict) or not isinstance(theirs.get("observations"), list):
        return "the actor's env spec is malformed"
    if theirs.get("action_dim") != ours["action_dim"]:
        dims = short(theirs.get("action_dim"), 20)
        return f"the actor's actions have {dims} dimensions, the learner's {ours['action_dim']}"
    mine = {k: (shape, dtype) for k, shape, dtype in ours["observations"]}
    got: dict = {}
    for entry in theirs["observations"][:MAX_ROW_FIELDS]:
        if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str):
            got[entry[0]] = (entry[1], entry[2])
    if set(got) != set(mine):
        extra, missing = sorted(set(got) - set(mine)), sorted(set(mine) - set(got))
        return (
            f"the actor's observations have {short(extra, 60)} beyond and lack {short(missing, 60)} of "
            "the learner's"
        )
    for key in sorted(mine):
        if got[key] != mine[key]:
            return (
                f"observation {key!r} has shape {short(got[key][0], 30)} and dtype {short(got[key][1], 20)} "
                f"on the actor, {short(mine[key][0])} and {short(mine[key][1])} on the learner"
            )
    return "the actor's env spec differs from the learner's"
