#!/usr/bin/env python3
"""Verify a folder pulled by `cxt gateway pull` with OpenSSL alone (docs/gateway.md §6).

Usage: python3 gateway-verify.py DIR   — exit 0 when whole, 1 naming the first bad page or entry.
SM3 comes from `openssl dgst -sm3` (hashlib has SM3 only where Python's OpenSSL exposes it).
"""
import json, pathlib, subprocess, sys

def sm3(data: bytes) -> bytes:
    return subprocess.run(["openssl", "dgst", "-sm3", "-binary"], input=data, capture_output=True, check=True).stdout

def once(pairs):  # a key given twice would let two readers see two pages
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key is given twice")
    return dict(pairs)

def verify(d: pathlib.Path) -> str:
    numbers = sorted(int(p.stem[5:]) for p in d.glob("page-*.json") if p.stem[5:].isdigit())
    if numbers != list(range(1, len(numbers) + 1)):
        return f"the pages are not page-1.json to page-{numbers[-1] if numbers else 0}.json without a gap"
    seq = chain = head = None
    for n in numbers:
        name = f"page-{n}.json"
        try:
            page = json.loads((d / name).read_text("utf-8"), object_pairs_hook=once)
        except ValueError as e:
            return f"{name}: {e}"
        ok = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", d / "platform-sm2.pem",
                             "-signature", d / f"page-{n}.sig", d / f"page-{n}.head"], capture_output=True).returncode == 0
        if not ok or (d / f"page-{n}.head").read_bytes() != page["head"].encode():
            return f"{name}: the head is not signed by the platform's gateway key"
        head = json.loads(page["head"])
        if seq is None:
            seq, chain = head["first_seq"] - 1, head["prev_hash"]
        if (head["first_seq"], head["prev_hash"]) != (seq + 1, chain):
            return f"{name}: does not continue the chain at {seq}"
        for e in page["entries"]:
            pos = e["seq"] if head["scope"] == "platform" else e["office_seq"]
            if pos != seq + 1:
                return f"{name}: entry {seq + 1} is missing"
            if e["identity"] is not None and sm3(e["identity"].encode()).hex() != e["identity_sm3"]:
                return f"{name}: entry {pos}: the identity was altered"
            if e["identity"] is None and e["identity_sm3"] and not e.get("destroyed"):
                return f"{name}: entry {pos}: the identity is missing and the entry is not marked destroyed"
            lines = "".join(f"{x}\n" for x in ["cxt-feed/1", e["seq"], e["type"], e["v"], e["time"], e["office"], e["subject"],
                                               e["identity_sm3"], ""])
            h = sm3(lines.encode() + e["payload"].encode())
            chain, seq = sm3(bytes.fromhex(chain) + h).hex(), pos
            if h.hex() != e["hash"] or chain != e["chain"]:
                return f"{name}: entry {pos}: its hash or chain does not hold"
        if (head["last_seq"], head["chain_hash"]) != (seq, chain):
            return f"{name}: the head does not end where its entries do"
    if head is None:
        return "no page-1.json"
    if head["last_seq"] < head["end_seq"]:
        return f"incomplete: the last head says the chain reached {head['end_seq']}; the folder ends at {head['last_seq']}"
    return ""

if __name__ == "__main__":
    problem = verify(pathlib.Path(sys.argv[1]))
    print(problem or "whole", file=sys.stderr if problem else sys.stdout)
    sys.exit(1 if problem else 0)
