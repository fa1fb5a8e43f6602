from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from strongroom.auth.secretbox import (
    SecretBox,
    SecretBoxError,
    generate_key_setting,
    key_from_setting,
    key_id_for,
    load_or_create_master_key,
)

AKID = b"AKIAIOSFODNN7EXAMPLE"
SECRET = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def new_key() -> bytes:
    return os.urandom(32)


def test_round_trip() -> None:
    box = SecretBox.from_keys(new_key())
    sealed = box.encrypt(SECRET, AKID)
    assert SECRET not in sealed
    assert box.decrypt(sealed, AKID) == SECRET


def test_ciphertext_is_self_describing() -> None:
    key = new_key()
    box = SecretBox.from_keys(key)
    sealed = box.encrypt(SECRET, AKID)
    key_id = key_id_for(key).encode()
    assert sealed[0] == 1
    assert sealed[1] == len(key_id)
    assert sealed[2 : 2 + len(key_id)] == key_id
    assert len(sealed) == 2 + len(key_id) + 12 + len(SECRET) + 16


def test_nonces_differ_between_encryptions() -> None:
    box = SecretBox.from_keys(new_key())
    assert box.encrypt(SECRET, AKID) != box.encrypt(SECRET, AKID)


@pytest.mark.parametrize("position", [0, 1, 5, 20, 30, -1])
def test_any_altered_byte_is_detected(position: int) -> None:
    box = SecretBox.from_keys(new_key())
    sealed = bytearray(box.encrypt(SECRET, AKID))
    sealed[position] ^= 0x01
    with pytest.raises(SecretBoxError):
        box.decrypt(bytes(sealed), AKID)


def test_truncation_is_detected() -> None:
    box = SecretBox.from_keys(new_key())
    sealed = box.encrypt(SECRET, AKID)
    for length in (0, 1, 10, len(sealed) - 1):
        with pytest.raises(SecretBoxError):
            box.decrypt(sealed[:length], AKID)


def test_other_associated_data_fails() -> None:
    box = SecretBox.from_keys(new_key())
    sealed = box.encrypt(SECRET, AKID)
    with pytest.raises(SecretBoxError, match="failed authentication"):
        box.decrypt(sealed, b"AKIAOTHERKEY00000000")


def test_wrong_key_with_the_same_id_fails() -> None:
    key_id = "k1"
    sealed = SecretBox({key_id: new_key()}, key_id).encrypt(SECRET, AKID)
    with pytest.raises(SecretBoxError, match="failed authentication"):
        SecretBox({key_id: new_key()}, key_id).decrypt(sealed, AKID)


def test_unknown_key_id_is_named() -> None:
    old = new_key()
    sealed = SecretBox.from_keys(old).encrypt(SECRET, AKID)
    with pytest.raises(SecretBoxError, match=key_id_for(old)):
        SecretBox.from_keys(new_key()).decrypt(sealed, AKID)


def test_rotation_old_key_decrypts_new_key_encrypts() -> None:
    old, new = new_key(), new_key()
    sealed_old = SecretBox.from_keys(old).encrypt(SECRET, AKID)
    rotated = SecretBox.from_keys(new, old)
    assert rotated.current_key_id == key_id_for(new)
    assert rotated.key_ids == {key_id_for(old), key_id_for(new)}
    assert rotated.decrypt(sealed_old, AKID) == SECRET
    assert rotated.needs_reencryption(sealed_old)

    sealed_new = rotated.encrypt(SECRET, AKID)
    assert not rotated.needs_reencryption(sealed_new)
    assert SecretBox.from_keys(new).decrypt(sealed_new, AKID) == SECRET
    with pytest.raises(SecretBoxError):
        SecretBox.from_keys(old).decrypt(sealed_new, AKID)


def test_bad_key_ring_is_refused() -> None:
    with pytest.raises(SecretBoxError, match="current key id"):
        SecretBox({"a": new_key()}, "b")
    with pytest.raises(SecretBoxError, match="AES-256"):
        SecretBox({"a": b"short"}, "a")
    with pytest.raises(SecretBoxError, match="key id"):
        SecretBox({"": new_key()}, "")


def test_key_from_setting() -> None:
    key = new_key()
    assert key_from_setting(base64.b64encode(key).decode()) == (key_id_for(key), key)
    assert key_from_setting(" " + base64.urlsafe_b64encode(key).decode() + "\n")[1] == key
    assert key_from_setting(generate_key_setting())[1] != key
    with pytest.raises(SecretBoxError, match="base64"):
        key_from_setting("not base64!")
    with pytest.raises(SecretBoxError, match="32 bytes"):
        key_from_setting(base64.b64encode(b"x" * 16).decode())


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    key_id, key = load_or_create_master_key(path)
    assert len(key) == 32
    assert key_id == key_id_for(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_master_key(path) == (key_id, key)
    assert key_from_setting(path.read_text()) == (key_id, key)
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


def test_key_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_master_key(tmp_path / "master.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    load_or_create_master_key(path)
    path.chmod(mode)
    with pytest.raises(SecretBoxError, match="chmod 600"):
        load_or_create_master_key(path)


def test_existing_key_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    setting = generate_key_setting()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, setting.encode())
    os.close(fd)
    assert load_or_create_master_key(path) == key_from_setting(setting)


def test_corrupt_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"\xff\xfe garbage")
    os.close(fd)
    with pytest.raises(SecretBoxError, match=str(path)):
        load_or_create_master_key(path)


def test_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.key"
    load_or_create_master_key(target)
    link = tmp_path / "master.key"
    link.symlink_to(target)
    with pytest.raises(SecretBoxError, match="cannot open"):
        load_or_create_master_key(link)
