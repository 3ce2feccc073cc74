//! The audit trail: an append-only log of what admins and users did, made
//! tamper-evident as a certificate-transparency log is (RFC 6962/9162).
//!
//! Every entry is a leaf of a Merkle tree: leaf hash = SHA-256(0x00 ‖ entry bytes),
//! node = SHA-256(0x01 ‖ left ‖ right). Appending keeps the tree's frontier (the roots
//! of its perfect subtrees, largest first), so the root of the new tree costs O(log n);
//! the caller signs that root as a tree head, stored with the entry in one batch. An
//! entry altered, removed or reordered afterwards changes the root recomputed from the
//! stored entries, which then no longer matches the signed heads: [`Audit::verify`].
//!
//! Trees:
//! - `auditseq_entry`: `(seq u64)` → the entry's JSON bytes, exactly as hashed.
//! - `auditsize_treehead`: `(tree size u64)` → [`TreeHead`].
//! - `audit_meta`: `frontier` → the frontier, `(height u8, hash [32])` repeated.
//! - `auditseq_prunedleaf`: `(seq u64)` → the leaf hash of an entry removed by retention:
//!   the entry is gone, the proof that it existed and was not changed stays.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, StorageError, decode, encode};

pub type Hash = [u8; 32];

/// One thing that happened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub ts: u64,
    /// Who did it: a user ID, `cli` for the command line, or `server`.
    pub actor: String,
    /// What: `login`, `login_failed`, `register`, `admin.user.modify` …
    pub action: String,
    /// To whom or what, if anyone.
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Anything else worth keeping.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A signed statement of the tree's size and root: the JSON object
/// `{"tree_size", "root_hash", "ts", "signatures"}`, signed as Matrix signs JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    /// Hex SHA-256.
    pub root_hash: String,
    pub ts: u64,
    /// `{server_name: {key_id: signature}}`.
    pub signatures: serde_json::Value,
}

pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// RFC 6962's Merkle tree hash of `leaves`, computed directly (for verification).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n);
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The audit path of leaf `index` in a tree of `leaves` (RFC 6962 section 2.1.1).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(leaves.len());
    if index < k {
        let mut path = inclusion_proof(&leaves[..k], index);
        path.push(root_of(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(&leaves[k..], index - k);
        path.push(root_of(&leaves[..k]));
        path
    }
}

/// Checks an audit path (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// The roots of the tree's perfect subtrees, largest first, with their heights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Frontier(Vec<(u8, Hash)>);

impl Frontier {
    fn push(&mut self, leaf: Hash) {
        self.0.push((0, leaf));
        while self.0.len() >= 2 {
            let n = self.0.len();
            if self.0[n - 1].0 != self.0[n - 2].0 {
                break;
            }
            let (height, right) = self.0.pop().unwrap_or_default();
            let (_, left) = self.0.pop().unwrap_or_default();
            self.0.push((height + 1, node_hash(&left, &right)));
        }
    }

    fn root(&self) -> Hash {
        let mut iter = self.0.iter().rev();
        let Some((_, last)) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 33);
        for (height, hash) in &self.0 {
            out.push(*height);
            out.extend_from_slice(hash);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(33) {
            return Err(StorageError::Corrupt("audit frontier".into()));
        }
        Ok(Self(
            bytes
                .chunks(33)
                .map(|c| {
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(&c[1..]);
                    (c[0], hash)
                })
                .collect(),
        ))
    }
}

/// What [`Audit::verify`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    /// Of those, removed by retention (only their leaf hashes remain).
    pub pruned: u64,
    pub tree_heads: u64,
    /// Problems, in order: a gap in the sequence, a head whose root does not match.
    pub problems: Vec<String>,
}

