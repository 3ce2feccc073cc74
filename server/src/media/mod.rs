//! The media repository's file store: uploads are streamed to a temporary file while
//! their SHA-256 is computed, then moved to a content-addressed path under
//! `<data_dir>/media`. A failed or oversized upload leaves nothing behind. Identical
//! files are stored once.

pub mod serve;
pub mod thumbnail;

use std::path::{Path, PathBuf};

use actix_web::web;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::api::error::{Error, Result};

pub struct MediaStore {
    root: PathBuf,
}

/// A stored upload.
pub struct Stored {
    pub sha256: String,
    pub size: u64,
}

impl MediaStore {
    pub fn new(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("media");
        std::fs::create_dir_all(root.join("tmp"))?;
        // Leftovers of uploads cut short by a crash.
        for entry in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Self { root })
    }

    /// Where the file with this content hash lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.root.join(prefix).join(sha256)
    }

    /// Streams a request body to the store, refusing more than `limit` bytes.
    pub async fn save(&self, mut payload: web::Payload, limit: u64) -> Result<Stored> {
        let temp = self.root.join("tmp").join(crate::auth::token::generate(""));
        let result = self.write(&temp, &mut payload, limit).await;
        match result {
            Ok(stored) => {
                let target = self.path(&stored.sha256);
                let moved = async {
                    if let Some(parent) = target.parent() {
                        tokio::fs::create_dir_all(parent).await?;
                    }
                    tokio::fs::rename(&temp, &target).await
                }
                .await;
                if let Err(e) = moved {
                    let _ = tokio::fs::remove_file(&temp).await;
                    return Err(Error::internal(format!("storing media: {e}")));
                }
                Ok(stored)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    async fn write(&self, temp: &Path, payload: &mut web::Payload, limit: u64) -> Result<Stored> {
        let mut file = tokio::fs::File::create(temp)
            .await
            .map_err(|e| Error::internal(format!("media temp file: {e}")))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| Error::bad_json(format!("Upload interrupted: {e}")))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(Error::too_large(format!(
                    "Uploads are limited to {limit} bytes"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::internal(format!("writing media: {e}")))?;
        }
        // The upload is acknowledged only once its bytes are on disk.
        file.sync_all()
            .await
            .map_err(|e| Error::internal(format!("writing media: {e}")))?;
        Ok(Stored {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Stores bytes already in memory (remote media fetched over federation).
    pub async fn save_bytes(&self, bytes: &[u8]) -> Result<Stored> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let target = self.path(&sha256);
        if tokio::fs::metadata(&target).await.is_err() {
            let temp = self.root.join("tmp").join(crate::auth::token::generate(""));
            let written = async {
                tokio::fs::write(&temp, bytes).await?;
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(&temp, &target).await
            }
            .await;
            if let Err(e) = written {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(Error::internal(format!("storing media: {e}")));
            }
        }
        Ok(Stored {
            sha256,
            size: bytes.len() as u64,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub async fn read(&self, sha256: &str) -> Result<Vec<u8>> {
        tokio::fs::read(self.path(sha256))
            .await
            .map_err(|e| Error::internal(format!("reading media: {e}")))
    }
}

/// A thumbnail of stored media, from the cache or rendered now: `(bytes, content type)`.
pub async fn thumbnail_of(
    store: &MediaStore,
    sha256: &str,
    content_type: &str,
    width: u32,
    height: u32,
    method: thumbnail::Method,
) -> Result<(Vec<u8>, &'static str)> {
    let output = thumbnail::output_type(content_type)
        .ok_or_else(|| Error::not_found("No thumbnail for this type of media"))?;
    let cached = thumbnail::cache_path(store.root(), sha256, width, height, method);
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        return Ok((bytes, output));
    }
    let original = store.read(sha256).await?;
    let content_type = content_type.to_owned();
    let bytes =
        web::block(move || thumbnail::render(&original, &content_type, width, height, method))
            .await??;
    if let Some(parent) = cached.parent() {
        let _ = tokio::fs::create_dir_all(parent).await;
    }
    let _ = tokio::fs::write(&cached, &bytes).await;
    Ok((bytes, output))
}

/// Width, height and method of a thumbnail request's query string.
pub fn thumbnail_params(
    query: impl Fn(&str) -> Option<String>,
) -> Result<(u32, u32, thumbnail::Method)> {
    let number = |name: &str| -> Result<u32> {
        query(name)
            .ok_or_else(|| Error::missing_param(format!("{name} is required")))?
            .parse()
            .map_err(|_| Error::invalid_param(format!("{name} must be a positive integer")))
    };
    let (width, height) = (number("width")?, number("height")?);
    if width == 0 || height == 0 {
        return Err(Error::invalid_param("width and height must be positive"));
    }
    let method = match query("method").as_deref() {
        None | Some("scale") => thumbnail::Method::Scale,
        Some("crop") => thumbnail::Method::Crop,
        Some(_) => return Err(Error::invalid_param("method must be scale or crop")),
    };
    Ok((width, height, method))
}
