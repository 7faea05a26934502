import json
import shutil

import pytest

from briefbot import Settings
from briefbot.errors import BriefingError
from briefbot.index import open_index, remove_index
from briefbot.settings import DEFAULT_BRIEFING


@pytest.fixture(scope="module")
def embed_model(fake_bot):
    return fake_bot.verifier.embed_model


def _open(tmp_path, embed_model, **overrides):
    return open_index(Settings(backend="fake", index_dir=tmp_path, **overrides), embed_model=embed_model)


def test_index_is_reused_not_rebuilt_or_duplicated(tmp_path, embed_model):
    messages = []
    first = open_index(Settings(index_dir=tmp_path), embed_model=embed_model, progress=messages.append)
    assert any("building" in m for m in messages)
    messages.clear()
    second = open_index(Settings(index_dir=tmp_path), embed_model=embed_model, progress=messages.append)
    assert messages == []
    assert second.manifest == first.manifest
    assert second.vector_store.client.count() == first.manifest["chunks"]


def test_manifest_records_what_the_index_was_built_from(tmp_path, embed_model):
    manifest = _open(tmp_path, embed_model).manifest
    assert manifest["embedding_model"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert manifest["chunking"] == {"method": "sentence-pack-v2", "size": 64, "overlap": 0}
    assert [s["doc_id"] for s in manifest["sources"]] == ["russia-taliban-2017-04-25"]
    assert len(manifest["sources"][0]["sha256"]) == 64


def test_changed_chunking_rebuilds(tmp_path, embed_model):
    small = _open(tmp_path, embed_model, chunk_size=96)
    large = _open(tmp_path, embed_model, chunk_size=256)
    assert large.manifest["fingerprint"] != small.manifest["fingerprint"]
    assert large.manifest["chunks"] < small.manifest["chunks"]
    assert large.vector_store.client.count() == large.manifest["chunks"]


def test_given_files_are_their_own_briefing_set(tmp_path, embed_model):
    extra = tmp_path / "extra-note.md"
    extra.write_text("# Border note\n\n12 March 2017\n\nThe Panj river marks the Tajik–Afghan border. Patrols rose by 40 percent.\n")
    default = _open(tmp_path / "idx", embed_model)
    alone = open_index(Settings(index_dir=tmp_path / "idx"), briefings=[extra], embed_model=embed_model)
    assert set(alone.briefings) == {"extra-note"}
    assert {n.metadata["doc_id"] for n in alone.nodes} == {"extra-note"}
    assert alone.root != default.root
    node = alone.nodes[0]
    assert alone.briefings["extra-note"].text[node.metadata["start"] : node.metadata["end"]] == node.text
    both = open_index(Settings(index_dir=tmp_path / "idx", briefings=[extra, DEFAULT_BRIEFING]), embed_model=embed_model)
    assert list(both.briefings) == ["extra-note", "russia-taliban-2017-04-25"]
    assert len({alone.root, default.root, both.root}) == 3
    reopened = _open(tmp_path / "idx", embed_model)
    assert set(reopened.briefings) == {"russia-taliban-2017-04-25"}
    assert reopened.manifest == default.manifest


def test_a_briefing_edited_in_place_rebuilds_its_own_set(tmp_path, embed_model):
    note = tmp_path / "daily.md"
    note.write_text("# Monday\n\nThe convoy left at dawn.\n")
    first = open_index(Settings(index_dir=tmp_path / "idx"), briefings=[note], embed_model=embed_model)
    note.write_text("# Tuesday\n\nThe convoy returned at noon.\n")
    second = open_index(Settings(index_dir=tmp_path / "idx"), briefings=[note], embed_model=embed_model)
    assert second.root == first.root
    assert "returned" in second.briefings["daily"].text
    assert second.manifest["fingerprint"] != first.manifest["fingerprint"]


def test_removed_set_is_gone_and_others_stay(tmp_path, embed_model):
    note = tmp_path / "daily.md"
    note.write_text("# Monday\n\nThe convoy left at dawn.\n")
    default = _open(tmp_path, embed_model)
    gone = open_index(Settings(index_dir=tmp_path), briefings=[note], embed_model=embed_model)
    remove_index(Settings(index_dir=tmp_path), ["daily"])
    assert not gone.root.exists()
    assert _open(tmp_path, embed_model).manifest == default.manifest


def test_bad_file_leaves_the_index_untouched(tmp_path, embed_model):
    good = _open(tmp_path, embed_model)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\xff\x00")
    with pytest.raises(BriefingError):
        open_index(Settings(index_dir=tmp_path), briefings=[DEFAULT_BRIEFING, binary], embed_model=embed_model)
    assert _open(tmp_path, embed_model).manifest == good.manifest


@pytest.mark.parametrize("damage", ["manifest", "chroma", "docs"])
def test_damaged_index_is_detected_and_rebuilt(tmp_path, embed_model, damage):
    good = _open(tmp_path, embed_model)
    live = good.root / "live"
    if damage == "manifest":
        (live / "manifest.json").write_text("{truncated")
    elif damage == "chroma":
        shutil.rmtree(next(live.glob("chroma-*")))
    else:
        shutil.rmtree(live / "docs")
    rebuilt = _open(tmp_path, embed_model)
    assert rebuilt.manifest["fingerprint"] == good.manifest["fingerprint"]
    assert rebuilt.vector_store.client.count() == good.manifest["chunks"]
    assert json.loads((live / "manifest.json").read_text())["chunks"] == good.manifest["chunks"]