#[derive(Clone)]
pub struct Audit {
    entries: Tree,
    heads: Tree,
    meta: Tree,
    pruned: Tree,
    /// Appends are serialised: each one extends the frontier the previous one left.
    lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Audit {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            entries: engine.tree("auditseq_entry")?,
            heads: engine.tree("auditsize_treehead")?,
            meta: engine.tree("audit_meta")?,
            pruned: engine.tree("auditseq_prunedleaf")?,
            lock: Default::default(),
        })
    }

    /// Appends an entry to `batch`; `sign` is given the new tree's size and root and
    /// returns the tree head to store with it. The lock is held until the caller's
    /// `done` runs (after committing), so appends land in order.
    pub fn append<T>(
        &self,
        batch: &mut Batch,
        entry: &AuditEntry,
        sign: impl FnOnce(u64, &Hash) -> TreeHead,
        done: impl FnOnce(&mut Batch) -> Result<T>,
    ) -> Result<T> {
        let _in_order = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut frontier = match self.meta.get(b"frontier")? {
            Some(bytes) => Frontier::decode(&bytes)?,
            None => Frontier::default(),
        };
        let seq = self.size()?;
        let bytes = encode(entry);
        frontier.push(leaf_hash(&bytes));
        let size = seq + 1;
        let head = sign(size, &frontier.root());
        batch.insert(&self.entries, key((seq,)), bytes);
        batch.insert(&self.heads, key((size,)), encode(&head));
        batch.insert(&self.meta, b"frontier".to_vec(), frontier.encode());
        done(batch)
    }

    /// How many entries the log holds (pruned ones included: the tree keeps them).
    pub fn size(&self) -> Result<u64> {
        let mut size = 0;
        for tree in [&self.entries, &self.pruned] {
            if let Some(entry) = tree.scan_prefix(&[]).next_back() {
                let (k, _) = entry?;
                size = size.max(KeyReader::new(&k).u64().map_err(corrupt)? + 1);
            }
        }
        Ok(size)
    }

    /// Removes the oldest entries recorded before `before_ts`, keeping their leaf hashes
    /// so that every signed tree head still verifies. Returns how many were removed.
    pub fn prune(
        &self,
        engine_apply: impl FnOnce(Batch) -> Result<()>,
        before_ts: u64,
    ) -> Result<u64> {
        let _in_order = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Batch::new();
        let mut removed = 0;
        for entry in self.entries.scan_prefix(&[]) {
            let (k, v) = entry?;
            let record: AuditEntry = decode(&v)?;
            if record.ts >= before_ts {
                break;
            }
            batch.insert(&self.pruned, k.clone(), leaf_hash(&v).to_vec());
            batch.remove(&self.entries, k);
            removed += 1;
        }
        if removed > 0 {
            engine_apply(batch)?;
        }
        Ok(removed)
    }

    /// Entries from `from` on, at most `limit`, oldest first.
    pub fn entries(&self, from: u64, limit: usize) -> Result<Vec<(u64, AuditEntry)>> {
        self.entries
            .range(key((from,))..)
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                Ok((KeyReader::new(&k).u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }

    /// Up to `limit` entries before `before`, newest first.
    pub fn entries_before(&self, before: u64, limit: usize) -> Result<Vec<(u64, AuditEntry)>> {
        self.entries
            .range(..key((before,)))
            .rev()
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                Ok((KeyReader::new(&k).u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }

    /// The newest signed tree head.
    pub fn latest_head(&self) -> Result<Option<TreeHead>> {
        match self.heads.scan_prefix(&[]).next_back() {
            Some(entry) => Ok(Some(decode(&entry?.1)?)),
            None => Ok(None),
        }
    }

    /// The leaf hashes of every stored entry, in order, with a gap reported as a problem.
    fn leaves(&self, problems: &mut Vec<String>) -> Result<Vec<Hash>> {
        let mut leaves = Vec::new();
        let mut check = |seq: u64, leaves: &Vec<Hash>| {
            if seq != leaves.len() as u64 {
                problems.push(format!(
                    "entry {} is missing (the next stored one is {seq})",
                    leaves.len()
                ));
            }
        };
        // Pruned entries come first: retention removes the oldest.
        for entry in self.pruned.scan_prefix(&[]) {
            let (k, v) = entry?;
            let seq = KeyReader::new(&k).u64().map_err(corrupt)?;
            check(seq, &leaves);
            let hash: Hash = v
                .as_slice()
                .try_into()
                .map_err(|_| StorageError::Corrupt("pruned audit leaf".into()))?;
            leaves.push(hash);
        }
        for entry in self.entries.scan_prefix(&[]) {
            let (k, v) = entry?;
            let seq = KeyReader::new(&k).u64().map_err(corrupt)?;
            check(seq, &leaves);
            leaves.push(leaf_hash(&v));
        }
        Ok(leaves)
    }

    /// Recomputes the tree from the stored entries and checks every stored tree head
    /// against it; `check_signature` verifies a head's signature.
    pub fn verify(&self, check_signature: impl Fn(&TreeHead) -> bool) -> Result<Verification> {
        let mut report = Verification::default();
        let leaves = self.leaves(&mut report.problems)?;
        report.entries = leaves.len() as u64;
        report.pruned = self.pruned.scan_prefix(&[]).count() as u64;
        let mut latest = 0;
        for entry in self.heads.scan_prefix(&[]) {
            let (_, v) = entry?;
            let head: TreeHead = decode(&v)?;
            report.tree_heads += 1;
            latest = latest.max(head.tree_size);
            if !check_signature(&head) {
                report
                    .problems
                    .push(format!("tree head {} has a bad signature", head.tree_size));
                continue;
            }
            let Ok(size) = usize::try_from(head.tree_size) else {
                continue;
            };
            if size > leaves.len() {
                report.problems.push(format!(
                    "tree head {} covers entries that are no longer stored",
                    head.tree_size
                ));
                continue;
            }
            if hex_of(&root_of(&leaves[..size])) != head.root_hash {
                report.problems.push(format!(
                    "entries below {} were altered, reordered or removed: the root no longer matches its signed tree head",
                    head.tree_size
                ));
            }
        }
        if latest < report.entries {
            report.problems.push(format!(
                "entries from {latest} on are not covered by a signed tree head"
            ));
        }
        Ok(report)
    }

    /// An inclusion proof of entry `seq` in the tree of the first `size` entries.
    pub fn proof(&self, seq: u64, size: u64) -> Result<Option<Vec<Hash>>> {
        let mut problems = Vec::new();
        let leaves = self.leaves(&mut problems)?;
        let (Ok(seq), Ok(size)) = (usize::try_from(seq), usize::try_from(size)) else {
            return Ok(None);
        };
        if seq >= size || size > leaves.len() {
            return Ok(None);
        }
        Ok(Some(inclusion_proof(&leaves[..size], seq)))
    }

    /// The stored bytes of one entry (for its leaf hash).
    pub fn entry_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.entries.get(&key((seq,)))
    }

    #[cfg(test)]
    pub(crate) fn tamper(&self, seq: u64, bytes: &[u8]) -> Result<()> {
        self.entries.insert(&key((seq,)), bytes)
    }
}

pub fn hex_of(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> AuditEntry {
        AuditEntry {
            ts: n,
            actor: "@root:x".into(),
            action: "test".into(),
            target: Some(format!("@u{n}:x")),
            ip: None,
            user_agent: None,
            details: serde_json::Value::Null,
        }
    }

    fn head(size: u64, root: &Hash) -> TreeHead {
        TreeHead {
            tree_size: size,
            root_hash: hex_of(root),
            ts: 0,
            signatures: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_frontier_gives_rfc_6962_roots_and_proofs_check_out() {
        let leaves: Vec<Hash> = (0..37u8).map(|i| leaf_hash(&[i])).collect();
        let mut frontier = Frontier::default();
        for (n, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root_of(&leaves[..=n]), "size {}", n + 1);
            assert_eq!(Frontier::decode(&frontier.encode()).unwrap(), frontier);
        }
        // The RFC's reference: a single leaf's root is its leaf hash; the empty tree's is
        // the hash of nothing.
        assert_eq!(root_of(&[]), empty_root());
        for size in 1..=leaves.len() {
            let root = root_of(&leaves[..size]);
            for index in 0..size {
                let path = inclusion_proof(&leaves[..size], index);
                assert!(verify_inclusion(
                    &leaves[index],
                    index as u64,
                    size as u64,
                    &path,
                    &root
                ));
                let wrong = leaf_hash(b"not a leaf");
                assert!(!verify_inclusion(
                    &wrong,
                    index as u64,
                    size as u64,
                    &path,
                    &root
                ));
            }
        }
    }

    #[test]
    fn pruned_entries_keep_the_proof() {
        let (_dir, s) = crate::test_storage();
        for n in 0..10 {
            let mut batch = s.batch();
            s.audit
                .append(&mut batch, &entry(n), head, |b| s.apply(std::mem::take(b)))
                .unwrap();
        }
        assert_eq!(s.audit.prune(|b| s.apply(b), 6).unwrap(), 6);
        assert_eq!(s.audit.entries(0, 100).unwrap().len(), 4);
        assert_eq!(s.audit.size().unwrap(), 10);
        let report = s.audit.verify(|_| true).unwrap();
        assert_eq!((report.entries, report.pruned), (10, 6));
        assert_eq!(report.problems, Vec::<String>::new());
        // Appending goes on after pruning, and a pruned leaf altered is caught.
        let mut batch = s.batch();
        s.audit
            .append(&mut batch, &entry(10), head, |b| s.apply(std::mem::take(b)))
            .unwrap();
        assert!(s.audit.verify(|_| true).unwrap().problems.is_empty());
        s.audit.pruned.insert(&key((2u64,)), &[7u8; 32]).unwrap();
        assert!(!s.audit.verify(|_| true).unwrap().problems.is_empty());
    }

    #[test]
    fn altered_removed_or_reordered_entries_are_caught() {
        let (_dir, s) = crate::test_storage();
        for n in 0..10 {
            let mut batch = s.batch();
            s.audit
                .append(&mut batch, &entry(n), head, |b| s.apply(std::mem::take(b)))
                .unwrap();
        }
        let ok = s.audit.verify(|_| true).unwrap();
        assert_eq!(ok.entries, 10);
        assert_eq!(ok.tree_heads, 10);
        assert_eq!(ok.problems, Vec::<String>::new());
        assert_eq!(s.audit.entries(8, 5).unwrap().len(), 2);
        // A bad signature is reported.
        let bad = s.audit.verify(|h| h.tree_size != 3).unwrap();
        assert_eq!(bad.problems, ["tree head 3 has a bad signature"]);
        // One byte of one entry changed.
        let mut bytes = s.audit.entry_bytes(4).unwrap().unwrap();
        let original = bytes.clone();
        let at = bytes.iter().position(|b| *b == b'4').unwrap();
        bytes[at] = b'5';
        s.audit.tamper(4, &bytes).unwrap();
        let caught = s.audit.verify(|_| true).unwrap();
        assert_eq!(caught.problems.len(), 6, "{:?}", caught.problems);
        assert!(caught.problems[0].contains("below 5"));
        // Two entries swapped.
        s.audit.tamper(4, &original).unwrap();
        let (a, b) = (
            s.audit.entry_bytes(1).unwrap().unwrap(),
            s.audit.entry_bytes(2).unwrap().unwrap(),
        );
        s.audit.tamper(1, &b).unwrap();
        s.audit.tamper(2, &a).unwrap();
        assert!(!s.audit.verify(|_| true).unwrap().problems.is_empty());
        s.audit.tamper(1, &a).unwrap();
        s.audit.tamper(2, &b).unwrap();
        assert!(s.audit.verify(|_| true).unwrap().problems.is_empty());
        // The last entry removed.
        s.audit.entries.take(&key((9u64,))).unwrap();
        let removed = s.audit.verify(|_| true).unwrap();
        assert_eq!(
            removed.problems,
            ["tree head 10 covers entries that are no longer stored"]
        );
        // A proof for a stored entry.
        let path = s.audit.proof(3, 9).unwrap().unwrap();
        let mut problems = Vec::new();
        let leaves = s.audit.leaves(&mut problems).unwrap();
        assert!(verify_inclusion(
            &leaves[3],
            3,
            9,
            &path,
            &root_of(&leaves[..9])
        ));
        assert_eq!(s.audit.proof(9, 9).unwrap(), None);
    }
}
