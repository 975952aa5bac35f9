"""Reading and checking collection config JSON: the body reader and the vector sections.

Qdrant reads a request body in two layers. serde deserializes it first and
stops at the first problem of *shape* (wrong type, unknown field or variant,
missing field): ``Json deserialize error: ...``. The validator then checks the
typed value and reports every *range* problem at once:
``Validation error in JSON body: [path: message; path: message]``.
:class:`BodyReader` mirrors that split; each config section is declared once
as a table of :class:`Field` specs.

The second half reads the vector sections of a collection config (dense
``vectors``, ``sparse_vectors``, quantization) into the canonical JSON that
``GET /collections/{name}`` shows, applies ``PATCH`` diffs to them, and offers
typed views (:class:`DenseVectorConfig`, :class:`SparseVectorConfig`) for the
shard. :mod:`shards.collection_config` builds the rest of the config on top.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, NoReturn

from consensus.errors import BadInput

FieldKind = Literal["uint", "number", "bool", "choice", "uint_or_auto", "raw"]


@dataclass(frozen=True)
class Field:
    """How one JSON field is read: its kind and its allowed range or variants."""

    kind: FieldKind
    minimum: float | None = None
    maximum: float | None = None
    variants: tuple[str, ...] = ()
    required: bool = False


def describe_value(value: Any) -> str:
    """Name a JSON value the way serde does in ``invalid type`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{format_number(value)}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def format_number(value: float | int) -> str:
    """Print a number as Rust does: integers bare, floats always with a dot."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return f"{value:.1f}"
    return repr(value) if isinstance(value, float) else str(value)


def join_path(path: str, key: str) -> str:
    """Child path of ``path``: ``hnsw_config`` + ``m`` -> ``hnsw_config.m``."""
    return f"{path}.{key}" if path else key


def _quoted_list(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def range_message(minimum: float | None, maximum: float | None) -> str:
    """Qdrant's wording for a range rule."""
    if minimum is not None and maximum is not None:
        return f"must be from {format_number(minimum)} to {format_number(maximum)}"
    if minimum is not None:
        return f"must be {format_number(minimum)} or larger"
    return f"must be {format_number(maximum)} or smaller"  # type: ignore[arg-type]


class BodyReader:
    """Checks the shape of one JSON body and collects its range violations.

    Use one reader per request: read every section, then call :meth:`finish`
    before applying any semantic check, so errors come out in Qdrant's order.
    """

    def __init__(
        self,
        shape_label: str = "Json deserialize error",
        validation_label: str = "Validation error in JSON body",
    ) -> None:
        self._shape_label = shape_label
        self._validation_label = validation_label
        self._violations: list[str] = []

    # -- errors -------------------------------------------------------------

    def shape_error(self, path: str, message: str) -> NoReturn:
        """Raise at once, like a serde deserialization failure."""
        where = f" at `{path}`" if path else ""
        raise BadInput(f"{self._shape_label}: {message}{where}")

    def violation(self, path: str, message: str) -> None:
        """Record a validation failure to be reported by :meth:`finish`."""
        self._violations.append(f"{path}: {message}" if path else message)

    def finish(self) -> None:
        """Raise every recorded violation as one Qdrant validation error."""
        if self._violations:
            listed = "; ".join(self._violations)
            self._violations = []
            raise BadInput(f"{self._validation_label}: [{listed}]")

    # -- containers ---------------------------------------------------------

    def object(self, value: Any, path: str, what: str = "an object") -> dict[str, Any]:
        """Require a JSON object."""
        if not isinstance(value, dict):
            self.shape_error(path, f"invalid type: {describe_value(value)}, expected {what}")
        return value

    def fields(
        self,
        value: Any,
        path: str,
        spec: Mapping[str, Field],
        aliases: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Read a JSON object whose fields are all declared in ``spec``.

        Returns the present, non-null fields in ``spec`` order, each checked by
        its :class:`Field`. ``aliases`` maps accepted old names to the
        canonical ones (Qdrant accepts ``full_scan_threshold_kb`` and so on).
        """
        raw = self.object(value, path)
        aliases = aliases or {}
        canonical: dict[str, Any] = {}
        for key, item in raw.items():
            name = aliases.get(key, key)
            if name not in spec:
                self.shape_error(
                    path, f"unknown field `{key}`, expected one of {_quoted_list(list(spec))}"
                )
            if name in canonical and item is not None and canonical[name] is not None:
                self.shape_error(path, f"duplicate field `{name}`")
            if item is not None or name not in canonical:
                canonical[name] = item
        result: dict[str, Any] = {}
        for name, field in spec.items():
            item = canonical.get(name)
            if item is None:
                if field.required:
                    self.shape_error(path, f"missing field `{name}`")
                continue
            result[name] = self.value(item, join_path(path, name), field)
        return result

    # -- scalars ------------------------------------------------------------

    def value(self, value: Any, path: str, field: Field) -> Any:
        """Read one scalar according to ``field``."""
        if field.kind == "uint":
            return self.uint(value, path, field.minimum, field.maximum)
        if field.kind == "number":
            return self.number(value, path, field.minimum, field.maximum)
        if field.kind == "bool":
            return self.boolean(value, path)
        if field.kind == "choice":
            return self.choice(value, path, field.variants)
        if field.kind == "uint_or_auto":
            if value == "auto":
                return "auto"
            if isinstance(value, str):
                self.shape_error(path, f"unknown variant `{value}`, expected `auto` or an integer")
            return self.uint(value, path, field.minimum, field.maximum)
        return value

    def uint(
        self,
        value: Any,
        path: str,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> int:
        """A non-negative integer; out-of-range values are recorded, not raised."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.shape_error(
                path, f"invalid type: {describe_value(value)}, expected a non-negative integer"
            )
        if value < 0 or value >= 2**64:
            self.shape_error(
                path, f"invalid value: integer `{value}`, expected a non-negative integer"
            )
        self._check_range(value, path, minimum, maximum)
        return value

    def number(
        self,
        value: Any,
        path: str,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """Any finite JSON number, returned as a float."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.shape_error(path, f"invalid type: {describe_value(value)}, expected a number")
        number = float(value)
        if not math.isfinite(number):
            self.shape_error(path, f"invalid value: {value}, expected a finite number")
        self._check_range(number, path, minimum, maximum)
        return number

    def boolean(self, value: Any, path: str) -> bool:
        """``true`` or ``false`` only (not 0/1, not strings)."""
        if not isinstance(value, bool):
            self.shape_error(path, f"invalid type: {describe_value(value)}, expected a boolean")
        return value

    def choice(self, value: Any, path: str, variants: tuple[str, ...]) -> str:
        """One of ``variants``, matched exactly (case included), like a serde enum."""
        if not isinstance(value, str):
            self.shape_error(
                path,
                f"invalid type: {describe_value(value)}, expected one of {_quoted_list(variants)}",
            )
        if value not in variants:
            self.shape_error(
                path, f"unknown variant `{value}`, expected one of {_quoted_list(variants)}"
            )
        return value

    def _check_range(
        self, value: float, path: str, minimum: float | None, maximum: float | None
    ) -> None:
        too_small = minimum is not None and value < minimum
        too_large = maximum is not None and value > maximum
        if too_small or too_large:
            self.violation(
                path, f"value {format_number(value)} invalid, {range_message(minimum, maximum)}"
            )


# --- vector sections -----------------------------------------------------------

DEFAULT_VECTOR_NAME = ""
"""Name under which the unnamed single vector is addressed (``vectors: {size, distance}``)."""

DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")
DATATYPES = ("float32", "uint8", "float16")
SPARSE_MODIFIERS = ("none", "idf")
MAX_VECTOR_SIZE = 65536
QUANTIZATION_DISABLED = "Disabled"
"""The ``PATCH`` value that removes a quantization config."""

DEFAULT_HNSW_CONFIG: Mapping[str, Any] = {
    "m": 16,
    "ef_construct": 100,
    "full_scan_threshold": 10000,
    "max_indexing_threads": 0,
    "on_disk": False,
}
"""Qdrant's ``storage.hnsw_index`` defaults, in the order ``GET`` prints them."""

HNSW_FIELDS: dict[str, Field] = {
    "m": Field("uint"),
    "ef_construct": Field("uint", minimum=4),
    "full_scan_threshold": Field("uint", minimum=10),
    "max_indexing_threads": Field("uint"),
    "on_disk": Field("bool"),
    "payload_m": Field("uint"),
    "inline_storage": Field("bool"),
}
HNSW_ALIASES = {"full_scan_threshold_kb": "full_scan_threshold"}

_QUANTIZATION_METHODS: dict[str, dict[str, Field]] = {
    "scalar": {
        "type": Field("choice", variants=("int8",), required=True),
        "quantile": Field("number", minimum=0.5, maximum=1.0),
        "always_ram": Field("bool"),
    },
    "product": {
        "compression": Field("choice", variants=("x4", "x8", "x16", "x32", "x64"), required=True),
        "always_ram": Field("bool"),
    },
    "binary": {
        "always_ram": Field("bool"),
        "encoding": Field("choice", variants=("one_bit", "two_bits", "one_and_half_bits")),
        "query_encoding": Field(
            "choice", variants=("default", "binary", "scalar4bits", "scalar8bits")
        ),
    },
}

_VECTOR_FIELDS: dict[str, Field] = {
    "size": Field("uint", minimum=1, maximum=MAX_VECTOR_SIZE, required=True),
    "distance": Field("choice", variants=DISTANCES, required=True),
    "hnsw_config": Field("raw"),
    "quantization_config": Field("raw"),
    "on_disk": Field("bool"),
    "datatype": Field("choice", variants=DATATYPES),
    "multivector_config": Field("raw"),
}
_VECTOR_DIFF_FIELDS: dict[str, Field] = {
    "hnsw_config": Field("raw"),
    "quantization_config": Field("raw"),
    "on_disk": Field("bool"),
}
_QUANTIZATION_ALIASES = {"quantization": "quantization_config"}
_MULTIVECTOR_FIELDS = {"comparator": Field("choice", variants=("max_sim",), required=True)}
_SPARSE_FIELDS: dict[str, Field] = {
    "index": Field("raw"),
    "modifier": Field("choice", variants=SPARSE_MODIFIERS),
}
_SPARSE_INDEX_FIELDS: dict[str, Field] = {
    "full_scan_threshold": Field("uint"),
    "on_disk": Field("bool"),
    "datatype": Field("choice", variants=DATATYPES),
}


def ordered(
    values: Mapping[str, Any], order: Mapping[str, Any] | tuple[str, ...]
) -> dict[str, Any]:
    """``values`` re-keyed in ``order`` (Qdrant prints struct fields in declaration order)."""
    return {key: values[key] for key in order if key in values}


def read_hnsw_diff(reader: BodyReader, value: Any, path: str) -> dict[str, Any]:
    """An ``HnswConfigDiff``: only the given fields, checked and in canonical order."""
    return reader.fields(value, path, HNSW_FIELDS, HNSW_ALIASES)


def read_quantization(
    reader: BodyReader, value: Any, path: str, allow_disabled: bool = False
) -> dict[str, Any] | str:
    """A ``QuantizationConfig`` (scalar, product or binary), or ``"Disabled"`` in a diff."""
    names = list(_QUANTIZATION_METHODS) + ([QUANTIZATION_DISABLED] if allow_disabled else [])
    expected = ", ".join(f"`{name}`" for name in names)
    if isinstance(value, str):
        if allow_disabled and value == QUANTIZATION_DISABLED:
            return QUANTIZATION_DISABLED
        reader.shape_error(path, f"unknown variant `{value}`, expected one of {expected}")
    raw = reader.object(value, path)
    if len(raw) != 1:
        reader.shape_error(path, f"expected exactly one quantization method, one of {expected}")
    ((method, params),) = raw.items()
    if method not in _QUANTIZATION_METHODS:
        reader.shape_error(path, f"unknown variant `{method}`, expected one of {expected}")
    spec = _QUANTIZATION_METHODS[method]
    return {method: reader.fields(params, join_path(path, method), spec)}


def is_single_vector(vectors: Mapping[str, Any]) -> bool:
    """Whether ``vectors`` is one unnamed ``VectorParams`` rather than a map of names.

    Like Qdrant's untagged enum: a ``size`` or ``distance`` key whose value is
    not an object makes it the single form; a vector may still be *named*
    ``size`` in the map form, since its value is then an object.
    """
    return any(
        key in vectors and not isinstance(vectors[key], dict) for key in ("size", "distance")
    )


def read_vector_params(
    reader: BodyReader, value: Any, path: str, on_disk_default: bool | None = None
) -> dict[str, Any]:
    """One ``VectorParams`` in canonical form; absent optional fields stay absent."""
    fields = reader.fields(value, path, _VECTOR_FIELDS, _QUANTIZATION_ALIASES)
    params: dict[str, Any] = {"size": fields["size"], "distance": fields["distance"]}
    if "hnsw_config" in fields:
        hnsw = read_hnsw_diff(reader, fields["hnsw_config"], join_path(path, "hnsw_config"))
        if hnsw:  # Qdrant does not print an empty per-vector diff
            params["hnsw_config"] = hnsw
    if "quantization_config" in fields:
        params["quantization_config"] = read_quantization(
            reader, fields["quantization_config"], join_path(path, "quantization_config")
        )
    on_disk = fields.get("on_disk", on_disk_default)
    if on_disk is not None:
        params["on_disk"] = on_disk
    if "datatype" in fields:
        params["datatype"] = fields["datatype"]
    if "multivector_config" in fields:
        params["multivector_config"] = reader.fields(
            fields["multivector_config"], join_path(path, "multivector_config"), _MULTIVECTOR_FIELDS
        )
    return params


def read_vectors(
    reader: BodyReader, value: Any, path: str = "vectors", on_disk_default: bool | None = None
) -> dict[str, Any]:
    """The ``vectors`` section: one unnamed vector, or a map of names (sorted, like Qdrant)."""
    raw = reader.object(value, path)
    if is_single_vector(raw):
        return read_vector_params(reader, raw, path, on_disk_default)
    named: dict[str, Any] = {}
    for name in sorted(raw):
        if name == DEFAULT_VECTOR_NAME:
            reader.violation(path, "vector name must not be empty")
        named[name] = read_vector_params(reader, raw[name], join_path(path, name), on_disk_default)
    return named


def read_sparse_params(reader: BodyReader, value: Any, path: str) -> dict[str, Any]:
    """One ``SparseVectorParams``: optional ``index`` params and ``modifier``."""
    fields = reader.fields(value, path, _SPARSE_FIELDS)
    params: dict[str, Any] = {}
    if "index" in fields:
        index_path = join_path(path, "index")
        params["index"] = reader.fields(fields["index"], index_path, _SPARSE_INDEX_FIELDS)
    if "modifier" in fields:
        params["modifier"] = fields["modifier"]
    return params


def read_sparse_vectors(
    reader: BodyReader, value: Any, path: str = "sparse_vectors"
) -> dict[str, Any]:
    """The ``sparse_vectors`` map, sorted by name."""
    raw = reader.object(value, path)
    result: dict[str, Any] = {}
    for name in sorted(raw):
        if name == DEFAULT_VECTOR_NAME:
            reader.violation(path, "vector name must not be empty")
        result[name] = read_sparse_params(reader, raw[name], join_path(path, name))
    return result


def check_vector_names(vectors: Mapping[str, Any], sparse: Mapping[str, Any]) -> None:
    """A name may belong to a dense or a sparse vector, not to both."""
    dense_names = {DEFAULT_VECTOR_NAME} if is_single_vector(vectors) else set(vectors)
    for name in sorted(dense_names & set(sparse)):
        raise BadInput(
            f"Wrong input: vector name `{name}` is used for both a dense and a sparse vector"
        )


# --- PATCH diffs -----------------------------------------------------------------


def read_vectors_diff(
    reader: BodyReader, value: Any, path: str = "vectors"
) -> dict[str, dict[str, Any]]:
    """``UpdateCollection.vectors``: per-name ``VectorParamsDiff`` (``""`` = unnamed vector)."""
    raw = reader.object(value, path)
    diffs: dict[str, dict[str, Any]] = {}
    for name, item in raw.items():
        item_path = join_path(path, name) if name else path
        fields = reader.fields(item, item_path, _VECTOR_DIFF_FIELDS, _QUANTIZATION_ALIASES)
        diff: dict[str, Any] = {}
        if "hnsw_config" in fields:
            diff["hnsw_config"] = read_hnsw_diff(
                reader, fields["hnsw_config"], join_path(item_path, "hnsw_config")
            )
        if "quantization_config" in fields:
            diff["quantization_config"] = read_quantization(
                reader,
                fields["quantization_config"],
                join_path(item_path, "quantization_config"),
                allow_disabled=True,
            )
        if "on_disk" in fields:
            diff["on_disk"] = fields["on_disk"]
        diffs[name] = diff
    return diffs


def _missing_vector(name: str) -> BadInput:
    return BadInput(f"Wrong input: Not existing vector name error: {name}")


def apply_vectors_diff(
    vectors: Mapping[str, Any], diffs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """New ``vectors`` section with ``diffs`` applied; unknown names are rejected."""
    result = copy.deepcopy(dict(vectors))
    single = is_single_vector(result)
    for name, diff in diffs.items():
        if single:
            params = result if name == DEFAULT_VECTOR_NAME else None
        else:
            params = result.get(name)
        if params is None:
            raise _missing_vector(name)
        updated = dict(params)
        if "hnsw_config" in diff:
            # An empty diff unsets the per-vector override (documented Qdrant behaviour).
            merged = {**updated.get("hnsw_config", {}), **diff["hnsw_config"]}
            if diff["hnsw_config"]:
                updated["hnsw_config"] = ordered(merged, HNSW_FIELDS)
            else:
                updated.pop("hnsw_config", None)
        if "quantization_config" in diff:
            if diff["quantization_config"] == QUANTIZATION_DISABLED:
                updated.pop("quantization_config", None)
            else:
                updated["quantization_config"] = copy.deepcopy(diff["quantization_config"])
        if "on_disk" in diff:
            updated["on_disk"] = diff["on_disk"]
        updated = ordered(updated, _VECTOR_FIELDS)
        if single:
            result = updated
        else:
            result[name] = updated
    return result


def apply_sparse_diff(
    sparse: Mapping[str, Any] | None, updates: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """New ``sparse_vectors`` map with ``updates`` merged in; unknown names are rejected."""
    result = copy.deepcopy(dict(sparse or {}))
    for name, update in updates.items():
        if name not in result:
            raise _missing_vector(name)
        params = dict(result[name])
        if "index" in update:
            index = {**params.get("index", {}), **update["index"]}
            params["index"] = ordered(index, _SPARSE_INDEX_FIELDS)
        if "modifier" in update:
            params["modifier"] = update["modifier"]
        result[name] = ordered(params, _SPARSE_FIELDS)
    return result


# --- print order -------------------------------------------------------------------


def in_print_order(
    values: Mapping[str, Any], order: Mapping[str, Any] | tuple[str, ...]
) -> dict[str, Any]:
    """Like :func:`ordered`, but keys outside ``order`` are kept (at the end), not dropped."""
    first = ordered(values, order)
    return {**first, **{key: value for key, value in values.items() if key not in first}}


def quantization_in_print_order(quantization: Any) -> Any:
    """A quantization config with its method's fields in Qdrant's order."""
    if not isinstance(quantization, dict):
        return quantization
    return {
        method: in_print_order(params, _QUANTIZATION_METHODS.get(method, ()))
        if isinstance(params, dict)
        else params
        for method, params in quantization.items()
    }


def _vector_params_in_print_order(params: Mapping[str, Any]) -> dict[str, Any]:
    result = in_print_order(params, _VECTOR_FIELDS)
    if isinstance(result.get("hnsw_config"), dict):
        result["hnsw_config"] = in_print_order(result["hnsw_config"], HNSW_FIELDS)
    if "quantization_config" in result:
        result["quantization_config"] = quantization_in_print_order(result["quantization_config"])
    return result


def vectors_in_print_order(vectors: Mapping[str, Any]) -> dict[str, Any]:
    """A ``vectors`` section as ``GET /collections/{name}`` prints it.

    Stored configs pass through consensus as key-sorted JSON; this restores the
    field order of Qdrant's structs (names of a map stay sorted, as in Qdrant).
    """
    if is_single_vector(vectors):
        return _vector_params_in_print_order(vectors)
    return {name: _vector_params_in_print_order(params) for name, params in vectors.items()}


def sparse_vectors_in_print_order(sparse: Mapping[str, Any]) -> dict[str, Any]:
    """A ``sparse_vectors`` section as ``GET /collections/{name}`` prints it."""
    result: dict[str, Any] = {}
    for name, params in sparse.items():
        params = in_print_order(params, _SPARSE_FIELDS)
        if isinstance(params.get("index"), dict):
            params["index"] = in_print_order(params["index"], _SPARSE_INDEX_FIELDS)
        result[name] = params
    return result


# --- typed views for the shard ----------------------------------------------------


@dataclass(frozen=True)
class DenseVectorConfig:
    """Effective settings of one dense vector, collection HNSW defaults applied.

    ``name`` is ``""`` for the unnamed single vector. ``full_scan_threshold``
    is in kilobytes of vector data, as in Qdrant.
    """

    name: str
    size: int
    distance: str
    datatype: str
    on_disk: bool
    multivector: bool
    m: int
    ef_construct: int
    full_scan_threshold: int


@dataclass(frozen=True)
class SparseVectorConfig:
    """One sparse vector; ``modifier`` is ``"idf"`` or ``None`` (no modification)."""

    name: str
    modifier: str | None


def _vectors_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("params", {}).get("vectors") or {}


def is_named(config: Mapping[str, Any]) -> bool:
    """True when the collection's dense vectors are a map of names (even an empty one)."""
    return not is_single_vector(_vectors_of(config))


def dense_vectors(config: Mapping[str, Any]) -> dict[str, DenseVectorConfig]:
    """Every dense vector of a canonical config, keyed by name (``""`` if unnamed)."""
    vectors = _vectors_of(config)
    if is_single_vector(vectors):
        items: list[tuple[str, Mapping[str, Any]]] = [(DEFAULT_VECTOR_NAME, vectors)]
    else:
        items = sorted(vectors.items())
    collection_hnsw = {**DEFAULT_HNSW_CONFIG, **config.get("hnsw_config", {})}
    result: dict[str, DenseVectorConfig] = {}
    for name, params in items:
        hnsw = {**collection_hnsw, **params.get("hnsw_config", {})}
        result[name] = DenseVectorConfig(
            name=name,
            size=params["size"],
            distance=params["distance"],
            datatype=params.get("datatype", "float32"),
            on_disk=bool(params.get("on_disk", False)),
            multivector="multivector_config" in params,
            m=hnsw["m"],
            ef_construct=hnsw["ef_construct"],
            full_scan_threshold=hnsw["full_scan_threshold"],
        )
    return result


def sparse_vectors(config: Mapping[str, Any]) -> dict[str, SparseVectorConfig]:
    """Every sparse vector of a canonical config, keyed by name."""
    sparse = config.get("params", {}).get("sparse_vectors") or {}
    return {
        name: SparseVectorConfig(
            name=name, modifier="idf" if params.get("modifier") == "idf" else None
        )
        for name, params in sorted(sparse.items())
    }
