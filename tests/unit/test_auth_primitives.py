"""api/auth building blocks without HTTP: argon2id hashing, JWT codec, client IP, cursors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from api.auth.client_ip import ClientIpResolver
from api.auth.passwords import PasswordHasher
from api.auth.tokens import InvalidToken, TokenCodec, TokenKeyMissing
from api.errors import ApiError
from api.pagination import decode_cursor, encode_cursor
from config.settings import AuthSettings
from db.queries.keyset import Position
from domain.roles import Role

SECRET = "unit-test-secret-0123456789abcdef0123456789"
CHEAP = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 8192, "argon2_parallelism": 1}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(key: bytes, payload: dict) -> str:
    """An HS256 JWT built by hand (pyjwt refuses PEM keys as HMAC secrets, attackers do not)."""
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def hs_settings(**overrides) -> AuthSettings:
    return AuthSettings(jwt_secret=SECRET, **CHEAP, **overrides)


class TestPasswordHasher:
    def test_hash_is_argon2id_with_configured_parameters_and_verifies(self) -> None:
        hasher = PasswordHasher(hs_settings())
        phc = hasher.hash("correct horse battery")
        assert phc.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        assert hasher.verify(phc, "correct horse battery")
        assert not hasher.verify(phc, "correct horse battery!")

    def test_unknown_account_and_garbage_hash_are_mismatches_not_errors(self) -> None:
        hasher = PasswordHasher(hs_settings())
        assert not hasher.verify(None, "anything at all")
        assert not hasher.verify("not-a-phc-string", "anything at all")

    def test_needs_rehash_when_parameters_change(self) -> None:
        old = PasswordHasher(hs_settings())
        new = PasswordHasher(AuthSettings(jwt_secret=SECRET, argon2_time_cost=2, argon2_memory_cost_kib=8192, argon2_parallelism=1))
        phc = old.hash("correct horse battery")
        assert not old.needs_rehash(phc)
        assert new.needs_rehash(phc) and new.verify(phc, "correct horse battery")

    def test_input_is_nfkc_normalised(self) -> None:
        hasher = PasswordHasher(hs_settings())
        assert hasher.verify(hasher.hash("ｃｏｒｒｅｃｔ horse"), "correct horse")


class TestTokenCodec:
    def test_round_trip_carries_every_claim(self) -> None:
        codec = TokenCodec(hs_settings(token_lifetime_seconds=600))
        user_id = uuid.uuid4()
        issued = codec.issue(user_id=user_id, role=Role.OPERATOR)
        payload = jwt.decode(issued.token, SECRET, algorithms=["HS256"], audience="custody-api")
        assert set(payload) == {"sub", "role", "iat", "exp", "jti", "iss", "aud"}
        assert payload["exp"] - payload["iat"] == 600 == issued.expires_in
        claims = codec.decode(issued.token)
        assert (claims.user_id, claims.role, claims.jti) == (user_id, Role.OPERATOR, issued.claims.jti)

    def _forge(self, key: str = SECRET, algorithm: str = "HS256", **changes) -> str:
        now = int(time.time())
        payload = {"sub": str(uuid.uuid4()), "role": "user", "iat": now, "exp": now + 60, "jti": "j",
                   "iss": "custody-engine", "aud": "custody-api", **changes}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key, algorithm=algorithm)

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    @pytest.mark.parametrize(
        "attack",
        ["alg_none", "hs512", "wrong_key", "expired", "wrong_aud", "wrong_iss", "no_jti", "no_role",
         "unknown_role", "sub_not_uuid", "future_iat", "garbage"],
    )
    def test_attacks_are_refused(self, attack: str) -> None:
        codec = TokenCodec(hs_settings())
        now = int(time.time())
        token = {
            "alg_none": lambda: self._forge(key="", algorithm="none"),
            "hs512": lambda: self._forge(algorithm="HS512"),  # same secret, other algorithm
            "wrong_key": lambda: self._forge(key="another-secret-0123456789abcdef0123"),
            "expired": lambda: self._forge(iat=now - 120, exp=now - 60),
            "wrong_aud": lambda: self._forge(aud="someone-else"),
            "wrong_iss": lambda: self._forge(iss="someone-else"),
            "no_jti": lambda: self._forge(jti=None),
            "no_role": lambda: self._forge(role=None),
            "unknown_role": lambda: self._forge(role="root"),
            "sub_not_uuid": lambda: self._forge(sub="42"),
            "future_iat": lambda: self._forge(iat=now + 3600, exp=now + 7200),
            "garbage": lambda: "not.a.jwt",
        }[attack]()
        with pytest.raises(InvalidToken):
            codec.decode(token)

    @pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
    def test_asymmetric_keys_from_files(self, tmp_path: Path, algorithm: str) -> None:
        private = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else ed25519.Ed25519PrivateKey.generate()
        priv_file, pub_file = tmp_path / "jwt.key", tmp_path / "jwt.pub"
        priv_file.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        pub_file.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        codec = TokenCodec(AuthSettings(jwt_algorithm=algorithm, jwt_private_key_file=priv_file, jwt_public_key_file=pub_file))
        issued = codec.issue(user_id=uuid.uuid4(), role=Role.ADMIN)
        assert jwt.get_unverified_header(issued.token)["alg"] == algorithm
        assert codec.decode(issued.token).role is Role.ADMIN
        # Key confusion: an HS256 token whose HMAC key is the public key text must not pass.
        with pytest.raises(InvalidToken):
            codec.decode(_hmac_token(pub_file.read_bytes(), jwt.decode(issued.token, options={"verify_signature": False})))

    def test_asymmetric_algorithm_without_key_files_is_refused(self) -> None:
        with pytest.raises(TokenKeyMissing):
            TokenCodec(AuthSettings(jwt_algorithm="RS256"))


class TestClientIp:
    resolver = ClientIpResolver(["10.0.0.0/8", "192.0.2.1"])

    def test_untrusted_peer_forwarded_for_is_ignored(self) -> None:
        assert self.resolver.resolve("203.0.113.9", ["1.2.3.4"]) == "203.0.113.9"

    def test_trusted_peer_gives_the_rightmost_untrusted_hop(self) -> None:
        assert self.resolver.resolve("10.1.1.1", ["6.6.6.6, 198.51.100.4, 10.2.2.2"]) == "198.51.100.4"
        assert self.resolver.resolve("192.0.2.1", ["6.6.6.6", "198.51.100.4"]) == "198.51.100.4"

    def test_trusted_peer_without_header_is_the_client(self) -> None:
        assert self.resolver.resolve("10.1.1.1", []) == "10.1.1.1"

    def test_garbage_hop_stops_at_the_last_vouched_address(self) -> None:
        assert self.resolver.resolve("10.1.1.1", ["198.51.100.4, not-an-ip"]) == "10.1.1.1"

    def test_peer_that_is_not_an_ip_is_none(self) -> None:
        assert self.resolver.resolve("testclient", ["1.2.3.4"]) is None

    def test_ipv6(self) -> None:
        resolver = ClientIpResolver(["::1"])
        assert resolver.resolve("::1", ["2001:db8::7"]) == "2001:db8::7"


class TestCursor:
    def test_round_trip(self) -> None:
        position = Position(created_at=datetime.now(UTC) - timedelta(days=3), id=uuid.uuid4())
        assert decode_cursor(encode_cursor(position)) == position

    @pytest.mark.parametrize("cursor", ["%%%", "e30", "bm90IGpzb24", encode_cursor(Position(datetime(2024, 1, 1), uuid.uuid4()))])
    def test_foreign_cursors_are_422(self, cursor: str) -> None:
        with pytest.raises(ApiError) as info:
            decode_cursor(cursor)
        assert (info.value.status, info.value.code) == (422, "invalid_cursor")
