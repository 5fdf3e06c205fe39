"""Ingest from .tar.gz / .zip archives (read in memory) and directories, with progress."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from synth.ingest import ingest_paths

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
GOOD = ["petstore_v2.yaml", "library_v3.json", "openai_tools.json", "toolbench_tool.json"]


def make_tar(tmp_path: Path, names: list[str]) -> Path:
    archive = tmp_path / "specs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in names:
            tar.add(FIXTURES / name, arcname=f"specs/{name}")
        readme = tmp_path / "README.md"
        readme.write_text("not a spec")
        tar.add(readme, arcname="specs/README.md")
    return archive


def test_tar_archive_matches_plain_files(tmp_path: Path) -> None:
    archive = make_tar(tmp_path, GOOD + ["bad_json.json"])
    calls: list[tuple[int, int]] = []
    from_archive = ingest_paths([archive], progress=lambda done, total: calls.append((done, total)))
    from_files = ingest_paths([FIXTURES / name for name in GOOD])
    assert sorted(t.name for t in from_archive.tools) == sorted(t.name for t in from_files.tools)
    assert from_archive.files_read == 5
    # Progress counts spec members only (README skipped), ending at done == total.
    assert calls[-1] == (5, 5) and [done for done, _ in calls] == [1, 2, 3, 4, 5]
    bad = [reason for source, reason in from_archive.skipped if source == f"{archive}::specs/bad_json.json"]
    assert len(bad) == 1 and bad[0].startswith("invalid JSON")
    assert all("::specs/" in tool.source for tool in from_archive.tools)


def test_zip_archive_and_directory_recursion(tmp_path: Path) -> None:
    archive = tmp_path / "nested" / "more" / "specs.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIXTURES / "openai_single.jsonl", "a/openai_single.jsonl")
        zf.write(FIXTURES / "bfcl_functions.jsonl", "b/bfcl_functions.jsonl")
        zf.writestr("__MACOSX/._junk.json", b"\x00\x01")
    result = ingest_paths([tmp_path])
    names = {tool.name for tool in result.tools}
    assert {"send_email", "list_pets", "calculate_triangle_area", "solve_quadratic"} <= names
    assert result.files_read == 2


def test_corrupt_archive_is_skipped(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"this is not gzip")
    result = ingest_paths([broken, FIXTURES / "openai_single.jsonl"])
    assert [tool.name for tool in result.tools] == ["send_email", "list_pets"]
    assert result.skipped[0][0] == str(broken) and result.skipped[0][1].startswith("cannot read archive")
