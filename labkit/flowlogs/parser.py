"""The parsing core: text -> an Arrow table of raw typed columns -> the final DataFrame.

Two routes, both vectorised (no Python loop per record):

* Fast route, for tidy text (single spaces, no comments, no repeated header): pyarrow's
  CSV reader with ``delimiter=" "`` and every column typed (int32 / int64 / string, ``-``
  as null; the categorical string columns read dictionary-encoded). Nothing scans the
  text first: untidy text makes the typed read raise, or leaves a trace in a string
  value (a tab, ``#``, an empty field, a header token) that ``fast_result_ok`` finds.
* Robust route, for everything else and whenever the fast route raises: the text is
  split into an Arrow array of lines (line number = position + 1), comments stripped,
  runs of blanks collapsed, blank and header lines dropped, fields counted with
  ``count_substring``, split with ``split_pattern`` and every value checked with regexes
  (pyarrow.compute). Lines with the wrong number of fields or a bad value are reported
  with their line number; they are never dropped silently.

Both routes give the same "raw" schema (int32, int64 for times and counters, string);
``finalize`` turns raw tables into the DataFrame (timestamps, categoricals, names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from labkit.flowlogs.fields import (
    CATEGORIES,
    FIELDS,
    lookup,
    protocol_name,
    tcp_flags_name,
    traffic_path_name,
)
from labkit.flowlogs.formats import parse_format

MISSING = "-"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT_RE = r"^-?[0-9]+$"
_BARE_TOKEN = re.compile(r"^[a-z][a-z0-9_-]*$")
_HEADER_LIKE = r"^[a-z][a-z0-9_-]*( [a-z][a-z0-9_-]*)*$"
# Byte patterns that send text to the robust route.
_UNTIDY = (b"\t", b"#", b"\v", b"\f")


class FlowLogParseError(ValueError):
    """A flow-log line that cannot be parsed: wrong number of fields or a bad value.

    ``str(err)`` names the source, the 1-based line number and the line text.
    ``err.bad_lines`` lists every bad line of that source as dicts
    ``{source, line, reason, text}`` (the same dicts ``on_error="collect"`` puts in
    ``df.attrs["bad_lines"]``).
    """

    def __init__(self, bad_lines: Sequence[dict]):
        self.bad_lines = list(bad_lines)
        first = self.bad_lines[0]
        self.source = first["source"]
        self.line = first["line"]
        self.text = first["text"]
        msg = f"{first['source']}, line {first['line']}: {first['reason']}: {first['text']!r}"
        more = len(self.bad_lines) - 1
        if more:
            msg += f" (and {more} more bad line{'s' if more > 1 else ''})"
        msg += (
            "; read(..., on_error='collect') keeps the good records and lists the bad ones"
            " in df.attrs['bad_lines']"
        )
        super().__init__(msg)


# --------------------------------------------------------------------------- schema


def kind_of(name: str) -> str:
    f = FIELDS.get(name)
    return f.kind if f else "string"


def raw_type(name: str) -> pa.DataType:
    """The Arrow type a field has in a raw table (before ``finalize``)."""
    kind = kind_of(name)
    if kind == "int32":
        return pa.int32()
    if kind in ("int64", "time"):
        return pa.int64()
    return pa.string()


def column_names(fields: Sequence[str]) -> list[str]:
    """Snake_case column names; a field listed twice gets ``_2``, ``_3`` ..."""
    seen: dict[str, int] = {}
    out = []
    for name in fields:
        f = lookup(name)
        col = f.column if f else re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
        n = seen.get(col, 0) + 1
        seen[col] = n
        out.append(col if n == 1 else f"{col}_{n}")
    return out


def header_fields(line: str) -> list[str] | None:
    """The fields named by a header line, or None if the line is not a header.

    A header is a line of field names (``version account-id ...``): every token looks
    like a name and at least half of them are known flow-log fields. A record such as
    ``eni-0abc ingress`` has no known field name and is not a header.
    """
    tokens = line.split()
    if not tokens or not all(_BARE_TOKEN.match(t) for t in tokens):
        return None
    known = sum(1 for t in tokens if lookup(t) is not None and t == t.lower())
    if known == 0 or 2 * known < len(tokens):
        return None
    return parse_format(tokens)


# ----------------------------------------------------------------------- bad lines


@dataclass
class Parsed:
    """Raw typed records of one source plus what was wrong with it."""

    table: pa.Table
    kept: np.ndarray | None = None  # positions (in the input lines) of the kept records
    bad: list[dict] = field(default_factory=list)


def _bad(source: str, line: int, reason: str, text: str) -> dict:
    return {"source": source, "line": int(line), "reason": reason, "text": text}


# ---------------------------------------------------------------------- fast route


def is_tidy(data: bytes) -> bool:
    """Cheap first check (single-byte ``memchr`` scans): no tab, ``#``, ``\\v``, ``\\f``.

    Used for in-memory bytes. Files are not pre-scanned: ``fast_result_ok`` finds the
    same characters after the fast read (see there).
    """
    if data[:1] in (b" ", b"\n"):
        return False
    return not has_untidy_bytes(data)


def has_untidy_bytes(data) -> bool:
    """Any tab, ``#``, vertical tab or form feed in ``data`` (bytes-like)."""
    if isinstance(data, memoryview):
        data = data.obj if len(data) == len(data.obj) else bytes(data)
    return any(p in data for p in _UNTIDY)


