//! Content reports from users, for admins to review.
//!
//! Trees:
//! - `reportid_report`: `(report id u64)` → [`Report`] (reported events).
//! - `kindreportid_subjectreport`: `(kind "room" | "user", report id u64)` →
//!   [`SubjectReport`] (reported rooms and users).

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub room_id: String,
    pub event_id: String,
    pub reporter: String,
    pub reason: Option<String>,
    pub score: Option<i64>,
    pub ts: u64,
}

/// A report about a room or a user as a whole.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubjectReport {
    /// The room or user reported.
    pub target: String,
    pub reporter: String,
    pub reason: String,
    pub ts: u64,
}

#[derive(Clone)]
pub struct Reports {
    reports: Tree,
    subjects: Tree,
}

impl Reports {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            reports: engine.tree("reportid_report")?,
            subjects: engine.tree("kindreportid_subjectreport")?,
        })
    }

    pub fn add(&self, id: u64, report: &Report) -> Result<()> {
        self.reports.insert(&key((id,)), &encode(report))
    }

    pub fn get(&self, id: u64) -> Result<Option<Report>> {
        crate::get(&self.reports, &key((id,)))
    }

    /// Removes a report; returns whether it existed.
    pub fn delete(&self, id: u64) -> Result<bool> {
        Ok(self.reports.take(&key((id,)))?.is_some())
    }

    pub fn add_subject(&self, kind: &str, id: u64, report: &SubjectReport) -> Result<()> {
        self.subjects.insert(&key((kind, id)), &encode(report))
    }

    /// Every report of a kind (`room`, `user`), oldest first.
    pub fn subjects(&self, kind: &str) -> Result<Vec<(u64, SubjectReport)>> {
        self.subjects
            .scan_prefix(&key((kind,)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok((reader.u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }

    pub fn delete_subject(&self, kind: &str, id: u64) -> Result<bool> {
        Ok(self.subjects.take(&key((kind, id)))?.is_some())
    }

    /// Every report, oldest first.
    pub fn list(&self) -> Result<Vec<(u64, Report)>> {
        self.reports
            .scan_prefix(&[])
            .map(|entry| {
                let (k, v) = entry?;
                Ok((KeyReader::new(&k).u64().map_err(corrupt)?, decode(&v)?))
            })
            .collect()
    }
}
