#!/usr/bin/env python3
"""Checks annal's proofs against RFC 6962/9162 alone, with nothing but the standard library
(hashlib, base64, json, urllib): written from the RFC's text, sharing no code with annal.

    rfc6962_check.py BASE_URL SEQ FIRST [API_KEY]

Fetches the newest checkpoint, the inclusion proof of SEQ and the consistency proof from
tree size FIRST to the checkpoint's size, and checks that both lead to the checkpoint's root
(and, for consistency, to the root of the tree of FIRST leaves, given as the root of an
older checkpoint fetched before: pass it as the environment variable FIRST_ROOT, base64).
Exits 0 when every check passes, 1 with a message otherwise. The checkpoint's Ed25519
signature is not checked here (hashlib has no Ed25519); annal's own tests do that.
"""
import base64
import hashlib
import json
import os
import sys
import urllib.request


def fetch(url, key):
    req = urllib.request.Request(url)
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf, index, size, path):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def check_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def main():
    base, seq, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    key = sys.argv[4] if len(sys.argv) > 4 else None
    note = fetch(base + "/v1/checkpoint", key).decode()
    lines = note.split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    assert lines[3] == "" and lines[4].startswith("\u2014 "), "not a signed note"

    inc = json.loads(fetch(f"{base}/v1/proof/inclusion?seq={seq}&tree_size={size}", key))
    assert inc["leaf_index"] == seq and inc["tree_size"] == size, inc
    leaf = leaf_hash(base64.b64decode(inc["leaf_input"]))
    path = [base64.b64decode(h) for h in inc["audit_path"]]
    if root_from_inclusion(leaf, seq, size, path) != root:
        sys.exit(f"inclusion proof of {seq} in {size} does not lead to the checkpoint's root")

    con = json.loads(fetch(f"{base}/v1/proof/consistency?first={first}&second={size}", key))
    assert con["first"] == first and con["second"] == size, con
    proof = [base64.b64decode(h) for h in con["consistency"]]
    first_root = base64.b64decode(os.environ["FIRST_ROOT"])
    if not check_consistency(first, size, first_root, root, proof):
        sys.exit(f"consistency proof {first} -> {size} does not check")
    # A proof altered in one bit must fail: the checks are not vacuous.
    if proof:
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
        if check_consistency(first, size, first_root, root, bad):
            sys.exit("an altered consistency proof checked")
    bad_path = path[:-1] if path else path
    if path and root_from_inclusion(leaf, seq, size, bad_path) == root:
        sys.exit("a shortened inclusion proof checked")
    print(f"ok: inclusion of {seq} in {size}, consistency {first} -> {size}")


if __name__ == "__main__":
    main()