def _string_data_has_untidy(arr: pa.Array) -> bool:
    """Any untidy byte in the character data of a string array (one copy of the data,
    then CPython's C byte search)."""
    if len(arr) == 0 or arr.null_count == len(arr):
        return False
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    if data_buf is None:
        return False
    width = 8 if pa.types.is_large_string(arr.type) else 4
    offsets = np.frombuffer(offsets_buf, np.int64 if width == 8 else np.int32)
    start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    if end <= start:
        return False
    return has_untidy_bytes(data_buf.slice(start, end - start).to_pybytes())


def fast_result_ok(table: pa.Table, header_token: str | None) -> bool:
    """False when a fast read may have swallowed untidy text (then use the robust route).

    Every untidy character of the text ends up in a string value (checked here), in an
    integer field (the typed read raised) or changes the field count (it raised):

    * a tab, ``#``, ``\\v`` or ``\\f`` inside a string value;
    * an empty string value: ``"a  b"``, ``" a"``, ``"a "``;
    * a repeated header line read as a record (its first token in the first column).
    """
    work = []
    for i, col in enumerate(table.columns):
        if pa.types.is_dictionary(col.type):
            chunks = [ch.dictionary for ch in col.chunks]
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if col.null_count == len(col):
                continue  # all "-" (e.g. v5 sublocation fields): no character data
            chunks = col.chunks
        else:
            continue
        if chunks:
            work.append((chunks, header_token if i == 0 else None))
    return all(_column_ok(chunks, token) for chunks, token in work)


def _column_ok(chunks: list[pa.Array], header_token: str | None) -> bool:
    """The checks of ``fast_result_ok`` on the string values of one column."""
    for ch in chunks:
        if _string_data_has_untidy(ch):
            return False
    values = pa.chunked_array(chunks, type=chunks[0].type)
    if pc.min(pc.binary_length(values)).as_py() == 0:
        return False  # "a  b", " a", "a ": an empty field
    if header_token and pc.any(pc.equal(values, header_token)).as_py():
        return False  # a repeated header line read as a record
    return True


_DICT_STRING = pa.dictionary(pa.int32(), pa.string())


def read_csv_fast(src, fields: Sequence[str], skip_rows: int, dictionaries: bool = True) -> pa.Table:
    """pyarrow.csv with every column typed; raises pyarrow.ArrowInvalid on any problem.

    With ``dictionaries`` the string columns that become categoricals (action,
    log_status, type, flow_direction) are read dictionary-encoded: the reader hashes
    them in its worker threads and ``finalize`` only merges the small dictionaries.
    """
    names = column_names(fields)
    types = {col: raw_type(name) for col, name in zip(names, fields, strict=True)}
    if dictionaries:
        for col, name in zip(names, fields, strict=True):
            if kind_of(name) == "category" and pa.types.is_string(types[col]):
                types[col] = _DICT_STRING
    return pacsv.read_csv(
        src,
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=skip_rows, block_size=1 << 22, use_threads=True
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=" ",
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[MISSING],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["\x00true"],
            false_values=["\x00false"],
        ),
    )


# -------------------------------------------------------------------- robust route


def lines_from_buffer(data: bytes) -> pa.Array:
    """One Arrow string per physical line (split on ``\\n``; a final newline adds none)."""
    if data.endswith(b"\n"):
        data = data[:-1]
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    whole = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data))
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        text = data.decode("utf-8", errors="replace")
        whole = pa.array([text], pa.large_string())
    return pc.split_pattern(whole, "\n").flatten()


