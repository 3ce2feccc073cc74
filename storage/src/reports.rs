//! Content reports from users, for admins to review.
//!
//! Tree `reportid_report`: `(report id u64)` → [`Report`].

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

#[derive(Clone)]
pub struct Reports {
    reports: Tree,
}

impl Reports {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            reports: engine.tree("reportid_report")?,
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
