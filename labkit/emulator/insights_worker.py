"""Logs Insights queries over large tables run in a worker process, off the interpreter lock.

Every request is served by a thread of the emulator's one interpreter. A query over a million
events spends seconds in pandas and numpy calls that hold the interpreter lock (GIL), and while
it holds it no request moves: other clients' p99 went past a second (benchmarks/README.md, load).
So a table of at least :data:`PROCESS_MIN_EVENTS` events is queried by one worker process; a
smaller one on the calling thread, where nothing needs starting and its discovered fields stay
with the log group for the next query.

The worker is started on first use (``spawn``: a fresh interpreter, never a fork of the threaded
emulator) and is daemonic, so it ends with the emulator; if the emulator is killed, the worker
reads the end of its pipe and ends too. The table travels as Arrow IPC bytes (its system columns,
in the same row order, so ``@ptr`` values are the same as in the emulator); the worker parses and
runs the query and answers the rows and statistics. One query at a time; a worker that dies fails
its query and a new one is started for the next.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection

import pandas as pd
import pyarrow as pa

from labkit.logsinsights import EventTable, parse_query, run_query

PROCESS_MIN_EVENTS = 200_000

_lock = threading.Lock()  # one query at a time in the worker, and one worker
_worker: tuple[multiprocessing.Process, Connection] | None = None


class WorkerFailed(RuntimeError):
    """The worker process ended (or failed) before answering: the query fails."""


def run(query_text: str, table: EventTable, window: dict) -> tuple[list, dict]:
    """Run ``query_text`` on ``table``: GetQueryResults' rows and the statistics."""
    if len(table) < PROCESS_MIN_EVENTS:
        return _answer(query_text, table, window)
    payload = _to_ipc(table)
    with _lock:
        process, conn = _started()
        try:
            conn.send((query_text, window))
            conn.send_bytes(payload)
            outcome = conn.recv()
        except (EOFError, OSError) as exc:
            _stop(process, conn)
            raise WorkerFailed(f"the Logs Insights worker process ended: {exc!r}") from exc
    if outcome[0] == "error":
        raise WorkerFailed(outcome[1])
    return outcome[1], outcome[2]


def _answer(query_text: str, table: EventTable, window: dict) -> tuple[list, dict]:
    result = run_query(parse_query(query_text), table, **window)
    return result.to_aws(), dict(result.statistics)


def _to_ipc(table: EventTable) -> bytes:
    columns = pa.Table.from_pandas(pd.DataFrame(table._base), preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, columns.schema) as writer:
        writer.write_table(columns)
    return sink.getvalue().to_pybytes()


def _from_ipc(payload: bytes) -> EventTable:
    return EventTable(pa.ipc.open_stream(payload).read_all().to_pandas())


def _started() -> tuple[multiprocessing.Process, Connection]:
    global _worker
    if _worker is None or not _worker[0].is_alive():
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs,), name="labkit-insights-worker", daemon=True)
        process.start()
        theirs.close()
        _worker = (process, ours)
    return _worker


def _stop(process: multiprocessing.Process, conn: Connection) -> None:
    global _worker
    conn.close()
    if process.is_alive():
        process.terminate()
    process.join(timeout=5)
    _worker = None


def _serve(conn: Connection) -> None:
    """The worker process: answer queries until the emulator closes the pipe."""
    while True:
        try:
            query_text, window = conn.recv()
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            rows, statistics = _answer(query_text, _from_ipc(payload), window)
            conn.send(("ok", rows, statistics))
        except Exception as exc:  # noqa: BLE001 - the query fails, as on AWS; the worker lives on
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
