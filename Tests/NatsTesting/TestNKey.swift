import Foundation
import SiphonTestSupport

/// A throwaway NATS user NKey: its public key and a file holding its seed,
/// made with Python's `cryptography` (Ed25519) and the NKey encoding
/// (base32 of prefix, key and CRC16), as `nk -gen user` makes them.
public struct TestNKey: Sendable {
    public let publicKey: String
    public let seedFile: String
    /// Keeps the seed file.
    public let folder: TemporaryDirectory

    public init() throws {
        let result = try SiphonProcess.run(executable: "/usr/bin/python3", arguments: ["-c", Self.script])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard result.status == 0, lines.count == 2 else { throw TestSupportError("nkey generation failed: \(result.stderr)") }
        folder = try TemporaryDirectory(prefix: "siphon-nkey")
        publicKey = lines[0]
        seedFile = folder.appending("user.nk")
        try (lines[1] + "\n").write(toFile: seedFile, atomically: false, encoding: .utf8)
    }

    static let script = encoding + #"""
seed = os.urandom(32)
key = Ed25519PrivateKey.from_private_bytes(seed)
public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
USER, SEED = 20 << 3, 18 << 3
print(encode(bytes([USER]) + public))
print(encode(bytes([SEED | (USER >> 5), (USER & 31) << 3]) + seed))
"""#

    /// Python: the imports, and `encode(raw)`, an NKey's text (base32 of
    /// prefix bytes, key and CRC16, unpadded); shared with `TestOperator`.
    static let encoding = #"""
import base64, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc

def encode(raw):
    c = crc16(raw)
    return base64.b32encode(raw + bytes([c & 0xFF, c >> 8])).decode().rstrip("=")

"""#
}
