//! The Merkle tree that commits a batch of verified samples: RFC 6962's
//! Merkle Tree Hash over SHA-256 (a leaf hashed as `SHA-256(0x00 ‖ leaf)`,
//! a node as `SHA-256(0x01 ‖ left ‖ right)`, the split at the largest power
//! of two below the size), its audit paths, and RFC 9162 §2.1.3.2's
//! verification of an inclusion proof — so a proof can be checked with any
//! Certificate Transparency tooling, and without this program.
//!
//! Written here rather than taken from a crate: the three functions are
//! short, tested against Certificate Transparency's published test vectors
//! (and, in the integration tests, a proof is checked by an independent
//! implementation in Python), while the one maintained RFC 6962 crate
//! (`ct-merkle`) describes itself as unaudited and has proof types of its
//! own that would still need converting into the portable proof this agent
//! writes.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// The hash of one leaf.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two below `n` (`n` ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle Tree Hash of leaves given by their hashes (the empty tree's
/// is the SHA-256 of nothing).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` (RFC 6962 §2.1.1), nearest the leaf
/// first; empty when `index` is out of range.
pub fn path(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return Vec::new();
    }
    let k = split(n);
    if index < k {
        let mut p = path(&leaves[..k], index);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = path(&leaves[k..], index - k);
        p.push(root(&leaves[..k]));
        p
    }
}

/// The root an inclusion proof leads to: leaf hash `leaf` at `index` of a
/// tree of `size` leaves with audit path `path` (RFC 9162 §2.1.3.2);
/// `None` when the proof cannot belong to such a tree.
pub fn root_from_path(leaf: Hash, index: u64, size: u64, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificate Transparency's test leaves and the roots of their first
    /// 1..8 (RFC 6962's reference implementation's test data).
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_certificate_transparencys_test_vectors() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let hashes: Vec<Hash> = LEAVES.iter().map(|l| leaf_hash(l)).collect();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(root(&hashes[..=n])), *want, "size {}", n + 1);
        }
    }

    #[test]
    fn every_leafs_path_leads_to_the_root_and_nothing_else_does() {
        for n in 1..=70usize {
            let hashes: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let r = root(&hashes);
            for i in 0..n {
                let p = path(&hashes, i);
                assert_eq!(
                    root_from_path(hashes[i], i as u64, n as u64, &p),
                    Some(r),
                    "leaf {i} of {n}"
                );
                // Another leaf or another index does not (the size is bound by
                // the batch event's count, which a proof's check compares).
                let other = leaf_hash(b"not a leaf of this tree");
                assert_ne!(root_from_path(other, i as u64, n as u64, &p), Some(r));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert_ne!(root_from_path(hashes[i], j as u64, n as u64, &p), Some(r));
                }
            }
        }
        assert_eq!(root_from_path([0; 32], 3, 3, &[]), None);
    }
}
