"""Builds an EIP-155 legacy transaction with a large calldata for the oversized-tx check.

cast cannot take a >128 KiB hex argument (the kernel's per-argument limit), so the e2e test
builds the RLP here and lets cast hash and sign it:

    bigtx.py unsigned NONCE GAS_PRICE GAS_LIMIT TO DATA_BYTES CHAIN_ID   -> 0x<unsigned rlp>
    bigtx.py signed UNSIGNED_FILE SIGNATURE CHAIN_ID                      -> 0x<signed rlp>
"""
import sys


def enc_int(i):
    return b"" if i == 0 else i.to_bytes((i.bit_length() + 7) // 8, "big")


def hdr(n, off):
    if n < 56:
        return bytes([off + n])
    b = enc_int(n)
    return bytes([off + 55 + len(b)]) + b


def rlp(x):
    if isinstance(x, list):
        body = b"".join(rlp(i) for i in x)
        return hdr(len(body), 0xC0) + body
    if len(x) == 1 and x[0] < 0x80:
        return x
    return hdr(len(x), 0x80) + x


def dec(b):
    """Decodes one RLP list of byte strings (enough for our own unsigned tx)."""

    def item(i):
        p = b[i]
        if p < 0x80:
            return b[i : i + 1], i + 1
        if p < 0xB8:
            n = p - 0x80
            return b[i + 1 : i + 1 + n], i + 1 + n
        if p < 0xC0:
            ll = p - 0xB7
            n = int.from_bytes(b[i + 1 : i + 1 + ll], "big")
            s = i + 1 + ll
            return b[s : s + n], s + n
        raise ValueError("nested list")

    p = b[0]
    i = 1 + (p - 0xF7 if p > 0xF7 else 0)
    out = []
    while i < len(b):
        v, i = item(i)
        out.append(v)
    return out


def main(argv):
    if argv[0] == "unsigned":
        nonce, gas_price, gas_limit, to, nbytes, chain_id = argv[1:]
        fields = [
            enc_int(int(nonce)),
            enc_int(int(gas_price)),
            enc_int(int(gas_limit)),
            bytes.fromhex(to[2:]),
            b"",
            b"\x01" * int(nbytes),
            enc_int(int(chain_id)),
            b"",
            b"",
        ]
        return "0x" + rlp(fields).hex()
    if argv[0] == "signed":
        unsigned = bytes.fromhex(open(argv[1]).read().strip()[2:])
        sig = bytes.fromhex(argv[2][2:])
        chain_id = int(argv[3])
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        rec = v - 27 if v >= 27 else v
        fields = dec(unsigned)[:6] + [enc_int(chain_id * 2 + 35 + rec), enc_int(r), enc_int(s)]
        return "0x" + rlp(fields).hex()
    raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1:]))
