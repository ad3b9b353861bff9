"""domain/: password policy (NIST SP 800-63B), e-mail normal form, Stellar account strkeys, roles."""

from __future__ import annotations

import string
import uuid

import pytest
from stellar_sdk import Keypair, MuxedAccount

from domain.emails import InvalidEmail, normalise_email
from domain.passwords import WeakPassword, check_password, common_passwords, normalise_password
from domain.roles import Role, SelfModification, check_not_self
from domain.stellar_accounts import InvalidStellarAddress, check_account_strkey


class TestPasswordPolicy:
    @pytest.mark.parametrize("length", [8, 64, 128])
    def test_lengths_inside_the_bounds_pass(self, length: int) -> None:
        password = ("zq7-Vx4!" * 16)[:length]
        assert len(normalise_password(password)) == length  # the length the policy counts is the bound itself
        check_password(password)  # accepted: raises nothing

    @pytest.mark.parametrize("length", [0, 7, 129])
    def test_lengths_outside_the_bounds_fail(self, length: int) -> None:
        with pytest.raises(WeakPassword):
            check_password(("zq7-Vx4!" * 17)[:length])

    def test_length_counts_code_points_after_nfkc(self) -> None:
        # Eight fullwidth letters are eight code points (not 24 UTF-8 bytes) and NFKC-fold to ASCII.
        assert normalise_password("ｚｑｘｖｗｙｕｔ") == "zqxvwyut"
        check_password("ｚｑｘｖｗｙｕｔ")
        with pytest.raises(WeakPassword):
            check_password("ｐａｓｓｗｏｒｄ")  # folds to "password", a common one

    @pytest.mark.parametrize("password", ["password", "PassWord", "12345678", "iloveyou", "trustno1", "qwerty123"])
    def test_common_passwords_fail_whatever_the_case(self, password: str) -> None:
        with pytest.raises(WeakPassword, match="common"):
            check_password(password)

    def test_the_shipped_list_has_thousands_of_entries_of_allowed_length(self) -> None:
        entries = common_passwords()
        assert len(entries) >= 3000
        assert all(8 <= len(p) <= 128 and p == p.lower() for p in entries)

    def test_one_repeated_character_fails(self) -> None:
        with pytest.raises(WeakPassword, match="repeated"):
            check_password("qqqqqqqqqqqq")

    def test_the_accounts_own_email_fails(self) -> None:
        with pytest.raises(WeakPassword, match="e-mail"):
            check_password("Zed.Quill@Example.com", context=("zed.quill@example.com", "zed.quill"))

    def test_no_composition_rules(self) -> None:
        password = "lowercase only words here"
        assert set(password) <= set(string.ascii_lowercase + " ")  # no capital, digit or symbol anywhere
        check_password(password)  # accepted: raises nothing

    def test_the_message_never_contains_the_password(self) -> None:
        with pytest.raises(WeakPassword) as info:
            check_password("sunshine")
        assert "sunshine" not in str(info.value)


class TestEmail:
    def test_normal_form_is_lower_case(self) -> None:
        assert normalise_email("  Bob.Smith@Example.COM ") == "bob.smith@example.com"

    @pytest.mark.parametrize("value", ["", "no-at-sign", "a@", "@b.com", "a b@c.com", "x@localhost", "a@" + "b" * 250 + ".com"])
    def test_invalid_addresses_fail(self, value: str) -> None:
        with pytest.raises(InvalidEmail):
            normalise_email(value)


class TestStellarAccount:
    def test_a_real_account_id_passes(self) -> None:
        key = Keypair.random().public_key
        assert check_account_strkey(key) == key

    def test_a_wrong_checksum_fails(self) -> None:
        key = Keypair.random().public_key
        broken = key[:-1] + ("A" if key[-1] != "A" else "B")
        with pytest.raises(InvalidStellarAddress):
            check_account_strkey(broken)

    @pytest.mark.parametrize("kind", ["secret", "muxed", "lowercase", "empty"])
    def test_other_strkeys_and_garbage_fail(self, kind: str) -> None:
        pair = Keypair.random()
        value = {
            "secret": pair.secret,
            "muxed": MuxedAccount(pair.public_key, 7).account_muxed,
            "lowercase": pair.public_key.lower(),
            "empty": "",
        }[kind]
        with pytest.raises(InvalidStellarAddress):
            check_account_strkey(value)


def test_roles_are_the_four_of_the_issue() -> None:
    assert [r.value for r in Role] == ["user", "operator", "compliance_officer", "admin"]


def test_an_admin_cannot_act_on_themselves() -> None:
    me = uuid.uuid4()
    check_not_self(me, uuid.uuid4())
    with pytest.raises(SelfModification):
        check_not_self(me, me)
