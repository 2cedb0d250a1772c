"""The embedded memory folder lock, exercised with real second processes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from reason4rec.memory.lock import FolderLock, MemoryLockedError, holder_command

HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from reason4rec.memory.lock import FolderLock\n"
    "lock = FolderLock(Path(sys.argv[1])).acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _holder(folder, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    holder = _holder(tmp_path, 60)
    try:
        with pytest.raises(MemoryLockedError) as caught:
            FolderLock(tmp_path, timeout_s=0).acquire()
        assert f"process {holder.pid}" in str(caught.value) and "chroma run" in str(caught.value)
        assert f"({'reason4rec'} {tmp_path} 60)" in str(caught.value)  # the whole command, not its first words
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_process_gets_the_lock_when_the_holder_exits(tmp_path):
    holder = _holder(tmp_path, 1.0)
    started = time.monotonic()
    with FolderLock(tmp_path, timeout_s=30) as lock:  # queues behind the holder
        assert lock.held and time.monotonic() - started > 0.3
    holder.wait()


def test_kill_9_of_the_holder_frees_the_lock(tmp_path):
    holder = _holder(tmp_path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with FolderLock(tmp_path, timeout_s=5) as lock:
        assert lock.held


def test_two_locks_in_one_process_also_exclude_each_other(tmp_path):
    with FolderLock(tmp_path), pytest.raises(MemoryLockedError):
        FolderLock(tmp_path).acquire()
    with FolderLock(tmp_path) as again:  # released on exit
        assert again.held


def test_the_holders_command_is_whole_retypable_and_keeps_no_secret():
    assert holder_command(["/home/a/.venv/bin/reason4rec", "chat", "--user", "A1 B"]) == "reason4rec chat --user 'A1 B'"
    assert holder_command(["/x/reason4rec/__main__.py", "serve", "--api-key", "s3cret", "--port", "8001"]) \
        == "reason4rec serve --api-key *** --port 8001"
    assert "s3cret" not in holder_command(["reason4rec", "serve", "--api-key=s3cret"])
    assert "\x1b" not in holder_command(["reason4rec", "why", "--user", "\x1b[2Jx"])
    assert len(holder_command(["reason4rec", "memory", "add-review", "--text", "x" * 500])) == 200
