#!/usr/bin/env python3
"""Recomputes CODE_KAT of src/kkrt/tests.rs with OpenSSL, independently of the Rust code.

C(e) = AES_{K_0}(e) || AES_{K_1}(e) || AES_{K_2}(e) || AES_{K_3}(e), all 512 bits,
K_b = SHA-256("psi/kkrt-ot/v1/code\\0" || sid || b)[:16], e = fingerprint with the hash
index in its top two bits (little-endian u128). sid = 0x42 * 32, item digest = 0x17 * 32.
"""
import hashlib
import subprocess

sid = bytes([0x42]) * 32
x = int.from_bytes(bytes([0x17]) * 16, "little")
rows = []
for h in range(3):
    e = (x & ~(3 << 126)) | (h << 126)
    row = b""
    for b in range(4):
        key = hashlib.sha256(b"psi/kkrt-ot/v1/code\0" + sid + bytes([b])).digest()[:16]
        row += subprocess.run(
            ["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", key.hex()],
            input=e.to_bytes(16, "little"), capture_output=True, check=True,
        ).stdout
    rows.append(row.hex())
print(":".join(rows))
