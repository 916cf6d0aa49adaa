"""Secrets of the local server: script keys and user passwords stored as salted scrypt hashes.

`hash_secret` makes `scrypt$N$r$p$<salt hex>$<hash hex>` (N=2**14, r=8, p=1: about 50 ms per hash, so a
leaked database is slow to guess at). `verify_secret` compares in constant time. Because every request
carries the script key or password, `CredentialCache` remembers a (stored hash, secret) pair that verified
once, as an HMAC under a per-process random key, so only the first request of a client pays for scrypt;
a changed hash or a wrong secret never hits the cache. Stores written before hashing was salted (a bare
SHA-256 hex digest) still verify, and are re-hashed by the caller on the next write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _N, _R, _P)
    return f"{_PREFIX}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_secret(stored: str, secret: str) -> bool:
    parts = stored.split("$")
    if len(parts) == 6 and parts[0] == _PREFIX:
        try:
            n, r, p, salt = int(parts[1]), int(parts[2]), int(parts[3]), bytes.fromhex(parts[4])
        except ValueError:
            return False
        return hmac.compare_digest(_scrypt(secret, salt, n, r, p).hex(), parts[5])
    legacy = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return bool(stored) and hmac.compare_digest(stored, legacy)


def is_current(stored: str) -> bool:
    """True when `stored` is a salted scrypt hash (not a legacy digest to re-hash)."""
    return stored.startswith(_PREFIX + "$")


class CredentialCache:
    """Remembers (stored hash, secret) pairs that verified, keyed by an HMAC under a process-local key."""

    def __init__(self, limit: int = 1024) -> None:
        self._key = secrets.token_bytes(32)
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()
        self._limit = limit

    def _tag(self, stored: str, secret: str) -> bytes:
        return hmac.new(self._key, f"{stored}\0{secret}".encode(), hashlib.sha256).digest()

    def verify(self, stored: str, secret: str) -> bool:
        tag = self._tag(stored, secret)
        with self._lock:
            if tag in self._seen:
                return True
        if not verify_secret(stored, secret):
            return False
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen.clear()
            self._seen.add(tag)
        return True