def normalise(lines: pa.Array) -> pa.Array:
    """Strip ``#`` comments, trim, collapse runs of blanks into one space. Nulls -> ""."""
    lines = pc.fill_null(lines, "")
    if pc.any(pc.match_substring(lines, "#")).as_py():
        lines = pc.replace_substring_regex(lines, r"#.*", "")
    lines = pc.utf8_trim_whitespace(lines)
    if pc.any(pc.match_substring_regex(lines, r"\s\s|[\t\r\v\f]")).as_py():
        lines = pc.replace_substring_regex(lines, r"\s+", " ")
    return lines


def parse_lines(
    lines: pa.Array,
    fields: Sequence[str],
    source: str,
    line_numbers: np.ndarray | None = None,
    headers: bool = True,
) -> Parsed:
    """Parse an Arrow array of record lines (the robust route).

    ``line_numbers[i]`` is the number reported for ``lines[i]`` (default ``i + 1``).
    With ``headers=True`` a header line switches the format for the lines after it
    (concatenated S3 objects), and a repeat of the current header is skipped.
    """
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if not pa.types.is_large_string(lines.type):
        lines = lines.cast(pa.large_string())
    n_lines = len(lines)
    if line_numbers is None:
        line_numbers = np.arange(1, n_lines + 1, dtype=np.int64)
    norm = normalise(lines)
    blank = pc.equal(pc.binary_length(norm), 0).to_numpy(zero_copy_only=False)

    # Which format applies to each line: the given one, then each header in turn.
    formats: list[list[str]] = [list(fields)]
    fmt_of_line = np.zeros(n_lines, dtype=np.int32)
    is_header = np.zeros(n_lines, dtype=bool)
    if headers and n_lines:
        cand = pc.match_substring_regex(norm, _HEADER_LIKE).to_numpy(zero_copy_only=False)
        cand_idx = np.flatnonzero(cand)
        if len(cand_idx):
            cand_text = norm.take(pa.array(cand_idx)).to_pylist()  # header-like lines only
            cache: dict[str, list[str] | None] = {}
            positions, fmt_ids = [], []
            for pos, text in zip(cand_idx, cand_text, strict=True):
                if text not in cache:
                    cache[text] = header_fields(text)
                hf = cache[text]
                if hf is None:
                    continue
                is_header[pos] = True
                if hf != formats[fmt_ids[-1] if fmt_ids else 0]:
                    formats.append(hf)
                    positions.append(pos)
                    fmt_ids.append(len(formats) - 1)
            if positions:
                starts = np.array(positions)
                seg = np.searchsorted(starts, np.arange(n_lines), side="right")  # 0 = before
                ids = np.array([0] + fmt_ids, dtype=np.int32)
                fmt_of_line = ids[seg]

    record = ~blank & ~is_header
    tables: list[pa.Table] = []
    kept_parts: list[np.ndarray] = []
    bad: list[dict] = []
    for fmt_id, fmt in enumerate(formats):
        sel = np.flatnonzero(record & (fmt_of_line == fmt_id))
        if not len(sel) and len(formats) > 1:
            continue
        part = _parse_records(norm.take(pa.array(sel, pa.int64())), fmt)
        bad_rows = np.flatnonzero(part.bad_mask) if part.bad_mask is not None else []
        if len(bad_rows):
            raw_text = lines.take(pa.array(sel[bad_rows], pa.int64())).to_pylist()
            for r, text in zip(bad_rows, raw_text, strict=True):
                bad.append(_bad(source, line_numbers[sel[r]], part.reasons[r], text))
            sel = sel[~part.bad_mask]
        tables.append(part.table)
        kept_parts.append(sel)
    bad.sort(key=lambda b: b["line"])
    table = concat_raw(tables)
    kept = np.concatenate(kept_parts) if kept_parts else np.zeros(0, np.int64)
    if len(tables) > 1:  # several formats: put records back in line order
        order = np.argsort(kept, kind="stable")
        table = table.take(pa.array(order))
        kept = kept[order]
    return Parsed(table, kept, bad)


@dataclass
class _Part:
    table: pa.Table
    bad_mask: np.ndarray | None
    reasons: dict[int, str]


