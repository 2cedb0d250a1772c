"""docs/deployment.md's "Try it on one machine" runs as written: PostgreSQL, a Chroma server, the
config, ``reason4rec doctor`` all ok, four ``memory add-review --summaries lexicon`` processes at
once, a sync, the counts (about a minute).

The blocks run in order in one bash script (``set -euo pipefail``). What the test changes: the
first block's values (a temporary folder and free ports, not ``$HOME/r4r-try``, 5433 and 8001);
the database blocks run as the ``postgres`` user when the test runs as root (``initdb`` refuses
root); and the processes get a home holding the sentence model and the tiny test model as their
base model, which ``reason4rec model fetch`` and the first memory command would otherwise fetch.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deployment.md"


def doc_blocks() -> list[tuple[str, str]]:
    """(tag, bash) of every tagged block of the "Try it on one machine" section, in order."""
    text = DOC.read_text()
    section = text.split("## Try it on one machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"<!-- doc-test: ([\w-]+) -->\n```bash\n(.*?)```", section, flags=re.S)


def test_the_doc_has_the_blocks_this_test_runs():
    tags = [tag for tag, _ in doc_blocks()]
    assert tags == ["settings", "database-owner", "run", "run", "stop", "database-owner-stop"]


def test_the_deployment_doc_runs_as_written(postgres_server, sentence_model_dir, tiny_model_dir):
    """``postgres_server``: skipped, with the reason, where PostgreSQL is not installed (the doc
    starts its own cluster with the same binaries)."""
    import psycopg
    from pg import free_port

    from reason4rec.experts.model.sentence_model import MODEL_DIR

    blocks = doc_blocks()
    owner = "postgres" if os.geteuid() == 0 else None
    work = Path(tempfile.mkdtemp(prefix="r4r-doc-"))
    home = work / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / MODEL_DIR).symlink_to(sentence_model_dir, target_is_directory=True)
    try:
        r4r = work / "try"
        r4r.mkdir()
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(r4r, entry.pw_uid, entry.pw_gid)
            os.chmod(work, 0o755)
        values = {"R4R": str(r4r), "PGPORT": str(free_port()), "CHROMA_PORT": str(free_port()),
                  "R4R_DB_PASSWORD": "doc-test-secret"}
        url = f"postgresql://reason4rec:doc-test-secret@127.0.0.1:{values['PGPORT']}/reason4rec"
        script = ["set -euo pipefail", *[f"export {k}={shlex.quote(v)}" for k, v in values.items()]]
        stop = []
        for tag, code in blocks:
            if tag == "settings":
                assert set(re.findall(r"(\w+)=", code.split("\n")[0])) == set(values)  # the values it replaces
                continue
            if tag.startswith("database-owner"):
                inner = "set -euo pipefail\n" + code
                env = " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items())
                code = (f"runuser -u {owner} -- env {env} bash -c {shlex.quote(inner)}" if owner
                        else f"bash -c {shlex.quote(inner)}")
            (stop if tag.endswith("stop") else script).append(code)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "REASON4REC_HOME": str(home), "REASON4REC_BASE_MODEL__NAME_OR_PATH": str(tiny_model_dir),
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1", "COLUMNS": "200"}
        try:
            done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            out = done.stdout
            print(out)  # shown with -s, or when the test fails
            doctor = [line for line in out.splitlines() if line.startswith(("ok ", "FAILED "))]
            assert len(doctor) == 9 and all(line.startswith("ok ") for line in doctor), out
            assert any(line.split()[1] == "engine" and "llama.cpp" in line for line in doctor)
            assert any("review store" in line and "PostgreSQL" in line for line in doctor)
            assert any("Chroma server" in line for line in doctor)
            for n in range(1, 5):
                added = json.loads((r4r / f"added-{n}.json").read_text())
                assert added["outcome"] == "created" and not added["pending"] and added["summary"], added
            with psycopg.connect(url, connect_timeout=5) as conn:
                counts = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'pending') "
                                      "FROM reason4rec.reviews").fetchone()
            assert counts == (4, 0)
            from reason4rec.memory.embedding import SentenceEmbedding
            from reason4rec.memory.vectors import PreferenceMemory

            vectors = PreferenceMemory.connect(f"http://127.0.0.1:{values['CHROMA_PORT']}",
                                               SentenceEmbedding(sentence_model_dir))
            assert vectors.counts()["summaries"] == 4  # one item's profile, built by four processes, counts all four:
            assert vectors.profiles("item", ["B0002E1G5C"])["B0002E1G5C"].review_count == 4
            vectors.close()
        finally:
            subprocess.run(["bash", "-c", "\n".join(["set -u", *[f"export {k}={shlex.quote(v)}"
                                                                  for k, v in values.items()], *stop])],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with pytest.raises(psycopg.OperationalError):  # the doc's stop block stopped the server
        psycopg.connect(url, connect_timeout=3).close()
