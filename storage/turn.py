"""SQLite's single writer, handed over in turn instead of by SQLite's busy handler.

SQLite makes a writer that finds the database locked sleep 1, 2, 5, 10... up to 100 ms and look
again, which is what made replies slow under load. Every write of the service takes this turn
first, and a writer waits on a lock that wakes it the moment the turn is free: a re-entrant thread
lock within the process and, for ``csat serve --workers N`` and ``csat worker`` processes sharing
the file, an exclusive ``flock`` on a companion file beside the database (where the platform has
``flock``). The file is opened for each outermost turn (two system calls), so no descriptor
outlives the turn; it is created readable by all and opened read-only (``flock`` needs no more),
so whichever user creates it first, any other user of the database can take the turn.

Holding the turn, a writer knows no other writer of ours is busy, so a short transaction will not
wait. That is what lets the event loop run a reply itself (:meth:`WriteTurn.acquire_on_loop`).
Writers that do not take the turn (a migration, a shell on the file) can still hold SQLite's lock:
the loop's connections then fail at once instead of waiting (``loop_writes``, see
:mod:`storage.db`) and the write is done on a thread instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
from concurrent.futures import Executor

from sqlalchemy.exc import OperationalError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone
    fcntl = None  # type: ignore[assignment]

# How often the event loop looks again while another thread of its process writes (doubling).
POLL, POLL_MAX = 0.0002, 0.002


class WriteTurn:
    def __init__(self, database: str) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # changed only by the thread holding the lock
        self._path = f"{database}-turn" if fcntl is not None and database else None
        self._fd: int | None = None
        self._pending: int | None = None  # the loop thread waiting for the file, if any

    def try_acquire(self) -> bool:
        """Take the turn if it is free now, without waiting."""
        return self._acquire(blocking=False)

    async def acquire_on_loop(self, waiter: Executor) -> None:
        """Take the turn for the event loop's thread without blocking the loop.

        While another thread of this process writes, the loop looks again shortly; while another
        process writes, a ``waiter`` thread waits in ``flock`` and hands the locked file over, so
        the loop resumes the moment the other process is done. The caller must let only one task
        of its loop in at a time (the thread lock is re-entrant, so it cannot tell them apart).
        """
        delay = POLL
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
        try:
            if self._depth == 0 and self._path is not None:
                fd = self._lock_file(blocking=False)
                if fd is None:
                    loop = asyncio.get_running_loop()
                    waiting = loop.run_in_executor(
                        waiter, functools.partial(self._lock_file, blocking=True)
                    )
                    self._pending = threading.get_ident()
                    try:
                        fd = await asyncio.shield(waiting)
                    except asyncio.CancelledError:
                        waiting.add_done_callback(_close_when_locked)
                        raise
                    finally:
                        self._pending = None
                self._fd = fd
        except BaseException:
            self._lock.release()
            raise
        self._depth += 1

    def _acquire(self, *, blocking: bool) -> bool:
        if not self._lock.acquire(blocking):
            return False
        if self._pending == threading.get_ident():
            # This thread (an event loop) already waits for the file in acquire_on_loop: taking
            # it again here could only deadlock, since only this thread can let the file go.
            self._lock.release()
            if not blocking:
                return False
            raise RuntimeError("the write turn is being taken on this thread already")
        if self._depth == 0 and self._path is not None:
            try:
                fd = self._lock_file(blocking=blocking)
            except BaseException:
                self._lock.release()
                raise
            if fd is None:
                self._lock.release()
                return False
            self._fd = fd
        self._depth += 1
        return True

    def _lock_file(self, *, blocking: bool) -> int | None:
        """The companion file, opened and locked; None if another process holds it (and
        ``blocking`` is false)."""
        assert self._path is not None and fcntl is not None
        fd = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing drops the flock
        finally:
            self._lock.release()

    def __enter__(self) -> WriteTurn:
        self._acquire(blocking=True)
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _close_when_locked(waiting: asyncio.Future[int | None]) -> None:
    """A cancelled wait still ends with the file locked: let it go at once."""
    if not waiting.cancelled() and waiting.exception() is None:
        fd = waiting.result()
        if fd is not None:
            os.close(fd)


def is_busy(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds the database (SQLITE_BUSY)."""
    if isinstance(exc, OperationalError):
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
        or "database is locked" in str(exc)
    )