def _parse_records(norm: pa.Array, fields: Sequence[str]) -> _Part:
    """Normalised record lines -> raw typed table; rows with problems are marked, not kept."""
    n = len(fields)
    names = column_names(fields)
    rows = len(norm)
    count = pc.add(pc.count_substring(norm, " "), 1).to_numpy()
    wrong = count != n
    reasons: dict[int, str] = {}
    for r in np.flatnonzero(wrong):
        reasons[int(r)] = f"expected {n} fields, found {int(count[r])}"
    good = np.flatnonzero(~wrong)
    ok_lines = norm.take(pa.array(good, pa.int64())) if wrong.any() else norm
    values = pc.split_pattern(ok_lines, " ").flatten()
    m = len(ok_lines)
    cols: dict[str, pa.Array] = {}
    for j, col in enumerate(names):
        cols[col] = values.take(pa.array(np.arange(j, m * n, n, dtype=np.int64)))
    typed, bad_values = convert_strings(cols, fields, null_tokens=(MISSING,))
    for r, reason in bad_values.items():
        reasons[int(good[r])] = reason
    bad_mask = np.zeros(rows, dtype=bool)
    if reasons:
        bad_mask[list(reasons)] = True
    keep_good = np.ones(m, dtype=bool)
    if bad_values:
        keep_good[list(bad_values)] = False
        typed = typed.filter(pa.array(keep_good))
    return _Part(typed, bad_mask if reasons else None, reasons)


def convert_strings(
    cols: dict[str, pa.Array], fields: Sequence[str], null_tokens: Sequence[str]
) -> tuple[pa.Table, dict[int, str]]:
    """String columns -> raw typed columns. Returns the table (all rows) and
    {row: reason} for rows holding a value that is not of its field's type."""
    nulls = pa.array(list(null_tokens), pa.large_string())
    out: dict[str, pa.Array] = {}
    bad: dict[int, str] = {}
    for (col, arr), name in zip(cols.items(), fields, strict=True):
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.large_string())
        is_null = pc.or_kleene(pc.is_in(arr, value_set=nulls), pc.is_null(arr))
        target = raw_type(name)
        if pa.types.is_string(target):
            out[col] = pc.if_else(is_null, pa.scalar(None, pa.large_string()), arr).cast(
                pa.string()
            )
            continue
        valid = pc.fill_null(pc.match_substring_regex(arr, _INT_RE), False)
        wrong = pc.and_(pc.invert(is_null), pc.invert(valid))
        ints = pc.cast(pc.if_else(valid, arr, pa.scalar(None, pa.large_string())), pa.int64())
        if pa.types.is_int32(target):
            outside = pc.fill_null(
                pc.or_(pc.less(ints, _INT32_MIN), pc.greater(ints, _INT32_MAX)), False
            )
            if pc.any(outside).as_py():
                wrong = pc.or_(wrong, outside)
                ints = pc.if_else(outside, pa.scalar(None, pa.int64()), ints)
        wrong_np = wrong.to_numpy(zero_copy_only=False)
        if wrong_np.any():
            for r in np.flatnonzero(wrong_np):
                if int(r) not in bad:
                    value = arr[int(r)].as_py()
                    bad[int(r)] = f"{name}: {value!r} is not an integer in range"
        out[col] = ints.cast(target)
    return pa.table(out), bad


# ---------------------------------------------------------------------- combining


