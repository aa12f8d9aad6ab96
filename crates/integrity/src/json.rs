//! Proofs in RFC 6962's JSON shapes (`get-proof-by-hash`, `get-sth-consistency`, with the
//! leaf's bytes as `get-entry-and-proof` gives them), as served over HTTP, printed by the
//! CLI and stored in proof bundles.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::IntegrityError;
use crate::notary::InclusionProof;
use crate::Hash;

/// Most hashes a proof may hold: one per level of a tree of 2^64 leaves (a consistency
/// proof may hold one more, for the older root).
pub const PROOF_HASHES_MAX: usize = 65;

/// An inclusion proof as RFC 6962 names its parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InclusionJson {
    /// The event's seq: its leaf index.
    pub leaf_index: u64,
    /// The size of the tree the path leads to the root of.
    pub tree_size: u64,
    /// Base64 of the exact record bytes; the leaf hash is SHA-256(0x00 ‖ these bytes).
    pub leaf_input: String,
    /// Base64 sibling hashes, leaf side first.
    pub audit_path: Vec<String>,
}

/// A consistency proof as RFC 6962 names its parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsistencyJson {
    /// The older tree size.
    pub first: u64,
    /// The newer tree size.
    pub second: u64,
    /// Base64 hashes of the proof.
    pub consistency: Vec<String>,
}

impl From<&InclusionProof> for InclusionJson {
    fn from(p: &InclusionProof) -> Self {
        InclusionJson {
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            leaf_input: STANDARD.encode(&p.leaf_input),
            audit_path: encode_hashes(&p.audit_path),
        }
    }
}

impl InclusionJson {
    /// The proof, with its hashes and leaf bytes decoded.
    pub fn decode(&self) -> Result<InclusionProof, IntegrityError> {
        Ok(InclusionProof {
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            leaf_input: STANDARD
                .decode(&self.leaf_input)
                .map_err(|e| IntegrityError::ProofJson(format!("leaf_input is not base64: {e}")))?,
            audit_path: decode_hashes(&self.audit_path, "audit_path")?,
        })
    }
}

impl ConsistencyJson {
    /// The JSON of a consistency proof between `first` and `second`.
    pub fn new(first: u64, second: u64, proof: &[Hash]) -> ConsistencyJson {
        ConsistencyJson {
            first,
            second,
            consistency: encode_hashes(proof),
        }
    }

    /// The proof's hashes, decoded.
    pub fn hashes(&self) -> Result<Vec<Hash>, IntegrityError> {
        decode_hashes(&self.consistency, "consistency")
    }
}

fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

fn decode_hashes(texts: &[String], field: &str) -> Result<Vec<Hash>, IntegrityError> {
    if texts.len() > PROOF_HASHES_MAX {
        return Err(IntegrityError::ProofJson(format!(
            "{field} holds {} hashes; no proof needs more than {PROOF_HASHES_MAX}",
            texts.len()
        )));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            STANDARD
                .decode(t)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    IntegrityError::ProofJson(format!("{field}[{i}] is not a base64 SHA-256 hash"))
                })
        })
        .collect()
}