def concat_raw(tables: Sequence[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t is not None]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    if any(pa.types.is_dictionary(f.type) for t in tables for f in t.schema):
        tables = [_decode_dictionaries(t) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


_LUT_SPAN = 1 << 16


def _small_int_np_codes(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray] | None:
    """(sorted unique values, numpy codes, -1 for null) of an integer column with a
    small range (protocol, tcp_flags, traffic_path): a lookup table, no hashing.

    Nulls are filled with a sentinel one past the top value: its lookup entry is -1
    and its count is ignored, so no separate null mask is needed."""
    if not pa.types.is_integer(col.type) or col.null_count == len(col):
        return None
    lo, hi = (v.as_py() for v in pc.min_max(col).values())
    if hi - lo >= _LUT_SPAN:
        return None
    shift = 0 if 0 <= lo and hi < _LUT_SPAN else lo  # index by the value itself if it can
    top = hi - shift + 1  # the sentinel slot
    if shift == 0 and hi + 1 <= np.iinfo(col.type.to_pandas_dtype()).max:
        vals = (col.fill_null(hi + 1) if col.null_count else col).to_numpy()
    else:
        vals = pc.subtract(col.cast(pa.int64()), shift).fill_null(top).to_numpy()
    counts = np.bincount(vals, minlength=top + 1)
    uniq = np.flatnonzero(counts[:top])
    lut = np.full(top + 1, -1, np.int8 if len(uniq) < 127 else np.int32)
    lut[uniq] = np.arange(len(uniq))
    codes = np.take(lut, vals)
    return pa.array(uniq + shift).cast(col.type), codes


def _dict_np_codes(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(sorted unique values, numpy codes, -1 for null) from each chunk's small
    dictionary (read dictionary-encoded, or ``dictionary_encode``): the dictionaries
    are merged and sorted in Python (a few values), each chunk's indices remapped
    with one ``np.take`` into the output (a translation table per distinct dictionary)."""
    if pa.types.is_dictionary(col.type):
        chunks = col.chunks
        value_type = col.type.value_type
    else:
        chunks = [pc.dictionary_encode(ch) for ch in col.chunks]
        value_type = col.type
    keys = [tuple(ch.dictionary.to_pylist()) for ch in chunks]
    values = sorted(set().union(*keys))
    dtype = np.int8 if len(values) < 127 else np.int32
    pos = {v: i for i, v in enumerate(values)}
    tables = {k: np.array([pos[v] for v in k] + [-1], dtype) for k in set(keys)}
    codes = np.empty(len(col), dtype)
    at = 0
    for ch, key in zip(chunks, keys, strict=True):
        idx = ch.indices
        if ch.null_count:
            idx = idx.fill_null(len(key))
        np.take(tables[key], idx.to_numpy(), out=codes[at : at + len(ch)])
        at += len(ch)
    return pa.array(values, value_type), codes


def _np_codes(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    found = _small_int_np_codes(col)
    return found if found is not None else _dict_np_codes(col)


def _fixed_categorical(col: pa.ChunkedArray, documented: Sequence[str]) -> pd.Categorical:
    """A categorical whose categories are the ``documented`` values (always) and any other
    value seen, sorted (so sorting the column sorts the text): two reads of documented
    values have the same dtype."""
    uniq, codes = _np_codes(col)
    seen = uniq.to_pylist()
    categories = sorted(set(documented) | set(seen))
    position = {v: i for i, v in enumerate(categories)}
    remap = np.array([position[v] for v in seen] + [-1], np.int32)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype=object), ordered=False)
    return pd.Categorical.from_codes(remap[codes], dtype=dtype, validate=False)


def _names(col: pa.ChunkedArray, namer) -> pa.Array:
    """``namer`` of every value, as a string array: ``namer`` runs on the unique values only."""
    uniq, codes = _np_codes(col)
    labels = pa.array([namer(v) for v in uniq.to_pylist()], pa.string())
    return labels.take(pa.array(codes, pa.int32(), mask=codes < 0))


def _timestamps(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if len(col) and col.null_count < len(col):
        top = pc.max(col).as_py()
        if top is not None and top > 100_000_000_000:  # milliseconds, seen in the wild
            col = pc.if_else(pc.greater(col, 100_000_000_000), pc.divide(col, 1000), col)
    return col.cast(pa.timestamp("s", tz="UTC"))


_NAMERS = {
    "protocol": ("protocol_name", protocol_name),
    "tcp_flags": ("tcp_flags_names", tcp_flags_name),
    "traffic_path": ("traffic_path_name", traffic_path_name),
}


def _output_columns(raw: pa.Table):
    """The DataFrame's columns, in order, as (name, values) pairs: the one walk over the raw table."""
    for col_name in raw.column_names:
        col = raw.column(col_name)
        f = lookup(col_name)
        kind = f.kind if f and f.column == col_name else "string"
        if col_name == "event_timestamp":
            yield col_name, col.cast(pa.timestamp("ms", tz="UTC"))
            continue
        if kind == "time":
            yield col_name, _timestamps(col)
            continue
        if kind == "category":
            yield col_name, _fixed_categorical(col, CATEGORIES.get(f.aws_name, []))
            continue
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)  # e.g. "action_2": a plain string column
        yield col_name, col
        if col_name in _NAMERS:
            name, namer = _NAMERS[col_name]
            yield name, _names(col, namer)


def finalize(raw: pa.Table) -> pd.DataFrame:
    """Raw typed table -> the DataFrame: UTC timestamps, categoricals, readable names.

    Arrow columns are wrapped zero-copy (``pd.ArrowDtype``); categoricals are built
    straight from numpy codes (no Arrow dictionary array, no second conversion)."""
    pairs = [
        (name, v if isinstance(v, pd.Categorical) else pd.arrays.ArrowExtensionArray(v))
        for name, v in _output_columns(raw)
    ]
    index = pd.RangeIndex(raw.num_rows)
    if len({name for name, _ in pairs}) != len(pairs):
        # A duplicate column name (a field called like a derived column): a dict cannot hold it.
        return pd.concat([pd.Series(v, index=index, name=n) for n, v in pairs], axis=1)
    return pd.DataFrame(dict(pairs), index=index, copy=False)
